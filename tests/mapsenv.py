"""Shared by the typed-map and event-reader tests (bpf/maps.bpf.c)."""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator

from bpfenv import needs_tracefs, requires_bpf

__all__ = ["pytestmark", "traced", "comm"]

pytestmark = [requires_bpf, needs_tracefs]


@contextlib.contextmanager
def traced(mod: Any, **rodata: int) -> Iterator[Any]:
    """A loaded, attached skeleton that only counts this process's getppid()."""
    with mod.open() as skel:
        skel.rodata.target_tgid = os.getpid()
        for name, value in rodata.items():
            setattr(skel.rodata, name, value)
        skel.load()
        skel.attach()
        yield skel


def comm() -> bytes:
    """This process's command name as BPF's bpf_get_current_comm() sees it."""
    with open("/proc/self/comm", "rb") as f:
        return f.read().strip()[:15]
