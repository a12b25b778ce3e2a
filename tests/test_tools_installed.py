"""The tools as a user installs them.  bpfskel's sdist is made from a copy of
this checkout with no generated module; pip builds the wheel from it, and
the build hook (hatch_build.py, handing over to bpfskel.gen.hatch) compiles
every tool's ``.bpf.c`` into ``<tool>_skel.py`` there (tests/venvenv.py).
The wheel must carry each of them with a valid embedded object, and a fresh
venv with no clang on PATH and no checkout on sys.path runs them.

Without the hook the wheel has no ``*_skel.py``: the first test fails."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Dict

import pytest

import bpfcc
from bpfenv import REPO_ROOT, requires_bpf
from elfread import ElfFile, embedded_object
from venvenv import bpfskel_sources, bpfskel_wheelhouse, fresh_venv, sh

TOOL_BPF = REPO_ROOT / "bpfskel" / "tools" / "bpf"
TOOLS = sorted(p.name[: -len(".bpf.c")] for p in TOOL_BPF.glob("*.bpf.c"))
EM_BPF = 247
BTF_MAGIC = 0xEB9F


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bpfskel_wheelhouse(tmp_path_factory.mktemp("bpfskel"))


def test_the_tools_list_is_the_sources() -> None:
    from bpfskel.tools import TOOLS as REGISTERED

    assert TOOLS == sorted(REGISTERED)


def test_sdist_has_the_sources_and_no_generated_module(wheelhouse: Path) -> None:
    (sdist,) = wheelhouse.glob("bpfskel-*.tar.gz")
    with tarfile.open(sdist) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    assert {"pyproject.toml", "hatch_build.py", "README.md", "bpfskel/py.typed"} <= names
    assert {f"bpfskel/tools/bpf/{t}.bpf.c" for t in TOOLS} <= names
    assert not [n for n in names if n.endswith("_skel.py")]


def test_wheel_carries_every_tool_module_with_a_valid_object(
        wheelhouse: Path, tmp_path: Path) -> None:
    (wheel,) = wheelhouse.glob("bpfskel-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        modules: Dict[str, str] = {
            t: z.read(f"bpfskel/tools/bpf/{t}_skel.py").decode() for t in TOOLS
            if f"bpfskel/tools/bpf/{t}_skel.py" in names}
    assert sorted(modules) == TOOLS, "the build hook did not run: no generated tool module"
    assert {f"bpfskel/tools/bpf/{t}.bpf.c" for t in TOOLS} <= names
    assert "bpfskel/py.typed" in names
    for tool, module in modules.items():
        data = embedded_object(module)
        elf = ElfFile(data)
        assert struct.unpack_from("<H", data, 18)[0] == EM_BPF, tool     # e_machine
        assert struct.unpack_from("<H", elf.section_data(".BTF"))[0] == BTF_MAGIC, tool
        # a prog section for every program the module lists
        for sec in re.findall(r"\(\s*'\w+', '\w+', '([^']+)'\),", module.split("_progs_", 1)[1]
                              .split("_layout_", 1)[0]):
            assert elf.section(sec).size > 0, (tool, sec)
        bpftool = shutil.which("bpftool")
        if bpftool:   # an independent BTF parser
            obj = tmp_path / f"{tool}.bpf.o"
            obj.write_bytes(data)
            proc = subprocess.run([bpftool, "btf", "dump", "file", str(obj)],
                                  capture_output=True, text=True, timeout=60)
            assert proc.returncode == 0 and "STRUCT" in proc.stdout, (tool, proc.stderr)


def test_missing_generated_module_is_one_line(tmp_path: Path) -> None:
    src = bpfskel_sources(tmp_path)      # a checkout that never ran `make tools`
    env = dict(os.environ, PYTHONPATH=str(src))
    proc = subprocess.run([sys.executable, "-m", "bpfskel.tools", "exitsnoop", "--duration", "1"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr == ("bpfskel-tools: error: the exitsnoop BPF module is not built: run "
                           "`make tools` in the checkout, or install bpfskel with pip\n")


@requires_bpf
@pytest.mark.tracepoint
def test_installed_tools_run_without_clang(wheelhouse: Path, tmp_path: Path) -> None:
    venv = fresh_venv(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_FIND_LINKS")}
    env["PATH"] = str(venv)              # no clang, bpftool or system python
    assert shutil.which(Path(bpfcc.clang().path).name, path=env["PATH"]) is None
    assert shutil.which("clang", path=env["PATH"]) is None
    assert shutil.which("bpftool", path=env["PATH"]) is None
    sh([str(venv / "pip"), "install", "-q", "--no-index", "--find-links", str(wheelhouse),
        "bpfskel"], env, tmp_path)
    assert "execsnoop" in sh([str(venv / "bpfskel-tools"), "--help"], env, tmp_path)
    # every tool's module, from the venv, opens its object through libbpf
    check = (
        "import importlib, sys\n"
        "for t in sys.argv[1:]:\n"
        "    m = importlib.import_module(f'bpfskel.tools.bpf.{t}_skel')\n"
        "    assert m.__file__.startswith(sys.prefix), m.__file__\n"
        "    with m.open() as skel:\n"
        "        print(t, len(list(skel.progs)))\n")
    out = sh([str(venv / "python"), "-c", check, *TOOLS], env, tmp_path)
    opened = dict(line.split() for line in out.splitlines())
    assert sorted(opened) == TOOLS and all(int(n) > 0 for n in opened.values()), out
    proc = subprocess.run([str(venv / "bpfskel-tools"), "syscount", "--json",
                           "--syscall", "getppid", "0.1", "2"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["type"] for r in lines] == ["interval", "interval"]
