"""pyflow: the call flow of running Python interpreters, with each call's
latency, from CPython's USDT probes.

Hooks: USDT ``python:function__entry`` and ``python:function__return``
(arguments: file, function, line) in the interpreter binary: the one
``/proc/PID/exe`` names with ``-p``, else ``python3`` on ``PATH``, or
``--binary`` (a ``libpython3.X.so`` for embedded interpreters).  libbpf sets
the probes' semaphores, so an interpreter already running starts firing
them.  The BPF side keeps each thread's depth, so entries and returns print
indented by nesting, returns with the time since their entry.  With
``--latency``, calls are summed per function in BPF instead and one table is
printed at the end.

CPython 3.11 fires the probes only for frames run while a trace or profile
function is set (``sys.settrace``/``sys.setprofile``, e.g. under a
debugger or coverage): its inlined Python-to-Python calls skip them
otherwise.  3.12+ and builds before 3.11 fire them for every call.

    bpfskel-tools pyflow -p 1234                # call flow, indented
    bpfskel-tools pyflow -p 1234 --latency 10   # per-function latency, 10 s
    bpfskel-tools pyflow --json -p 1234
"""

from __future__ import annotations

import argparse
import os
import shutil
from typing import Any, Dict, List, Optional

from bpfskel import labels
from bpfskel.tools import common

TOOL = "pyflow"
PROVIDER = "python"
ENTRY, RETURN = 0, 1  # the BPF side's enum py_event_kind


def main(argv: Optional[List[str]] = None) -> int:
    p = common.parser(TOOL, "Trace Python function calls and returns, with latency.",
                      failed=False)
    p.add_argument("--binary", metavar="PATH",
                   help="the interpreter (or libpython) holding the probes "
                        "(default: /proc/PID/exe with -p, else python3 on PATH)")
    p.add_argument("-L", "--latency", action="store_true",
                   help="print a per-function latency summary instead of the flow")
    p.add_argument("-m", "--milliseconds", action="store_true",
                   help="latencies in ms, not us")
    common.add_seconds(p)
    args = common.parse(p, argv)
    common.apply_seconds(p, args)
    if args.binary is None and args.pid:
        if not os.path.exists(f"/proc/{args.pid}"):
            p.error(f"-p {args.pid}: no such process")
        args.binary = os.path.realpath(f"/proc/{args.pid}/exe")
    elif args.binary is None:
        args.binary = shutil.which("python3")
        if args.binary is None:
            p.error("no python3 on PATH: give --binary")
    elif not os.path.isfile(args.binary):
        p.error(f"--binary {args.binary}: no such file")
    return common.run(TOOL, lambda: trace(args))


def attach(skel: Any, args: argparse.Namespace) -> None:
    """Both probes, on the process (``-p``) or every process of the binary."""
    pid = args.pid or -1
    for prog, probe in ((skel.progs.py_entry, "function__entry"),
                        (skel.progs.py_return, "function__return")):
        try:
            prog.attach_usdt(args.binary, PROVIDER, probe, pid=pid)
        except OSError as e:
            raise common.ToolError(
                f"cannot attach USDT {PROVIDER}:{probe} in {args.binary}: {e} "
                "(an interpreter built without --with-dtrace has no probes)") from e


def unit(args: argparse.Namespace) -> "tuple[str, float]":
    return ("ms", 1e6) if args.milliseconds else ("us", 1e3)


def flow(skel: Any, mod: Any, args: argparse.Namespace) -> None:
    out = common.json_writer()
    name, div = unit(args)
    first: List[int] = []

    def show(e: Any) -> None:
        kind = "entry" if e.kind == ENTRY else "return"
        file, func = labels.comm(e.file), labels.comm(e.func)  # NUL-trimmed C strings
        seen = e.kind == ENTRY or bool(e.entry_seen)
        if args.json:
            out.write(type=kind, pid=e.pid, tid=e.tid, depth=e.depth, file=file, func=func,
                      line=e.lineno, duration_ns=e.duration_ns if e.kind == RETURN and seen
                      else None)
            return
        if not first:
            first.append(e.ts)
        head = f"{common.timestamp():<9}" if args.timestamp else ""
        indent = "  " * e.depth
        if e.kind == ENTRY:
            what = f"-> {func} ({file}:{e.lineno})"
        else:
            took = f"{e.duration_ns / div:.3f} {name}" if seen else "?"
            what = f"<- {func} {took}"
        print(f"{head}{e.pid:<7} {e.tid:<7} {(e.ts - first[0]) / 1e9:>10.6f} {indent}{what}",
              flush=True)

    with skel.maps.events.ring_buffer(show, mod.types.py_event) as reader:
        head = f"{'TIME':<9}" if args.timestamp else ""
        common.started(TOOL, f"{head}{'PID':<7} {'TID':<7} {'TIME(s)':>10} FUNCTION", args)
        common.poll_until_done(reader, args)
    common.report_lost(TOOL, skel.bss.lost_events, args, out)


def latency(skel: Any, args: argparse.Namespace) -> None:
    out = common.json_writer()
    name, div = unit(args)
    common.started(TOOL, None, args)
    for _last in common.intervals(args):
        pass
    rows = sorted(skel.maps.stats.items(), key=lambda kv: (-kv[1].total_ns, kv[1].count))
    entries: List[Dict[str, Any]] = [
        {"file": labels.comm(k.file), "func": labels.comm(k.func), "count": v.count,
         "total_ns": v.total_ns, "max_ns": v.max_ns} for k, v in rows]
    if args.json:
        out.write(type="interval", by="function", entries=entries)
    else:
        if args.timestamp:
            print(f"[{common.timestamp()}]")
        print(f"{'FUNCTION':<32} {'COUNT':>8} {'TOTAL (' + name + ')':>14} "
              f"{'AVG (' + name + ')':>12} {'MAX (' + name + ')':>12}  FILE")
        for r in entries:
            print(f"{r['func']:<32} {r['count']:>8} {r['total_ns'] / div:>14.3f} "
                  f"{r['total_ns'] / r['count'] / div:>12.3f} {r['max_ns'] / div:>12.3f}  "
                  f"{r['file']}", flush=True)
    common.report_lost(TOOL, skel.bss.lost_events, args, out)


def trace(args: argparse.Namespace) -> int:
    from bpfskel.tools.bpf import pyflow_skel as mod

    with mod.open() as skel:
        common.configure_filters(skel, args)
        skel.rodata.latency_only = int(args.latency)
        for prog in (skel.progs.py_entry, skel.progs.py_return):
            prog.autoattach = False  # attached below, to the binary found
        common.load_and_attach(skel, TOOL)
        attach(skel, args)
        if args.latency:
            latency(skel, args)
        else:
            flow(skel, mod, args)
    return 0
