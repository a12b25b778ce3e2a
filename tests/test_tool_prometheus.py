"""--prometheus on the summary tools, for real: while runqlat, syscount,
biolatency and funclatency run with short report intervals (each report reads
and clears their maps), /metrics is scraped and must hold every event the workload made since the
start, and the reports together exactly the same."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Callable, Dict, Tuple

import pytest
from test_tool_biolatency import IOS, direct_io, loop_device  # noqa: F401 (a fixture)
from test_tool_funclatency import CALLS, program  # noqa: F401 (a fixture)
from test_tool_runqlat import SLEEPS, sleeper
from test_tool_syscount import end, go, workload

from bpfenv import requires_bpf
from promenv import free_port
from toolenv import Tool, json_lines

pytest.importorskip("prometheus_client", reason="the prometheus extra is not installed")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

pytestmark = [requires_bpf, pytest.mark.tracepoint]

Samples = Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def start(tool: str, *args: str) -> Tuple[Tool, str]:
    """The tool serving /metrics on a free loopback port, and its URL."""
    port = free_port()
    return (Tool(tool, *args, "--prometheus", f"127.0.0.1:{port}"),
            f"http://127.0.0.1:{port}/metrics")


def scrape_until(url: str, done: Callable[[Samples], bool]) -> Samples:
    """Scrape until ``done`` (the workload's events have been read)."""
    deadline = time.monotonic() + 60
    while True:
        samples = scrape(url)
        if done(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.2)


def test_syscount_counters_survive_the_reports() -> None:
    child = workload()
    tool, url = start("syscount", "-p", str(child.pid), "-L", "--json", "0.2")
    calls = ("syscount_calls_total", (("syscall", "getppid"),))
    seconds = ("syscount_seconds_total", (("syscall", "getppid"),))
    try:
        go(child)
        samples = scrape_until(url, lambda s: s.get(calls, 0) >= 1000)
        time.sleep(0.5)  # more reports (each clears the map) before the last scrape
        again = scrape(url)
    finally:
        end(child)
    out, _ = tool.stop()
    assert samples[calls] == again[calls] == 1000, samples
    assert again[seconds] > 0
    assert again[("syscount_lost_events_total", ())] == 0
    reported = sum(e["count"] for r in json_lines(out) if r["type"] == "interval"
                   for e in r["entries"] if e["syscall"] == "getppid")
    assert reported == 1000, out


def test_runqlat_histogram_counts_every_wakeup() -> None:
    child = sleeper()
    tool, url = start("runqlat", "-p", str(child.pid), "-P", "--json", "0.2")
    child.communicate(b"go\n")  # the child has slept SLEEPS times and exited
    who = (("comm", "python3"), ("pid", str(child.pid)))
    count = ("runqlat_latency_seconds_count", who)
    first = scrape_until(url, lambda s: s.get(count, 0) >= SLEEPS)
    time.sleep(0.5)  # more reports (each clears the map) before the last scrape
    samples = scrape(url)
    out, _ = tool.stop()
    assert first[count] == samples[count]
    inf = ("runqlat_latency_seconds_bucket", tuple(sorted((*who, ("le", "+Inf")))))
    assert samples[inf] == samples[count] >= SLEEPS, samples
    assert samples[("runqlat_latency_seconds_sum", who)] > 0
    # the reports, each cleared, add up to what the scrape holds since the start
    reported = sum(h["total"] for r in json_lines(out) for h in r["hists"])
    assert reported == samples[count], out


def test_biolatency_histogram_per_disk_counts_every_io(loop_device: str) -> None:  # noqa: F811
    name = os.path.basename(loop_device)
    tool, url = start("biolatency", "-D", "-d", name, "--json", "0.2")
    direct_io(loop_device)  # IOS O_DIRECT writes, then IOS reads
    disk = (("disk", name),)
    count = ("biolatency_latency_seconds_count", disk)
    first = scrape_until(url, lambda s: s.get(count, 0) >= 2 * IOS)
    time.sleep(0.5)  # more reports (each clears the map) before the last scrape
    samples = scrape(url)
    out, _ = tool.stop()
    assert first[count] == samples[count] >= 2 * IOS, samples
    inf = ("biolatency_latency_seconds_bucket", tuple(sorted((*disk, ("le", "+Inf")))))
    assert samples[inf] == samples[count]
    assert samples[("biolatency_lost_events_total", ())] == 0
    reported = sum(h["total"] for r in json_lines(out) if r["type"] == "interval"
                   for h in r["hists"])
    assert reported == samples[count], out


@pytest.mark.uprobe
def test_funclatency_histogram_and_exact_sum(program: Path) -> None:  # noqa: F811
    child = subprocess.Popen([str(program)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    spec = f"{program}:hot_function"
    tool, url = start("funclatency", "-p", str(child.pid), "--json", "-i", "0.2", spec)
    child.communicate(b"go\n")  # CALLS calls of about 1 ms each, then the child exits
    fn = (("function", spec),)
    count = ("funclatency_latency_seconds_count", fn)
    first = scrape_until(url, lambda s: s.get(count, 0) >= CALLS)
    time.sleep(0.5)  # more reports (each clears the map) before the last scrape
    samples = scrape(url)
    out, _ = tool.stop()
    assert first[count] == samples[count] == CALLS, samples
    assert samples[("funclatency_latency_seconds_sum", fn)] >= CALLS * 1e-3
    reported = [r for r in json_lines(out) if r["type"] == "interval"]
    assert sum(r["count"] for r in reported) == CALLS, out
    assert abs(sum(r["sum"] for r in reported) * 1e-9
               - samples[("funclatency_latency_seconds_sum", fn)]) < 1e-6
