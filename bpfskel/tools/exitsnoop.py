"""exitsnoop: process exits, with their lifetime and exit code or signal.

Hook: the ``sched/sched_process_exit`` tracepoint.  By default only whole
processes (thread-group leaders) are shown; ``--threaded`` shows every thread.

    bpfskel-tools exitsnoop -x                  # non-zero exits only
    bpfskel-tools exitsnoop --json --duration 5
"""

from __future__ import annotations

import signal
import sys
from typing import Any, Dict, List, Optional

from bpfskel import labels
from bpfskel.tools import common

TOOL = "exitsnoop"


def decode_status(status: int) -> Dict[str, Any]:
    """The kernel's wait status: exit code, or terminating signal (+ core)."""
    sig = status & 0x7F
    if sig:
        try:
            name: Optional[str] = signal.Signals(sig).name
        except ValueError:
            name = None
        return {"exit_code": None, "signal": sig, "signal_name": name,
                "core": bool(status & 0x80)}
    return {"exit_code": status >> 8 & 0xFF, "signal": None, "signal_name": None,
            "core": False}


def describe(d: Dict[str, Any]) -> str:
    if d["signal"] is None:
        return str(d["exit_code"])
    return f"signal {d['signal']} ({d['signal_name'] or '?'}){', core dumped' if d['core'] else ''}"


def main(argv: Optional[List[str]] = None) -> int:
    p = common.parser(TOOL, "Trace process exits with their lifetime and exit status.")
    p.add_argument("--threaded", action="store_true", help="show every thread's exit")
    args = common.parse(p, argv)
    return common.run(TOOL, lambda: trace(args))


def trace(args: Any) -> int:
    from bpfskel.tools.bpf import exitsnoop_skel as mod

    out = common.json_writer()
    count = 0

    def show(e: Any) -> None:
        nonlocal count
        count += 1
        comm = labels.comm(e.comm)
        age = (e.exit_ns - e.start_ns) / 1e9 if e.start_ns else None
        status = decode_status(e.exit_code)
        if args.json:
            out.write(type="exit", pid=e.pid, tid=e.tid, ppid=e.ppid, comm=comm,
                      age_s=None if age is None else round(age, 6), status=e.exit_code,
                      **status)
            return
        head = f"{common.timestamp():<9}" if args.timestamp else ""
        age_text = "?" if age is None else f"{age:.2f}"
        print(f"{head}{comm:<16} {e.pid:<7} {e.ppid:<7} {e.tid:<7} {age_text:>7} "
              f"{describe(status)}", flush=True)

    with mod.open() as skel:
        common.configure_filters(skel, args)
        skel.rodata.failed_only = int(args.failed)
        skel.rodata.threaded = int(args.threaded)
        common.load_and_attach(skel, TOOL)
        with skel.maps.events.ring_buffer(show, mod.types.exit_event) as reader:
            head = f"{'TIME':<9}" if args.timestamp else ""
            common.started(TOOL, f"{head}{'PCOMM':<16} {'PID':<7} {'PPID':<7} {'TID':<7} "
                           f"{'AGE(s)':>7} EXIT_CODE", args)
            common.poll_until_done(reader, args)
        common.report_lost(TOOL, skel.bss.lost_events, args, out)
    if not args.json:
        print(f"{count} exits traced", file=sys.stderr)
    return 0
