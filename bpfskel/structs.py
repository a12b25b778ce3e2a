"""Base classes and helpers that generated type classes build on.

Generated classes are plain ctypes Structures with ``_pack_ = 1`` and explicit
padding (see :mod:`.layout`), so that field access stays one ctypes attribute
read.  Only what ctypes cannot express goes through Python code here:
bitfields and 128-bit integers (:func:`add_accessors`) and C enums that accept
any value (:class:`CEnum`).
"""

from __future__ import annotations

import ctypes
import enum
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    ClassVar,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
)

from .chars import CharArray, char_array
from .members import BoolField, CharField, EnumField, ctypes_fields, enum_ctype, install_members

__all__ = ["Struct", "Union", "CEnum", "BoolField", "CharArray", "CharField", "EnumField",
           "char_array", "enum_ctype", "int128", "uint128", "add_accessors", "asdict",
           "check_layouts", "fields_of", "unmangle"]

AccessorSpec = Tuple[str, int, int, int, int, bool]  # name, offset, nbytes, shift, bits, signed


class _Repr:
    """What generated structs and unions share as Python values.

    * ``repr`` lists each C-visible member once.
    * Positional arguments fill the C members in order, never the explicit
      padding: ``flow(6, 1)`` is ``flow(proto=6, saddr=1)``.
    * ``==`` compares member values (as C's memberwise comparison would, and
      never the padding), and ``hash`` follows it, so instances work as dict
      keys (``dict(m.items())``); do not change one that is a key.
    * ``copy.copy``, ``copy.deepcopy`` and ``pickle`` give a detached, plain
      copy (of a live section view too: the copy no longer follows the map).
    * :func:`asdict` converts one into dicts and lists, recursively.
    """

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args:
            names = list(fields_of(type(self)))
            if len(args) > len(names):
                raise TypeError(f"{type(self).__name__}() takes at most {len(names)} "
                                f"positional arguments ({len(args)} given)")
            for name, value in zip(names, args):
                if name in kwargs:
                    raise TypeError(f"{type(self).__name__}() got multiple values for "
                                    f"{name!r}")
                kwargs[name] = value
        super().__init__(**kwargs)

    def __repr__(self) -> str:
        parts = []
        for name in fields_of(type(self)):
            try:
                value = getattr(self, name)
            except Exception as e:  # e.g. ClosedError on a destroyed view
                return f"<{type(self).__name__}: {e}>"
            if isinstance(value, CharArray):
                pass  # its repr shows every byte
            elif isinstance(value, ctypes.Array):
                value = list(value)
            parts.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    # (methods with C-impossible dunder names only: a C member may be called _key)
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Repr):
            return NotImplemented
        return _value_key(self) == _value_key(other)

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, _Repr):
            return NotImplemented
        return _value_key(self) != _value_key(other)

    def __hash__(self) -> int:
        return hash(_value_key(self))

    def __copy__(self) -> Any:
        cls: Any = _plain_class(type(self))
        return cls.from_buffer_copy(self)

    def __deepcopy__(self, memo: Any) -> Any:
        return self.__copy__()

    def __reduce__(self) -> Any:
        data = bytes(memoryview(self).cast("B"))  # type: ignore[arg-type]
        return (_rebuild, (_plain_class(type(self)), data))


def _value_key(obj: Any) -> Tuple[Any, ...]:
    return (_plain_class(type(obj)), _hashable(asdict(obj)))


def _rebuild(cls: Any, data: bytes) -> Any:
    return cls.from_buffer_copy(data)


def _plain_class(cls: type) -> type:
    """The generated class behind a read-only or closed twin (see views)."""
    for c in cls.__mro__:
        if not (c.__dict__.get("_readonly_twin_") or c.__dict__.get("_closed_twin_")):
            return c
    return cls  # pragma: no cover - object is never a twin


