"""``bpfskel gen``: object bytes in, module source out."""

from __future__ import annotations

import hashlib
import os
from typing import List, Mapping, Optional, Set, Tuple

from .. import __version__
from ..btf import layout_digests
from ..mapkinds import map_class
from ..names import ARENA_SECTION, identifier
from ..structops import struct_ops_types
from ..uapi import BPF_F_MMAPABLE, PERCPU_MAP_TYPES, MapType
from . import codegen, layout
from .objfile import ObjectInfo, read_object

__all__ = ["default_name", "generate", "generate_from_info", "mapped_sections"]



def default_name(path: str) -> str:
    """``foo.bpf.o`` -> ``foo``, as bpftool derives object names."""
    base = os.path.basename(path)
    for suffix in (".o", ".bpf"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return identifier(base or "bpf")


def mapped_sections(info: ObjectInfo) -> Set[str]:
    """Data sections the running libbpf turned into an mmapable global data map.

    Only these can have a view: a section libbpf does not support (``.bss.X``
    in bpftool 7.1's embedded libbpf snapshot, for one) never becomes a map.
    """
    mapped = {m.section for m in info.maps
              if m.internal and m.section and m.flags & BPF_F_MMAPABLE}
    if any(m.type == MapType.ARENA for m in info.maps):
        mapped.add(ARENA_SECTION)  # __arena globals live in the arena map (bpfskel.arena)
    return mapped


def generate_from_info(info: ObjectInfo, data: bytes, source: str, name: str,
                       arch_objects: Optional[Mapping[str, bytes]] = None) -> str:
    ops = struct_ops_types(info.btf.__getitem__, len(info.btf))
    map_types = {m.ident: (m.key_type_id, m.value_type_id or
                           (ops.get(m.name, (0,))[0] if m.type == MapType.STRUCT_OPS else 0))
                 for m in info.maps if not m.internal}
    inner_types = {f"{m.ident}__inner": (m.inner_key_type_id, m.inner_value_type_id)
                   for m in info.maps if m.inner_key_type_id or m.inner_value_type_id}
    plan = layout.plan(info.btf, {**map_types, **inner_types}, mapped_sections(info))
    maps: List[codegen.MapInfo] = []
    annotations = {m.ident: "_Any, _Any" if m.internal else codegen.map_annotation(
        plan, m.key_type_id, m.value_type_id, m.type in PERCPU_MAP_TYPES) for m in info.maps}
    for m in sorted(info.maps, key=lambda m: m.ident):
        key, value = codegen.map_exprs(plan, *map_types[m.ident]) \
            if not m.internal else ("None", "None")
        # a global data map is bound by its section: libbpf names it after the object
        maps.append((m.ident, m.section if m.internal and m.section else m.name, key, value))
    classes = {m.ident: map_class(m.type).__name__ for m in info.maps}
    inner = [(ident[:-len("__inner")], *codegen.map_exprs(plan, *ids))
             for ident, ids in sorted(inner_types.items())]
    struct_ops = sorted(m.ident for m in info.maps if m.type == MapType.STRUCT_OPS)
    progs: List[Tuple[str, str, str]] = sorted((p.ident, p.name, p.section) for p in info.progs)
    datasecs = {t.name: t.id for t in info.btf.datasecs()}
    digests = layout_digests(info.btf.__getitem__,
                             {s.section: datasecs[s.section] for s in plan.sections
                              if s.section != ARENA_SECTION},
                             # the ids libbpf reports, which open(object_path=) reads back
                             {m.ident: (m.key_type_id, m.value_type_id)
                              for m in info.maps if not m.internal})
    return codegen.render(plan, name=name, source=os.path.basename(source),
                          sha256=hashlib.sha256(data).hexdigest(), version=__version__,
                          obj=data, maps=maps, progs=progs, digests=digests,
                          map_types=annotations, map_classes=classes,
                          struct_ops=struct_ops, inner_maps=inner,
                          arch_objects=arch_objects)


def generate(data: bytes, source: str, name: str) -> str:
    """Generate the module source for the object ``data`` read from ``source``."""
    info = read_object(data, source, name)
    return generate_from_info(info, data, source, name)
