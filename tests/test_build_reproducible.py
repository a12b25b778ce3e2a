"""``bpfskel build`` is reproducible across checkout paths: the tool modules
(``bpfskel/tools/bpf/*_skel.py``) that bpfskel's wheel build generates must be
the same bytes whoever builds them, wherever the checkout is.  clang ``-g``
records the compile directory and source paths (DWARF, BTF line info); the
build maps them away.

Ground truth is the bytes of two independent builds, each from its own
checkout directory and its own cache (so also its own generated
``vmlinux.h`` directory)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import bpfcc
from bpfenv import REPO_ROOT
from elfread import embedded_object

pytestmark = [pytest.mark.skipif(bpfcc.missing_reason() is not None,
                                 reason=str(bpfcc.missing_reason())),
              pytest.mark.skipif(not os.path.exists("/sys/kernel/btf/vmlinux"),
                                 reason="no kernel BTF (the tool sources include vmlinux.h)")]

TOOL_BPF = REPO_ROOT / "bpfskel" / "tools" / "bpf"
REL = Path("bpfskel/tools/bpf/exitsnoop.bpf.c")


def checkout(root: Path) -> Path:
    """A copy of the sources a tool module is built from, at ``root``."""
    (root / REL.parent).mkdir(parents=True)
    for name in ("exitsnoop.bpf.c", "filter.bpf.h"):
        shutil.copy(TOOL_BPF / name, root / REL.parent / name)
    return root


def build(root: Path, cache: Path, source: str, cwd: Path) -> bytes:
    out = root / "exitsnoop_skel.py"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), BPFSKEL_CACHE_DIR=str(cache))
    proc = subprocess.run([sys.executable, "-m", "bpfskel", "build", source, "-o", str(out),
                           "--types-from", source], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out.read_bytes()


def test_module_bytes_do_not_depend_on_the_checkout_path(tmp_path: Path) -> None:
    a = checkout(tmp_path / "a")
    b = checkout(tmp_path / "elsewhere" / "deeper" / "b")
    # a relative path from the checkout's root, as a make pattern rule passes it
    first = build(a, tmp_path / "cache-a", str(REL), cwd=a)
    second = build(b, tmp_path / "cache-b", str(REL), cwd=b)
    assert first == second
    for path in (str(a), str(b), str(tmp_path)):
        assert path.encode() not in embedded_object(first)



def test_project_build_does_not_depend_on_the_checkout_path_or_cwd(tmp_path: Path) -> None:
    # bpfskel's own [tool.bpfskel] table, on one of its sources: the build the
    # wheel's hook runs (an absolute root, cwd the checkout) and `make tools`
    # runs (`--project .`), from two checkouts, give the same bytes
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        pytest.skip("reading pyproject.toml needs Python 3.11")
    with open(REPO_ROOT / "pyproject.toml", "rb") as f:
        config = tomllib.load(f)["tool"]["bpfskel"]
    table = "".join(f"{key} = {value!r}\n".replace("'", '"') for key, value in config.items()
                    if key != "sources")
    outputs = []
    for root, project, cwd in ((checkout(tmp_path / "a"), ".", None),
                               (checkout(tmp_path / "elsewhere" / "b"), "ABS", tmp_path)):
        (root / "pyproject.toml").write_text(
            f'[tool.bpfskel]\nsources = ["{REL}"]\n{table}')
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT),
                   BPFSKEL_CACHE_DIR=str(root.parent / f"cache-{root.name}"))
        proc = subprocess.run([sys.executable, "-m", "bpfskel", "build", "--project",
                               str(root) if project == "ABS" else project],
                              cwd=cwd or root, env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr
        outputs.append((root / REL.parent / "exitsnoop_skel.py").read_bytes())
    assert outputs[0] == outputs[1]
    obj = embedded_object(outputs[0])
    assert str(tmp_path).encode() not in obj and b"./exitsnoop.bpf.c" in obj

