"""bpfskel.export end to end: a real BPF program, a real Prometheus server
scraping our /metrics, and its HTTP API queried.

The workload is a child process making 40 sleeps of 3 ms, traced by
syslat's program filtered to that child (``.rodata.target_tgid``), so what
BPF counted is known and stops changing once the child blocks in a read.
"""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, List, Tuple

import pytest

from bpfenv import REPO_ROOT, generated_module, requires_bpf
from promenv import prometheus, requires_prometheus

pytest.importorskip("prometheus_client", reason="the prometheus extra is not installed")

from bpfskel import export  # noqa: E402
from bpfskel.stats import enable_stats, program_stats  # noqa: E402

SLEEPS, SLEEP_S = 40, 0.003
CHILD = f"""
import sys, time
print("ready", flush=True)
sys.stdin.readline()
for _ in range({SLEEPS}):
    time.sleep({SLEEP_S})
print("done", flush=True)
sys.stdin.readline()
"""
NR_READ = 0  # x86-64


def syslat_example() -> Any:
    spec = importlib.util.spec_from_file_location("syslat_example",
                                                  REPO_ROOT / "examples" / "syslat.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def blocked_in_read(pid: int) -> bool:
    """The child sits in read(2): every earlier syscall has exited (and counted)."""
    with open(f"/proc/{pid}/syscall") as f:
        return f.read().split()[0] == str(NR_READ)


def prometheus_quantile(q: float, buckets: List[Tuple[float, float]]) -> float:
    """PromQL's histogram_quantile on cumulative (le, count) pairs, as
    promql/quantile.go computes it (linear interpolation in the bucket)."""
    total = buckets[-1][1]
    rank = q * total
    b = next(i for i, (_, c) in enumerate(buckets) if c >= rank)
    if b == len(buckets) - 1:
        return buckets[-2][0]
    start, end, count = 0.0, buckets[b][0], buckets[b][1]
    if b > 0:
        start = buckets[b - 1][0]
        count -= buckets[b - 1][1]
        rank -= buckets[b - 1][1]
    return start + (end - start) * (rank / count)


@requires_bpf
@requires_prometheus
def test_prometheus_scrapes_what_bpf_counted(tmp_path_factory: pytest.TempPathFactory,
                                             tmp_path: Path) -> None:
    mod = generated_module("syslat", tmp_path_factory)
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdin and child.stdout
    try:
        assert child.stdout.readline() == "ready\n"
        with mod.open() as skel, enable_stats():
            skel.rodata.target_tgid = child.pid
            skel.load()
            skel.attach()
            child.stdin.write("go\n")
            child.stdin.flush()
            assert child.stdout.readline() == "done\n"
            deadline = time.monotonic() + 30
            while not blocked_in_read(child.pid):
                assert time.monotonic() < deadline, "the child never blocked in read()"
                time.sleep(0.05)
            traced = skel.bss.traced
            hist = list(skel.bss.hist)
            calls = skel.maps.procs[child.pid].calls
            assert traced >= SLEEPS and sum(hist) == traced == calls

            exporter = syslat_example().exporter(skel)
            with export.serve(0, skel, exporter, addr="127.0.0.1") as server, \
                    prometheus([f"127.0.0.1:{server.port}"], tmp_path) as prom:
                prom.wait("syslat_calls_total", lambda v: v == traced)
                pid = f'pid="{child.pid}"'
                assert prom.value(f"syslat_process_calls_total{{{pid}}}") == calls
                comm = Path(sys.executable).name[:15]
                assert prom.value(f'count(syslat_process_calls_total{{comm="{comm}"}})') == 1
                assert prom.value("syslat_latency_seconds_count") == traced
                total = prom.value("syslat_latency_seconds_sum")
                assert total is not None
                assert math.isclose(total, skel.bss.lat_total_ns / 1e9, rel_tol=1e-9)
                # every sleep took at least 3 ms: the exact sum says so too
                assert total >= SLEEPS * SLEEP_S

                # all 32 buckets are there, the last one +Inf
                series = prom.query("syslat_latency_seconds_bucket")
                les = sorted(float(s["metric"]["le"]) for s in series)
                assert len(les) == len(hist) and les[-1] == math.inf
                assert les[:-1] == [2.0 ** (i + 1) * 1e-6 for i in range(len(hist) - 1)]

                median = prom.value("histogram_quantile(0.5, syslat_latency_seconds_bucket)")
                assert median is not None
                cumulative, running = [], 0
                for le, count in zip(les, hist):
                    running += count
                    cumulative.append((le, float(running)))
                assert math.isclose(median, prometheus_quantile(0.5, cumulative), rel_tol=1e-9)
                # most calls are the 3 ms sleeps: the median lies in or above
                # the bucket of 3 ms, [2.048 ms, 4.096 ms), never below
                assert 2.048e-3 <= median <= 0.1, median

                # self-metrics: the hash map's fullness, and program statistics
                assert prom.value('bpfskel_map_entries{map="procs"}') == 1
                assert prom.value('bpfskel_map_max_entries{map="procs"}') == 4096
                runs = prom.wait('bpfskel_prog_runs_total{prog="on_exit"}',
                                 lambda v: v is not None and v > 0)
                assert runs is not None
                assert runs <= program_stats(skel.progs.on_exit).run_cnt
    finally:
        child.kill()
        child.wait()
