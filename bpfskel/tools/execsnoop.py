"""execsnoop: every execve(), with pid, ppid, comm, return value and full argv.

Hooks: the ``syscalls/sys_enter_execve`` and ``sys_exit_execve`` tracepoints.
Records are variable-length: only the used part of the argument buffer
crosses the ring buffer (``bpfskel.record_size``).

    bpfskel-tools execsnoop                 # until Ctrl-C
    bpfskel-tools execsnoop -x -T           # failed execs, with a time column
    bpfskel-tools execsnoop --json --duration 5
"""

from __future__ import annotations

import sys
from typing import Any, List, Optional

from bpfskel.tools import common

TOOL = "execsnoop"


def argv_of(event: Any) -> List[str]:
    """The NUL-separated arguments the BPF side copied (args_count of them)."""
    raw = bytes(event.args)[:event.args_size]
    parts = raw.split(b"\0")[:event.args_count]
    return [p.decode(errors="replace") for p in parts]


def main(argv: Optional[List[str]] = None) -> int:
    p = common.parser(TOOL, "Trace execve() calls with their full argv.")
    p.add_argument("-q", "--quote", action="store_true", help='quote arguments ("...")')
    args = common.parse(p, argv)
    return common.run(TOOL, lambda: trace(args))


def trace(args: Any) -> int:
    from bpfskel.tools.bpf import execsnoop_skel as mod

    out = common.json_writer()
    count = 0

    def show(e: Any) -> None:
        nonlocal count
        count += 1
        words = argv_of(e)
        if e.truncated:
            words.append("...")
        comm = bytes(e.comm).split(b"\0")[0].decode(errors="replace")
        if args.json:
            out.write(type="exec", pid=e.pid, ppid=e.ppid, uid=e.uid, comm=comm,
                      ret=e.retval, args=words, truncated=bool(e.truncated))
            return
        if args.quote:
            words = ['"' + w.replace('"', '\\"') + '"' for w in words]
        head = f"{common.timestamp():<9}" if args.timestamp else ""
        print(f"{head}{comm:<16} {e.pid:<7} {e.ppid:<7} {e.retval:>3} {' '.join(words)}",
              flush=True)

    with mod.open() as skel:
        common.configure_filters(skel, args)
        skel.rodata.failed_only = int(args.failed)
        common.load_and_attach(skel, TOOL)
        with skel.maps.events.ring_buffer(show, mod.types.exec_event) as reader:
            head = f"{'TIME':<9}" if args.timestamp else ""
            common.started(TOOL, f"{head}{'PCOMM':<16} {'PID':<7} {'PPID':<7} RET ARGS", args)
            common.poll_until_done(reader, args)
        common.report_lost(TOOL, skel.bss.lost_events, args, out)
    if not args.json:
        print(f"{count} execs traced", file=sys.stderr)
    return 0
