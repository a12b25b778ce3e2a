"""syscount: system calls counted per syscall (or per process with -P),
optionally with their latency (-L), printed every interval and cleared.

Hooks: ``raw_tp/sys_enter`` and ``raw_tp/sys_exit``.  Each report reads and
clears the counts in one pass (``Map.pop_items``: the kernel's
lookup-and-delete), so a call counted while a report is made is in the next.

    bpfskel-tools syscount                      # one report at Ctrl-C
    bpfskel-tools syscount -L -P 1 5            # by process, with latency, 5 reports
    bpfskel-tools syscount -x -e ENOENT --json 1
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from bpfskel import labels
from bpfskel.tools import common, prom
from bpfskel.tools.syscall_names import BY_MACHINE

TOOL = "syscount"
UNISTD = f"/usr/include/{os.uname().machine}-linux-gnu/asm/unistd_64.h"


def syscall_names() -> Dict[int, str]:
    """This architecture's table: the one shipped, else the kernel headers."""
    known = BY_MACHINE.get(os.uname().machine)
    if known is not None:
        return known
    try:
        with open(UNISTD) as f:
            text = f.read()
    except OSError:
        return {}
    return {int(nr): name for name, nr in re.findall(r"#define __NR_(\w+)\s+(\d+)", text)}


def parse_errno(text: str) -> int:
    if text.isdigit():
        return int(text)
    value = getattr(errno, text.upper(), None)
    if not isinstance(value, int):
        raise ValueError(text)
    return value


@dataclass
class Count:
    """One row as read from the map: calls, and with -L their time."""

    comm: str
    count: int
    total_ns: int
    max_ns: int

    @classmethod
    def read(cls, c: Any) -> "Count":
        return cls(labels.comm(c.comm), c.count, c.total_ns, c.max_ns)

    def __add__(self, other: "Count") -> "Count":
        return Count(self.comm, self.count + other.count, self.total_ns + other.total_ns,
                     max(self.max_ns, other.max_ns))


def main(argv: Optional[List[str]] = None) -> int:
    p = common.parser(TOOL, "Count system calls, per syscall or per process.", interval=True)
    p.add_argument("-P", "--process", action="store_true", help="count by process, not syscall")
    p.add_argument("-L", "--latency", action="store_true", help="also time the calls")
    p.add_argument("-m", "--milliseconds", action="store_true", help="latency in ms, not us")
    p.add_argument("-e", "--errno", help="only calls failing with this errno (ENOENT or 2)")
    p.add_argument("--syscall", help="count only this system call (name or number)")
    p.add_argument("--top", type=int, default=10, help="rows per report (default 10; 0: all)")
    prom.add_option(p)
    args = common.parse(p, argv)
    prom.parse_option(p, args)
    names = syscall_names()
    args.errno_value = 0
    if args.errno is not None:
        try:
            args.errno_value = parse_errno(args.errno)
        except ValueError:
            p.error(f"-e {args.errno}: not an errno name or number")
    args.syscall_nr = -1
    if args.syscall is not None:
        numbers = {name: nr for nr, name in names.items()}
        if args.syscall.isdigit():
            args.syscall_nr = int(args.syscall)
        elif args.syscall in numbers:
            args.syscall_nr = numbers[args.syscall]
        else:
            p.error(f"--syscall {args.syscall}: unknown system call on {os.uname().machine}")
    return common.run(TOOL, lambda: trace(args, names))


def trace(args: Any, names: Dict[int, str]) -> int:
    from bpfskel.tools.bpf import syscount_skel as mod

    out = common.json_writer()
    unit, div = ("ms", 1e6) if args.milliseconds else ("us", 1e3)

    def report(counts: "prom.Totals[Count]") -> None:
        rows = sorted(counts.report(), key=lambda kv: (-kv[1].count, kv[0]))
        if args.top:
            rows = rows[:args.top]
        entries = []
        for key, c in rows:
            entry: Dict[str, Any] = {"count": c.count}
            if args.process:
                entry.update(pid=key, comm=c.comm)
            else:
                entry.update(nr=key, syscall=names.get(key, f"syscall_{key}"))
            if args.latency:
                entry.update(total_ns=c.total_ns, max_ns=c.max_ns)
            entries.append(entry)
        if args.json:
            out.write(type="interval", by="process" if args.process else "syscall",
                      entries=entries)
            return
        if args.timestamp:
            print(f"[{common.timestamp()}]")
        what = f"{'PID':<7} {'COMM':<16}" if args.process else f"{'SYSCALL':<24}"
        lat = f" {'TIME (' + unit + ')':>14} {'MAX (' + unit + ')':>12}" if args.latency else ""
        print(f"{what} {'COUNT':>10}{lat}")
        for e in entries:
            who = f"{e['pid']:<7} {e['comm']:<16}" if args.process else f"{e['syscall']:<24}"
            lat = (f" {e['total_ns'] / div:>14.3f} {e['max_ns'] / div:>12.3f}"
                   if args.latency else "")
            print(f"{who} {e['count']:>10}{lat}")
        print(flush=True)

    with mod.open() as skel:
        common.configure_filters(skel, args)
        skel.rodata.failed_only = int(args.failed)
        skel.rodata.filter_errno = args.errno_value
        skel.rodata.by_process = int(args.process)
        skel.rodata.latency = int(args.latency)
        skel.rodata.filter_nr = args.syscall_nr
        common.load_and_attach(skel, TOOL)
        counts = prom.Totals(skel.maps.data, Count.read, Count.__add__,
                             keep_totals=args.prometheus is not None)
        prom.reports(TOOL, skel, args, counts, report,
                     lambda export: metrics(export, counts, names, args))
        common.report_lost(TOOL, skel.bss.lost_events, args, out)
    return 0


def metrics(export: Any, counts: "prom.Totals[Count]", names: Dict[int, str],
            args: Any) -> Any:
    """``syscount_calls_total`` (and with -L ``syscount_seconds_total``),
    labelled by system call, or with -P by pid and comm."""
    by: Dict[str, Any] = (
        {"pid": export.key(), "comm": export.value("comm")} if args.process else
        {"syscall": export.key(None, lambda nr: names.get(nr, f"syscall_{nr}"))})
    exp = export.Exporter().counter("syscount_calls", "System calls", counts.totals,
                                    labels=by, value=lambda k, c: c.count)
    if args.latency:
        exp.counter("syscount_seconds", "Time in system calls", counts.totals, labels=by,
                    value=lambda k, c: c.total_ns / 1e9)
    return exp
