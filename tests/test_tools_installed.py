"""The tools as a user installs them: bpfskel's own wheel, built from a copy
of this checkout into a fresh venv, carries the generated tool modules with
their objects, and ``bpfskel-tools`` runs from it with no clang on PATH and
no checkout on sys.path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bpfenv import REPO_ROOT, requires_bpf


@requires_bpf
@pytest.mark.tracepoint
def test_installed_console_script_runs_without_clang(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copytree(REPO_ROOT / "bpfskel", src / "bpfskel",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, src / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", str(src)],
                         capture_output=True, text=True, env=env, timeout=600)
    if pip.returncode and ("NewConnectionError" in pip.stderr or "No matching" in pip.stderr):
        pytest.skip(f"pip could not reach a package index for the build: {pip.stderr[-300:]}")
    assert pip.returncode == 0, pip.stderr
    env["PATH"] = str(venv / "bin")              # no clang, bpftool or system python
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import bpfskel.tools.bpf.syscount_skel as m; print(m.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, check=True)
    assert where.stdout.startswith(str(venv)), where.stdout
    proc = subprocess.run([str(venv / "bin" / "bpfskel-tools"), "syscount", "--json",
                           "--syscall", "getppid", "0.1", "2"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["type"] for r in lines] == ["interval", "interval"]
