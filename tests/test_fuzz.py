"""Hostile and broken input to ``bpfskel gen``, in CI.

Every case must end in a module that imports and opens, or in one line
``bpfskel: error: ...`` with exit 2; never a traceback, a signal, a clobbered
output file (the contract is spelt out in tests/fuzzcases.py).  Cases: the
plain mistakes, an object without BTF, objects cut at every part, 240
fixed-seed mutations of real objects (bpf/ and tests/corpus), and an object
that really crashes libbpf 1.1's parser.  About a third run as real
``python -m bpfskel`` processes; the rest call the CLI's ``main`` in this
process, which is safe because libbpf parses in a forked child.  The long
version of this run is tools/fuzz_gen.py.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
from fuzzcases import (
    SENTINEL,
    Mutator,
    check_gen,
    import_and_open,
    load_seeds,
    run_gen,
    truncations,
)

from bpfskel import _libbpf
from bpfskel.gen.objfile import InputError, read_object

from bpfenv import REPO_ROOT, build_obj, compile_bpf
from elfread import ElfFile

MUTATIONS = 240
SEED = 0x5EED_0008
SUBPROCESS_EVERY = 3


@pytest.fixture(scope="module")
def seed_objects(corpus_objects: Dict[str, Path]) -> List[Path]:
    return [build_obj(n) for n in ("minimal", "kconfig", "shared")] + \
        [corpus_objects[c] for c in sorted(corpus_objects)]


def _gen_case(tmp: Path, label: str, data: bytes, subprocess_run: bool) -> str:
    case_dir = tmp / label
    case_dir.mkdir()
    obj = case_dir / f"{label}.bpf.o"
    obj.write_bytes(data)
    out = case_dir / "out_skel.py"
    out.write_bytes(SENTINEL)
    return check_gen(label, obj, out, run_gen(obj, out, subprocess_run=subprocess_run))


# -- the plain mistakes ----------------------------------------------------------------


def test_plain_mistakes(tmp_path: Path, seed_objects: List[Path]) -> None:
    out = tmp_path / "out_skel.py"
    text = tmp_path / "notes.bpf.o"
    text.write_text("SEC(\"tp/x\") int f(void *c) { return 0; }\n")
    empty = tmp_path / "empty.bpf.o"
    empty.write_bytes(b"")
    cases = {"missing": (tmp_path / "missing.bpf.o", "No such file"),
             "empty": (empty, "empty file"), "text": (text, "not an ELF file"),
             "host_elf": (Path("/bin/true"), "not a BPF object"),
             "directory": (tmp_path, "Is a directory")}
    for label, (obj, words) in cases.items():
        for in_subprocess in (True, False):
            out.write_bytes(SENTINEL)
            result = run_gen(obj, out, subprocess_run=in_subprocess)
            assert check_gen(label, obj, out, result) == "error"
            assert words in result[2], (label, result[2])


def test_object_without_btf(tmp_path: Path) -> None:
    obj = compile_bpf(REPO_ROOT / "bpf" / "shared.bpf.c", tmp_path / "nobtf.bpf.o",
                      debug=False)
    assert not any(s.name == ".BTF" for s in ElfFile(obj).sections)
    out = tmp_path / "out_skel.py"
    for in_subprocess in (True, False):
        out.write_bytes(SENTINEL)
        result = run_gen(obj, out, subprocess_run=in_subprocess)
        assert check_gen("nobtf", obj, out, result) == "error"
        assert "BTF" in result[2]


def test_truncated_everywhere(tmp_path: Path, seed_objects: List[Path]) -> None:
    for seed in seed_objects[:3]:
        data = seed.read_bytes()
        for where, cut in truncations(data).items():
            label = f"{seed.stem.split('.')[0]}-{where}"
            assert _gen_case(tmp_path, label, data[:cut], subprocess_run=True) == "error"


# -- mutations -------------------------------------------------------------------------------


def test_mutated_objects(tmp_path: Path, seed_objects: List[Path]) -> None:
    seeds = load_seeds(seed_objects)
    assert len(seeds) == len(seed_objects)
    outcomes: Dict[str, int] = collections.Counter()
    failures = []
    for i, (label, data) in enumerate(Mutator(seeds, SEED).cases(MUTATIONS)):
        try:
            outcomes[_gen_case(tmp_path, label, data, i % SUBPROCESS_EVERY == 0)] += 1
        except AssertionError as e:
            failures.append(str(e))
    assert not failures, f"{len(failures)} of {MUTATIONS} cases broke the contract:\n" + \
        "\n".join(failures[:5])
    print(f"\n{MUTATIONS} mutations: {outcomes['ok']} generated and opened, "
          f"{outcomes['error']} one-line errors, "
          f"{len(range(0, MUTATIONS, SUBPROCESS_EVERY))} of them as real processes")
    assert sum(outcomes.values()) == MUTATIONS
    # both ends are exercised: the mutations are neither all harmless nor all fatal
    assert outcomes["ok"] >= MUTATIONS // 10 and outcomes["error"] >= MUTATIONS // 10, outcomes


def test_an_unchanged_seed_passes_the_same_check(tmp_path: Path,
                                                 seed_objects: List[Path]) -> None:
    # the "ok" half of the contract really imports and opens what it generates
    for seed in seed_objects:
        assert _gen_case(tmp_path, seed.stem.replace(".", "_"), seed.read_bytes(),
                         subprocess_run=False) == "ok"
    broken = tmp_path / "broken_skel.py"
    broken.write_text("import bpfskel.runtime as _rt\n\ndef open():\n    raise OSError(5, 'x')\n")
    assert "OSError" in import_and_open(broken)


# -- an object that crashes libbpf's parser ----------------------------------------------

# An extern makes libbpf 1.1 compare names from BTF; with the BTF string
# section cut to its first byte every name is out of range, libbpf gets NULL
# back and passes it to strcmp.  libbpf 1.3+ validates names and refuses.
_EXTERN_SRC = """\
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
extern unsigned int LINUX_KERNEL_VERSION __kconfig;
__u64 seen;
SEC("syscall") int read_version(void *ctx) { seen = LINUX_KERNEL_VERSION; return 0; }
char LICENSE[] SEC("license") = "GPL";
"""


def _cut_btf_strings(data: bytes) -> bytes:
    btf = next(s for s in ElfFile(data).sections if s.name == ".BTF")
    out = bytearray(data)
    out[btf.offset + 20:btf.offset + 24] = (1).to_bytes(4, "little")  # btf_header.str_len
    return bytes(out)


@pytest.fixture(scope="module")
def crasher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("crasher")
    (d / "extern.bpf.c").write_text(_EXTERN_SRC)
    obj = compile_bpf(d / "extern.bpf.c", d / "extern.bpf.o")
    bad = d / "crasher.bpf.o"
    bad.write_bytes(_cut_btf_strings(obj.read_bytes()))
    return bad


_RAW_OPEN = """
import ctypes, sys
from bpfskel import _libbpf
lib = _libbpf.lib()
data = open(sys.argv[1], "rb").read()
buf = ctypes.create_string_buffer(data, len(data))
o = _libbpf.opts(_libbpf.ObjectOpenOpts)
print("returned", bool(lib.bpf_object__open_mem(buf, len(data), ctypes.byref(o))))
"""


def _raw_libbpf_crashes(obj: Path) -> bool:
    """Does calling libbpf directly, without bpfskel's child, die on ``obj``?"""
    import resource

    def no_core() -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    proc = subprocess.run([sys.executable, "-c", _RAW_OPEN, str(obj)], capture_output=True,
                          text=True, timeout=120, preexec_fn=no_core)
    assert proc.returncode == -signal.SIGSEGV or proc.stdout.startswith("returned"), \
        (proc.returncode, proc.stderr)
    return proc.returncode == -signal.SIGSEGV


