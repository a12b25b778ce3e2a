"""Which :class:`~bpfskel.maps.Map` class serves which ``enum bpf_map_type``.

Map kinds with operations of their own (struct_ops registration, stack
traces, bloom filters, map-in-map, fd-keyed storage, the user ring buffer)
live in their own modules as subclasses of ``Map``; this table is the one
place that picks the class, at open (the skeleton) and at generation (the
annotation of ``skel.maps.<name>`` in a generated module).

The table names each class by module and name, and :func:`map_class`
imports it on first use: a program without such maps never loads their
modules (start-up cost).
"""

from __future__ import annotations

import importlib
from typing import Any, Dict, Tuple, Type

from .maps import Map
from .uapi import STORAGE_MAP_TYPES, MapType

__all__ = ["map_class", "KINDS"]

# map type -> (module, class): a subclass of Map in bpfskel
KINDS: Dict[int, Tuple[str, str]] = {
    MapType.STRUCT_OPS: (".structops", "StructOpsMap"),
    MapType.STACK_TRACE: (".stackmap", "StackTraceMap"),
    MapType.BLOOM_FILTER: (".bloom", "BloomFilter"),
    MapType.ARRAY_OF_MAPS: (".mapinmap", "MapInMap"),
    MapType.HASH_OF_MAPS: (".mapinmap", "MapInMap"),
    MapType.USER_RINGBUF: (".userringbuf", "UserRingBufferMap"),
    **{t: (".storage", "StorageMap") for t in STORAGE_MAP_TYPES},
}


def map_class(map_type: int) -> Type[Map[Any, Any]]:
    """The class for maps of ``map_type`` (plain :class:`Map` for the rest)."""
    kind = KINDS.get(int(map_type))
    if kind is None:
        return Map
    cls: Type[Map[Any, Any]] = getattr(importlib.import_module(kind[0], __package__), kind[1])
    return cls
