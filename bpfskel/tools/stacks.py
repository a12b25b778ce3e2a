"""Stacks for the stack tools (profile, offcputime): a count or a time per
(process, user stack, kernel stack), the stacks as ids in a
``BPF_MAP_TYPE_STACK_TRACE`` map, symbolised by :mod:`bpfskel.sym` once, at
the end, and printed three ways: BCC's text blocks, folded lines for flame
graphs (``-f``), or JSON lines.

Invariant: a stack id below zero is the error ``bpf_get_stackid`` returned;
-EFAULT means there was no such stack (a kernel thread has no user stack, a
sample taken in user mode no kernel one) and shows as nothing, anything else
(-EEXIST: the bucket held another stack; -ENOMEM) as ``[missed stack]``, as
BCC does.  The tracing frames on top of a kernel stack taken in a
tracepoint (the BPF program, ``bpf_trace_runN``) are cut.  ``NOT_ASKED``
(-1) is what the BPF side stores for the side -U/-K left out.
"""

from __future__ import annotations

import argparse
import errno
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple

from bpfskel import labels, sym
from bpfskel.jsonl import JsonLines
from bpfskel.tools import common

NOT_ASKED = -1
MISSED = "[missed stack]"
_TRACE_RUN = re.compile(r"(__)?bpf_trace_run\d+$|__bpf_trace_\w+$")
KERNEL_SUFFIX = "_[k]"  # folded kernel frames, as BCC marks them for flamegraph.pl


@dataclass
class Stack:
    """One stack's total: frame names leaf first, user and kernel apart."""

    pid: int
    comm: str
    value: int
    user: List[str] = field(default_factory=list)
    kernel: List[str] = field(default_factory=list)


def add_options(p: argparse.ArgumentParser) -> None:
    """The options every stack tool has: -U/-K, -f, and a positional duration."""
    only = p.add_mutually_exclusive_group()
    only.add_argument("-U", "--user-stacks-only", action="store_true",
                      help="show user space stacks only (no kernel frames)")
    only.add_argument("-K", "--kernel-stacks-only", action="store_true",
                      help="show kernel stacks only (no user frames)")
    p.add_argument("-f", "--folded", action="store_true",
                   help="print folded stacks (comm;root;...;leaf value) for flame graphs")
    common.add_seconds(p)


def finish_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    common.apply_seconds(p, args)
    if args.folded and args.json:
        p.error("-f and --json are two output formats: pick one")


def configure(skel: Any, args: argparse.Namespace) -> None:
    """The filters and the -U/-K choice into .rodata."""
    common.configure_filters(skel, args)
    skel.rodata.user_stacks = int(not args.kernel_stacks_only)
    skel.rodata.kernel_stacks = int(not args.user_stacks_only)


def symbolizer(pid: int) -> sym.Symbolizer:
    """A symbolizer; with a pid, that process's files are parsed now, so it
    may exit before the report and still resolve."""
    s = sym.Symbolizer()
    if pid:
        try:
            s.snapshot(pid)
        except ProcessLookupError:
            raise common.ToolError(f"no process {pid}") from None
    return s


def _tracing_frame(frame: Optional[sym.Frame]) -> bool:
    """The tool's own frames on top of a kernel stack taken in a tracepoint:
    the BPF program and the kernel function that ran it."""
    return frame is not None and (frame.module == "bpf" or _TRACE_RUN.match(frame.name) is not None)


class Resolver:
    """Stack ids of one STACK_TRACE map to frame names.  ``in_tracepoint``:
    the kernel stacks were taken in a tracepoint, so the frames on top that
    ran the BPF program are cut (a sampled stack keeps a BPF program it
    caught running)."""

    def __init__(self, stacks: Any, symbolizer: sym.Symbolizer, *,
                 in_tracepoint: bool = False) -> None:
        self._stacks = stacks
        self._sym = symbolizer
        self._in_tracepoint = in_tracepoint
        self._kernel: Dict[int, List[str]] = {}

    def _addrs(self, stack_id: int) -> Optional[List[int]]:
        """The addresses, or None for a missed stack, [] for no stack."""
        if stack_id in (NOT_ASKED, -errno.EFAULT):
            return []
        try:
            return [int(a) for a in self._stacks.stack(stack_id)]
        except KeyError:
            return None

    def kernel(self, stack_id: int) -> List[str]:
        if stack_id not in self._kernel:
            addrs = self._addrs(stack_id)
            try:
                frames = [] if addrs is None else self._sym.symbolize_kernel(addrs)
            except sym.KernelAddressesHiddenError as e:
                raise common.ToolError(str(e)) from e
            while self._in_tracepoint and frames and _tracing_frame(frames[0]):
                frames = frames[1:]
            self._kernel[stack_id] = [MISSED] if addrs is None else [
                sym.frame_name(f) for f in frames]
        return self._kernel[stack_id]

    def user(self, pid: int, stack_id: int) -> List[str]:
        addrs = self._addrs(stack_id)
        if addrs is None:
            return [MISSED]
        try:
            frames = self._sym.symbolize(pid, addrs)
        except ProcessLookupError:  # exited before we looked, and not snapshotted
            return [sym.frame_name(None)] * len(addrs)
        return [sym.frame_name(f) for f in frames]


def merge(rows: Iterable[Tuple[Any, int]], resolver: Resolver) -> List[Stack]:
    """``(key, value)`` rows, keys with ``tgid``, ``comm``, ``user_stack`` and
    ``kernel_stack``, into Stacks, equal names added together, smallest first
    (BCC's order: the busiest stack is printed last, next to the prompt)."""
    merged: Dict[Tuple[int, str, Tuple[str, ...], Tuple[str, ...]], int] = {}
    for key, value in rows:
        pid, comm = int(key.tgid), labels.comm(key.comm)
        ident = (pid, comm, tuple(resolver.user(pid, key.user_stack)),
                 tuple(resolver.kernel(key.kernel_stack)))
        merged[ident] = merged.get(ident, 0) + int(value)
    stacks = [Stack(pid, comm, value, list(user), list(kernel))
              for (pid, comm, user, kernel), value in merged.items()]
    stacks.sort(key=lambda s: (s.value, s.pid, s.comm, s.user, s.kernel))
    return stacks


def text(stack: Stack) -> str:
    """BCC's block: kernel frames, ``--``, user frames, then ``- comm (pid)``
    and the value."""
    lines = [f"    {name}" for name in stack.kernel]
    if stack.kernel and stack.user:
        lines.append("    --")
    lines += [f"    {name}" for name in stack.user]
    lines.append(f"    {'-':<16} {stack.comm} ({stack.pid})")
    lines.append(f"        {stack.value}")
    return "\n".join(lines)


def report(stacks: List[Stack], args: argparse.Namespace, out: JsonLines, *,
           value_key: str) -> None:
    """Print every stack in the format asked for; JSON records are
    ``{"type": "stack", "pid", "comm", value_key, "user_stack",
    "kernel_stack"}`` with frames leaf first."""
    if args.folded:
        # leaf first for sym.folded: kernel frames, user frames, comm as the root
        print(sym.folded(([*(k + KERNEL_SUFFIX for k in s.kernel), *s.user, s.comm], s.value)
                         for s in stacks), end="", flush=True)
        return
    for s in stacks:
        if args.json:
            out.write(type="stack", pid=s.pid, comm=s.comm, **{value_key: s.value},
                      user_stack=s.user, kernel_stack=s.kernel)
        else:
            print(text(s) + "\n", flush=True)
