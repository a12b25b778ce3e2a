"""Keys and values of a map: Python objects to the bytes the kernel wants, and back.

A :class:`Codec` is built once per map side (key or value) from the type the
generator recorded (a generated class, a ctypes scalar type, or ``None``
without BTF) and the size libbpf reports.  Scalars follow the one rule every
global and struct member follows (see :data:`INTEGER_RULE`):

* integer types (``__u32``, ``_Bool``, enums, ``__int128``) take an ``int``
  (``bool`` and ``IntEnum`` included) and return an ``int`` (an enum side,
  the generated enum); the value is
  converted as C converts it, modulo 2**bits, so ``-1`` into a ``__u32``
  is ``0xffffffff`` (``u32 hkey = -1``); a ``_Bool`` stores ``value != 0``;
* floating types take an ``int`` or ``float`` and return a ``float``;
* anything else for a scalar raises ``TypeError``.

Other sides take an instance of the exact class, or ``bytes``-like objects of
exactly the side's size (for ``char[N]``, shorter ones are NUL-padded as in a
member write, :mod:`.chars`); without BTF, a side of 1, 2, 4 or 8 bytes also
takes an ``int``.  Decoded values are always copies: ``int``/``float`` for
scalars, ``bytes`` for ``char[N]`` and maps without BTF, otherwise a fresh
instance of the class.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Any, Callable, List, Optional

from .chars import CharArray, char_bytes
from .structs import int128, uint128

__all__ = ["Codec", "is_integer_type", "INTEGER_RULE"]

INTEGER_RULE = ("an int is stored as C converts it (modulo 2**bits: -1 is all ones); "
                "a _Bool stores value != 0; a non-int raises TypeError")
_INT_CODES = frozenset("bBhHiIlLqQ?")
_FLOAT_CODES = frozenset("fd")
_UNSIGNED_BY_SIZE = {1: "B", 2: "H", 4: "I", 8: "Q"}


def is_integer_type(ctype: Any) -> bool:
    """True for ctypes integer types (``c_uint32``, ``c_bool``, ...) and enums of them."""
    code = getattr(ctype, "_type_", None)
    return isinstance(code, str) and code in _INT_CODES and issubclass(
        ctype, ctypes._SimpleCData)


def _is_float_type(ctype: Any) -> bool:
    code = getattr(ctype, "_type_", None)
    return isinstance(code, str) and code in _FLOAT_CODES and issubclass(
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
        self._float_format: Optional[str] = None
        self._int128: Optional[bool] = None  # signed?, for __int128 sides
        self._enum: Any = getattr(ctype, "_enum_", None)  # members.enum_ctype
        if ctype is None:
            self._int_format = _UNSIGNED_BY_SIZE.get(size)
        elif is_integer_type(ctype):
            self._int_format = ctype._type_
        elif _is_float_type(ctype):
            self._float_format = ctype._type_
        elif ctype in (int128, uint128):
            self._int128 = ctype is int128
        if self._int_format is not None:
            code = self._int_format
            bits = 8 * struct.calcsize(code)
            self._mask = (1 << bits) - 1
            # signed formats: a wrapped value above the signed maximum goes negative
            self._wrap = 1 << bits if code in "bhilq" else 0
        if ctype is not None and ctypes.sizeof(ctype) != size:
            raise TypeError(f"{what}: the generated type {_describe(ctype, size)} is "
                            f"{ctypes.sizeof(ctype)} bytes, the map says {size}")
        self.decode: Callable[[bytes], Any] = self._decoder()

    # -- encode ----------------------------------------------------------------

    def encode(self, obj: Any) -> bytes:
        """The ``size`` bytes for ``obj``; TypeError when it is not of the side's type."""
        if isinstance(obj, int):
            fmt = self._int_format
            if fmt is not None:
                if fmt == "?":
                    return b"\x01" if obj else b"\x00"
                v = obj & self._mask  # C's conversion to an N-bit integer
                if self._wrap and v >= self._wrap >> 1:
                    v -= self._wrap
                return struct.pack(fmt, v)
            if self._float_format is not None:
                return struct.pack(self._float_format, obj)
            if self._int128 is not None:
                return (obj & (2**128 - 1)).to_bytes(16, "little")
            raise TypeError(f"{self.what}: expected {self.expected}, got int")
        if isinstance(obj, float) and self._float_format is not None:
            return struct.pack(self._float_format, obj)
        if isinstance(obj, ctypes._SimpleCData) and (
                self._int_format is not None or self._float_format is not None) and (
                is_integer_type(type(obj)) or _is_float_type(type(obj))):
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
        fmt = self._int_format or self._float_format
        if fmt is not None:
            unpack = struct.Struct(fmt).unpack_from
            if self._enum is not None:
                enum = self._enum
                return lambda data: enum(unpack(data)[0])
            return lambda data: unpack(data)[0]
        if self.ctype is None or _is_char_array(self.ctype):
            return bytes
        if self._int128 is not None:
            signed = self._int128
            return lambda data: int.from_bytes(bytes(data), "little", signed=signed)
        return self.ctype.from_buffer_copy  # type: ignore[no-any-return]

    def decode_many(self, buf: Any, count: int, stride: int) -> List[Any]:
        """Decode ``count`` items laid out every ``stride`` bytes in ``buf``."""
        fmt = self._int_format or self._float_format
        if fmt is not None and stride == self.size:
            raw: Any = memoryview(buf).cast("B")[:count * stride]
            if self._enum is not None:
                return list(map(self._enum, raw.cast(fmt)))
            return list(raw.cast(fmt))
        if stride == self.size and self.decode is not bytes and self._int128 is None:
            # One copy of the whole run; slicing the array then makes the element
            # objects (each owning its part of that copy) four times faster than
            # a from_buffer_copy per item.
            return (self.ctype * count).from_buffer_copy(buf)[:]  # type: ignore[no-any-return]
        view: Any = memoryview(buf).cast("B")
        decode = self.decode
        return [decode(view[i * stride:i * stride + self.size]) for i in range(count)]


def _describe(ctype: Any, size: int) -> str:
    if ctype is None:
        return f"{size} bytes" + (" or int" if size in _UNSIGNED_BY_SIZE else "")
    if is_integer_type(ctype) or ctype in (int128, uint128):
        return f"int ({ctype.__name__})"
    if _is_float_type(ctype):
        return f"float ({ctype.__name__})"
    if _is_char_array(ctype):
        return f"bytes of length {size}" if not issubclass(ctype, CharArray) else \
            f"bytes of at most {size}"
    return f"{ctype.__qualname__} or {size} bytes"
