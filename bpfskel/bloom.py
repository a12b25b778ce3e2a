"""``BPF_MAP_TYPE_BLOOM_FILTER``: ``push(v)`` and ``v in m``.

A bloom filter has no keys: ``bpf_map_update_elem(fd, NULL, v)`` adds a value
and ``bpf_map_lookup_elem(fd, NULL, v)`` answers "maybe present" (0) or
"absent" (ENOENT).  False positives happen, at a rate set by ``max_entries``
and the number of hash functions (``map_extra``); false negatives never.
Values cannot be listed or removed.
"""

from __future__ import annotations

import ctypes
import errno
from typing import Any, NoReturn

from . import _libbpf
from .maps import Map
from .uapi import BPF_ANY

__all__ = ["BloomFilter"]



class BloomFilter(Map[Any, Any]):
    """A bloom filter map: ``push(value)``, ``value in m``."""

    def push(self, value: Any, flags: int = BPF_ANY) -> None:
        _kc, vc, _pe, _n = self._setup()
        fd = self._live_fd("push")
        _libbpf.check(_libbpf.lib().bpf_map_update_elem(fd, None, vc.encode(value), flags),
                      f"pushing to bloom filter {self._what()}")

    def __contains__(self, value: Any) -> bool:
        _kc, vc, _pe, _n = self._setup()
        fd = self._live_fd("query")
        raw = vc.encode(value)
        ret = _libbpf.lib().bpf_map_lookup_elem(fd, None, ctypes.create_string_buffer(raw,
                                                                                    len(raw)))
        if ret == -errno.ENOENT:
            return False
        _libbpf.check(ret, f"querying bloom filter {self._what()}")
        return True

    def _dict_op(self, op: str) -> NoReturn:
        raise TypeError(f"bloom filter {self._what()} has no keys: {op} is not possible; "
                        "use push(value) and `value in m`")
