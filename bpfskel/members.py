"""Members whose writes need Python code: ``char[N]``, ``_Bool`` and enums.

Every other member of a generated class is ctypes' own field descriptor, so
reads and writes run no Python code of ours.  Three kinds need more:

* ``char[N]`` (:class:`CharField`): ctypes only takes an instance of the
  array type; we take bytes and NUL-pad them (:mod:`.chars`);
* ``_Bool`` (:class:`BoolField`): ctypes stores the truth value of anything,
  ``"no"`` included; we refuse what is not an int, as for every integer;
* enums (:class:`EnumField`): reads return the generated
  :class:`~.structs.CEnum`, writes take any int.

Arrays of the last two follow the same rule element by element
(:func:`bool_array`, :func:`enum_array`): ctypes would take any object into
a ``_Bool`` element and read enum elements as plain ints.

Each is a ``property`` whose getter is ctypes' descriptor (``char[N]`` and
``_Bool`` reads stay C code) or wraps it (enums).  They are installed by the
metaclass of :class:`~.structs.Struct` right after ``_fields_`` is set,
promoted members of anonymous structs and unions included.  A class lists
its enum members in ``_enums_`` (name -> enum class) before its ``_fields_``.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Generic,
    Iterator,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    overload,
)

from .chars import CharArray, char_bytes

if TYPE_CHECKING:
    from .chars import BytesLike

__all__ = ["CharField", "BoolField", "EnumField", "install_members", "ctypes_fields",
           "enum_ctype", "EnumArray", "BoolArray", "enum_array", "bool_array"]

_memmove = ctypes.memmove
_addressof = ctypes.addressof
E = TypeVar("E")


class _Member(property):
    offset: int
    size: int
    cfield: Any  # ctypes' descriptor (what promoting an anonymous member needs)


class CharField(_Member):
    """A ``char[N]`` member: reads return the live array, writes take bytes."""

    if TYPE_CHECKING:
        @overload
        def __get__(self, obj: None, owner: Any = None) -> "CharField": ...
        @overload
        def __get__(self, obj: object, owner: Any = None) -> CharArray: ...
        def __get__(self, obj: Any, owner: Any = None) -> Any: ...
        def __set__(self, obj: Any, value: BytesLike) -> None: ...


class BoolField(_Member):
    """A ``_Bool`` member: reads give a bool, writes take an int or bool."""

    if TYPE_CHECKING:
        @overload
        def __get__(self, obj: None, owner: Any = None) -> "BoolField": ...
        @overload
        def __get__(self, obj: object, owner: Any = None) -> bool: ...
        def __get__(self, obj: Any, owner: Any = None) -> Any: ...
        def __set__(self, obj: Any, value: int) -> None: ...


class EnumField(_Member, Generic[E]):
    """An enum member: reads give the generated enum, writes take any int."""

    if TYPE_CHECKING:
        @overload
        def __get__(self, obj: None, owner: Any = None) -> "EnumField[E]": ...
        @overload
        def __get__(self, obj: object, owner: Any = None) -> E: ...
        def __get__(self, obj: Any, owner: Any = None) -> Any: ...
        def __set__(self, obj: Any, value: int) -> None: ...


def _member(kind: Any, cfield: Any, get: Any, set_: Callable[[Any, Any], None],
            doc: str) -> _Member:
    f: _Member = kind(get, set_, None, doc)
    f.offset = cfield.offset
    f.size = cfield.size
    f.cfield = cfield
    return f


def _char_field(cfield: Any, arg: Any) -> _Member:
    offset, length = cfield.offset, arg

    def set_(self: Any, value: Any) -> None:
        _memmove(_addressof(self) + offset, char_bytes(value, length), length)

    return _member(CharField, cfield, cfield.__get__, set_, f"char[{length}]")


def _int_setter(cfield: Any, what: str) -> Callable[[Any, Any], None]:
    store = cfield.__set__

    def set_(self: Any, value: Any) -> None:
        if not isinstance(value, int):
            raise TypeError(f"{what}: an int is required, not {type(value).__name__}")
        store(self, value)

    return set_


def _bool_field(cfield: Any, arg: Any) -> _Member:
    return _member(BoolField, cfield, cfield.__get__, _int_setter(cfield, "_Bool"), "_Bool")


def _enum_field(cfield: Any, enum: Any) -> _Member:
    load = cfield.__get__

    def get(self: Any) -> Any:
        return enum(load(self))

    return _member(EnumField, cfield, get, _int_setter(cfield, enum.__name__),
                   f"enum {enum.__name__}")


@functools.lru_cache(maxsize=None)
def enum_ctype(ctype: Any, enum: Any) -> Any:
    """``ctype`` (a ctypes integer type) marked as holding ``enum``: a map key
    or value of this type decodes to the generated enum (:mod:`.codec`)."""
    return type(f"{enum.__name__}_{ctype.__name__}", (ctype,), {"_enum_": enum})


_MAKERS = {CharField: _char_field, BoolField: _bool_field, EnumField: _enum_field}


def _members(cls: Any, nested: bool = True) -> Iterator[Tuple[str, Any, Any]]:
    """(name, field class, argument) of every member of ``cls`` that needs one
    of our descriptors, promoted members of anonymous members included."""
    anonymous = cls.__dict__.get("_anonymous_", ())
    enums = cls.__dict__.get("_enums_", {})
    for f in cls.__dict__.get("_fields_", ()):
        name, ftype = f[0], f[1]
        if name in enums:
            yield name, EnumField, enums[name]
        elif isinstance(ftype, type) and issubclass(ftype, CharArray):
            yield name, CharField, ftype._length_
        elif ftype is ctypes.c_bool:
            yield name, BoolField, None
        elif nested and name in anonymous:
            yield from _members(ftype)


@contextlib.contextmanager
def ctypes_fields(fields: Any, anonymous: Optional[Sequence[str]] = None) -> Iterator[None]:
    """While ctypes lays out ``fields``: the anonymous members among them show
    ctypes' own descriptors, which it needs to promote their members.

    ``anonymous``: the names of the anonymous members (the class's
    ``_anonymous_``), when known; only their types are looked at, which keeps
    a generated module's import from walking every member type (start-up).
    """
    types = [f[1] for f in fields if isinstance(f[1], type)
             and (anonymous is None or f[0] in anonymous)]
    swapped = []
    while types:
        t = types.pop()
        for name, _, _ in _members(t, nested=False):
            desc = t.__dict__.get(name)
            if isinstance(desc, _Member):
                setattr(t, name, desc.cfield)
                swapped.append((t, name, desc))
        types.extend(f[1] for f in t.__dict__.get("_fields_", ())
                     if f[0] in t.__dict__.get("_anonymous_", ()))
    try:
        yield
    finally:
        for t, name, desc in swapped:
            setattr(t, name, desc)


def install_members(cls: Any) -> None:
    """Put our descriptor on each member of ``cls`` that needs one."""
    for name, kind, arg in _members(cls):
        desc = cls.__dict__.get(name)
        if desc is not None and not isinstance(desc, kind):
            setattr(cls, name, _MAKERS[kind](desc, arg))


# -- arrays of _Bool and of enums ------------------------------------------------------

if TYPE_CHECKING:
    class EnumArray(ctypes.Array[Any], Generic[E]):
        """What type checkers see of an ``enum e x[N]``: elements read as ``E``."""

        @overload
        def __getitem__(self, index: int) -> E: ...
        @overload
        def __getitem__(self, index: slice) -> "list[E]": ...
        def __getitem__(self, index: Any) -> Any: ...
        def __setitem__(self, index: Any, value: Any) -> None: ...
        def __iter__(self) -> Iterator[E]: ...

    class BoolArray(ctypes.Array[Any]):
        """What type checkers see of a ``_Bool x[N]``: elements read as ``bool``."""

        @overload
        def __getitem__(self, index: int) -> bool: ...
        @overload
        def __getitem__(self, index: slice) -> "list[bool]": ...
        def __getitem__(self, index: Any) -> Any: ...
        def __setitem__(self, index: Any, value: Any) -> None: ...
        def __iter__(self) -> Iterator[bool]: ...
else:
    class EnumArray(ctypes.Array):
        """Base of the ``enum e x[N]`` array types (:func:`enum_array`)."""

        _type_ = ctypes.c_int
        _length_ = 0

        def __class_getitem__(cls, item: Any) -> Any:
            return cls

    class BoolArray(ctypes.Array):
        """Base of the ``_Bool x[N]`` array types (:func:`bool_array`)."""

        _type_ = ctypes.c_bool
        _length_ = 0


def _checked_array(base: Any, ctype: Any, length: int, read: Callable[[Any], Any],
                   what: str) -> Any:
    """An array type of ``length`` ``ctype`` elements (the same bytes as
    ``ctype * length``) whose elements read through ``read`` and take ints
    only, as the scalar member of that type does."""
    get, put = ctypes.Array.__getitem__, ctypes.Array.__setitem__

    def check(value: Any) -> Any:
        if not isinstance(value, int):
            raise TypeError(f"{what}: an int is required, not {type(value).__name__}")
        return value

    def getitem(self: Any, index: Any) -> Any:
        if isinstance(index, slice):
            return [read(v) for v in get(self, index)]
        return read(get(self, index))

    def setitem(self: Any, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            put(self, index, [check(v) for v in value])
        else:
            put(self, index, check(value))

    return type(f"{what}_Array_{length}", (base,), {
        "_type_": ctype, "_length_": length, "__getitem__": getitem,
        "__setitem__": setitem, "__slots__": ()})


@functools.lru_cache(maxsize=None)
def bool_array(length: int) -> Any:
    """``_Bool[length]``: elements read as ``bool`` and take an int (stored
    as ``value != 0``), like a ``_Bool`` member; anything else raises TypeError."""
    return _checked_array(BoolArray, ctypes.c_bool, length, bool, "_Bool")


@functools.lru_cache(maxsize=None)
def enum_array(ctype: Any, enum: Any, length: int) -> Any:
    """``enum e x[length]`` stored as ``ctype``: elements read as ``enum`` and
    take any int, like an enum member."""
    return _checked_array(EnumArray, ctype, length, enum, enum.__name__)
