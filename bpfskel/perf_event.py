"""Perf events bpfskel opens itself: ``perf_event_open(2)`` with a
``struct perf_event_attr`` built here, on one CPU or every online CPU, and the
one link that owns them all.

Why not leave ``perf_event_open`` to the app: the attr layout, the flag bits
and the per-CPU loop are what every ``profile``-style tool gets wrong by hand,
and libbpf has no API that opens the events (only one that attaches to an fd).

Invariants:

* Events are opened *disabled*; libbpf's ``bpf_program__attach_perf_event_opts``
  enables each after attaching, so no sample runs before the program is there.
* Once attached, the libbpf link owns the fd (``bpf_link__destroy`` closes
  it).  An fd whose attach failed is closed here, and the links already made
  are destroyed, so a failed call leaves nothing open.
"""

from __future__ import annotations

import ctypes
import os
import struct
from typing import Iterator, List, Optional, Sequence

from . import _libbpf, _libc, arch
from .errors import ClosedError, syscall_error
from .links import Link
from .uapi import (
    PERF_COUNT_HW_CPU_CYCLES,
    PERF_COUNT_HW_INSTRUCTIONS,
    PERF_COUNT_SW_BPF_OUTPUT,
    PERF_COUNT_SW_CPU_CLOCK,
    PERF_COUNT_SW_PAGE_FAULTS,
    PERF_COUNT_SW_TASK_CLOCK,
    PERF_FLAG_FD_CLOEXEC,
    PERF_SAMPLE_RAW,
    PERF_TYPE_BREAKPOINT,
    PERF_TYPE_HARDWARE,
    PERF_TYPE_HW_CACHE,
    PERF_TYPE_RAW,
    PERF_TYPE_SOFTWARE,
    PERF_TYPE_TRACEPOINT,
)

__all__ = [
    "PERF_TYPE_HARDWARE", "PERF_TYPE_SOFTWARE", "PERF_TYPE_TRACEPOINT", "PERF_TYPE_HW_CACHE",
    "PERF_TYPE_RAW", "PERF_TYPE_BREAKPOINT",
    "PERF_COUNT_HW_CPU_CYCLES", "PERF_COUNT_HW_INSTRUCTIONS", "PERF_COUNT_SW_CPU_CLOCK",
    "PERF_COUNT_SW_TASK_CLOCK", "PERF_COUNT_SW_PAGE_FAULTS", "PERF_COUNT_SW_BPF_OUTPUT",
    "PERF_SAMPLE_RAW",
    "online_cpus", "perf_event_open", "LinkGroup",
]


# struct perf_event_attr: PERF_ATTR_SIZE_VER5 (Linux 4.1) is all we set
_ATTR_SIZE = 112
_F_DISABLED, _F_FREQ = 1 << 0, 1 << 10


def online_cpus() -> List[int]:
    """The online CPUs (``/sys/devices/system/cpu/online``, e.g. ``0-3,6``)."""
    with open("/sys/devices/system/cpu/online") as f:
        text = f.read().strip()
    cpus: List[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


def perf_event_open(type: int, config: int, *, sample_period: int = 0, sample_freq: int = 0,
                    pid: int = -1, cpu: int = -1, config1: int = 0, config2: int = 0,
                    disabled: bool = True, sample_type: int = 0,
                    wakeup_events: int = 0) -> int:
    """``perf_event_open(2)``, the one place bpfskel calls it (attach, the perf
    buffer's BPF-output events, sampling); returns the fd (close-on-exec).
    ``config1`` and ``config2`` carry what kprobe/uprobe PMUs read there (a
    pointer to the name as an int, an offset).  Raises
    :class:`~bpfskel.SyscallError` with the errno (not a ``LibbpfError``:
    libbpf is not involved), and NotSupportedError on an architecture
    :mod:`bpfskel.arch` does not know."""
    if sample_period and sample_freq:
        raise ValueError("give sample_period or sample_freq, not both")
    nr = arch.syscall_number("perf_event_open")
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    flags = (_F_DISABLED if disabled else 0) | (_F_FREQ if sample_freq else 0)
    # type, size, config, sample_period|sample_freq, sample_type, read_format, flag bits
    struct.pack_into("<IIQQQQQI", attr, 0, type, _ATTR_SIZE, config,
                     sample_freq or sample_period, sample_type, 0, flags, wakeup_events)
    struct.pack_into("<QQ", attr, 56, config1, config2)
    libc = _libc.libc()
    ctypes.set_errno(0)
    fd = libc.syscall(ctypes.c_long(nr), attr, ctypes.c_long(pid), ctypes.c_long(cpu),
                      ctypes.c_long(-1), ctypes.c_long(PERF_FLAG_FD_CLOEXEC))
    if fd < 0:
        err = ctypes.get_errno()
        raise syscall_error(err, f"perf_event_open(type={type}, config={config}, pid={pid}, "
                                 f"cpu={cpu})")
    return int(fd)


class LinkGroup(Link):
    """Several links that live and die together, e.g. one perf event per CPU.

    ``fd`` is the first link's; ``links`` lists them all.  ``destroy()``
    destroys every one (idempotent)."""

    def __init__(self, links: Sequence[Link], what: str) -> None:
        super().__init__(0, what)
        self.links: List[Link] = list(links)

    @property
    def fd(self) -> int:
        if self.destroyed:
            raise ClosedError(f"link {self.what} was destroyed")
        return self.links[0].fd

    @property
    def destroyed(self) -> bool:
        return not self.links

    def __iter__(self) -> Iterator[Link]:
        return iter(self.links)

    def __len__(self) -> int:
        return len(self.links)

    def destroy(self) -> None:
        links, self.links = getattr(self, "links", []), []
        for link in links:
            link.destroy()

    def __repr__(self) -> str:
        return f"<LinkGroup {self.what} x{len(self.links)}{' destroyed' if self.destroyed else ''}>"


def attach(prog_ptr: int, name: str, *, type: int, config: int, sample_period: int,
           sample_freq: int, cpu: Optional[int], pid: int, cookie: int) -> LinkGroup:
    """Open one event per CPU (``cpu=None``: every online CPU) and attach the
    program to each; the group owns every fd."""
    if not sample_period and not sample_freq and type in (PERF_TYPE_SOFTWARE,
                                                          PERF_TYPE_HARDWARE):
        raise ValueError("give sample_period or sample_freq")
    if cpu is None and pid != -1:
        cpus = [-1]  # one event follows the task on every CPU
    else:
        cpus = online_cpus() if cpu is None else [int(cpu)]
    lib = _libbpf.lib()
    opts = _libbpf.opts(_libbpf.PerfEventOpts, bpf_cookie=cookie)
    links: List[Link] = []
    try:
        for c in cpus:
            pfd = perf_event_open(type, config, sample_period=sample_period,
                                  sample_freq=sample_freq, pid=pid, cpu=c)
            try:
                ptr = _libbpf.call_ptr(lib.bpf_program__attach_perf_event_opts,
                                       f"attaching program {name!r} (perf event cpu {c})",
                                       prog_ptr, pfd, ctypes.byref(opts))
            except BaseException:
                os.close(pfd)
                raise
            links.append(Link(ptr, f"{name}:perf_event cpu {c}"))
    except BaseException:
        for link in links:
            link.destroy()
        raise
    where = "all CPUs" if cpu is None else f"cpu {cpu}"
    return LinkGroup(links, f"{name}:perf_event type {type} config {config} {where}")
