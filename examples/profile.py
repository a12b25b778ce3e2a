#!/usr/bin/env python3
"""profile: on-CPU stack sampling, top stacks and folded output.

A CPU-clock perf event fires 99 times a second on every CPU (or on one
process); the BPF program (bpf/profile.bpf.c, generated module
build/profile_skel.py) counts each (process, user stack, kernel stack) it
sees; at the end, ``bpfskel.sym`` turns the addresses into names.

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
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from bpfskel import sym
from bpfskel.sym.sampling import online_cpus, open_cpu_clock

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"

Stack = Tuple[str, int, Tuple[str, ...]]  # (comm, pid, frame names leaf first)


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


def open_events(frequency: int, pid: int) -> List[int]:
    """One CPU-clock event on the process, or one per online CPU."""
    if pid:
        return [open_cpu_clock(frequency, pid=pid)]
    fds: List[int] = []
    try:
        for cpu in online_cpus():
            fds.append(open_cpu_clock(frequency, cpu=cpu))
    except OSError:
        for fd in fds:
            os.close(fd)
        raise
    return fds


def collect(skel: object, symbolizer: sym.Symbolizer, user_only: bool) -> List[Tuple[Stack, int]]:
    """Every counted stack, symbolized: [((comm, pid, names), count)], busiest first."""
    maps = skel.maps  # type: ignore[attr-defined]
    merged: Dict[Stack, int] = {}
    for key, count in maps.counts.items():
        names: List[str] = []
        if key.kernel_stack >= 0 and not user_only:
            addrs = [a for a in maps.stacks[key.kernel_stack] if a]
            names += [sym.frame_name(f) for f in symbolizer.symbolize_kernel(addrs)]
        if key.user_stack >= 0:
            addrs = [a for a in maps.stacks[key.user_stack] if a]
            try:
                frames: Sequence[Optional[sym.Frame]] = symbolizer.symbolize(key.tgid, addrs)
            except ProcessLookupError:  # exited before we looked
                frames = [None] * len(addrs)
            names += [sym.frame_name(f) for f in frames]
        comm = bytes(key.comm).split(b"\0", 1)[0].decode("utf-8", "replace")
        stack: Stack = (comm, int(key.tgid), tuple(names))
        merged[stack] = merged.get(stack, 0) + int(count)
    return sorted(merged.items(), key=lambda kv: -kv[1])


def report(stacks: List[Tuple[Stack, int]], top: int) -> str:
    total = sum(c for _, c in stacks) or 1
    out = [f"{total} samples, {len(stacks)} distinct stacks"]
    for (comm, pid, names), count in stacks[:top]:
        out.append(f"\n{count:>8} {100 * count / total:5.1f}%  {comm} ({pid})")
        out.extend(f"             {n}" for n in names or ("[no stack]",))
    return "\n".join(out)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(BUILD))
    try:
        import profile_skel
    except ImportError:
        print("profile: build/profile_skel.py is missing; run `make build/profile_skel.py`",
              file=sys.stderr)
        return 2
    symbolizer = sym.Symbolizer()
    if args.pid:
        try:  # its files are parsed now: it may exit before the report
            symbolizer.snapshot(args.pid)
        except ProcessLookupError:
            print(f"profile: no process {args.pid}", file=sys.stderr)
            return 1
    with profile_skel.open() as skel:
        skel.rodata.target_tgid = args.pid
        skel.load()
        try:
            fds = open_events(args.frequency, args.pid)
        except OSError as e:
            print(f"profile: {e}", file=sys.stderr)
            return 1
        links = []
        for i, fd in enumerate(fds):
            try:
                links.append(skel.progs.do_sample.attach_perf_event(fd))
            except BaseException:
                for rest in fds[i:]:  # not owned by a link yet
                    os.close(rest)
                raise
        try:
            time.sleep(args.duration)
        except KeyboardInterrupt:
            pass
        for link in links:
            link.destroy()
        stacks = collect(skel, symbolizer, args.user_only)
    print(report(stacks, args.top))
    if args.folded:
        text = sym.folded(([*names, comm], count)  # comm as the root frame
                          for (comm, _pid, names), count in stacks)
        Path(args.folded).write_text(text)
        print(f"\nfolded stacks written to {args.folded}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
