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
    * **closed** (:func:`closed_class`): after destroy, any attribute access
      raises :class:`~bpfskel.ClosedError`.  Sub-objects captured earlier keep
      pointing at memory that stays mapped (the Memory replaces the map's pages
      with zero pages on close), so they read zeros and never crash.
"""

from __future__ import annotations

import ctypes
from typing import Any, ClassVar, Dict, Type

from .errors import ClosedError, ReadOnlyError
from .structs import Struct

__all__ = ["SectionView", "readonly_class", "closed_class"]


class SectionView(Struct):
    """Base of the generated ``sections.<ident>`` classes."""

    _section_: ClassVar[str] = ""


_RO_CACHE: Dict[type, type] = {}
_CLOSED_CACHE: Dict[type, type] = {}


def _refuse(what: str) -> ReadOnlyError:
    return ReadOnlyError(f"{what} (the map is frozen after load)")


def _ro_field(name: str, offset: int, ftype: type) -> property:
    twin = readonly_class(ftype)

    def get(self: Any) -> Any:
        return twin.from_address(ctypes.addressof(self) + offset)._keep(self)

    return property(get, doc=f"read-only {name}")


def _ro_array(cls: Type[ctypes.Array]) -> type:  # type: ignore[type-arg]
    elem = cls._type_
    size = ctypes.sizeof(elem)
    wrap = issubclass(elem, (ctypes.Structure, ctypes.Union, ctypes.Array))
    etwin = readonly_class(elem) if wrap else None
    length = cls._length_

    def getitem(self: Any, index: Any) -> Any:
        if isinstance(index, slice):
            return [getitem(self, i) for i in range(*index.indices(length))]
        if etwin is None:
            return cls.__getitem__(self, index)
        if index < 0:
            index += length
        if not 0 <= index < length:
            raise IndexError("invalid index")
        return etwin.from_address(ctypes.addressof(self) + index * size)._keep(self)

    def setitem(self: Any, index: Any, value: Any) -> None:
        raise _refuse(f"element of {cls.__name__}")

    return type(f"readonly_{cls.__name__}", (cls,), {
        "__getitem__": getitem, "__setitem__": setitem,
        "_keep": _keep})


def _keep(self: Any, owner: Any) -> Any:
    # A sub-object shares the owner's bytes; keep the owner alive with it.
    self._b_owner = owner
    return self


def readonly_class(cls: type) -> type:
    """The read-only twin of a generated class or ctypes array type."""
    got = _RO_CACHE.get(cls)
    if got is not None:
        return got
    if issubclass(cls, ctypes.Array):
        got = _ro_array(cls)
    elif issubclass(cls, (ctypes.Structure, ctypes.Union)):
        ns: Dict[str, Any] = {"_keep": _keep}
        for f in cls.__dict__.get("_fields_", ()):
            name, ftype = f[0], f[1]
            if issubclass(ftype, (ctypes.Structure, ctypes.Union, ctypes.Array)) and not (
                    issubclass(ftype, ctypes.Array) and ftype._type_ is ctypes.c_char):
                ns[name] = _ro_field(name, getattr(cls, name).offset, ftype)
        _promote_anonymous(cls, ns)
        for spec in getattr(cls, "_accessors_", ()):
            base_prop = getattr(cls, spec[0])
            ns[spec[0]] = property(base_prop.fget, doc=base_prop.__doc__)

        def setattr_(self: Any, name: str, value: Any) -> None:
            if name == "_b_owner":
                object.__setattr__(self, name, value)
                return
            raise _refuse(f"{cls.__name__}.{name}")

        ns["__setattr__"] = setattr_
        got = type(cls.__name__, (cls,), ns)
        got.__qualname__ = cls.__qualname__
        got.__module__ = cls.__module__
    else:
        return cls  # a scalar: read as a Python value, nothing to protect
    _RO_CACHE[cls] = got
    return got


def _promote_anonymous(cls: type, ns: Dict[str, Any]) -> None:
    """Struct-valued members reached through anonymous members need read-only
    twins too (ctypes promotes them as plain writable descriptors)."""
    for anon in cls.__dict__.get("_anonymous_", ()):
        atype = dict((f[0], f[1]) for f in cls._fields_)[anon]  # type: ignore[attr-defined]
        base = getattr(cls, anon).offset
        for f in atype._fields_:
            name, ftype = f[0], f[1]
            if name in getattr(atype, "_anonymous_", ()):
                continue
            if issubclass(ftype, (ctypes.Structure, ctypes.Union, ctypes.Array)) and not (
                    issubclass(ftype, ctypes.Array) and ftype._type_ is ctypes.c_char):
                ns.setdefault(name, _ro_field(name, base + getattr(atype, name).offset, ftype))


def closed_class(cls: type) -> type:
    """A twin of ``cls`` whose every attribute access raises ClosedError."""
    got = _CLOSED_CACHE.get(cls)
    if got is None:
        def getattribute(self: Any, name: str) -> Any:
            if name in ("__class__", "__repr__"):
                return object.__getattribute__(self, name)
            raise ClosedError(f"the skeleton owning this {cls.__name__} view was destroyed")

        def setattr_(self: Any, name: str, value: Any) -> None:
            getattribute(self, name)

        def repr_(self: Any) -> str:
            return f"<closed {cls.__name__} view>"

        got = type(f"closed_{cls.__name__}", (cls,), {
            "__getattribute__": getattribute, "__setattr__": setattr_, "__repr__": repr_})
        _CLOSED_CACHE[cls] = got
    return got
