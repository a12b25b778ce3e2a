"""The README's quickstart, run as written: its C compiled with clang, its
module generated with the CLI, its Python executed."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import bpfcc
from bpfenv import REPO_ROOT, requires_bpf

pytestmark = [requires_bpf, pytest.mark.skipif(
    not Path("/sys/kernel/tracing/events/syscalls").is_dir(),
    reason="tracefs not mounted at /sys/kernel/tracing")]


def quickstart_blocks() -> dict[str, str]:
    """Each fenced block by language; a C block by the file its first line names
    (``// prog.h: ...`` -> ``prog.h``)."""
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = {}
    for lang, body in re.findall(r"```(\w+)\n(.*?)```", section, re.S):
        named = re.match(r"// ([\w.]+)", body) if lang == "c" else None
        blocks[named.group(1) if named else lang] = body
    return blocks


def test_quickstart_runs_as_written(tmp_path: Path) -> None:
    blocks = quickstart_blocks()
    for name in ("prog.h", "prog.bpf.c"):
        (tmp_path / name).write_text(blocks[name])
    bpfcc.clang()  # bpfskel build finds it the same way; raises naming what to install
    for line in blocks["sh"].splitlines():  # the commands as written, our checkout's bpfskel
        argv = shlex.split(line, comments=True)
        assert argv[0] == "bpfskel", line
        subprocess.run([sys.executable, "-m", *argv], cwd=tmp_path, check=True,
                       env=dict(os.environ, BPFSKEL_CACHE_DIR=str(tmp_path / "cache")))
    run = subprocess.run([sys.executable, "-c", blocks["python"]], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "1", lines                            # skel.bss.calls
    assert re.fullmatch(r"\[\(\d+, 1\)\]", lines[1]), lines       # per_tid.items()
    event = re.fullmatch(r"event\(tgid=(\d+), ts=(\d+)\)", lines[2])  # the ring buffer
    assert event and int(event[1]) > 1 and int(event[2]) > 0, lines
