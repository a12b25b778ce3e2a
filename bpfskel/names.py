"""Identifier rules: how C and ELF names become Python names.

Nothing from an object file ever becomes code unless it passed through
:func:`identifier`, which only ever returns ``[A-Za-z_][A-Za-z0-9_]*``.  Every
other string from the object is emitted with ``repr()``.

Rules (documented in the README):

* characters outside ``[A-Za-z0-9_]`` (clang accepts ``$``) become ``_``; a
  leading digit gets a ``_`` prefix; an empty name becomes ``_``;
* a Python keyword (``in``, ``class``, ``None``, ...) or a reserved name of the
  scope (ctypes' ``_fields_`` and friends, our own view/skeleton attributes)
  gets one trailing ``_``;
* names are unique within their scope: a later name that collides with an
  earlier one gets further trailing ``_`` until it is free.  Callers feed names
  in a deterministic order, so the outcome is stable; for maps and programs
  (:func:`item_idents`), names valid as they are come first, the others follow
  sorted, so the outcome does not depend on the object's order either.
* section identifiers follow bpftool: drop the leading dot, then sanitize.

Every identifier is assigned once, at generation, and recorded in the module;
the runtime binds by the recorded names and never calls these rules again.
"""

from __future__ import annotations

import keyword
import re
from typing import Dict, Iterable, Optional, Set

__all__ = ["identifier", "section_ident", "Scope", "CTYPES_RESERVED", "BPFSKEL_RESERVED",
           "CLASS_RESERVED", "c_text", "item_idents"]

_BAD = re.compile(r"[^A-Za-z0-9_]")

# Attributes that ctypes (or Python's object model) gives meaning to on
# Structure/Union classes and instances; a C member with such a name would
# break the class or shadow an API.
CTYPES_RESERVED = frozenset({
    "_fields_", "_anonymous_", "_pack_", "_align_", "_layout_", "_swappedbytes_",
    "_b_base_", "_b_needsfree_", "_objects", "_type_", "_length_", "_as_parameter_",
    "_check_retval_", "_handle", "from_buffer", "from_buffer_copy", "from_address",
    "from_param", "in_dll",
})

# Attributes bpfskel itself keeps on generated classes and their instances
# (bpfskel.structs, members, views): a C member with such a name would
# overwrite them, so it is renamed like a ctypes one.
BPFSKEL_RESERVED = frozenset({
    "_members_", "_accessors_", "_enums_", "_section_", "_readonly_twin_", "_closed_twin_",
    "_freeze_", "_b_owner",
})

# Every name a C member of a generated struct, union or section view must avoid.
CLASS_RESERVED = CTYPES_RESERVED | BPFSKEL_RESERVED


def identifier(name: str, reserved: Iterable[str] = ()) -> str:
    """A valid, non-keyword Python identifier for ``name``."""
    ident = _BAD.sub("_", name.encode("ascii", "replace").decode("ascii")) or "_"
    if ident[0].isdigit():
        ident = "_" + ident
    if (keyword.iskeyword(ident) or ident in reserved
            or (ident.startswith("__") and ident.endswith("__") and len(ident) > 4)):
        ident += "_"
    return ident


ARENA_SECTION = ".addr_space.1"  # where clang puts __arena globals
FROZEN_PREFIXES = (".rodata", ".kconfig")  # sections the kernel freezes at load


def section_ident(section: str) -> str:
    """bpftool's identifier for a data section: ``.data.has-dash`` -> ``data_has_dash``;
    the arena globals' section is ``arena``, as in bpftool's C skeleton."""
    if section == ARENA_SECTION:
        return "arena"
    return identifier(section[1:] if section.startswith(".") else section)


_BAD_TEXT = re.compile(r"[^A-Za-z0-9_$ .-]")


def c_text(name: str) -> str:
    """A C name made safe for a comment or docstring: identifier characters
    (``$`` included, as clang allows it), space, dot and dash only, so no quote,
    backslash or newline can get through."""
    return _BAD_TEXT.sub("_", name.encode("ascii", "replace").decode("ascii"))


class Scope:
    """Allocates unique identifiers within one namespace."""

    def __init__(self, reserved: Iterable[str] = ()) -> None:
        self.reserved: Set[str] = set(reserved)
        self.taken: Set[str] = set()

    def add(self, name: str, fallback: Optional[str] = None) -> str:
        ident = identifier(name or (fallback or "_"), self.reserved)
        while ident in self.taken or ident in self.reserved:
            ident += "_"
        self.taken.add(ident)
        return ident

    def claim(self, ident: str) -> str:
        """Reserve an exact identifier we generate ourselves (made unique)."""
        while ident in self.taken or ident in self.reserved:
            ident += "_"
        self.taken.add(ident)
        return ident


def item_idents(names: Iterable[str], reserved: Iterable[str] = ()) -> Dict[str, str]:
    """Identifiers, unique among themselves, for the names of one namespace
    (the maps of an object, its programs), each assigned once.

    A name that is a valid identifier as it is keeps it; the others, in
    sorted order, take their sanitized form plus as many ``_`` as make it
    free.  So ``a_b`` stays ``a_b`` and ``a$b`` becomes ``a_b_``, whatever
    order the object declares them in."""
    scope = Scope(reserved)
    unique = sorted(set(names))
    exact = [n for n in unique if identifier(n, scope.reserved) == n]
    scope.taken.update(exact)
    out = {n: n for n in exact}
    for name in unique:
        if name not in out:
            out[name] = scope.add(name)
    return out
