"""``bpfskel build`` is reproducible across checkout paths: the committed tool
modules (``bpfskel/tools/bpf/*_skel.py``) must be the same bytes whoever
builds them, wherever the checkout is.  clang ``-g`` records the compile
directory and source paths (DWARF, BTF line info); the build maps them away.

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
    # as `make tools` does it: a relative path from the checkout's root
    first = build(a, tmp_path / "cache-a", str(REL), cwd=a)
    second = build(b, tmp_path / "cache-b", str(REL), cwd=b)
    assert first == second
    for path in (str(a), str(b), str(tmp_path)):
        assert path.encode() not in first

