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

from . import _libbpf
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
    object_for_machine,
    uint128,
    unmangle,
    unpack_object,
)
from .views import SectionView

__all__ = ["CEnum", "Link", "Map", "Namespace", "Program", "SectionView", "Skeleton", "Struct",
           "Union", "add_accessors", "check_layouts", "int128", "object_for_machine", "uint128",
           "unmangle",
           "unpack_object"]

_libbpf.lib()

