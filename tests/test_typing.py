"""``mypy --strict`` accepts every generated module, and sees the right types.

Modules are generated for every corpus object (tests/corpus), every program
under bpf/ and every golden case (tests/golden), then checked in one mypy run
together with a usage file whose ``assert_type`` calls pin what a type checker
or an IDE sees: ``int`` for integers, bitfields and ``__int128``, ``CharArray``
for ``char[N]`` (written with ``bytes``), ``bool``, ``float``, nested classes and ctypes arrays, and
promoted members of anonymous structs and unions.  ``assert_type`` fails on
``Any``, so an annotation that degraded to ``Any`` fails the test.

bpfskel itself is analysed (the modules import it) but its own errors are not
reported here (``--follow-imports=silent``), as for any installed package.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, List

import pytest

import bpfskel
from bpfskel.gen.generate import generate

from bpfenv import REPO_ROOT, build_obj, compile_bpf

pytestmark = pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                                reason="mypy is not installed (pip install mypy)")

GOLDEN_DIR = REPO_ROOT / "tests" / "golden"

# What a type checker must infer for attributes of the golden modules.
USAGE = '''
from __future__ import annotations

import ctypes

from typing_extensions import assert_type

from bpfskel.runtime import CharArray

import golden_counter_skel as counter
import golden_layout_skel as layout
import golden_names_skel as names


def check_counter(skel: counter.Skeleton) -> None:
    assert_type(skel.bss.calls, int)
    assert_type(skel.rodata.target_tgid, int)
    assert_type(skel.data.last_event, counter.types.event)
    assert_type(skel.data.last_event.comm, CharArray)
    assert_type(skel.data.last_event.comm.value, bytes)
    assert_type(skel.data.last_event.comm.raw, bytes)
    totals = counter.types.totals()
    assert_type(totals.bytes, int)
    assert_type(totals.last_comm, CharArray)  # `bytes` the member shadows `bytes` the type
    skel.bss.calls = 0
    skel.data.last_event.comm = b"init"


def check_layout(skel: layout.Skeleton) -> None:
    rec = skel.bss.rec
    assert_type(rec, layout.types.record)
    assert_type(rec.word, int)            # member of an anonymous union
    assert_type(rec.lo16, int)            # ... of an anonymous struct inside it
    assert_type(rec.wide, int)            # __int128
    assert_type(rec.uwide, int)
    assert_type(rec.fl.neg, int)          # signed bitfield
    assert_type(rec.valid, bool)
    assert_type(rec.ratio, float)
    assert_type(rec.name, CharArray)
    rec.name = b"ok"                      # char[N] takes bytes
    rec.name = rec.name
    assert_type(rec.names, ctypes.Array[CharArray])
    assert_type(rec.grid, ctypes.Array[ctypes.Array[layout.types.point]])
    assert_type(rec.items, ctypes.Array[ctypes.c_uint32])
    assert_type(skel.data.pair, layout.types.pair_t)
    state: int = layout.types.state.ST_BUSY
    assert_type(layout.types.state(state), layout.types.state)


def check_names(skel: names.Skeleton) -> None:
    awk = skel.bss.awk
    assert_type(awk.label, CharArray)        # a member named `bytes` precedes it
    assert_type(awk.nested, names.types.data)   # ... and one named `types`
    assert_type(awk.raw, ctypes.Array[ctypes.Array[ctypes.c_uint8]])  # ... and `_c`
    assert_type(awk.in_, int)
    assert_type(skel.bss.types, int)
    assert_type(skel.bss.nested, names.types.data)
    assert_type(skel.data.data, names.types.data)
'''


def objects(corpus_objects: Dict[str, Path], out: Path) -> Dict[str, Path]:
    """Module name -> object, for every object this test covers."""
    objs = {f"corpus_{case}_skel": obj for case, obj in corpus_objects.items()}
    for src in sorted((REPO_ROOT / "bpf").glob("*.bpf.c")):
        name = src.name[: -len(".bpf.c")]
        objs[f"bpf_{name}_skel"] = build_obj(name)
    for src in sorted(GOLDEN_DIR.glob("*.bpf.c")):
        name = src.name[: -len(".bpf.c")]
        objs[f"golden_{name}_skel"] = compile_bpf(src, out / f"{name}.bpf.o")
    return objs


def mypy(paths: List[Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    # MYPYPATH finds bpfskel from its source tree: an editable install is an
    # import hook mypy cannot follow.
    env = dict(os.environ, MYPYPATH=str(Path(bpfskel.__file__).resolve().parent.parent))
    empty = cwd / "mypy.ini"
    empty.write_text("[mypy]\n")
    cmd = [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
           "--config-file", str(empty), "--cache-dir", str(cwd / ".mypy_cache"),
           *map(str, paths)]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_generated_modules_pass_mypy_strict(corpus_objects: Dict[str, Path],
                                            tmp_path: Path) -> None:
    objs = objects(corpus_objects, tmp_path)
    assert len(objs) >= 15 and any(n.startswith("golden_") for n in objs)
    paths = []
    for name, obj in sorted(objs.items()):
        path = tmp_path / f"{name}.py"
        path.write_text(generate(obj.read_bytes(), str(obj), name[: -len("_skel")]))
        paths.append(path)
    usage = tmp_path / "usage.py"
    usage.write_text(textwrap.dedent(USAGE))
    proc = mypy(paths + [usage], tmp_path)
    assert proc.returncode == 0, f"mypy --strict failed:\n{proc.stdout}{proc.stderr}"
    assert f"no issues found in {len(paths) + 1} source files" in proc.stdout


# An app with one misspelling per marked line, and the types mypy must see.
APP = '''
from __future__ import annotations

from typing import List, Optional

from typing_extensions import assert_type

import bpfskel
from bpfskel import Map
from bpfskel.ringbuf import RingBuffer

import fidelity_skel as fid
import globals_skel as glob


def app(skel: fid.Skeleton, g: glob.Skeleton) -> None:
    skel.bss.bufx = b"x"                       # E: misspelt global
    skel.bss.member.nmae = b"x"                # E: misspelt nested field
    print(skel.bss.member.idd)                 # E: misspelt nested field read
    skel.maps.name_map[0]                      # E: misspelt map
    skel.progs.emitt                           # E: misspelt program
    ev = fid.types.event()
    ev.args_sise                               # E: misspelt event field
    skel.bss.flag = "no"                       # E: a str for a _Bool
    skel.bss.buf = 3                           # E: an int for a char[N]
    skel.bss.color = fid.types.color.RED
    skel.bss.color = 2
    assert_type(skel.bss.color, fid.types.color)
    assert_type(skel.bss.buf.value, bytes)
    assert_type(skel.maps.named_map, Map[int, fid.types.named])
    assert_type(skel.maps.named_map[0], fid.types.named)
    assert_type(skel.maps.doubles.values(), List[float])
    assert_type(skel.maps.named_map.items()[0][0], int)
    rb = skel.maps.rb.ring_buffer(None, fid.types.event)
    assert_type(rb, RingBuffer[fid.types.event])
    assert_type(rb.read(), List[fid.types.event])
    assert_type(skel.maps.rb.ring_buffer().read(), List[bytes])
    assert_type(bpfskel.record_size(ev), int)
    assert_type(skel.links.emit, Optional[bpfskel.runtime.Link])
    assert_type(g.kconfig, Optional[glob.sections.kconfig])
    g.kconfig.CONFIG_HZ                        # E: None before load
    fid.open(object_pth="x")                   # E: misspelt open() keyword
'''


def test_mypy_flags_misspellings_and_sees_typed_maps(tmp_path: Path) -> None:
    paths = []
    for name in ("fidelity", "globals"):
        obj = build_obj(name)
        path = tmp_path / f"{name}_skel.py"
        path.write_text(generate(obj.read_bytes(), str(obj), name))
        paths.append(path)
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(APP))
    proc = mypy(paths + [app], tmp_path)
    want = {i for i, line in enumerate(APP.splitlines(), 1) if "# E:" in line}
    got = {int(line.split(":")[1]) for line in proc.stdout.splitlines()
           if line.startswith("app.py:") and ": error:" in line}
    assert got == want, proc.stdout
    assert not [line for line in proc.stdout.splitlines()
                if ": error:" in line and not line.startswith("app.py:")], proc.stdout
