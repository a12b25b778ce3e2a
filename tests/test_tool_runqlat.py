"""runqlat, run for real: a child the test drives sleeps (and so is woken)
a known number of times; its histogram must hold at least those wakeups, in
text and --json, through each tracepoint flavour the kernel has."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any, List

import pytest

from bpfskel import features

from bpfenv import requires_bpf
from toolenv import Tool, json_lines

pytestmark = [requires_bpf, pytest.mark.tracepoint]

SLEEPS = 100
WORKLOAD = ("import sys, time\n"
            "sys.stdin.readline()\n"
            f"for _ in range({SLEEPS}):\n"
            "    time.sleep(0.001)\n")


def sleeper() -> "subprocess.Popen[bytes]":
    return subprocess.Popen([sys.executable, "-S", "-c", WORKLOAD], stdin=subprocess.PIPE)


def hooks() -> List[Any]:
    return ["raw_tp", pytest.param("tp_btf", marks=pytest.mark.skipif(
        not features.tp_btf_available(), reason="this kernel has no tp_btf"))]


@pytest.mark.parametrize("hook", hooks())
def test_runqlat_json_per_process(hook: str) -> None:
    child = sleeper()
    tool = Tool("runqlat", "--json", "-P", "-p", str(child.pid), "--hook", hook)
    child.communicate(b"go\n")
    out, _ = tool.stop()
    (report,) = json_lines(out)
    assert (report["type"], report["hook"], report["by"], report["unit"]) == (
        "interval", hook, "pid", "usecs")
    (h,) = report["hists"]                  # -p: the child's only
    assert h["pid"] == child.pid and h["comm"] == "python3"
    assert h["total"] == sum(b["count"] for b in h["buckets"]) >= SLEEPS
    assert all(b["end"] >= b["start"] for b in h["buckets"])


def test_runqlat_text_total_in_milliseconds() -> None:
    child = sleeper()
    tool = Tool("runqlat", "-m", "-p", str(child.pid))
    child.communicate(b"go\n")
    out, _ = tool.stop()
    assert re.search(r"^\s*msecs\s+: count\s+distribution$", out, re.M), out
    counts = [int(m) for m in re.findall(r"^\s*\d+ -> \d+\s+: (\d+)", out, re.M)]
    assert sum(counts) >= SLEEPS, out


def test_runqlat_pid_namespaces() -> None:
    child = sleeper()
    tool = Tool("runqlat", "--json", "--pidnss", "-p", str(child.pid))
    child.communicate(b"go\n")
    out, _ = tool.stop()
    (report,) = json_lines(out)
    ns = os.stat(f"/proc/{os.getpid()}/ns/pid").st_ino
    assert [h["pidns"] for h in report["hists"]] == [ns]
