"""funclatency, run for real: a small C program the test compiles calls a
function of its own (not inlined) a known number of times, each call
sleeping about a millisecond; the histogram's count must be exactly that
number, in --json (nsecs) and text (-u), through a uprobe pair on the host.
Kernel functions (do_sys_openat2, which a child's opens reach a known number
of times) need kprobes or fentry: the kernel matrix runs those."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

from bpfenv import requires_bpf
from toolenv import Tool, json_lines

CALLS = 37
PROGRAM = r"""
#include <stdio.h>
#include <unistd.h>
__attribute__((noinline)) int hot_function(int i)
{
	usleep(1000);
	return i * 2;
}
int main(void)
{
	int sum = 0;
	getchar();
	for (int i = 0; i < %d; i++)
		sum += hot_function(i);
	printf("%%d\n", sum);
	return 0;
}
""" % CALLS


@pytest.fixture
def program(tmp_path: Path) -> Path:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler (gcc) to build the workload")
    (tmp_path / "hot.c").write_text(PROGRAM)
    out = tmp_path / "hot"
    subprocess.run([cc, "-O1", "-o", str(out), str(tmp_path / "hot.c")], check=True)
    return out


def run_program(path: Path, *tool_args: str) -> str:
    child = subprocess.Popen([str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    tool = Tool("funclatency", "-p", str(child.pid), *tool_args, f"{path}:hot_function")
    child.communicate(b"go\n")
    out, _ = tool.stop()
    return out


def buckets_count(buckets: List[Dict[str, Any]]) -> int:
    return sum(b["count"] for b in buckets)


@requires_bpf
@pytest.mark.uprobe
def test_funclatency_user_function_json(program: Path) -> None:
    (report,) = json_lines(run_program(program, "--json"))
    assert (report["type"], report["hook"], report["unit"]) == ("interval", "uprobe", "nsecs")
    assert report["function"].endswith("hot:hot_function")
    assert report["count"] == buckets_count(report["buckets"]) == CALLS, report
    # each call sleeps >= 1 ms: every call lands at or above the 2^19 ns slot
    assert all(b["start"] >= 2**19 for b in report["buckets"] if b["count"]), report
    assert report["sum"] >= CALLS * 1_000_000


@requires_bpf
@pytest.mark.uprobe
def test_funclatency_user_function_text_usecs(program: Path) -> None:
    out = run_program(program, "-u")
    assert re.search(r"^\s*usecs\s+: count\s+distribution$", out, re.M), out
    counts = [int(m) for m in re.findall(r"^\s*\d+ -> \d+\s+: (\d+)", out, re.M)]
    assert sum(counts) == CALLS, out
    assert re.search(rf"^avg = \d+ usecs, total: \d+ usecs, count: {CALLS}$", out, re.M), out


OPENS = 50
CHILD = ("import os, sys\n"
         "sys.stdin.readline()\n"
         f"for _ in range({OPENS}):\n"
         "    os.close(os.open('/dev/null', os.O_RDONLY))\n")


def check_kernel_function(hook: str) -> None:
    child = subprocess.Popen([sys.executable, "-S", "-c", CHILD], stdin=subprocess.PIPE)
    tool = Tool("funclatency", "--json", "--hook", hook, "-p", str(child.pid),
                "do_sys_openat2")
    child.communicate(b"go\n")
    out, _ = tool.stop()
    (report,) = json_lines(out)
    assert (report["hook"], report["count"]) == (hook, OPENS), report


@requires_bpf
@pytest.mark.kprobe
def test_funclatency_kernel_function_kprobe() -> None:
    check_kernel_function("kprobe")


@requires_bpf
@pytest.mark.fentry
def test_funclatency_kernel_function_fentry() -> None:
    check_kernel_function("fentry")
