"""profile: on-CPU stacks, sampled at -F Hz on every CPU, symbolised.

Hook: a software CPU-clock perf event per online CPU (works in VMs without a
PMU), running a ``perf_event`` program that counts (process, user stack,
kernel stack).  Filters (-p, -c, --cgroup) are .rodata checks in BPF, so
every thread of a process is sampled.  At the end the stacks are symbolised
with :mod:`bpfskel.sym` and printed as BCC prints them (busiest last), as
folded lines (``-f``, for flamegraph.pl) or as JSON lines.

    bpfskel-tools profile 10                    # every process, 10 s
    bpfskel-tools profile -F 99 -p 1234 -f 5 > out.folded
    bpfskel-tools profile -U --json -p 1234 5   # user stacks only
"""

from __future__ import annotations

import argparse
from typing import Any, List, Optional

from bpfskel import perf_event
from bpfskel.tools import common, stacks

TOOL = "profile"


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = common.parser(TOOL, "Sample on-CPU stacks at a frequency.", failed=False)
    p.add_argument("-F", "--frequency", type=int, default=49,
                   help="samples a second on each CPU (default 49)")
    p.add_argument("-I", "--include-idle", action="store_true",
                   help="include the idle task's samples (pid 0)")
    stacks.add_options(p)
    args = common.parse(p, argv)
    stacks.finish_args(p, args)
    if args.frequency <= 0:
        p.error("-F must be positive")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    return common.run(TOOL, lambda: trace(args))


def sample(skel: Any, args: argparse.Namespace) -> None:
    """Load the configured skeleton, sample until the end, then stop sampling."""
    stacks.configure(skel, args)
    skel.rodata.include_idle = int(args.include_idle)
    common.load_and_attach(skel, TOOL)
    try:
        links = skel.progs.do_sample.attach_perf_event(
            type=perf_event.PERF_TYPE_SOFTWARE, config=perf_event.PERF_COUNT_SW_CPU_CLOCK,
            sample_freq=args.frequency)
    except OSError as e:
        raise common.ToolError(f"cannot open the CPU-clock perf events: {e}") from e
    common.started(TOOL, None, args)
    for _last in common.intervals(args):
        pass
    links.destroy()  # no samples while the map is read


def collect(skel: Any, resolver: stacks.Resolver) -> List[stacks.Stack]:
    """Every counted stack, symbolised, smallest count first."""
    return stacks.merge(skel.maps.counts.items(), resolver)


def profile(args: argparse.Namespace) -> List[stacks.Stack]:
    """Sample as ``args`` (from :func:`parse_args`) say; the stacks,
    symbolised, smallest count first.  ``args.lost`` is then the samples the
    full map had no room for."""
    from bpfskel.tools.bpf import profile_skel as mod

    symbolizer = stacks.symbolizer(args.pid)
    with mod.open() as skel:
        sample(skel, args)
        rows = collect(skel, stacks.Resolver(skel.maps.stacks, symbolizer))
        args.lost = int(skel.bss.lost_events)
    return rows


def trace(args: argparse.Namespace) -> int:
    out = common.json_writer()
    rows = profile(args)
    stacks.report(rows, args, out, value_key="count")
    common.report_lost(TOOL, args.lost, args, out)
    return 0
