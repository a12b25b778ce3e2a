"""tcpstates: TCP state changes, IPv4 and IPv6, with the time each socket
spent in the state it leaves.

Hook: the ``sock/inet_sock_set_state`` tracepoint.  -p/-c/--cgroup filter on
the task in whose context the change happens (often softirq: another task).

    bpfskel-tools tcpstates -4 --dport 443
    bpfskel-tools tcpstates --json --duration 5
"""

from __future__ import annotations

import sys
from typing import Any, List, Optional

from bpfskel import labels
from bpfskel.tools import common, inet

TOOL = "tcpstates"
# include/net/tcp_states.h
STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
          6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
          11: "CLOSING", 12: "NEW_SYN_RECV"}


def state_name(state: int) -> str:
    return STATES.get(state, str(state))


def port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise ValueError(text)
    return value


def main(argv: Optional[List[str]] = None) -> int:
    p = common.parser(TOOL, "Trace TCP state changes.", failed=False)
    inet.add_family_options(p)
    p.add_argument("--sport", type=port, default=0, help="this local port only")
    p.add_argument("--dport", type=port, default=0, help="this remote port only")
    args = common.parse(p, argv)
    return common.run(TOOL, lambda: trace(args))


def trace(args: Any) -> int:
    from bpfskel.tools.bpf import tcpstates_skel as mod

    out = common.json_writer()
    count = 0

    def show(e: Any) -> None:
        nonlocal count
        count += 1
        ip, saddr, daddr = inet.endpoints(e)
        comm = labels.comm(e.comm)
        old, new = state_name(e.oldstate), state_name(e.newstate)
        if args.json:
            out.write(type="tcp_state", skaddr=f"{e.skaddr:#x}", pid=e.pid, comm=comm,
                      ip=ip, saddr=saddr, sport=e.sport, daddr=daddr,
                      dport=e.dport, oldstate=old, newstate=new, delta_us=e.delta_us)
            return
        head = f"{common.timestamp():<9}" if args.timestamp else ""
        print(f"{head}{e.skaddr:016x} {e.pid:<7} {comm:<16} {ip} "
              f"{saddr:>15} {e.sport:<5} {daddr:>15} {e.dport:<5} {old:>11} -> {new:<11} "
              f"{e.delta_us / 1000:.3f}", flush=True)

    with mod.open() as skel:
        common.configure_filters(skel, args)
        skel.rodata.targ_family = inet.family(args)
        skel.rodata.targ_sport = args.sport
        skel.rodata.targ_dport = args.dport
        common.load_and_attach(skel, TOOL)
        with skel.maps.events.ring_buffer(show, mod.types.state_event) as reader:
            head = f"{'TIME':<9}" if args.timestamp else ""
            common.started(TOOL, f"{head}{'SKADDR':<16} {'PID':<7} {'COMM':<16} IP "
                           f"{'LADDR':>15} {'LPORT':<5} {'RADDR':>15} {'RPORT':<5} "
                           f"{'OLDSTATE':>11} -> {'NEWSTATE':<11} MS", args)
            common.poll_until_done(reader, args)
        common.report_lost(TOOL, skel.bss.lost_events, args, out)
    if not args.json:
        print(f"{count} state changes traced", file=sys.stderr)
    return 0
