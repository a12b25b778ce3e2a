"""Which :class:`~bpfskel.maps.Map` class serves which ``enum bpf_map_type``.

Map kinds with operations of their own (struct_ops registration, stack
traces, bloom filters, map-in-map, fd-keyed storage, the user ring buffer)
live in their own modules as subclasses of ``Map``; this table is the one
place that picks the class, at open (the skeleton) and at generation (the
annotation of ``skel.maps.<name>`` in a generated module).
"""

from __future__ import annotations

from typing import Any, Dict, Type

from .bloom import BPF_MAP_TYPE_BLOOM_FILTER, BloomFilter
from .mapinmap import BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS, MapInMap
from .maps import Map
from .stackmap import BPF_MAP_TYPE_STACK_TRACE, StackTraceMap
from .storage import STORAGE_MAP_TYPES, StorageMap
from .structops import BPF_MAP_TYPE_STRUCT_OPS, StructOpsMap
from .userringbuf import BPF_MAP_TYPE_USER_RINGBUF, UserRingBufferMap

__all__ = ["map_class", "KINDS"]

KINDS: Dict[int, Type[Map[Any, Any]]] = {
    BPF_MAP_TYPE_STRUCT_OPS: StructOpsMap,
    BPF_MAP_TYPE_STACK_TRACE: StackTraceMap,
    BPF_MAP_TYPE_BLOOM_FILTER: BloomFilter,
    BPF_MAP_TYPE_ARRAY_OF_MAPS: MapInMap,
    BPF_MAP_TYPE_HASH_OF_MAPS: MapInMap,
    BPF_MAP_TYPE_USER_RINGBUF: UserRingBufferMap,
    **{t: StorageMap for t in STORAGE_MAP_TYPES},
}


def map_class(map_type: int) -> Type[Map[Any, Any]]:
    """The class for maps of ``map_type`` (plain :class:`Map` for the rest)."""
    return KINDS.get(int(map_type), Map)
