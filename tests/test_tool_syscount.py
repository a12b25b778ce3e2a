"""syscount, run for real: a child the test drives makes known numbers of
system calls, and each report (text and --json) must count exactly those."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Dict, List

import pytest

from bpfenv import REPO_ROOT, requires_bpf
from toolenv import Tool, json_lines, run_interval

pytestmark = [requires_bpf, pytest.mark.tracepoint]

# waits for a line on stdin, then makes 1000 getppid() and 50 failing openat()
WORKLOAD = ("import os, sys\n"
            "sys.stdin.readline()\n"
            "for _ in range(1000):\n"
            "    os.getppid()\n"
            "for _ in range(50):\n"
            "    try:\n"
            "        os.open('/nonexistent-syscount-marker', os.O_RDONLY)\n"
            "    except FileNotFoundError:\n"
            "        pass\n"
            "sys.stdin.readline()\n")


def workload() -> "subprocess.Popen[bytes]":
    return subprocess.Popen([sys.executable, "-S", "-c", WORKLOAD], stdin=subprocess.PIPE)


def go(proc: "subprocess.Popen[bytes]") -> None:
    """Run the burst; the child stays alive (so its pid is valid) until ended."""
    assert proc.stdin is not None
    proc.stdin.write(b"go\n")
    proc.stdin.flush()


def end(proc: "subprocess.Popen[bytes]") -> None:
    proc.communicate(b"end\n")


def counts(entries: List[Dict[str, int]], key: str = "syscall") -> Dict[object, int]:
    total: Dict[object, int] = {}
    for e in entries:
        total[e[key]] = total.get(e[key], 0) + e["count"]
    return total


def test_syscount_text_counts_the_burst_with_latency() -> None:
    child = workload()
    tool = Tool("syscount", "-p", str(child.pid), "-L", "--top", "0")
    go(child)
    end(child)
    out, _ = tool.stop()
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:] if line.strip()}
    assert out.splitlines()[0].split()[:2] == ["SYSCALL", "COUNT"], out
    assert int(rows["getppid"][1]) == 1000, out
    assert int(rows["openat"][1]) == 50, out
    assert float(rows["getppid"][2]) > 0 and float(rows["getppid"][3]) > 0  # TIME, MAX


def test_syscount_json_intervals_read_and_clear_lose_nothing() -> None:
    child = workload()
    tool = Tool("syscount", "-p", str(child.pid), "--json", "--top", "0", "0.05", "1000")
    go(child)
    end(child)
    out, _ = tool.stop()
    reports = json_lines(out)
    assert all(r["type"] == "interval" and r["by"] == "syscall" for r in reports)
    total = counts([e for r in reports for e in r["entries"]])
    assert total["getppid"] == 1000 and total["openat"] == 50, total


def test_syscount_failed_errno_and_by_process() -> None:
    child = workload()
    tool = Tool("syscount", "-p", str(child.pid), "--json", "-x", "-e", "ENOENT", "-P")
    go(child)
    end(child)
    out, _ = tool.stop()
    (report,) = json_lines(out)
    assert report["by"] == "process"
    assert report["entries"] == [{"count": 50, "pid": child.pid, "comm": "python3"}]


def test_syscount_interval_count_ends_by_itself() -> None:
    out, err = run_interval("syscount", "--json", "--syscall", "getppid", "0.1", "3")
    reports = json_lines(out)
    assert len(reports) == 3
    assert all(set(e) == {"count", "nr", "syscall"} and e["syscall"] == "getppid"
               for r in reports for e in r["entries"])


def test_syscount_bad_options_exit_2() -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    for bad in (["-e", "ENOTANERRNO"], ["--syscall", "nosuchcall"], ["-1"]):
        proc = subprocess.run([sys.executable, "-m", "bpfskel.tools", "syscount", *bad],
                              capture_output=True, text=True, env=env)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
