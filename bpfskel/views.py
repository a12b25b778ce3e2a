"""Section views: the generated class of one global data section.

A view *is* a ctypes structure laid over the section's bytes, so reading a
global is one ctypes attribute read with no Python code of ours on the path.

Three states, one instance
    The skeleton hands out one view instance per section and changes its class
    as the object moves through its life, so a view an app captured earlier
    (``bss = skel.bss``) is never silently stale:

    * **writable** (the generated class): before load, every section except
      ``.kconfig`` overlays libbpf's initial-value buffer; after load, ``.data``,
      ``.bss`` and ``.data.X`` overlay the map's :class:`~bpfskel.Memory`.
    * **read-only** (:func:`readonly_class`): after load, ``.rodata``,
      ``.rodata.X`` and ``.kconfig`` are frozen by the kernel.  Their view holds a
      copy taken from the mapping at load: a frozen map never changes, so the
      copy is exact, and no ctypes object ever points into memory that could go
      away.  Every write raises :class:`~bpfskel.ReadOnlyError`, at every depth
      (field, nested struct, array element, bitfield), instead of faulting.

      A frozen section's view has its read-only class from open on, switched
      off by a :class:`Freeze` that the view and every struct or array taken
      from it share; load switches it on.  So a sub-object captured before load
      (``origin = skel.rodata.cfg.origin``) configures the program until load
      and refuses writes afterwards, like the view itself.

      What no class can catch: writes through raw addresses (``addressof``,
      ``from_buffer``, ``memoryview``, ``memmove`` into an array).  CPython
      3.11 gives ctypes objects no read-only buffer, so these land in the
      process's private copy: they never fault and never reach the kernel,
      whose frozen map (what BPF reads) stays as loaded.
    * **closed** (:func:`closed_class`): after destroy, any attribute access
      raises :class:`~bpfskel.ClosedError`.  Sub-objects captured earlier keep
      pointing at memory that stays mapped (the Memory replaces the map's pages
      with zero pages on close), so they read zeros and never crash.
"""

from __future__ import annotations

import ctypes
from typing import Any, ClassVar, Dict, Optional, Tuple

from .errors import ClosedError, ReadOnlyError
from .structs import Struct, fields_of

__all__ = ["SectionView", "Freeze", "readonly_class", "set_freeze", "closed_class"]


class SectionView(Struct):
    """Base of the generated ``sections.<ident>`` classes.

    The view of a writable section (``.bss``, ``.data``, ``.data.X``) is
    generated with ``__slots__ = ()``: it has no instance ``__dict__``, so a
    misspelt global (``skel.bss.countr = 0``) raises AttributeError instead of
    silently creating a Python attribute, at no cost on the hot path.  Frozen
    sections keep a ``__dict__``: their read-only machinery stores the
    :class:`Freeze` switch and cached sub-objects there.  Twins derived below
    add no ``__dict__`` of their own, so ``__class__`` swaps stay legal.
    """

    __slots__ = ()

    _section_: ClassVar[str] = ""

    def exchange(self, field: str, value: int, index: Optional[int] = None) -> int:
        """Atomically swap ``value`` into the 4- or 8-byte integer global
        ``field`` (``[index]`` of an array global) and return the old value:
        read-and-clear of a counter BPF keeps incrementing, losing nothing
        (see :mod:`bpfskel.atomic`).  A global itself named ``exchange``
        hides this method: call ``bpfskel.atomic.exchange(view, ...)``."""
        from .atomic import exchange

        return exchange(self, field, value, index)


_RO_CACHE: Dict[type, type] = {}
_CLOSED_CACHE: Dict[Tuple[type, str], type] = {}
_addressof = ctypes.addressof


class Freeze:
    """The switch shared by a frozen section's view and its sub-objects.

    ``frozen`` is False from open to load (the view configures the program)
    and True from load on.  An instance of a read-only class carries the
    switch of the object it was taken from; one without a switch is frozen.
    """

    __slots__ = ("frozen",)

    def __init__(self, frozen: bool = False) -> None:
        self.frozen = frozen

    def __repr__(self) -> str:
        return f"<Freeze {'on' if self.frozen else 'off'}>"


