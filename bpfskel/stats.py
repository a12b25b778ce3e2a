"""Run-time statistics of loaded programs: how often each ran, for how long.

The kernel counts ``run_cnt`` and ``run_time_ns`` per program only while
statistics are on, because timing every run costs two clock reads.  They are
on while ``kernel.bpf_stats_enabled`` is 1 (a sysctl, for the whole
machine) or while some process holds the fd of a ``BPF_ENABLE_STATS``
command (:func:`enable_stats`, needs CAP_SYS_ADMIN): when the last holder
closes it they stop, and nothing has to be restored.  The numbers are read
with ``BPF_OBJ_GET_INFO_BY_FD``, which needs no capability on a program fd
the process already has.
"""

from __future__ import annotations

import ctypes
import os
import threading
from dataclasses import dataclass
from typing import Any, Optional, Union

from . import _libbpf
from .closing import Closing
from .uapi import BPF_STATS_RUN_TIME

__all__ = ["ProgramStats", "program_stats", "enable_stats", "stats_enabled", "StatsEnabled"]

SYSCTL = "/proc/sys/kernel/bpf_stats_enabled"

_lock = threading.Lock()
_holders = 0  # StatsEnabled handles open in this process


@dataclass(frozen=True)
class ProgramStats:
    """``struct bpf_prog_info``'s counters for one program."""

    id: int
    name: str
    run_cnt: int
    run_time_ns: int
    recursion_misses: int


def program_stats(prog: Union[int, Any]) -> ProgramStats:
    """Statistics of a loaded program (a ``skel.progs.X`` or a program fd)."""
    fd = prog if isinstance(prog, int) else prog.fd
    info = _libbpf.ProgInfo()
    size = ctypes.c_uint32(ctypes.sizeof(info))
    _libbpf.call(_libbpf.lib().bpf_obj_get_info_by_fd, f"reading info of program fd {fd}",
                 fd, ctypes.byref(info), ctypes.byref(size))
    return ProgramStats(int(info.id), info.name.decode(errors="replace"), int(info.run_cnt),
                        int(info.run_time_ns), int(info.recursion_misses))


class StatsEnabled(Closing):
    """An open ``BPF_ENABLE_STATS`` fd: statistics stay on until ``close()``
    (or the end of the ``with`` block, or of the process)."""

    def __init__(self) -> None:
        global _holders
        self.fd: Optional[int] = _libbpf.call(_libbpf.lib().bpf_enable_stats,
                                              "enabling BPF run-time statistics",
                                              BPF_STATS_RUN_TIME)
        with _lock:
            _holders += 1

    def close(self) -> None:
        global _holders
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)
            with _lock:
                _holders -= 1



def enable_stats() -> StatsEnabled:
    """Turn run-time statistics on for as long as the handle is open."""
    return StatsEnabled()


def stats_enabled() -> bool:
    """Whether programs are being timed: the sysctl is 1, or this process
    holds a :class:`StatsEnabled` handle.  (Another process's handle does
    not show in the sysctl, and cannot be seen from here.)"""
    if _holders:
        return True
    try:
        with open(SYSCTL) as f:
            return f.read().strip() not in ("", "0")
    except OSError:
        return False