def _hashable(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple((k, _hashable(v)) for k, v in value.items())
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def asdict(obj: Any) -> Any:
    """A generated struct or union as a dict of its C members, recursively:
    nested structs become dicts, arrays lists, ``__int128`` elements ints;
    ints, enums and ``bytes`` stay as they are.  Padding is left out."""
    if isinstance(obj, (int128, uint128)):
        return obj.value
    if isinstance(obj, _Repr):
        return {name: asdict(getattr(obj, name)) for name in fields_of(type(obj))}
    if isinstance(obj, ctypes.Array):
        return [asdict(v) for v in obj]
    return obj


def _set_class_attr(base: Any) -> Callable[[Any, str, Any], None]:
    """``__setattr__`` of our ctypes metaclasses: after ``_fields_``, install
    :class:`CharField` on the ``char[N]`` members ctypes made descriptors for."""
    base_setattr = base.__setattr__

    def setattr_(cls: Any, name: str, value: Any) -> None:
        if name != "_fields_":
            base_setattr(cls, name, value)
            return
        with ctypes_fields(value, cls.__dict__.get("_anonymous_", ())):
            base_setattr(cls, name, value)
        install_members(cls)

    return setattr_


if TYPE_CHECKING:
    # What type checkers see.  ctypes' stubs give Structure and Union instances
    # a catch-all __getattr__/__setattr__, which would type a misspelt member
    # as Any; generated classes annotate every member, so they do without.
    from _ctypes import _CData
    from _ctypes import _PyCStructType as _CStructType
    from _ctypes import _UnionType as _CUnionType

    class _Typed(_CData):
        _fields_: ClassVar[Sequence[Tuple[Any, ...]]]
        _anonymous_: ClassVar[Sequence[str]]
        _pack_: ClassVar[int]
        _layout_: ClassVar[str]
        _enums_: ClassVar[Dict[str, Any]]  # enum members (bpfskel.members)
        _members_: ClassVar[Tuple[str, ...]]  # the C members, in order (fields_of)

        def __init__(self, *args: Any, **kw: Any) -> None: ...

    class Struct(_Repr, _Typed, metaclass=_CStructType):
        """Base of every generated struct: packed, padding explicit."""

    class Union(_Repr, _Typed, metaclass=_CUnionType):
        """Base of every generated union."""

else:
    _CStructType, _CUnionType = type(ctypes.Structure), type(ctypes.Union)

    class _StructType(_CStructType):
        __setattr__ = _set_class_attr(_CStructType)

    class _UnionType(_CUnionType):
        __setattr__ = _set_class_attr(_CUnionType)

    class Struct(_Repr, ctypes.Structure, metaclass=_StructType):
        """Base of every generated struct: packed, padding explicit."""

        __slots__ = ()  # subclasses decide: generated ones keep a __dict__ (see views)

        _pack_ = 1
        _layout_ = "ms"  # with _pack_, explicit for Python 3.14+; no effect before

    class Union(_Repr, ctypes.Union, metaclass=_UnionType):
        """Base of every generated union."""

        __slots__ = ()

        _pack_ = 1
        _layout_ = "ms"


def fields_of(cls: type) -> Iterator[str]:
    """User-visible member names of a generated class, in C order.

    The generator records them in ``_members_`` (promoted members of
    anonymous structs and unions included), so no role is told by a name:
    a C member called ``_pad_x`` or ``_size`` is a member like any other, and
    padding and storage fields are never listed.  A class written by hand,
    without ``_members_``, lists every field and accessor."""
    names = getattr(cls, "_members_", None)
    if names is None:
        found: List[str] = []
        for f in getattr(cls, "_fields_", ()):
            if f[0] in getattr(cls, "_anonymous_", ()):
                found.extend(fields_of(f[1]))
            else:
                found.append(f[0])
        found.extend(a[0] for a in getattr(cls, "_accessors_", ()))
        names = tuple(dict.fromkeys(found))
    return iter(names)


# -- bitfields and 128-bit integers ---------------------------------------------------

_string_at = ctypes.string_at
_memmove = ctypes.memmove
_addressof = ctypes.addressof


def _getter(offset: int, nbytes: int, shift: int, bits: int, signed: bool) -> Callable[[Any], int]:
    mask = (1 << bits) - 1
    sign = 1 << (bits - 1)

    def get(self: Any) -> int:
        raw = int.from_bytes(_string_at(_addressof(self) + offset, nbytes), "little")
        value = (raw >> shift) & mask
        return value - (sign << 1) if signed and value & sign else value

    return get


def _setter(offset: int, nbytes: int, shift: int, bits: int) -> Callable[[Any, int], None]:
    mask = ((1 << bits) - 1) << shift

    def set_(self: Any, value: int) -> None:
        if not isinstance(value, int):
            raise TypeError(f"an int is required, not {type(value).__name__}")
        addr = _addressof(self) + offset
        raw = int.from_bytes(_string_at(addr, nbytes), "little")
        raw = (raw & ~mask) | ((value << shift) & mask)  # truncates, like C and ctypes
        _memmove(addr, raw.to_bytes(nbytes, "little"), nbytes)

    return set_


def add_accessors(cls: type, specs: Sequence[AccessorSpec]) -> None:
    """Install int properties for bitfields and 128-bit members of ``cls``.

    Each spec is ``(name, offset, nbytes, shift, bits, signed)``: the value is
    ``bits`` bits starting ``shift`` bits into the little-endian storage of
    ``nbytes`` bytes at ``offset``.  Installed with ``setattr`` so that C names
    starting with ``__`` are not mangled.
    """
    for name, offset, nbytes, shift, bits, signed in specs:
        prop = property(_getter(offset, nbytes, shift, bits, signed),
                        _setter(offset, nbytes, shift, bits),
                        doc=f"{bits}-bit {'signed' if signed else 'unsigned'} integer")
        setattr(cls, name, prop)
    cls._accessors_ = tuple(specs)  # type: ignore[attr-defined]


class int128(Struct):
    """A ``__int128`` array element; ``.value`` is a Python int."""

    _members_ = ("value",)
    _fields_ = [("_raw", ctypes.c_ubyte * 16)]
    value: int

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value})"


