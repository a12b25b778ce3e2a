"""``char[N]``: every byte readable and writable, as in C.

ctypes reads a ``c_char * N`` member as ``bytes`` cut at the first NUL and
writes it with ``strlen()``, so bytes after a NUL are lost both ways.  A
generated ``char[N]`` is therefore a :class:`CharArray` (elements are
``c_ubyte``, which ctypes does not special-case):

* reading the member returns the array itself, a view on the N bytes
  (no copy): ``len()`` is N and ``a[i]`` is an int 0..255, like ``bytes``;
* ``a.raw`` (or ``bytes(a)``) is a copy of all N bytes, ``a.value`` the
  C string: the bytes before the first NUL (all N when there is none);
* ``a == b`` compares with the write rule: true right after ``a = b``;
* a write (``s.name = b"..."``, ``a.raw = ...``, ``a.value = ...``) takes
  bytes-like data or another ``char[N]``; more than N bytes raise
  ``ValueError``, fewer are NUL-padded to N, as ``strncpy`` into a zeroed
  buffer.  Map keys and values of type ``char[N]`` follow the same rule.

A member write needs Python code (ctypes would only take an instance of the
array type), so each ``char[N]`` member is a :class:`~.members.CharField`:
a property whose getter is ctypes' own field descriptor (C code, no copy)
and whose setter applies the rule above.
"""

from __future__ import annotations

import ctypes
import functools
from typing import TYPE_CHECKING, Any, Iterator, List, Type, Union, overload

__all__ = ["CharArray", "char_array", "char_bytes"]

_memmove = ctypes.memmove
_memset = ctypes.memset
_addressof = ctypes.addressof

if TYPE_CHECKING:  # a Union with a forward reference compiles it at import: not at run time
    BytesLike = Union[bytes, bytearray, memoryview, "CharArray"]


def char_bytes(value: Any, length: int, what: str = "char array") -> bytes:
    """``value`` as exactly ``length`` bytes: NUL-padded; longer raises ValueError."""
    if isinstance(value, (bytes, bytearray, CharArray)):
        data = bytes(value)
    elif isinstance(value, memoryview):
        data = value.tobytes()
    else:
        raise TypeError(f"{what}: expected bytes, got {type(value).__name__}")
    if len(data) > length:
        raise ValueError(f"{what}: {len(data)} bytes do not fit in char[{length}]")
    return data + bytes(length - len(data))


if TYPE_CHECKING:
    class _ArrayBase(ctypes.Structure):
        """What type checkers see: a ctypes type whose elements are ints.  (mypy's
        ctypes plugin cannot analyse a subclass of ``Array`` that defines ``raw``.)"""

        _length_: int

        def __len__(self) -> int: ...
        @overload
        def __getitem__(self, index: int) -> int: ...
        @overload
        def __getitem__(self, index: slice) -> List[int]: ...
        def __getitem__(self, index: Any) -> Any: ...
        def __setitem__(self, index: int, value: int) -> None: ...
        def __iter__(self) -> Iterator[int]: ...
        def __bytes__(self) -> bytes: ...
else:
    _ArrayBase = ctypes.Array


class CharArray(_ArrayBase):
    """A C ``char[N]``: see the module docstring for the rules."""

    _type_ = ctypes.c_ubyte
    _length_ = 0

    @property
    def raw(self) -> bytes:
        """All N bytes (a copy)."""
        return bytes(self)

    @raw.setter
    def raw(self, value: BytesLike) -> None:
        self._write(value)

    @property
    def value(self) -> bytes:
        """The C string: the bytes before the first NUL (a copy)."""
        data = bytes(self)
        end = data.find(0)
        return data if end < 0 else data[:end]

    @value.setter
    def value(self, value: BytesLike) -> None:
        self._write(value)

    def _write(self, value: Any) -> None:
        n = self._length_
        _memmove(_addressof(self), char_bytes(value, n), n)

    def __eq__(self, other: object) -> bool:
        """Equal to the bytes that, written here, leave it as it is: ``a == b``
        holds right after ``a = b`` (``buf == b"abc"`` for ``abc`` and NULs)."""
        if isinstance(other, (bytes, bytearray, memoryview, CharArray)):
            data = bytes(other)
            n = self._length_
            return len(data) <= n and bytes(self) == data + bytes(n - len(data))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like bytearray

    def __repr__(self) -> str:
        return f"char[{self._length_}]({bytes(self)!r})"



@functools.lru_cache(maxsize=None)
def char_array(length: int) -> Type[CharArray]:
    """The :class:`CharArray` class of ``char[length]`` (one class per length)."""
    return type(f"char_{length}", (CharArray,), {"_length_": length, "__module__": __name__})
