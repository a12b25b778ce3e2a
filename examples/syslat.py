#!/usr/bin/env python3
"""syslat: system call latency histogram, top processes and slow calls.

Built on a bpfskel-generated module (build/syslat_skel.py, made by
``make build/syslat_skel.py`` from bpf/syslat.bpf.c).  What it shows off:

* configuration through ``.rodata`` before load (``--pid``, ``--comm``,
  ``--sample``);
* a live ``.data`` write the running program sees at once (``paused`` and the
  ``slow_ns`` threshold; ``kill -USR1`` toggles pause);
* the latency histogram read straight from the mapped ``.bss`` (no syscalls);
* per-process counts from a hash map, read in batches;
* slow calls as typed ring buffer events, printed as they arrive;
* for fleets: ``--prometheus [HOST]:PORT`` serves the histogram and the
  per-process counts on ``/metrics`` (read at scrape time, see
  ``bpfskel.export``), and ``--json`` prints JSON lines instead of text.

Examples::

    sudo ./examples/syslat.py                       # everything, until Ctrl-C
    sudo ./examples/syslat.py --comm nginx --slow-us 500 --interval 2
    sudo ./examples/syslat.py --workload --duration 4 --pause-demo
    sudo ./examples/syslat.py --prometheus :9435 --json > /var/log/syslat.jsonl
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from bpfskel import labels
from bpfskel.jsonl import JsonLines

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
UNISTD = Path(f"/usr/include/{os.uname().machine}-linux-gnu/asm/unistd_64.h")
WORKLOAD_COMM = "syslat-load"


def syscall_names() -> Dict[int, str]:
    """Syscall numbers to names, from the kernel headers (empty if absent)."""
    names: Dict[int, str] = {}
    try:
        text = UNISTD.read_text()
    except OSError:
        return names
    for m in re.finditer(r"#define __NR_(\w+)\s+(\d+)", text):
        names[int(m.group(2))] = m.group(1)
    return names


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pid", type=int, default=0, help="trace only this process (tgid)")
    p.add_argument("--comm", default="", help="trace only this command name")
    p.add_argument("--slow-us", type=int, default=10_000,
                   help="report calls slower than this many microseconds (default 10000)")
    p.add_argument("--sample", type=int, default=1, metavar="N",
                   help="trace one call in N (default: every call)")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between reports")
    p.add_argument("--duration", type=float, default=0.0,
                   help="stop after this many seconds (default: until Ctrl-C)")
    p.add_argument("--top", type=int, default=8, help="processes to list (default 8)")
    p.add_argument("--max-events", type=int, default=20,
                   help="slow calls to print per interval (default 20)")
    p.add_argument("--workload", action="store_true",
                   help="run a small built-in workload so there is something to see")
    p.add_argument("--pause-demo", action="store_true",
                   help="pause counting for the second interval through a live .data write")
    p.add_argument("--prometheus", metavar="[HOST]:PORT",
                   help="serve Prometheus metrics on /metrics there (e.g. :9435)")
    p.add_argument("--json", action="store_true",
                   help="print JSON lines (one object per interval and per slow call)")
    args = p.parse_args(argv)
    if args.prometheus is not None:
        from bpfskel.export import parse_listen

        try:
            args.prometheus = parse_listen(args.prometheus)
        except ValueError as e:
            p.error(str(e))
    if args.sample < 1 or args.interval <= 0 or len(args.comm.encode()) > 15:
        p.error("--sample must be >= 1, --interval > 0 and --comm at most 15 bytes")
    return args


def start_workload() -> subprocess.Popen[bytes]:
    """A child that makes many fast syscalls and a few slow ones (sleeps)."""
    code = (f"open('/proc/self/comm', 'w').write({WORKLOAD_COMM!r})\n"
            "import os, time\n"
            "while True:\n"
            "    for _ in range(2000): os.getppid()\n"
            "    with open('/proc/self/stat') as f: f.read()\n"
            "    time.sleep(0.03)\n")
    return subprocess.Popen([sys.executable, "-c", code])


class Report:
    """Renders one interval: histogram delta, top processes, counters."""

    def __init__(self, hist_unit: str = "usecs") -> None:
        from bpfskel.hist import log2_hist

        self.log2_hist = log2_hist
        self.unit = hist_unit
        self.last_hist: List[int] = []
        self.last: Dict[int, Tuple[int, int]] = {}  # tgid -> (calls, total_ns)

    def interval(self, skel: Any) -> Tuple[List[int], List[Tuple[int, int, str, int]]]:
        """Since the last call: the histogram delta, and (calls, tgid, comm,
        total_ns) per process that made calls, busiest first."""
        hist = list(skel.bss.hist)            # plain reads of the mapped .bss
        delta = [h - p for h, p in zip(hist, self.last_hist or [0] * len(hist))]
        self.last_hist = hist
        rows = []
        for tgid, st in skel.maps.procs.items():  # batched hash map read
            calls0, ns0 = self.last.get(tgid, (0, 0))
            self.last[tgid] = (st.calls, st.total_ns)
            if st.calls > calls0:
                rows.append((st.calls - calls0, tgid, labels.comm(st.comm), st.total_ns - ns0))
        rows.sort(reverse=True)
        return delta, rows

    def render(self, skel: Any, top: int, paused: bool) -> str:
        delta, rows = self.interval(skel)
        out = [time.strftime("%H:%M:%S") + f"  traced {skel.bss.traced} calls"
               + ("  [paused]" if paused else "")]
        out.append(self.log2_hist(delta, self.unit) or "(no calls this interval)")
        out.append(f"{'PID':>8} {'COMM':<16} {'CALLS':>10} {'AVG us':>10}")
        for calls, tgid, comm, total in rows[:top]:
            out.append(f"{tgid:>8} {comm:<16} {calls:>10} {total / 1000 / max(calls, 1):>10.1f}")
        return "\n".join(out)

    def json(self, skel: Any, top: int, paused: bool) -> Dict[str, Any]:
        """The same interval as one JSON object."""
        delta, rows = self.interval(skel)
        return {"type": "interval", "traced": skel.bss.traced, "paused": paused,
                "hist_usecs_log2": delta,
                "top": [{"pid": tgid, "comm": comm, "calls": calls, "total_ns": total}
                        for calls, tgid, comm, total in rows[:top]]}


def exporter(skel: Any) -> Any:
    """The metrics ``--prometheus`` serves, read from the skeleton at scrape time."""
    from bpfskel import export

    pid_comm = {"pid": export.key(), "comm": export.value("comm", labels.comm)}
    return (export.Exporter()
            .counter("syslat_calls", "System calls traced", lambda: skel.bss.traced)
            .histogram("syslat_latency_seconds", "System call latency",
                       lambda: skel.bss.hist, export.Log2(scale=1e-6),
                       sum=lambda: skel.bss.lat_total_ns / 1e9)
            .counter("syslat_process_calls", "System calls per process", skel.maps.procs,
                     labels=pid_comm, value=lambda k, v: v.calls)
            .counter("syslat_process_seconds", "Time in system calls per process",
                     skel.maps.procs, labels=pid_comm, value=lambda k, v: v.total_ns / 1e9)
            .counter("syslat_slow_dropped", "Slow calls dropped (ring buffer full)",
                     lambda: skel.bss.slow_dropped))


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(BUILD))
    try:
        import syslat_skel
    except ImportError:
        print("syslat: build/syslat_skel.py is missing; run `make build/syslat_skel.py`",
              file=sys.stderr)
        return 2
    names = syscall_names()
    out = JsonLines() if args.json else None
    workload = start_workload() if args.workload else None
    if workload is not None:
        if out:
            out.write(type="workload", pid=workload.pid, comm=WORKLOAD_COMM)
        else:
            print(f"workload: pid {workload.pid} ({WORKLOAD_COMM})", flush=True)
    server = None
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    try:
        with syslat_skel.open() as skel:
            skel.rodata.target_tgid = args.pid          # configure before load
            skel.rodata.target_comm = args.comm.encode()
            skel.rodata.sample_every = args.sample
            skel.data.slow_ns = args.slow_us * 1000
            skel.load()
            skel.attach()
            if args.prometheus is not None:
                from bpfskel import export

                host, port = args.prometheus
                server = export.serve(port, skel, exporter(skel), addr=host)
                if not out:
                    print(f"metrics: {server.url}", flush=True)
            signal.signal(signal.SIGUSR1,
                          lambda *_: setattr(skel.data, "paused", int(not skel.data.paused)))
            slow: List[Any] = []
            with skel.maps.slow_calls.ring_buffer(slow.append,
                                                  syslat_skel.types.slow_call) as events:
                report = Report()
                if not out:
                    print(f"tracing syscalls (slow: >= {args.slow_us} us)... Ctrl-C to stop",
                          flush=True)
                started = time.monotonic()
                interval = 0
                while not stop["now"]:
                    interval += 1
                    if args.pause_demo:             # a live .data write
                        skel.data.paused = 1 if interval == 2 else 0
                    deadline = started + interval * args.interval
                    if args.duration:
                        deadline = min(deadline, started + args.duration)
                    printed = 0
                    while (left := deadline - time.monotonic()) > 0:
                        events.poll(int(left * 1000) + 1)
                        for e in slow:
                            if out:
                                out.write(e, type="slow_call", syscall=names.get(e.id, str(e.id)))
                            elif printed < args.max_events:
                                name = names.get(e.id, f"syscall {e.id}")
                                print(f"SLOW {e.latency_ns / 1000:>10.0f} us  "
                                      f"{e.tgid:>7} {e.comm.value.decode(errors='replace'):<16} "
                                      f"{name}() = {e.ret}", flush=True)
                            printed += 1
                        slow.clear()
                    if out:
                        out.write(report.json(skel, args.top, bool(skel.data.paused)))
                    else:
                        if printed > args.max_events:
                            print(f"... and {printed - args.max_events} more slow calls")
                        print(report.render(skel, args.top, bool(skel.data.paused)), flush=True)
                        print(flush=True)
                    if args.duration and time.monotonic() - started >= args.duration:
                        break
                if skel.bss.slow_dropped and not out:
                    print(f"{skel.bss.slow_dropped} slow calls dropped (ring buffer full)")
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.close()
        if workload is not None:
            workload.kill()
            workload.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
