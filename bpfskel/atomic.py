"""An atomic exchange on a mapped global: ``skel.bss.exchange('field', 0)``.

Reading a ``.bss`` counter and then writing 0 loses every increment BPF makes
in between.  ``exchange`` swaps in the new value and returns the old one in
one ``xchg`` instruction on the mapped word, the same memory BPF's
``__sync_fetch_and_add`` updates, so nothing is lost: each increment lands
either in the value returned or in the new one.

CPython has no atomic operations on raw memory, so this calls GCC's
``libatomic`` (``__atomic_exchange_4``/``_8``, sequentially consistent), the
runtime library C code itself calls for ``__atomic_exchange_n``; on x86-64
it is a single locked ``xchg``.  Only naturally aligned 4- and 8-byte
integers can be exchanged: anything else has no single atomic instruction.
"""

from __future__ import annotations

import ctypes
from typing import Any, Optional

from . import _libc
from .errors import ClosedError, Error, ReadOnlyError
from .views import _is_frozen

__all__ = ["exchange"]

_SEQ_CST = 5  # __ATOMIC_SEQ_CST


def exchange(view: Any, field: str, value: int, index: Optional[int] = None) -> int:
    """Atomically store ``value`` in ``view.<field>`` (``[index]`` for an
    array global) and return what it held."""
    cls = type(view)
    if getattr(cls, "_closed_twin_", False):
        raise ClosedError("the skeleton owning this view was destroyed")
    if getattr(cls, "_readonly_twin_", False) and _is_frozen(view):
        raise ReadOnlyError(f"{field}: the section is frozen; it cannot be exchanged")
    desc = getattr(cls, field, None)
    if desc is None or not hasattr(desc, "offset"):
        raise AttributeError(f"{cls.__name__} has no global {field!r}")
    ftype = dict((f[0], f[1]) for f in cls._fields_)[field]
    offset = desc.offset
    if index is not None:
        if not issubclass(ftype, ctypes.Array):
            raise TypeError(f"{field} is not an array: it takes no index")
        if not 0 <= index < ftype._length_:
            raise IndexError(f"index {index} out of range for {field}[{ftype._length_}]")
        ftype = ftype._type_
        offset += index * ctypes.sizeof(ftype)
    size = ctypes.sizeof(ftype)
    if not (isinstance(ftype, type) and issubclass(ftype, ctypes._SimpleCData)
            and getattr(ftype, "_type_", "") in "bBhHiIlLqQ" and size in (4, 8)):
        raise TypeError(f"{field}: only 4- and 8-byte integers can be exchanged atomically")
    addr = ctypes.addressof(view) + offset
    if addr % size:
        raise Error(f"{field} at {addr:#x} is not {size}-byte aligned: no atomic exchange")
    fn = getattr(_libc.libatomic(), f"__atomic_exchange_{size}")
    mask = (1 << (8 * size)) - 1
    old = int(fn(addr, value & mask, _SEQ_CST))
    return int(ftype(old).value)  # back to the field's signedness
