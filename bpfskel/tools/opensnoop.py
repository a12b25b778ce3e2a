"""opensnoop: open(), openat() and openat2() calls with pid, comm, fd or
errno, flags and path.

Hooks: the ``syscalls/sys_{enter,exit}_{open,openat,openat2}`` tracepoints;
those the kernel lacks (``open`` on arm64, ``openat2`` before 5.6) are not
loaded (``bpfskel.features.tracepoint``).

    bpfskel-tools opensnoop --failed            # failed opens only
    bpfskel-tools opensnoop --name cat -e       # opens by `cat`, with flags
    bpfskel-tools opensnoop --json --duration 5
"""

from __future__ import annotations

import os
import sys
from typing import Any, List, Optional

from bpfskel import features, labels
from bpfskel.tools import common

TOOL = "opensnoop"
SYSCALLS = {"open": ("open_enter", "open_exit"), "openat": ("openat_enter", "openat_exit"),
            "openat2": ("openat2_enter", "openat2_exit")}
# O_* flag names (asm-generic/fcntl.h, as Python's os module exports them)
_FLAG_NAMES = [name for name in ("O_CREAT", "O_EXCL", "O_NOCTTY", "O_TRUNC", "O_APPEND",
                                 "O_NONBLOCK", "O_DSYNC", "O_DIRECT", "O_LARGEFILE",
                                 "O_DIRECTORY", "O_NOFOLLOW", "O_NOATIME", "O_CLOEXEC",
                                 "O_SYNC", "O_PATH", "O_TMPFILE") if hasattr(os, name)]


def flag_names(flags: int) -> List[str]:
    """``O_RDONLY|O_CLOEXEC``-style names for open flags (unknown bits in hex)."""
    acc = flags & os.O_ACCMODE
    names = [{os.O_RDONLY: "O_RDONLY", os.O_WRONLY: "O_WRONLY", os.O_RDWR: "O_RDWR"}
             .get(acc, f"{acc:#x}")]
    rest = flags & ~os.O_ACCMODE
    for name in _FLAG_NAMES:
        bit = getattr(os, name)
        if bit and rest & bit == bit:
            names.append(name)
            rest &= ~bit
    if rest:
        names.append(f"{rest:#o}")
    return names


def main(argv: Optional[List[str]] = None) -> int:
    p = common.parser(TOOL, "Trace open(), openat() and openat2() calls.",
                      comm_flags=("-n", "--name"))
    p.add_argument("-e", "--extended-fields", action="store_true", help="show the flags")
    args = common.parse(p, argv)
    return common.run(TOOL, lambda: trace(args))


def trace(args: Any) -> int:
    from bpfskel.tools.bpf import opensnoop_skel as mod

    out = common.json_writer()
    count = 0

    def show(e: Any) -> None:
        nonlocal count
        count += 1
        comm = labels.comm(e.comm)
        path = bytes(e.fname).split(b"\0")[0].decode(errors="replace")
        fd, err = (e.ret, 0) if e.ret >= 0 else (-1, -e.ret)
        if args.json:
            out.write(type="open", pid=e.pid, tid=e.tid, uid=e.uid, comm=comm, fd=fd,
                      errno=err, error=labels.errno_name(-err) if err else None,
                      flags=e.flags, flag_names=flag_names(e.flags), mode=e.mode, path=path)
            return
        head = f"{common.timestamp():<9}" if args.timestamp else ""
        ext = f"{e.flags:08o} " if args.extended_fields else ""
        print(f"{head}{e.pid:<7} {comm:<16} {fd:>4} {err:>3} {ext}{path}", flush=True)

    with mod.open() as skel:
        common.configure_filters(skel, args)
        skel.rodata.failed_only = int(args.failed)
        for name, progs in SYSCALLS.items():
            here = features.tracepoint("syscalls", f"sys_enter_{name}")
            for prog in progs:
                getattr(skel.progs, prog).autoload = here
        common.load_and_attach(skel, TOOL)
        with skel.maps.events.ring_buffer(show, mod.types.open_event) as reader:
            head = f"{'TIME':<9}" if args.timestamp else ""
            ext = f"{'FLAGS':<8} " if args.extended_fields else ""
            common.started(TOOL, f"{head}{'PID':<7} {'COMM':<16} {'FD':>4} {'ERR':>3} {ext}PATH",
                           args)
            common.poll_until_done(reader, args)
        common.report_lost(TOOL, skel.bss.lost_events, args, out)
    if not args.json:
        print(f"{count} opens traced", file=sys.stderr)
    return 0
