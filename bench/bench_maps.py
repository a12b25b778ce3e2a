"""Map iteration: ``items()`` on a 10,000-entry struct-keyed hash against the
key-by-key walk BCC's and pylibbpf's table APIs do (``get_next_key`` then
``lookup`` per entry, through ctypes, decoding into the same generated
classes).

Single elements: ``m[k]`` against a bare ctypes ``bpf_map_lookup_elem`` with
a key and a value buffer made once, which returns the value as an int: the
least any Python binding can do per lookup.  Both sides run in the same
process, alternating, on the same map."""

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
        single = skel.maps.single
        single[7] = 42
        fd, lookup = single.fd, _libbpf_lookup()
        key, value = ctypes.c_uint32(7), ctypes.c_uint64()
        pkey, pvalue = ctypes.byref(key), ctypes.byref(value)

        def bare() -> int:
            if lookup(fd, pkey, pvalue):
                raise KeyError(7)
            return value.value

        if single[7] != bare() or bare() != 42:
            raise RuntimeError("m[k] and the bare lookup disagree")
        t_get, t_bare = best_times([lambda: single[7], bare], number=20_000, repeat=7)
    return [ratio_row("maps", f"items() over {ENTRIES:,} struct-keyed entries vs key-by-key",
                      t_ours, t_base, goal_min=10.0,
                      note=f"{t_ours * 1e3:.1f} ms vs {t_base * 1e3:.1f} ms"),
            ratio_row("maps", "m[k] (u32 -> u64 hash) vs a bare ctypes bpf_map_lookup_elem",
                      t_get, t_bare, goal_max=1.2,
                      note=f"{t_get * 1e6:.2f} us vs {t_bare * 1e6:.2f} us")]


def _libbpf_lookup() -> Any:
    from bpfskel import _libbpf

    return _libbpf.lib().bpf_map_lookup_elem
