"""What generated modules import (as ``_rt``): one stable surface.

Generated code only ever touches names listed in ``__all__`` here, so the
package can move things around without regenerating every module.
"""

from __future__ import annotations

from .maps import Map
from .programs import Link, Program
from .skeleton import Namespace, Skeleton
from .structs import (
    CEnum,
    Struct,
    Union,
    add_accessors,
    check_layouts,
    int128,
    uint128,
    unmangle,
    unpack_object,
)
from .views import SectionView

__all__ = ["CEnum", "Link", "Map", "Namespace", "Program", "SectionView", "Skeleton", "Struct",
           "Union", "add_accessors", "check_layouts", "int128", "uint128", "unmangle",
           "unpack_object"]
