"""Which :class:`~bpfskel.maps.Map` class serves which ``enum bpf_map_type``.

Map kinds with operations of their own (struct_ops registration, stack
traces, bloom filters, map-in-map, fd-keyed storage, the user ring buffer)
live in their own modules as subclasses of ``Map``; this table is the one
place that picks the class, at open (the skeleton) and at generation (the
annotation of ``skel.maps.<name>`` in a generated module).
"""

from __future__ import annotations

from typing import Any, Dict, Type

from .bloom import BloomFilter
from .mapinmap import MapInMap
from .maps import Map
from .stackmap import StackTraceMap
from .storage import StorageMap
from .structops import StructOpsMap
from .uapi import STORAGE_MAP_TYPES, MapType
from .userringbuf import UserRingBufferMap

__all__ = ["map_class", "KINDS"]

KINDS: Dict[int, Type[Map[Any, Any]]] = {
    MapType.STRUCT_OPS: StructOpsMap,
    MapType.STACK_TRACE: StackTraceMap,
    MapType.BLOOM_FILTER: BloomFilter,
    MapType.ARRAY_OF_MAPS: MapInMap,
    MapType.HASH_OF_MAPS: MapInMap,
    MapType.USER_RINGBUF: UserRingBufferMap,
    **{t: StorageMap for t in STORAGE_MAP_TYPES},
}


def map_class(map_type: int) -> Type[Map[Any, Any]]:
    """The class for maps of ``map_type`` (plain :class:`Map` for the rest)."""
    return KINDS.get(int(map_type), Map)
