"""Map-in-map (``ARRAY_OF_MAPS``, ``HASH_OF_MAPS``) and maps made from Python.

An outer map's values are other maps.  BPF sees the inner map; user space
writes an inner map's *fd* and reads back its *id* (the kernel's rule).
Here an outer map reads back :class:`OwnedMap` objects (the id reopened as
an fd) typed like the declared inner map, and takes any map (or fd) as a
value.

The inner map's shape (type, key and value size, flags, and for the kernel
``max_entries`` unless ``BPF_F_INNER_MAP``) is fixed when the outer map is
created: libbpf builds a template from ``__array(values, struct inner)``, or
takes ``outer.inner_map = m`` before load (``bpf_map__set_inner_map_fd``).
``outer.create_inner()`` makes a new map of exactly that shape, typed with the
generated key and value classes, ready to be inserted.

:class:`OwnedMap` is the ``Map`` API over an fd this process owns:
``Map.create(...)``, ``OwnedMap.from_id(id)``.  It closes its fd on
``close()``, on leaving a ``with`` block, or when garbage-collected.
"""

from __future__ import annotations

import ctypes
import os
import weakref
from types import SimpleNamespace
from typing import Any, List, NamedTuple, Optional

from . import _libbpf
from .closing import Closing
from .codec import Codec
from .errors import ClosedError, Error
from .maps import Map

__all__ = ["MapInMap", "OwnedMap",
           "MapShape", "create_map"]



class MapShape(NamedTuple):
    """What the kernel fixes about a map: enough to create another like it."""

    type: int
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int


def _info(fd: int) -> _libbpf.MapInfo:
    info = _libbpf.MapInfo()
    size = ctypes.c_uint32(ctypes.sizeof(info))
    _libbpf.check(_libbpf.lib().bpf_obj_get_info_by_fd(fd, ctypes.byref(info),
                                                       ctypes.byref(size)),
                  f"reading the info of map fd {fd}")
    return info


class _Standalone:
    """What :class:`Map` asks of its skeleton, for a map outside any: it
    exists (so it counts as loaded) until :meth:`OwnedMap.close`, which clears
    ``_res.obj`` as a skeleton's destroy does, so that the element fast path
    (which caches the fd) goes back through ``fd`` and raises ClosedError."""

    loaded = _loaded = True

    def __init__(self) -> None:
        self._res = SimpleNamespace(obj=True, readers=weakref.WeakSet())

    @property
    def destroyed(self) -> bool:
        return not self._res.obj


class OwnedMap(Closing, Map[Any, Any]):
    """A map this process holds by fd, outside any skeleton."""

    def __init__(self, fd: int, key_type: Any = None, value_type: Any = None) -> None:
        self._fd = fd
        try:
            self._meta = _info(fd)
        except BaseException:
            self.close()
            raise
        name = self._meta.name.decode(errors="replace")
        super().__init__(_Standalone(), 0, name, key_type, value_type)

    @classmethod
    def from_id(cls, map_id: int, key_type: Any = None, value_type: Any = None) -> "OwnedMap":
        """Open the map with kernel id ``map_id`` (``bpf_map_get_fd_by_id``)."""
        fd = _libbpf.check(_libbpf.lib().bpf_map_get_fd_by_id(map_id),
                           f"opening map id {map_id}")
        return cls(fd, key_type, value_type)

    # -- metadata from the kernel, not from libbpf's struct bpf_map --------------------

    @property
    def _ptr(self) -> int:
        raise TypeError(f"{self._what()} belongs to no BPF object")

    @property
    def name(self) -> str:
        return self.ident

    @property
    def fd(self) -> int:
        if self._fd < 0:
            raise ClosedError(f"map {self.ident!r} was closed")
        return self._fd

    @property
    def id(self) -> int:
        return int(self._meta.id)

    @property  # type: ignore[misc]  # read-only here: the kernel fixed it
    def type(self) -> int:
        return int(self._meta.type)

    @property  # type: ignore[misc]  # read-only here: the kernel fixed it
    def key_size(self) -> int:
        return int(self._meta.key_size)

    @property  # type: ignore[misc]  # read-only here: the kernel fixed it
    def value_size(self) -> int:
        return int(self._meta.value_size)

    @property  # type: ignore[misc]
    def max_entries(self) -> int:
        return int(self._meta.max_entries)

    @property
    def map_flags(self) -> int:
        return int(self._meta.map_flags)

    def shape(self) -> MapShape:
        return MapShape(self.type, self.key_size, self.value_size, self.max_entries,
                        self.map_flags)

    def _live_fd(self, op: str) -> int:
        return self.fd

    def pin(self, path: str) -> None:
        _libbpf.check(_libbpf.lib().bpf_obj_pin(self.fd, path.encode()),
                      f"pinning {self._what()} at {path!r}")

    def unpin(self, path: Optional[str] = None) -> None:
        if path is None:
            raise TypeError("unpin() of a map made from Python needs the path")
        os.unlink(path)

    def close(self) -> None:
        self._skel._res.obj = False
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __repr__(self) -> str:
        if self._fd < 0:
            return f"<OwnedMap {self.ident} (closed)>"
        return f"<OwnedMap {self.ident} id={self.id} type={self.type} fd={self._fd}>"


