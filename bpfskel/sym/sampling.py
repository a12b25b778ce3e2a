"""CPU-clock perf events for on-CPU stack sampling (``perf_event_open``).

A profiler attaches a ``SEC("perf_event")`` program to one event per CPU
(every process) or to one event on a process (``pid``, any CPU), with
``Program.attach_perf_event(fd)``; the link then owns the fd.  This is the
small part of ``perf_event_open`` that sampling needs: the software
``PERF_COUNT_SW_CPU_CLOCK`` event at a frequency, which works in VMs without
a PMU.
"""

from __future__ import annotations

from ..perf_event import (
    PERF_COUNT_SW_CPU_CLOCK,
    PERF_TYPE_SOFTWARE,
    online_cpus,
    perf_event_open,
)

__all__ = ["open_cpu_clock", "online_cpus"]


def open_cpu_clock(frequency: int = 99, *, pid: int = -1, cpu: int = -1) -> int:
    """A disabled CPU-clock event sampling ``frequency`` times a second.

    ``pid=-1, cpu=N`` samples everything on CPU N; ``pid=P, cpu=-1``
    samples process P's thread P wherever it runs.  libbpf enables the event
    when a program is attached.  Raises ``OSError`` with the kernel's errno.
    """
    return perf_event_open(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK,
                           sample_freq=frequency, pid=pid, cpu=cpu)
