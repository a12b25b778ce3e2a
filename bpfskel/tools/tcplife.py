"""tcplife: TCP sessions as they close, IPv4 and IPv6: process, both ends,
bytes sent and received, and lifetime.

Hook: the ``sock/inet_sock_set_state`` tracepoint (no kprobe needed).  The
process is the one that connected, or that closed after its peer; for a
session closed otherwise, the task in whose context it closed.  Bytes are
``tcp_sock.bytes_acked`` (sent and acknowledged) and ``bytes_received``, the
kernel's own counters: they follow sequence numbers, so SYN and FIN count one
byte each.

    bpfskel-tools tcplife -4 -D 443
    bpfskel-tools tcplife --json --duration 5
"""

from __future__ import annotations

import sys
from typing import Any, List, Optional

from bpfskel import labels
from bpfskel.tools import common, inet
from bpfskel.tools.tcpstates import port

TOOL = "tcplife"


def main(argv: Optional[List[str]] = None) -> int:
    p = common.parser(TOOL, "Trace TCP sessions: lifetime and bytes, when they close.",
                      failed=False)
    inet.add_family_options(p)
    p.add_argument("-L", "--localport", type=port, default=0, help="this local port only")
    p.add_argument("-D", "--remoteport", type=port, default=0, help="this remote port only")
    args = common.parse(p, argv)
    return common.run(TOOL, lambda: trace(args))


def trace(args: Any) -> int:
    from bpfskel.tools.bpf import tcplife_skel as mod

    out = common.json_writer()
    count = 0

    def show(e: Any) -> None:
        nonlocal count
        count += 1
        ip, saddr, daddr = inet.endpoints(e)
        comm = labels.comm(e.comm)
        if args.json:
            out.write(type="tcp_life", pid=e.pid, comm=comm, ip=ip,
                      saddr=saddr, sport=e.sport, daddr=daddr, dport=e.dport,
                      tx_bytes=e.tx_bytes, rx_bytes=e.rx_bytes, span_us=e.span_us)
            return
        head = f"{common.timestamp():<9}" if args.timestamp else ""
        print(f"{head}{e.pid:<7} {comm:<16} {ip} {saddr:>15} {e.sport:<5} "
              f"{daddr:>15} {e.dport:<5} {e.tx_bytes // 1024:>6} {e.rx_bytes // 1024:>6} "
              f"{e.span_us / 1000:.2f}", flush=True)

    with mod.open() as skel:
        common.configure_filters(skel, args)
        skel.rodata.targ_family = inet.family(args)
        skel.rodata.targ_sport = args.localport
        skel.rodata.targ_dport = args.remoteport
        common.load_and_attach(skel, TOOL)
        with skel.maps.events.ring_buffer(show, mod.types.life_event) as reader:
            head = f"{'TIME':<9}" if args.timestamp else ""
            common.started(TOOL, f"{head}{'PID':<7} {'COMM':<16} IP {'LADDR':>15} "
                           f"{'LPORT':<5} {'RADDR':>15} {'RPORT':<5} {'TX_KB':>6} "
                           f"{'RX_KB':>6} MS", args)
            common.poll_until_done(reader, args)
        common.report_lost(TOOL, skel.bss.lost_events, args, out)
    if not args.json:
        print(f"{count} sessions traced", file=sys.stderr)
    return 0
