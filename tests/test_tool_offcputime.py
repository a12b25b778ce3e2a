"""offcputime, run for real: a program built here sleeps (nanosleep(2)
straight from a known function, 20 ms at a time); that function's stack
must carry plausible off-CPU time, through each tracepoint flavour the
kernel has, in JSON, folded and text output, and -m must leave it out."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator, List

import pytest
from symenv import compile_c, start_target

from bpfskel import features

from bpfenv import requires_bpf
from toolenv import json_lines, run_interval

pytestmark = [requires_bpf, pytest.mark.tracepoint]

COMM = "bpfskel_nap"
NAP_US = 20000
NAP_SRC = r"""
#include <stdio.h>
#include <time.h>
__attribute__((noinline)) static void nap_here(void)
{
	struct timespec ts = {0, 20000000};  /* 20 ms */
	long ret;
	/* nanosleep(2) from here: no libc frame (no frame pointers) */
	__asm__ volatile ("syscall" : "=a"(ret) : "a"(35L), "D"(&ts), "S"(0L)
		: "rcx", "r11", "memory");
}
int main(void)
{
	printf("ready\n");
	fflush(stdout);
	for (;;)
		nap_here();
}
"""


@pytest.fixture
def napper(tmp_path: Path) -> Iterator["subprocess.Popen[str]"]:
    if os.uname().machine != "x86_64":
        pytest.skip("the workload makes an x86-64 system call (nanosleep is 35 there)")
    proc = start_target([str(compile_c(tmp_path, COMM, NAP_SRC))])
    yield proc
    proc.kill()
    proc.wait()


def hooks() -> List[Any]:
    return ["raw_tp", pytest.param("tp_btf", marks=pytest.mark.skipif(
        not features.tp_btf_available(), reason="this kernel has no tp_btf"))]


@pytest.mark.parametrize("hook", hooks())
def test_offcputime_json_finds_the_sleeping_function(napper: "subprocess.Popen[str]",
                                                     hook: str) -> None:
    began = time.monotonic()
    out, _ = run_interval("offcputime", "-p", str(napper.pid), "--hook", hook, "--json", "2")
    wall_us = (time.monotonic() - began) * 1e6
    records = json_lines(out)
    assert records and {(r["type"], r["pid"], r["comm"]) for r in records} == {
        ("stack", napper.pid, COMM)}
    naps = [r for r in records if r["user_stack"][:2] == ["nap_here", "main"]]
    assert naps, records
    total = sum(r["total_us"] for r in naps)
    # at least one whole nap; at most the time the tool ran (one thread)
    assert NAP_US <= total <= wall_us, (total, wall_us)
    for r in naps:  # the kernel side: the sleep, not the tracing machinery
        assert r["kernel_stack"] and not r["kernel_stack"][0].startswith("bpf_"), r
        assert "schedule" in r["kernel_stack"], r


def test_offcputime_folded_and_min_block_time(napper: "subprocess.Popen[str]") -> None:
    out, _ = run_interval("offcputime", "-p", str(napper.pid), "-f", "2")
    naps = [ln.rsplit(" ", 1) for ln in out.splitlines() if ";main;nap_here;" in ln]
    assert naps, out
    for stack, _ in naps:  # root first: comm, user frames, then kernel frames
        assert stack.startswith(f"{COMM};") and stack.endswith("_[k]"), stack
    assert sum(int(us) for _, us in naps) >= NAP_US, naps
    # blocks of at least one second only: a 20 ms nap is not one
    out, _ = run_interval("offcputime", "-p", str(napper.pid), "-f", "-m", "1000000", "1")
    assert "nap_here" not in out, out


def test_offcputime_text_user_stacks_only(napper: "subprocess.Popen[str]") -> None:
    out, _ = run_interval("offcputime", "-p", str(napper.pid), "-U", "1")
    blocks = [b.splitlines() for b in out.strip().split("\n\n")]
    last = blocks[-1]  # the largest total is printed last
    assert [ln.strip() for ln in last[:2]] == ["nap_here", "main"], out
    assert last[-2].split() == ["-", COMM, f"({napper.pid})"], out
    assert "--" not in [ln.strip() for b in blocks for ln in b], out  # no kernel part
