"""The README's quickstart, run as written: its C compiled with clang, its
module generated with the CLI, its Python executed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bpfenv import CLANG, REPO_ROOT, requires_bpf

pytestmark = [requires_bpf, pytest.mark.skipif(
    not Path("/sys/kernel/tracing/events/syscalls").is_dir(),
    reason="tracefs not mounted at /sys/kernel/tracing")]


def quickstart_blocks() -> dict[str, str]:
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return {lang: body for lang, body in re.findall(r"```(\w+)\n(.*?)```", section, re.S)}


def test_quickstart_runs_as_written(tmp_path: Path) -> None:
    blocks = quickstart_blocks()
    (tmp_path / "prog.bpf.c").write_text(blocks["c"])
    arch = __import__("os").uname().machine
    subprocess.run([CLANG, "-g", "-O2", "-target", "bpf", f"-I/usr/include/{arch}-linux-gnu",
                    "-c", "prog.bpf.c", "-o", "prog.bpf.o"], cwd=tmp_path, check=True)
    subprocess.run([sys.executable, "-m", "bpfskel", "gen", "prog.bpf.o", "-o", "prog_skel.py"],
                   cwd=tmp_path, check=True)
    run = subprocess.run([sys.executable, "-c", blocks["python"]], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "1", lines                            # skel.bss.calls
    assert re.fullmatch(r"\[\(\d+, 1\)\]", lines[1]), lines       # per_tid.items()
    event = re.fullmatch(r"event\(tgid=(\d+), ts=(\d+)\)", lines[2])  # the ring buffer
    assert event and int(event[1]) > 1 and int(event[2]) > 0, lines
