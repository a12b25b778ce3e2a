"""Shared by the typed-map and event-reader tests (bpf/maps.bpf.c)."""

from __future__ import annotations

import contextlib
import ctypes
import os
from typing import Any, Iterator, List, Tuple

from bpfskel import _libbpf

from bpfenv import needs_tracefs, requires_bpf

__all__ = ["pytestmark", "traced", "comm", "raw_walk"]

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


def raw_walk(fd: int, key_size: int, value_size: int) -> List[Tuple[bytes, bytes]]:
    """Every entry by get_next_key + lookup through libbpf directly (no Map code)."""
    lib = _libbpf.lib()
    out, prev = [], None
    key = ctypes.create_string_buffer(key_size)
    value = ctypes.create_string_buffer(value_size)
    while lib.bpf_map_get_next_key(fd, prev, key) == 0:
        assert lib.bpf_map_lookup_elem(fd, key, value) == 0
        out.append((key.raw, value.raw))
        prev = ctypes.create_string_buffer(key.raw)
    return out
