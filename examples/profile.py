#!/usr/bin/env python3
"""profile: on-CPU stack sampling, top stacks and folded output.

The packaged tool ``bpfskel-tools profile`` used as a library: it samples
(a CPU-clock perf event on every CPU, counting (process, user stack, kernel
stack) in BPF) and symbolises with ``bpfskel.sym``; this script only makes
its own report, the top stacks with their share, and writes folded stacks
to a file.

Examples::

    sudo ./examples/profile.py -d 10                      # every process
    sudo ./examples/profile.py -p 1234 -d 5 --folded out.folded
    flamegraph.pl out.folded > out.svg

With ``-p``, the process's maps and files are read before sampling starts,
so it may exit during the run.  Without it, a process that exits before the
report shows ``[unknown]`` user frames (see the ``Symbolizer`` docstring).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from bpfskel import sym
from bpfskel.tools import common, profile
from bpfskel.tools.stacks import Stack


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-p", "--pid", type=int, default=0, help="profile only this process")
    p.add_argument("-F", "--frequency", type=int, default=99,
                   help="samples per second per CPU (default 99)")
    p.add_argument("-d", "--duration", type=float, default=5.0,
                   help="seconds to sample (default 5)")
    p.add_argument("--top", type=int, default=10, help="stacks to print (default 10)")
    p.add_argument("--folded", metavar="FILE",
                   help="write folded stacks (comm;root;...;leaf count) for flame graphs")
    p.add_argument("--user-only", action="store_true", help="leave out kernel frames")
    return p.parse_args(argv)


def report(stacks: List[Stack], top: int) -> str:
    total = sum(s.value for s in stacks) or 1
    out = [f"{total} samples, {len(stacks)} distinct stacks"]
    for s in sorted(stacks, key=lambda s: -s.value)[:top]:
        out.append(f"\n{s.value:>8} {100 * s.value / total:5.1f}%  {s.comm} ({s.pid})")
        out.extend(f"             {n}" for n in [*s.kernel, *s.user] or ["[no stack]"])
    return "\n".join(out)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    tool_args = profile.parse_args(
        ["-F", str(args.frequency), "-p", str(args.pid), "--duration", str(args.duration)]
        + (["-U"] if args.user_only else []))
    try:
        with common.STOP:  # Ctrl-C ends the sampling early, the report still prints
            stacks = profile.profile(tool_args)
    except common.ToolError as e:
        print(f"profile: {e}", file=sys.stderr)
        return 1
    print(report(stacks, args.top))
    if args.folded:
        text = sym.folded(([*s.kernel, *s.user, s.comm], s.value)  # comm as the root frame
                          for s in stacks)
        Path(args.folded).write_text(text)
        print(f"\nfolded stacks written to {args.folded}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