def create_map(map_type: int, key_size: int, value_size: int, max_entries: int, *,
               name: str = "", map_flags: int = 0, key_type: Any = None,
               value_type: Any = None, inner_map: Any = None) -> "OwnedMap":
    """``bpf_map_create`` (``Map.create``); ``inner_map`` (a map or fd) for a
    map-in-map."""
    inner_fd = inner_map if isinstance(inner_map, int) else \
        (inner_map.fd if inner_map is not None else 0)
    o = _libbpf.opts(_libbpf.MapCreateOpts, map_flags=map_flags, inner_map_fd=inner_fd)
    fd = _libbpf.call(_libbpf.lib().bpf_map_create, f"creating map {name!r} (type {map_type})",
                      map_type, name.encode() or None, key_size, value_size, max_entries,
                      ctypes.byref(o))
    return OwnedMap(fd, key_type, value_type)


class MapInMap(Map[Any, Any]):
    """An outer map: values are maps (read back as :class:`OwnedMap`)."""

    def __init__(self, skel: Any, ptr: int, ident: str, key_type: Any = None,
                 value_type: Any = None, section: str = "") -> None:
        super().__init__(skel, ptr, ident, key_type, value_type, section)
        # libbpf frees its inner-map template once the outer map exists: read it now
        lib = _libbpf.lib()
        inner = lib.bpf_map__inner_map(ptr)
        self._shape: Optional[MapShape] = MapShape(
            lib.bpf_map__type(inner), lib.bpf_map__key_size(inner),
            lib.bpf_map__value_size(inner), lib.bpf_map__max_entries(inner),
            lib.bpf_map__map_flags(inner)) if inner else None
        types = {row[0]: row[1:] for row in getattr(skel, "_inner_maps_", ())}
        self.inner_key_type, self.inner_value_type = types.get(ident, (None, None))

    @property
    def inner_map(self) -> Optional[MapShape]:
        """The shape every inner map must have (``None`` if none was declared)."""
        return self._shape

    @inner_map.setter
    def inner_map(self, m: Any) -> None:
        """Before load: make ``m`` (a map that exists: one made with
        ``Map.create``, one of a loaded skeleton, or a map fd) the inner map's
        template, replacing the declared one (``bpf_map__set_inner_map_fd``)."""
        if isinstance(m, bool) or not isinstance(m, (int, Map)):
            raise TypeError(f"inner_map of {self._what()}: expected a map or a map fd, "
                            f"got {type(m).__name__}")
        fd = m if isinstance(m, int) else m.fd
        self._set(_libbpf.lib().bpf_map__set_inner_map_fd, "inner_map", fd)
        info = _info(fd)
        self._shape = MapShape(int(info.type), int(info.key_size), int(info.value_size),
                               int(info.max_entries), int(info.map_flags))
        if isinstance(m, Map) and (m.key_type is not None or m.value_type is not None):
            self.inner_key_type, self.inner_value_type = m.key_type, m.value_type

    def create_inner(self, name: str = "", max_entries: Optional[int] = None) -> OwnedMap:
        """A new map shaped and typed like the inner map, to insert with ``m[k] = new``."""
        shape = self._shape
        if shape is None:
            raise Error(f"{self._what()} declares no inner map: use Map.create(...)")
        return create_map(shape.type, shape.key_size, shape.value_size,
                          shape.max_entries if max_entries is None else max_entries,
                          name=name or f"{self.name[:10]}_in", map_flags=shape.map_flags,
                          key_type=self.inner_key_type, value_type=self.inner_value_type)

    def _inner(self, map_id: int) -> OwnedMap:
        try:
            return OwnedMap.from_id(map_id, self.inner_key_type, self.inner_value_type)
        except FileNotFoundError:  # removed between the lookup and the open
            raise KeyError(map_id) from None

    def _decode_value(self, vcodec: Codec, buf: Any, ncpu: int) -> Any:
        return self._inner(int.from_bytes(bytes(buf)[:4], "little"))

    def _decode_values(self, vc: Codec, values: Any, n: int, per_entry: int,
                       ncpu: int) -> List[Any]:
        return [self._inner(i) for i in vc.decode_many(values, n, per_entry)]

    def _encode_value(self, vcodec: Codec, value: Any, ncpu: int, per_entry: int) -> Any:
        fd = value if isinstance(value, int) else getattr(value, "fd", None)
        if not isinstance(fd, int):
            raise TypeError(f"value of {self._what()}: expected a map or a map fd, "
                            f"got {type(value).__name__}")
        return vcodec.encode(fd)
