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
array type), so each ``char[N]`` member is a :class:`CharField`: a property
whose getter is ctypes' own field descriptor (C code, no copy) and whose
setter applies the rule above.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
from typing import TYPE_CHECKING, Any, Iterator, List, Optional, Tuple, Type, Union, overload

__all__ = ["BoolField", "CharArray", "CharField", "char_array", "install_char_fields",
           "ctypes_fields", "char_bytes"]

_memmove = ctypes.memmove
_memset = ctypes.memset
_addressof = ctypes.addressof

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


class CharField(property):
    """A ``char[N]`` member: reads return the live array (ctypes' own getter),
    writes follow the ``char[N]`` rule.  ``offset`` and ``size`` as ctypes'
    field descriptors have them."""

    offset: int
    size: int
    cfield: Any  # ctypes' descriptor (what promoting an anonymous member needs)

    if TYPE_CHECKING:  # what an instance read returns and a write takes
        @overload
        def __get__(self, obj: None, owner: Any = None) -> "CharField": ...
        @overload
        def __get__(self, obj: object, owner: Any = None) -> CharArray: ...
        def __get__(self, obj: Any, owner: Any = None) -> Any: ...
        def __set__(self, obj: Any, value: BytesLike) -> None: ...


class BoolField(property):
    """A ``_Bool`` member: ctypes' own getter; the setter refuses a non-int
    (ctypes would store the truth value of anything, ``"no"`` included)."""

    offset: int
    size: int
    cfield: Any

    if TYPE_CHECKING:
        @overload
        def __get__(self, obj: None, owner: Any = None) -> "BoolField": ...
        @overload
        def __get__(self, obj: object, owner: Any = None) -> bool: ...
        def __get__(self, obj: Any, owner: Any = None) -> Any: ...
        def __set__(self, obj: Any, value: int) -> None: ...


def _char_field(cfield: Any, length: int) -> property:
    offset = cfield.offset

    def set_(self: Any, value: Any) -> None:
        _memmove(_addressof(self) + offset, char_bytes(value, length), length)

    return _member(CharField, cfield, set_, f"char[{length}]")


def _bool_field(cfield: Any, length: int) -> property:
    store = cfield.__set__

    def set_(self: Any, value: Any) -> None:
        if not isinstance(value, int):
            raise TypeError(f"_Bool: an int or bool is required, not {type(value).__name__}")
        store(self, value)

    return _member(BoolField, cfield, set_, "_Bool")


def _member(kind: Any, cfield: Any, set_: Any, doc: str) -> property:
    f = kind(cfield.__get__, set_, None, doc)
    f.offset = cfield.offset
    f.size = cfield.size
    f.cfield = cfield
    return f  # type: ignore[no-any-return]


_KINDS = {"chars": (CharField, _char_field), "bool": (BoolField, _bool_field)}


def _checked(ftype: Any) -> Optional[Tuple[str, int]]:
    """The kind of member whose writes need Python code, with its length."""
    if isinstance(ftype, type) and issubclass(ftype, CharArray):
        return "chars", ftype._length_
    if ftype is ctypes.c_bool:
        return "bool", 1
    return None


def _char_members(cls: Any, nested: bool = True) -> Iterator[Tuple[str, str, int]]:
    """(name, kind, N) of every ``char[N]`` and ``_Bool`` member ctypes defines
    on ``cls``, promoted members of anonymous structs and unions included."""
    anonymous = cls.__dict__.get("_anonymous_", ())
    for f in cls.__dict__.get("_fields_", ()):
        name, ftype = f[0], f[1]
        kind = _checked(ftype)
        if kind is not None:
            yield name, kind[0], kind[1]
        elif nested and name in anonymous:
            yield from _char_members(ftype)


@contextlib.contextmanager
def ctypes_fields(fields: Any) -> Iterator[None]:
    """While ctypes lays out ``fields``: the anonymous members among them show
    ctypes' own descriptors, which it needs to promote their members."""
    types = [f[1] for f in fields if isinstance(f[1], type)]
    swapped = []
    while types:
        t = types.pop()
        for name, _, _ in _char_members(t, nested=False):
            desc = t.__dict__.get(name)
            if isinstance(desc, (CharField, BoolField)):
                setattr(t, name, desc.cfield)
                swapped.append((t, name, desc))
        types.extend(f[1] for f in t.__dict__.get("_fields_", ())
                     if f[0] in t.__dict__.get("_anonymous_", ()))
    try:
        yield
    finally:
        for t, name, desc in swapped:
            setattr(t, name, desc)


def install_char_fields(cls: Any) -> None:
    """Replace ctypes' descriptor of each ``char[N]`` member of ``cls``."""
    for name, kind, length in _char_members(cls):
        desc = cls.__dict__.get(name)
        field_class, make = _KINDS[kind]
        if desc is not None and not isinstance(desc, field_class):
            setattr(cls, name, make(desc, length))
