"""CPU-clock perf events for on-CPU stack sampling (``perf_event_open``).

A profiler attaches a ``SEC("perf_event")`` program to one event per CPU
(every process) or to one event on a process (``pid``, any CPU), with
``Program.attach_perf_event(fd)``; the link then owns the fd.  This is the
small part of ``perf_event_open`` that sampling needs: the software
``PERF_COUNT_SW_CPU_CLOCK`` event at a frequency, which works in VMs without
a PMU.
"""

from __future__ import annotations

import ctypes
import os
import struct
from typing import List

from .. import _libbpf

__all__ = ["open_cpu_clock", "online_cpus"]

_SYS_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241}
PERF_TYPE_SOFTWARE = 1
PERF_COUNT_SW_CPU_CLOCK = 0
PERF_FLAG_FD_CLOEXEC = 1 << 3
_ATTR_SIZE = 128  # PERF_ATTR_SIZE_VER7; older kernels accept a larger zero-tailed attr
_DISABLED, _FREQ = 1 << 0, 1 << 10


def open_cpu_clock(frequency: int = 99, *, pid: int = -1, cpu: int = -1) -> int:
    """A disabled CPU-clock event sampling ``frequency`` times a second.

    ``pid=-1, cpu=N`` samples everything on CPU N; ``pid=P, cpu=-1``
    samples process P's thread P wherever it runs.  libbpf enables the event
    when a program is attached.  Raises ``OSError`` with the kernel's errno.
    """
    nr = _SYS_PERF_EVENT_OPEN.get(os.uname().machine)
    if nr is None:
        raise OSError(95, f"perf_event_open: unknown syscall number on {os.uname().machine}")
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    struct.pack_into("<IIQQ", attr, 0, PERF_TYPE_SOFTWARE, _ATTR_SIZE,
                     PERF_COUNT_SW_CPU_CLOCK, frequency)
    struct.pack_into("<Q", attr, 40, _DISABLED | _FREQ)
    ctypes.set_errno(0)
    fd = _libbpf.libc().syscall(ctypes.c_long(nr), attr, ctypes.c_long(pid),
                                ctypes.c_long(cpu), ctypes.c_long(-1),
                                ctypes.c_long(PERF_FLAG_FD_CLOEXEC))
    if fd < 0:
        err = ctypes.get_errno()
        where = f"pid {pid}" if pid >= 0 else f"CPU {cpu}"
        raise OSError(err, f"perf_event_open(CPU clock, {frequency} Hz, {where}): "
                      f"{os.strerror(err)}")
    return int(fd)


def online_cpus() -> List[int]:
    """The online CPUs, from ``/sys/devices/system/cpu/online`` (``0-3,5``)."""
    with open("/sys/devices/system/cpu/online") as f:
        text = f.read().strip()
    cpus: List[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus
