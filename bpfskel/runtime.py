"""What generated modules import (as ``_rt``): one stable surface.

Generated code only ever touches names listed in ``__all__`` here, so the
package can move things around without regenerating every module.
"""

from __future__ import annotations

from .skeleton import Skeleton
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

__all__ = ["CEnum", "SectionView", "Skeleton", "Struct", "Union", "add_accessors",
           "check_layouts", "int128", "uint128", "unmangle", "unpack_object"]