def test_libbpf_crash_becomes_one_line_error(tmp_path: Path, crasher: Path) -> None:
    crashes = _raw_libbpf_crashes(crasher)
    out = tmp_path / "out_skel.py"
    for in_subprocess in (True, False):
        out.write_bytes(SENTINEL)
        result = run_gen(crasher, out, subprocess_run=in_subprocess)
        assert check_gen("crasher", crasher, out, result) == "error"
        # a crash is named as one; a clean refusal is not reported as a crash
        assert ("libbpf crashed (SIGSEGV)" in result[2]) == crashes, (crashes, result[2])
    with pytest.raises(InputError, match="crasher.bpf.o"):  # and this process lives on
        read_object(crasher.read_bytes(), str(crasher), "crasher")


def test_parse_crash_with_faulthandler_on_is_still_one_line(tmp_path: Path,
                                                            crasher: Path) -> None:
    if not _raw_libbpf_crashes(crasher):
        pytest.skip(f"libbpf {_libbpf.version_string()} does not crash on this object")
    out = tmp_path / "out_skel.py"
    out.write_bytes(SENTINEL)
    env = dict(os.environ, PYTHONFAULTHANDLER="1")
    import resource

    def allow_core() -> None:  # so that the check for a core file below can fail
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,) * 2)

    proc = subprocess.run([sys.executable, "-m", "bpfskel", "gen", str(crasher), "-o",
                           str(out)], capture_output=True, text=True, env=env, timeout=120,
                          cwd=tmp_path, preexec_fn=allow_core)
    assert check_gen("crasher", crasher, out, (proc.returncode, proc.stdout, proc.stderr)) \
        == "error"
    assert not list(tmp_path.glob("core*"))


def test_crashing_libbpf_leaves_no_core_file(tmp_path: Path, crasher: Path) -> None:
    if not _raw_libbpf_crashes(crasher):
        pytest.skip(f"libbpf {_libbpf.version_string()} does not crash on this object")
    with open("/proc/sys/kernel/core_pattern") as f:
        pattern = f.read().strip()
    if pattern.startswith("|") or "/" in pattern:
        pytest.skip(f"core files do not go to the working directory here ({pattern!r})")
    # with core files allowed and written to the working directory, the parse
    # child still leaves none (it turns them off for itself)
    script = ("import resource, sys\n"
              "resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,) * 2)\n"
              "from bpfskel.gen.objfile import read_object\n"
              "try:\n"
              "    read_object(open(sys.argv[1], 'rb').read(), 'x', 'x')\n"
              "except Exception as e:\n"
              "    print(e)\n")
    proc = subprocess.run([sys.executable, "-c", script, str(crasher)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120)
    assert "libbpf crashed (SIGSEGV)" in proc.stdout, proc.stdout + proc.stderr
    assert sorted(os.listdir(tmp_path)) == [], "a core file was written"
