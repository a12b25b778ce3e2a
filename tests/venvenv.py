"""Fresh virtual environments with bpfskel installed from this checkout's wheel,
for the end-to-end tests of what a user installs (tests/test_packaging.py,
tests/test_pytest_plugin.py, tests/test_tools_installed.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest

import bpfcc
from bpfenv import REPO_ROOT

__all__ = ["PROJECT_FILES", "bpfskel_sources", "bpfskel_wheelhouse", "fresh_venv", "sh"]


def sh(cmd: List[str], env: Dict[str, str], cwd: Path) -> str:
    """Run ``cmd``; its stdout, or an assertion error carrying all its output."""
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


#: the files of a checkout that bpfskel's sdist is made from (bpfskel/ aside)
PROJECT_FILES = ("pyproject.toml", "README.md", "hatch_build.py", ".gitignore")

_wheelhouse: Optional[Path] = None


def bpfskel_sources(dest: Path) -> Path:
    """A copy of what bpfskel is built from, at ``dest``: bpfskel/ without
    any generated ``*_skel.py`` (a checkout that ran ``make tools`` has the
    tools' ones), so a wheel made from it has only what the build hook made."""
    shutil.copytree(REPO_ROOT / "bpfskel", dest / "bpfskel",
                    ignore=shutil.ignore_patterns("__pycache__", "*_skel.py"))
    for f in PROJECT_FILES:
        shutil.copy(REPO_ROOT / f, dest / f)
    assert not list((dest / "bpfskel").rglob("*_skel.py"))
    return dest


def bpfskel_wheelhouse(where: Path) -> Path:
    """A directory holding bpfskel's sdist and its wheel, made as
    ``python -m build`` makes them: the sdist from a clean copy of the
    checkout (:func:`bpfskel_sources`), the wheel from that sdist by pip, in
    its isolated build environment (hatchling from the package index), which
    runs the build hook: clang compiles the tools there.  Built once per
    session (a build compiles every tool); skips where there is no clang or
    no package index."""
    global _wheelhouse
    if _wheelhouse is not None:
        return _wheelhouse
    reason = bpfcc.missing_reason()
    if reason is not None:
        pytest.skip(f"{reason} (building bpfskel's wheel compiles the tools)")
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("no kernel BTF (the tools' sources include vmlinux.h)")
    src = bpfskel_sources(where / "bpfskel-src")
    wh = where / "wheelhouse"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    sh([sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d", str(wh)], env, src)
    (sdist,) = wh.glob("bpfskel-*.tar.gz")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                           str(wh), str(sdist)], env=env, cwd=where, capture_output=True,
                          text=True, timeout=900)
    if proc.returncode and re.search(r"NewConnectionError|No matching distribution",
                                     proc.stderr):
        pytest.skip(f"pip could not reach a package index for the build: {proc.stderr[-300:]}")
    assert proc.returncode == 0, proc.stderr
    _wheelhouse = wh
    return wh


def fresh_venv(path: Path) -> Path:
    """A new venv (with pip); its bin directory."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=600)
    return path / "bin"
