"""What generated modules import (as ``_rt``): one stable surface.

Generated code only ever touches names listed in ``__all__`` here, so the
package can move things around without regenerating every module.

Importing this module loads libbpf: a generated module is of no use without
it, so ``import prog_skel`` on a machine that lacks it fails at once with an
``ImportError`` (:class:`~bpfskel._libbpf.LibbpfNotFoundError`) naming the
package to install, rather than at the first ``open()``.  ``import bpfskel``
and the CLI's ``--help`` keep working without libbpf.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import _libbpf
from .embed import object_for_machine, unpack_object
from .members import BoolArray, EnumArray, bool_array, enum_array
from .skeleton import Namespace, Skeleton
from .structs import (
    BoolField,
    CEnum,
    CharArray,
    CharField,
    EnumField,
    Struct,
    Union,
    add_accessors,
    char_array,
    check_layouts,
    enum_ctype,
    int128,
    uint128,
    unmangle,
)
from .views import SectionView

if TYPE_CHECKING:
    from .bloom import BloomFilter
    from .mapinmap import MapInMap, OwnedMap
    from .maps import Map
    from .programs import Link, Program
    from .stackmap import StackTraceMap
    from .storage import StorageMap
    from .structops import StructOpsMap
    from .userringbuf import UserRingBufferMap

__all__ = ["BoolField", "CEnum", "CharArray", "CharField", "EnumField", "Link", "Map",
           "Namespace", "Program", "SectionView", "Skeleton", "Struct", "Union",
           "add_accessors", "char_array", "check_layouts", "enum_ctype", "int128",
           "object_for_machine", "uint128", "unmangle", "unpack_object",
           # the Map subclasses of bpfskel.mapkinds, which annotate skel.maps.<name>
           "BloomFilter", "MapInMap", "OwnedMap", "StackTraceMap", "StorageMap",
           "StructOpsMap", "UserRingBufferMap",
           # arrays of _Bool and of enums (bpfskel.members)
           "BoolArray", "EnumArray", "bool_array", "enum_array"]

# Map and its subclasses, Program and Link annotate skel.maps.<name>,
# skel.progs.<name> and skel.links.<name> (strings, never evaluated at import):
# each loads on first access (PEP 562), as bpfskel.mapkinds does; open() needs
# them, importing a generated module does not.
_LAZY = {"Map": ".maps", "Program": ".programs", "Link": ".programs",
         "BloomFilter": ".bloom", "MapInMap": ".mapinmap", "OwnedMap": ".mapinmap",
         "StackTraceMap": ".stackmap", "StorageMap": ".storage", "StructOpsMap": ".structops",
         "UserRingBufferMap": ".userringbuf"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module, __package__), name)


_libbpf.lib()

