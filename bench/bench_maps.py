"""Map iteration: ``items()`` on a 10,000-entry struct-keyed hash against the
key-by-key walk BCC's and pylibbpf's table APIs do (``get_next_key`` then
``lookup`` per entry, through ctypes, decoding into the same generated
classes)."""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any, List

from common import Row, best_times, compile_bpf, ratio_row, skeleton_module

ENTRIES = 10_000
HERE = Path(__file__).resolve().parent


def key_by_key(fd: int, key_type: Any, value_type: Any) -> List[Any]:
    """The baseline: two syscalls per entry through libbpf's wrappers."""
    from bpfskel import _libbpf

    lib = _libbpf.lib()
    key = key_type()
    value = value_type()
    prev = None
    out = []
    while lib.bpf_map_get_next_key(fd, prev, ctypes.byref(key)) == 0:
        if lib.bpf_map_lookup_elem(fd, ctypes.byref(key), ctypes.byref(value)) == 0:
            out.append((key_type.from_buffer_copy(key), value_type.from_buffer_copy(value)))
        prev = ctypes.byref(key_type.from_buffer_copy(key))
    return out


def run() -> List[Row]:
    obj = compile_bpf(HERE / "bpf" / "table.bpf.c")
    mod = skeleton_module(obj, "table")
    flow, counts = mod.types.flow, mod.types.counts
    with mod.open_and_load() as skel:
        flows = skel.maps.flows
        flows.update((flow(saddr=i, daddr=~i & 0xFFFFFFFF, sport=i & 0xFFFF, dport=80,
                           proto=6), counts(packets=i, bytes=i * 64))
                     for i in range(ENTRIES))
        ours = flows.items()
        base = key_by_key(flows.fd, flow, counts)
        if len(ours) != ENTRIES or sorted(bytes(k) + bytes(v) for k, v in ours) != sorted(
                bytes(k) + bytes(v) for k, v in base):
            raise RuntimeError("items() and the key-by-key walk disagree")
        t_ours, t_base = best_times([flows.items, lambda: key_by_key(flows.fd, flow, counts)],
                                    number=3, repeat=7)
    return [ratio_row("maps", f"items() over {ENTRIES:,} struct-keyed entries vs key-by-key",
                      t_ours, t_base, goal_min=10.0,
                      note=f"{t_ours * 1e3:.1f} ms vs {t_base * 1e3:.1f} ms")]