class uint128(Struct):
    """An ``unsigned __int128`` array element; ``.value`` is a Python int."""

    _members_ = ("value",)
    _fields_ = [("_raw", ctypes.c_ubyte * 16)]
    value: int

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value})"


add_accessors(int128, [("value", 0, 16, 0, 128, True)])
add_accessors(uint128, [("value", 0, 16, 0, 128, False)])


# -- enums ----------------------------------------------------------------------------


class CEnum(enum.IntEnum):
    """A C enum: duplicate values are aliases, and any int converts.

    ``color(7)`` for a value that is not an enumerator returns a pseudo-member
    whose ``name`` is ``None``, instead of raising, because C lets a variable of
    enum type hold any value.
    """

    @classmethod
    def _missing_(cls, value: object) -> Optional["CEnum"]:
        if not isinstance(value, int):
            return None
        pseudo = int.__new__(cls, value)
        pseudo._name_ = None  # type: ignore[assignment]
        pseudo._value_ = value
        return cls._value2member_map_.setdefault(value, pseudo)  # type: ignore[return-value]

    def __repr__(self) -> str:
        if self._name_ is None:
            return f"<{type(self).__name__}: {int(self)}>"
        return f"<{type(self).__name__}.{self._name_}: {int(self)}>"

    def __str__(self) -> str:
        return repr(self) if self._name_ is None else f"{type(self).__name__}.{self._name_}"


# -- import-time checks and the embedded object -------------------------------------------


def unmangle(namespace: type, names: Iterable[str]) -> None:
    """Rebind ``_<ns>__x`` to ``__x``: Python mangled it inside the class body."""
    prefix = "_" + namespace.__name__.lstrip("_")
    for name in names:
        setattr(namespace, name, namespace.__dict__[prefix + name])
        delattr(namespace, prefix + name)


def check_layouts(table: Iterable[Tuple[type, int, Sequence[Tuple[str, int]]]]) -> None:
    """Verify ``sizeof`` and field offsets against the numbers taken from BTF.

    Cheap (one ``getattr`` per field) and run once at import, so a ctypes that
    lays a class out differently fails loudly instead of corrupting memory.
    """
    sizeof = ctypes.sizeof
    for cls, size, offsets in table:
        if sizeof(cls) != size:
            raise ImportError(f"{cls.__qualname__}: ctypes size {sizeof(cls)} != BTF size {size}")
        for name, offset in offsets:
            got = getattr(cls, name).offset
            if got != offset:
                raise ImportError(f"{cls.__qualname__}.{name}: ctypes offset {got} "
                                  f"!= BTF offset {offset}")
