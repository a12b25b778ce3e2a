"""Keys and values of a map: Python objects to the bytes the kernel wants, and back.

A :class:`Codec` is built once per map side (key or value) from the type the
generator recorded (a generated class, a ctypes integer type, or ``None``
without BTF) and the size libbpf reports.  The rules are deliberately narrow,
so a wrong argument is a ``TypeError`` naming the expected type rather than a
silently mangled key:

* an ``int`` is accepted for integer types (and, without BTF, for a side of
  1, 2, 4 or 8 bytes, as a native-endian unsigned number);
* an instance of the exact class is accepted as is;
* ``bytes``-like objects of exactly the side's size are accepted for any type;
  for a ``char[N]`` side, shorter ones are NUL-padded as in a member write
  (:mod:`.chars`).

Decoded values are always copies: an ``int`` for integer types, ``bytes`` for
``char[N]`` and for maps without BTF, otherwise a fresh instance of the class.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import struct
from typing import Any, Callable, Iterator, List, Optional

from .chars import CharArray, char_bytes

__all__ = ["Codec", "is_integer_type", "gc_paused"]

_INT_CODES = frozenset("bBhHiIlLqQ?")
_UNSIGNED_BY_SIZE = {1: "B", 2: "H", 4: "I", 8: "Q"}


def is_integer_type(ctype: Any) -> bool:
    """True for ctypes integer types (``c_uint32``, ``c_bool``, ...) and enums of them."""
    code = getattr(ctype, "_type_", None)
    return isinstance(code, str) and code in _INT_CODES and issubclass(
        ctype, ctypes._SimpleCData)


def _is_char_array(ctype: Any) -> bool:
    elem: Any = getattr(ctype, "_type_", None)
    return (isinstance(ctype, type) and issubclass(ctype, ctypes.Array)
            and elem in (ctypes.c_char, ctypes.c_byte, ctypes.c_ubyte))


class Codec:
    """Encode and decode one side (key or value) of a map."""

    def __init__(self, ctype: Any, size: int, what: str) -> None:
        self.ctype = ctype
        self.size = size
        self.what = what  # e.g. "key of map 'counts'", for error messages
        self.expected = _describe(ctype, size)
        self._chars = isinstance(ctype, type) and issubclass(ctype, CharArray)
        self._int_format: Optional[str] = None
        if ctype is None:
            self._int_format = _UNSIGNED_BY_SIZE.get(size)
        elif is_integer_type(ctype):
            self._int_format = ctype._type_
        if ctype is not None and ctypes.sizeof(ctype) != size:
            raise TypeError(f"{what}: the generated type {_describe(ctype, size)} is "
                            f"{ctypes.sizeof(ctype)} bytes, the map says {size}")
        self.decode: Callable[[bytes], Any] = self._decoder()

    # -- encode ----------------------------------------------------------------

    def encode(self, obj: Any) -> bytes:
        """The ``size`` bytes for ``obj``; TypeError/OverflowError when it does not fit."""
        if isinstance(obj, int):
            if self._int_format is None:
                raise TypeError(f"{self.what}: expected {self.expected}, got int")
            try:
                return struct.pack(self._int_format, obj)
            except struct.error:
                raise OverflowError(f"{self.what}: {obj} does not fit in "
                                    f"{self.expected}") from None
        if isinstance(obj, ctypes._SimpleCData) and self._int_format is not None \
                and is_integer_type(type(obj)):
            return self.encode(obj.value)
        if self._chars and isinstance(obj, (bytes, bytearray, memoryview, CharArray)):
            return char_bytes(obj, self.size, self.what)  # NUL-padded, as a member write
        if self.ctype is not None and isinstance(obj, self.ctype):  # incl. read-only twins
            return bytes(memoryview(obj).cast("B"))
        if isinstance(obj, (bytes, bytearray, memoryview)):
            raw = bytes(obj)
            if len(raw) != self.size:
                raise TypeError(f"{self.what}: expected {self.expected}, got "
                                f"{len(raw)} bytes")
            return raw
        raise TypeError(f"{self.what}: expected {self.expected}, "
                        f"got {type(obj).__name__}")

    def encode_into(self, obj: Any, buf: Any, offset: int) -> None:
        """Encode ``obj`` straight into ``buf`` at ``offset`` (batch arrays)."""
        data = self.encode(obj)
        ctypes.memmove(ctypes.addressof(buf) + offset, data, self.size)

    # -- decode ----------------------------------------------------------------

    def _decoder(self) -> Callable[[bytes], Any]:
        fmt = self._int_format
        if fmt is not None:
            unpack = struct.Struct(fmt).unpack_from
            return lambda data: unpack(data)[0]
        if self.ctype is None or _is_char_array(self.ctype):
            return bytes
        return self.ctype.from_buffer_copy  # type: ignore[no-any-return]

    def decode_many(self, buf: Any, count: int, stride: int) -> List[Any]:
        """Decode ``count`` items laid out every ``stride`` bytes in ``buf``."""
        fmt = self._int_format
        if fmt is not None and stride == self.size:
            raw: Any = memoryview(buf).cast("B")[:count * stride]
            return list(raw.cast(fmt))
        if stride == self.size and self.decode is not bytes:
            # One copy of the whole run; slicing the array then makes the element
            # objects (each owning its part of that copy) four times faster than
            # a from_buffer_copy per item.
            return (self.ctype * count).from_buffer_copy(buf)[:]  # type: ignore[no-any-return]
        view: Any = memoryview(buf).cast("B")
        decode = self.decode
        return [decode(view[i * stride:i * stride + self.size]) for i in range(count)]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cycle collector while building a large list of fresh objects.

    ctypes instances are tracked by the collector, so making tens of thousands
    of them triggers collection after collection, each walking the growing
    list: pausing it for the build more than doubles the rate.  Objects made
    by decoding cannot form reference cycles, so nothing is missed; the
    previous state is restored even on error.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _describe(ctype: Any, size: int) -> str:
    if ctype is None:
        return f"{size} bytes" + (" or int" if size in _UNSIGNED_BY_SIZE else "")
    if is_integer_type(ctype):
        return f"int ({ctype.__name__})"
    if _is_char_array(ctype):
        return f"bytes of length {size}" if not issubclass(ctype, CharArray) else \
            f"bytes of at most {size}"
    return f"{ctype.__qualname__} or {size} bytes"
