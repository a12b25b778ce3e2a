"""tcpconnect: outgoing TCP connects, IPv4 and IPv6: process, uid, both
addresses and ports.

Hooks, by what the kernel offers (``bpfskel.features``), or ``--hook``:
``fentry`` (fexit on ``tcp_v4_connect``/``tcp_v6_connect``), else ``kprobe``
(kprobe + kretprobe on them), else ``tracepoint`` (``sock/inet_sock_set_state``:
the owner when the socket enters SYN_SENT, the event when it leaves it, so
it comes at the handshake's end, established or refused).  A connect is
reported when the kernel accepted it, whatever the handshake's outcome.

    bpfskel-tools tcpconnect -P 443 -U
    bpfskel-tools tcpconnect --json --duration 5
"""

from __future__ import annotations

import sys
from typing import Any, List, Optional

from bpfskel import features, labels
from bpfskel.tools import common, inet
from bpfskel.tools.tcpstates import port

TOOL = "tcpconnect"
#: hook -> its programs: (IPv4 ones, IPv6 ones)
PROGS = {"fentry": (("fexit_v4",), ("fexit_v6",)),
         "kprobe": (("kprobe_v4", "kretprobe_v4"), ("kprobe_v6", "kretprobe_v6")),
         "tracepoint": (("syn_sent",), ())}
FUNCS = ("tcp_v4_connect", "tcp_v6_connect")


def choose_hook() -> str:
    if not features.kernel_function(FUNCS[0]):
        return "tracepoint"
    if features.fentry_available():
        return "fentry"
    return "kprobe" if features.kprobe_available() else "tracepoint"


def main(argv: Optional[List[str]] = None) -> int:
    p = common.parser(TOOL, "Trace outgoing TCP connects.", failed=False)
    inet.add_family_options(p)
    p.add_argument("-P", "--port", type=port, default=0, help="this destination port only")
    p.add_argument("-u", "--uid", type=int, default=-1, help="this user id only")
    p.add_argument("-U", "--print-uid", action="store_true", help="print a UID column")
    p.add_argument("-L", "--lport", action="store_true", help="print the local port")
    p.add_argument("--hook", choices=["auto", *PROGS], default="auto",
                   help="the hook (default: fentry, else kprobe, else the tracepoint)")
    args = common.parse(p, argv)
    if not -1 <= args.uid < 2**32 - 1:
        p.error(f"--uid {args.uid}: not a user id")
    return common.run(TOOL, lambda: trace(args))


def trace(args: Any) -> int:
    from bpfskel.tools.bpf import tcpconnect_skel as mod

    out = common.json_writer()
    hook = choose_hook() if args.hook == "auto" else args.hook
    common.require_hook(hook)
    count = 0

    def show(e: Any) -> None:
        nonlocal count
        count += 1
        ip, saddr, daddr = inet.endpoints(e)
        comm = labels.comm(e.comm)
        if args.json:
            out.write(type="connect", hook=hook, pid=e.pid, uid=e.uid, comm=comm,
                      ip=ip, saddr=saddr, sport=e.sport, daddr=daddr,
                      dport=e.dport)
            return
        line = f"{common.timestamp():<9}" if args.timestamp else ""
        if args.print_uid:
            line += f"{e.uid:<6} "
        line += f"{e.pid:<7} {comm:<16} {ip}  {saddr:>15} "
        if args.lport:
            line += f"{e.sport:<6} "
        print(f"{line}{daddr:>15} {e.dport}", flush=True)

    with mod.open() as skel:
        common.configure_filters(skel, args)
        skel.rodata.targ_family = inet.family(args)
        skel.rodata.targ_dport = args.port
        skel.rodata.targ_uid = args.uid & 0xFFFFFFFF
        v6_function = hook == "tracepoint" or features.kernel_function(FUNCS[1])
        for name, (v4_progs, v6_progs) in PROGS.items():
            for prog in v4_progs:
                getattr(skel.progs, prog).autoload = name == hook
            for prog in v6_progs:  # IPv6 may be a module that is not loaded
                getattr(skel.progs, prog).autoload = name == hook and v6_function
        common.load_and_attach(skel, TOOL)
        with skel.maps.events.ring_buffer(show, mod.types.connect_event) as reader:
            head = f"{'TIME':<9}" if args.timestamp else ""
            head += f"{'UID':<6} " if args.print_uid else ""
            head += f"{'PID':<7} {'COMM':<16} IP {'SADDR':>15} "
            head += f"{'LPORT':<6} " if args.lport else ""
            common.started(TOOL, f"{head}{'DADDR':>15} DPORT", args)
            common.poll_until_done(reader, args)
        common.report_lost(TOOL, skel.bss.lost_events, args, out)
    if not args.json:
        print(f"{count} connects traced ({hook})", file=sys.stderr)
    return 0
