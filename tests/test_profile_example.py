"""examples/profile.py (over the profile tool) run for real against a busy-loop program built here:
its hot function must be the top of the profile and of the folded output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from symenv import need_tools, start_target

from bpfenv import REPO_ROOT, requires_bpf

pytestmark = requires_bpf

BUSY_SRC = r"""
#include <stdio.h>
volatile unsigned long sink;
__attribute__((noinline)) static void hot_spin_here(void)
{
	for (unsigned long i = 0; i < 100000000UL; i++)
		sink += i;
}
__attribute__((noinline)) static void cold_setup(void) { sink = 1; }
int main(void)
{
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		cold_setup();
		hot_spin_here();
	}
}
"""


def test_profile_finds_the_hot_function(tmp_path: Path) -> None:
    need_tools("gcc")
    (tmp_path / "busy.c").write_text(BUSY_SRC)
    subprocess.run(["gcc", "-O0", "-fno-omit-frame-pointer", "-o", str(tmp_path / "busy"),
                    str(tmp_path / "busy.c")], check=True)
    busy = start_target([str(tmp_path / "busy")])
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
