"""offcputime: time spent off-CPU (blocked, sleeping, preempted) per stack,
user and kernel, symbolised, in microseconds.

Hook: ``sched_switch``, through ``tp_btf`` where the kernel has it
(``bpfskel.features.tp_btf_available``), else ``raw_tp``.  The outgoing task
is still current there, so its stacks are taken at the switch and the time
is added when it runs again; a block still going on at the end is not
counted.  Output as BCC prints it (largest last), folded (``-f``) or JSON.

    bpfskel-tools offcputime 5                  # every task, 5 s
    bpfskel-tools offcputime -p 1234 -f 10 > out.folded
    bpfskel-tools offcputime -u -m 1000 --json 5   # user threads, blocks >= 1 ms
"""

from __future__ import annotations

import argparse
from typing import Any, List, Optional

from bpfskel import features
from bpfskel.tools import common, stacks

TOOL = "offcputime"
PROGS = {"tp_btf": "switch_btf", "raw_tp": "switch_raw"}
MAX_US = 2**64 - 1


def main(argv: Optional[List[str]] = None) -> int:
    p = common.parser(TOOL, "Summarize off-CPU time per stack.", failed=False)
    threads = p.add_mutually_exclusive_group()
    threads.add_argument("-u", "--user-threads-only", action="store_true",
                         help="user threads only (no kernel threads)")
    threads.add_argument("-k", "--kernel-threads-only", action="store_true",
                         help="kernel threads only (no user threads)")
    p.add_argument("-m", "--min-block-time", type=int, default=1, metavar="US",
                   help="count blocks of at least this many us (default 1)")
    p.add_argument("-M", "--max-block-time", type=int, default=MAX_US, metavar="US",
                   help="count blocks of at most this many us (default: no limit)")
    p.add_argument("--hook", choices=["auto", "tp_btf", "raw_tp"], default="auto",
                   help="the tracepoint flavour (default: tp_btf if the kernel has it)")
    stacks.add_options(p)
    args = common.parse(p, argv)
    stacks.finish_args(p, args)
    if not 0 <= args.min_block_time <= args.max_block_time <= MAX_US:
        p.error("need 0 <= -m <= -M")
    return common.run(TOOL, lambda: trace(args))


def trace(args: argparse.Namespace) -> int:
    from bpfskel.tools.bpf import offcputime_skel as mod

    out = common.json_writer()
    hook = args.hook if args.hook != "auto" else (
        "tp_btf" if features.tp_btf_available() else "raw_tp")
    symbolizer = stacks.symbolizer(args.pid)
    with mod.open() as skel:
        stacks.configure(skel, args)
        skel.rodata.user_threads_only = int(args.user_threads_only)
        skel.rodata.kernel_threads_only = int(args.kernel_threads_only)
        skel.rodata.min_block_us = args.min_block_time
        skel.rodata.max_block_us = args.max_block_time
        for name, prog in PROGS.items():
            getattr(skel.progs, prog).autoload = name == hook
        common.load_and_attach(skel, TOOL)
        common.started(TOOL, None, args)
        for _last in common.intervals(args):
            pass
        skel.detach()  # the totals stop moving while they are read
        rows: List[Any] = stacks.merge(skel.maps.totals.items(),
                                       stacks.Resolver(skel.maps.stacks, symbolizer,
                                                       in_tracepoint=True))
        stacks.report(rows, args, out, value_key="total_us")
        common.report_lost(TOOL, skel.bss.lost_events, args, out)
    return 0
