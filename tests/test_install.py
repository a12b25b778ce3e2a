"""The development install the README documents type-checks: an app that
imports ``bpfskel`` from a fresh venv made with that very command is checked
by mypy against this checkout (setuptools' default editable finder is an
import hook mypy cannot follow, so mypy would call ``bpfskel`` missing)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bpfenv import REPO_ROOT

pytestmark = pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                                reason="mypy is not installed (pip install mypy)")

APP = '''
import bpfskel
from bpfskel import Map

def version() -> int:
    return bpfskel.libbpf_version()      # a str: mypy must know it

def first(m: Map[int, float]) -> str:
    return m[0]                          # a float
'''


def readme_install_command() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text()
    lines = [line for block in re.findall(r"```sh\n(.*?)```", text, re.S)
             for line in block.splitlines() if line.startswith("pip install -e")]
    assert len(lines) == 1, lines
    return lines[0].replace("'", "").split()


def test_readme_editable_install_is_visible_to_mypy(tmp_path: Path) -> None:
    # only the install may put the checkout on the path (mypy reads PYTHONPATH too)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MYPYPATH")}
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True)
    py = str(venv / "bin" / "python")
    cmd = readme_install_command()          # pip install -e .[test] --config-settings ...
    assert cmd[:3] == ["pip", "install", "-e"]
    proc = subprocess.run([py, "-m", *cmd, "-q", "--no-deps"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        if re.search(r"(?i)connection|resolve|network|No matching distribution", proc.stderr):
            pytest.skip(f"pip could not reach a package index for the build: "
                        f"{proc.stderr.strip().splitlines()[-1]}")
        pytest.fail(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(APP))
    (tmp_path / "mypy.ini").write_text("[mypy]\n")
    check = subprocess.run([py, "-m", "mypy", "--strict", "--config-file", "mypy.ini",
                            "--cache-dir", str(tmp_path / "cache"), "app.py"],
                           cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=600)
    out = check.stdout
    assert "import-not-found" not in out and "missing library stubs" not in out, out
    errors = sorted(int(line.split(":")[1]) for line in out.splitlines()
                    if line.startswith("app.py:") and ": error:" in line)
    assert errors == [6, 9], out            # exactly the two wrong returns
