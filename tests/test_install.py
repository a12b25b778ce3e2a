"""The development install the README documents works from a checkout that
has no generated module: in a fresh venv, ``pip install -e`` of a clean copy
runs bpfskel's build hook, which generates the tools' modules into the tree
(where the editable install imports them from), and an app that imports
``bpfskel`` is checked by mypy against the tree (hatchling's editable install
is a ``.pth`` path entry, which mypy follows; an import-hook editable install,
setuptools' default, would leave mypy calling ``bpfskel`` missing)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import bpfcc
from bpfenv import REPO_ROOT
from venvenv import bpfskel_sources

pytestmark = [pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                                 reason="mypy is not installed (pip install mypy)"),
              pytest.mark.skipif(bpfcc.missing_reason() is not None,
                                 reason=f"{bpfcc.missing_reason()} (the build hook needs it)")]

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
    cmd = readme_install_command()          # pip install -e .[test]
    assert cmd[:3] == ["pip", "install", "-e"]
    src = bpfskel_sources(tmp_path / "checkout")
    proc = subprocess.run([py, "-m", *cmd, "-q", "--no-deps"], cwd=src, env=env,
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        if re.search(r"(?i)connection|resolve|network|No matching distribution", proc.stderr):
            pytest.skip(f"pip could not reach a package index for the build: "
                        f"{proc.stderr.strip().splitlines()[-1]}")
        pytest.fail(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    tools = sorted(p.name[: -len(".bpf.c")] for p in (src / "bpfskel/tools/bpf").glob("*.bpf.c"))
    assert tools and sorted(p.name[: -len("_skel.py")] for p in
                            (src / "bpfskel/tools/bpf").glob("*_skel.py")) == tools
    where = subprocess.run([py, "-c", "import bpfskel.tools.bpf.exitsnoop_skel as m; "
                            "print(m.__file__)"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert where == str(src / "bpfskel/tools/bpf/exitsnoop_skel.py")
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
