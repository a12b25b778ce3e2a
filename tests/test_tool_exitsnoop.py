"""exitsnoop, run for real: children the test starts exit with known codes or
signals, and the tool's text and --json output must say so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from bpfenv import requires_bpf
from toolenv import Tool, json_lines

pytestmark = [requires_bpf, pytest.mark.tracepoint]


def child(code: str) -> int:
    proc = subprocess.Popen([sys.executable, "-S", "-c", code])
    proc.wait()
    return proc.pid


def test_exitsnoop_text_codes_signals_and_lifetime() -> None:
    tool = Tool("exitsnoop")
    seven = child("import time, sys; time.sleep(0.2); sys.exit(7)")
    killed = subprocess.Popen(["/bin/sleep", "30"])
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    out, err = tool.stop()
    rows = {int(line.split()[1]): line for line in out.splitlines()[1:]}
    comm, pid, ppid, tid, age, code = rows[seven].split()
    assert (comm, int(ppid), int(tid), code) == ("python3", os.getpid(), seven, "7")
    assert float(age) >= 0.2                                 # it slept that long
    assert rows[killed.pid].split()[0] == "sleep"
    assert rows[killed.pid].endswith("signal 9 (SIGKILL)"), rows[killed.pid]
    assert "exits traced" in err


def test_exitsnoop_json_failed_only_and_pid() -> None:
    tool = Tool("exitsnoop", "--json", "-x")
    ok = child("pass")
    bad = child("import sys; sys.exit(3)")
    out, _ = tool.stop()
    by_pid = {r["pid"]: r for r in json_lines(out) if r["type"] == "exit"}
    assert ok not in by_pid                                 # -x: exit 0 not shown
    r = by_pid[bad]
    assert (r["exit_code"], r["signal"], r["status"], r["ppid"]) == (3, None, 3 << 8, os.getpid())
    assert r["comm"] == "python3" and r["age_s"] >= 0


def test_exitsnoop_threaded_shows_threads() -> None:
    code = ("import threading; t = threading.Thread(target=lambda: None); t.start(); t.join()")
    proc = subprocess.Popen([sys.executable, "-S", "-c", "import sys; sys.stdin.readline()\n"
                             + code], stdin=subprocess.PIPE)
    tool = Tool("exitsnoop", "--json", "--threaded", "--pid", str(proc.pid))
    proc.communicate(b"go\n")
    out, _ = tool.stop()
    rows = [r for r in json_lines(out) if r["type"] == "exit"]
    assert {r["pid"] for r in rows} == {proc.pid}
    tids = {r["tid"] for r in rows}
    assert proc.pid in tids and len(tids) >= 2, rows         # the thread and the leader