def _refuse(what: str) -> ReadOnlyError:
    return ReadOnlyError(f"{what} (the map is frozen after load)")


def _is_frozen(obj: Any) -> bool:
    switch = obj.__dict__.get("_freeze_")
    return switch is None or switch.frozen


def _adopt(sub: Any, owner: Any) -> Any:
    # A sub-object shares the owner's bytes: keep the owner (and so the memory
    # under it) alive, and share its switch.
    d = sub.__dict__
    d["_b_owner"] = owner
    d["_freeze_"] = owner.__dict__.get("_freeze_")
    return sub


def set_freeze(view: Any, switch: Freeze) -> None:
    """Give a read-only view (made with ``readonly_class(cls).from_buffer``)
    the switch that decides when it stops taking writes."""
    view.__dict__["_freeze_"] = switch


def _wrapped(ftype: Any) -> bool:
    # Aggregates, char[N] included, get read-only twins.
    return issubclass(ftype, (ctypes.Structure, ctypes.Union, ctypes.Array))


class _ReadOnlyMember:
    """A struct, union or array member of a read-only class.

    A non-data descriptor: the first read builds the read-only sub-object and
    stores it in the instance's ``__dict__``, which answers every later read
    (the memory under a view never moves).  So ``rodata.cfg.origin.x`` costs a
    dict hit per level, less than ctypes' own sub-object per level.  Writes go
    through the class's ``__setattr__``, which refuses or forwards them.
    """

    __slots__ = ("name", "offset", "twin")

    def __init__(self, name: str, offset: int, ftype: type) -> None:
        self.name = name
        self.offset = offset
        self.twin: Any = readonly_class(ftype)

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        sub = _adopt(self.twin.from_address(_addressof(obj) + self.offset), obj)
        obj.__dict__[self.name] = sub
        return sub


def _ro_array(cls: Any) -> type:
    elem: Any = cls._type_
    size = ctypes.sizeof(elem)
    etwin: Any = readonly_class(elem) if issubclass(
        elem, (ctypes.Structure, ctypes.Union, ctypes.Array)) else None
    length: int = cls._length_
    base_get, base_set = cls.__getitem__, cls.__setitem__

    def getitem(self: Any, index: Any) -> Any:
        if isinstance(index, slice):
            return [getitem(self, i) for i in range(*index.indices(length))]
        if etwin is None:
            return base_get(self, index)
        if index < 0:
            index += length
        if not 0 <= index < length:
            raise IndexError("invalid index")
        return _adopt(etwin.from_address(_addressof(self) + index * size), self)

    def setitem(self: Any, index: Any, value: Any) -> None:
        if _is_frozen(self):
            raise _refuse(f"element of {cls.__name__}")
        base_set(self, index, value)

    base_setattr = cls.__setattr__

    def setattr_(self: Any, name: str, value: Any) -> None:  # char arrays: .value, .raw
        if _is_frozen(self):
            raise _refuse(f"{cls.__name__}.{name}")
        base_setattr(self, name, value)

    return type(f"readonly_{cls.__name__}", (cls,), {
        "__getitem__": getitem, "__setitem__": setitem, "__setattr__": setattr_,
        "_readonly_twin_": True, "__slots__": ()})


