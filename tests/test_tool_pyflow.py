"""pyflow, run for real on /usr/bin/python3.11 (built with USDT probes): a
script with known functions (outer_fn calls middle_fn, which calls leaf_fn,
three times) must show them entered and returned in that nesting, with
latencies, in JSON and text, and summed per function with --latency."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from bpfskel import features

from bpfenv import requires_bpf
from toolenv import Tool, json_lines

PY311 = "/usr/bin/python3.11"
pytestmark = [requires_bpf, pytest.mark.skipif(
    not os.path.exists(PY311), reason=f"{PY311} (USDT notes) is not installed")]

# CPython 3.11 fires the probes only while a trace function is set (README)
SCRIPT = """\
import sys
def leaf_fn(n):
    return n * 2
def middle_fn(n):
    return leaf_fn(n) + 1
def outer_fn():
    t = 0
    for i in range(3):
        t += middle_fn(i)
    return t
sys.stdin.readline()
sys.settrace(lambda *a: None)
outer_fn()
"""
NAMES = ("outer_fn", "middle_fn", "leaf_fn")
LINES = {"leaf_fn": 2, "middle_fn": 4, "outer_fn": 6}
# (kind, function, depth below outer_fn's)
FLOW = ([("entry", "outer_fn", 0)]
        + [("entry", "middle_fn", 1), ("entry", "leaf_fn", 2),
           ("return", "leaf_fn", 2), ("return", "middle_fn", 1)] * 3
        + [("return", "outer_fn", 0)])


def run_script(tmp_path: Path, *args: str, by_pid: bool = True) -> Tuple[str, str, Path]:
    """The script run under the tool, attached to its pid or (``by_pid``
    False) to every process of the interpreter binary."""
    if not features.usdt_available():
        pytest.skip("libbpf or the kernel cannot attach USDT probes")
    script = tmp_path / "flow_script.py"
    script.write_text(SCRIPT)
    child = subprocess.Popen([PY311, str(script)], stdin=subprocess.PIPE, text=True)
    try:
        tool = Tool("pyflow", *(["-p", str(child.pid)] if by_pid else ["--binary", PY311]),
                    *args)
        child.communicate("go\n", timeout=120)
        assert child.returncode == 0
        out, err = tool.stop()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return out, err, script


def test_pyflow_json_nesting_and_latency(tmp_path: Path) -> None:
    out, _, script = run_script(tmp_path, "--json")
    ours = [r for r in json_lines(out) if r["func"] in NAMES]
    assert ours, out
    base = ours[0]["depth"]
    assert [(r["type"], r["func"], r["depth"] - base) for r in ours] == FLOW, ours
    assert all(r["file"] == str(script) and r["pid"] == r["tid"] for r in ours)
    assert all(r["line"] == LINES[r["func"]] for r in ours if r["type"] == "entry")
    durations: Dict[str, List[int]] = {}
    for r in ours:
        if r["type"] == "return":
            assert r["duration_ns"] > 0, r
            durations.setdefault(r["func"], []).append(r["duration_ns"])
        else:
            assert r["duration_ns"] is None, r
    # each call ran inside its caller's
    assert durations["outer_fn"][0] >= sum(durations["middle_fn"])
    assert all(m >= lf for m, lf in zip(durations["middle_fn"], durations["leaf_fn"]))


def test_pyflow_text_indents_by_depth(tmp_path: Path) -> None:
    out, _, script = run_script(tmp_path)
    assert out.splitlines()[0].split() == ["PID", "TID", "TIME(s)", "FUNCTION"]
    row = re.compile(r"^\d+ +\d+ +[\d.]+ ( *)(->|<-) (\S+)(.*)$")
    seen: List[Tuple[str, str, int]] = []
    for line in out.splitlines()[1:]:
        m = row.match(line)
        assert m, line
        indent, arrow, func, rest = m.groups()
        if func in NAMES:
            seen.append(("entry" if arrow == "->" else "return", func, len(indent) // 2))
            if arrow == "->":
                assert rest == f" ({script}:{LINES[func]})", line
            else:
                assert re.fullmatch(r" \d+\.\d{3} us", rest), line
    base = seen[0][2]
    assert [(k, f, d - base) for k, f, d in seen] == FLOW, out


@pytest.mark.parametrize("by_pid", [True, False], ids=["pid", "binary"])
def test_pyflow_latency_summary(tmp_path: Path, by_pid: bool) -> None:
    out, _, script = run_script(tmp_path, "--latency", "--json", by_pid=by_pid)
    (report,) = json_lines(out)
    assert (report["type"], report["by"]) == ("interval", "function")
    rows: Dict[str, Any] = {e["func"]: e for e in report["entries"] if e["file"] == str(script)}
    assert {f: rows[f]["count"] for f in NAMES} == {"outer_fn": 1, "middle_fn": 3, "leaf_fn": 3}
    for e in rows.values():
        assert e["total_ns"] >= e["max_ns"] > 0, e
    assert rows["outer_fn"]["total_ns"] >= rows["middle_fn"]["total_ns"] >= rows["leaf_fn"][
        "total_ns"]
