"""Fresh virtual environments with bpfskel installed from this checkout's wheel,
for the end-to-end tests of what a user installs (tests/test_packaging.py,
tests/test_pytest_plugin.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

from bpfenv import REPO_ROOT

__all__ = ["bpfskel_wheelhouse", "fresh_venv", "sh"]


def sh(cmd: List[str], env: Dict[str, str], cwd: Path) -> str:
    """Run ``cmd``; its stdout, or an assertion error carrying all its output."""
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def bpfskel_wheelhouse(where: Path) -> Path:
    """A directory holding bpfskel's wheel, built from a copy of the checkout
    (an in-tree build would leave build/ and *.egg-info behind)."""
    src = where / "bpfskel-src"
    shutil.copytree(REPO_ROOT / "bpfskel", src / "bpfskel",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / f, src / f)
    wh = where / "wheelhouse"
    sh([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wh), str(src)],
       dict(os.environ), src)
    return wh


def fresh_venv(path: Path) -> Path:
    """A new venv (with pip); its bin directory."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=600)
    return path / "bin"