def readonly_class(cls: type) -> type:
    """The read-only twin of a generated class or ctypes array type.

    A subclass, so ``isinstance`` still holds, whose writes at any depth raise
    :class:`~bpfskel.ReadOnlyError` once the instance's :class:`Freeze` is on.
    Struct, union and array members are returned as read-only twins too;
    scalars are the inherited ctypes descriptors, read at plain ctypes speed.
    """
    if cls.__dict__.get("_readonly_twin_"):
        return cls
    got = _RO_CACHE.get(cls)
    if got is not None:
        return got
    if issubclass(cls, ctypes.Array):
        got = _ro_array(cls)
    elif issubclass(cls, (ctypes.Structure, ctypes.Union)):
        ns: Dict[str, Any] = {"_readonly_twin_": True, "__slots__": ()}
        shadowed: Dict[str, Any] = {}
        for f in cls.__dict__.get("_fields_", ()):
            name, ftype = f[0], f[1]
            if _wrapped(ftype):
                ns[name] = _ReadOnlyMember(name, getattr(cls, name).offset, ftype)
                shadowed[name] = getattr(cls, name)
        _promote_anonymous(cls, cls, 0, ns, shadowed)
        base_setattr = cls.__setattr__
        # what a write may name: C members (promoted ones included), accessors
        members = frozenset(fields_of(cls))

        def setattr_(self: Any, name: str, value: Any) -> None:
            if name not in members:  # a misspelt setting must not become a new attribute
                raise AttributeError(f"{cls.__name__!r} has no member {name!r}")
            if _is_frozen(self):
                raise _refuse(f"{cls.__name__}.{name}")
            desc = shadowed.get(name)
            if desc is not None:  # an aggregate member: the ctypes field writes it
                desc.__set__(self, value)
            else:
                base_setattr(self, name, value)

        ns["__setattr__"] = setattr_
        got = type(cls.__name__, (cls,), ns)
        got.__qualname__ = cls.__qualname__
        got.__module__ = cls.__module__
    else:
        return cls  # a scalar: read as a Python value, nothing to protect
    _RO_CACHE[cls] = got
    return got


def _promote_anonymous(top: type, cls: type, base: int, ns: Dict[str, Any],
                       shadowed: Dict[str, Any]) -> None:
    """Aggregate members reached through anonymous members, at any nesting,
    need read-only twins too (ctypes promotes them as writable descriptors)."""
    fields = dict((f[0], f[1]) for f in cls.__dict__.get("_fields_", ()))
    for anon in cls.__dict__.get("_anonymous_", ()):
        atype = fields[anon]
        off = base + getattr(cls, anon).offset
        for f in atype._fields_:
            name, ftype = f[0], f[1]
            if name in getattr(atype, "_anonymous_", ()):
                continue
            if _wrapped(ftype) and name not in ns:
                ns[name] = _ReadOnlyMember(name, off + getattr(atype, name).offset, ftype)
                shadowed[name] = getattr(top, name)
        _promote_anonymous(top, atype, off, ns, shadowed)


def closed_class(cls: type, why: str = "") -> type:
    """A twin of ``cls`` whose every attribute access raises ClosedError
    (``cls`` itself if it is one already, so closing twice is harmless).
    ``why`` replaces the message's "the skeleton ... was destroyed"."""
    if cls.__dict__.get("_closed_twin_"):
        return cls
    got = _CLOSED_CACHE.get((cls, why))
    if got is None:
        message = why or f"the skeleton owning this {cls.__name__} view was destroyed"

        def getattribute(self: Any, name: str) -> Any:
            if name in ("__class__", "__repr__"):
                return object.__getattribute__(self, name)
            raise ClosedError(message)

        def setattr_(self: Any, name: str, value: Any) -> None:
            getattribute(self, name)

        def repr_(self: Any) -> str:
            return f"<closed {cls.__name__} view>"

        def bytes_(self: Any) -> bytes:  # bytes(view) would read the zero pages
            return getattribute(self, "__bytes__")  # type: ignore[no-any-return]

        def item(self: Any, *args: Any) -> Any:  # arrays: indexing is a slot, not an attribute
            return getattribute(self, "__getitem__")

        ns: Dict[str, Any] = {
            "__getattribute__": getattribute, "__setattr__": setattr_, "__repr__": repr_,
            "__bytes__": bytes_, "_closed_twin_": True, "__slots__": ()}
        if issubclass(cls, ctypes.Array):
            ns.update(__getitem__=item, __setitem__=item, __len__=item, __iter__=item)
        got = type(f"closed_{cls.__name__}", (cls,), ns)
        _CLOSED_CACHE[(cls, why)] = got
    return got
