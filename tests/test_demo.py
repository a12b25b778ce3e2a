"""The demo tool (examples/syslat.py) run for real for two seconds."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from bpfenv import BUILD_DIR, REPO_ROOT, build_obj, requires_bpf

pytestmark = requires_bpf


@pytest.mark.skipif(not __import__("os").path.isdir("/sys/kernel/tracing/events/raw_syscalls"),
                    reason="tracefs not mounted at /sys/kernel/tracing")
def test_syslat_reports_histogram_top_and_slow_calls() -> None:
    obj = build_obj("syslat")
    subprocess.run([sys.executable, "-m", "bpfskel", "gen", str(obj), "-o",
                    str(BUILD_DIR / "syslat_skel.py")], check=True)
    # --slow-us 1: every call of a microsecond or more is "slow", so events arrive
    run = subprocess.run([sys.executable, str(REPO_ROOT / "examples" / "syslat.py"),
                          "--workload", "--duration", "2", "--interval", "1",
                          "--slow-us", "1", "--top", "20"],
                         capture_output=True, text=True, timeout=60)
    out = run.stdout
    assert run.returncode == 0, run.stderr
    pid = int(re.search(r"^workload: pid (\d+)", out, re.M).group(1))  # type: ignore[union-attr]
    # the histogram has counts
    counts = [int(m.group(1)) for m in re.finditer(r"^\s*\d+ -> \d+\s+: (\d+)", out, re.M)]
    assert counts and sum(counts) > 0
    # the top list names the workload process with its calls
    rows = re.findall(rf"^\s*{pid} (\S+)\s+(\d+)\s+[\d.]+$", out, re.M)
    assert rows and int(rows[-1][1]) > 100, out
    # slow-call events arrived through the ring buffer
    assert re.search(r"^SLOW\s+\d+ us\s+\d+ \S+", out, re.M), out
    assert "Traceback" not in run.stderr
