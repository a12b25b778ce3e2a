"""examples/profile.py (over the profile tool) run for real against a
busy-loop program built here: its hot function must be the top of the
profile and of the folded output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from symenv import BUSY_SRC, compile_c, start_target

from bpfenv import REPO_ROOT, requires_bpf

pytestmark = requires_bpf


def test_profile_finds_the_hot_function(tmp_path: Path) -> None:
    busy = start_target([str(compile_c(tmp_path, "busy", BUSY_SRC))])
    try:
        folded = tmp_path / "out.folded"
        run = subprocess.run([sys.executable, str(REPO_ROOT / "examples" / "profile.py"),
                              "-p", str(busy.pid), "-d", "2", "--folded", str(folded)],
                             capture_output=True, text=True, timeout=120)
    finally:
        busy.kill()
        busy.wait()
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split()[0].isdigit() and int(lines[0].split()[0]) >= 10, run.stdout
    # the first stack block: "<count> <pct>%  busy (<pid>)", then its frames, leaf first
    head = next(i for i, ln in enumerate(lines) if f"({busy.pid})" in ln)
    assert "busy" in lines[head]
    assert lines[head + 1].strip() == "hot_spin_here", run.stdout
    stacks = [ln.rsplit(" ", 1) for ln in folded.read_text().splitlines()]
    top = max(stacks, key=lambda s: int(s[1]))
    assert top[0].startswith("busy;") and top[0].endswith(";main;hot_spin_here"), top
