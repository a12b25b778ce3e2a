"""Maps of an opened object: the libbpf ``struct bpf_map``, its fd, and a typed
dict-like API over the ``bpf()`` map commands.

Semantics follow the kernel's, spelled the way Python spells them:

* ``m[k]`` is ``BPF_MAP_LOOKUP_ELEM`` and raises ``KeyError`` for an absent
  key; ``m[k] = v`` is an update with ``BPF_ANY``; ``del m[k]`` a delete;
  ``m.set(k, v, BPF_NOEXIST)`` gives the other flags.
* Array maps have every index from 0 to ``max_entries - 1``; an index outside
  raises ``IndexError`` before any syscall, and ``clear()`` zeroes them
  (their elements cannot be deleted).
* Per-CPU maps take and return one value per *possible* CPU, as a list
  (``libbpf_num_possible_cpus``), each slot ``round_up(value_size, 8)`` bytes
  in the kernel's buffer.
* Iteration, ``items()``, ``values()``, ``update()`` and ``clear()`` use the
  batch commands when the map type has them (see :mod:`bpfskel.batch`) and
  fall back to ``get_next_key`` otherwise (:mod:`bpfskel.mapbulk`).  Like any walk of a live map, an
  iteration is not a snapshot: entries BPF adds or removes meanwhile may or
  may not be seen.

Keys and values are converted by :class:`~bpfskel.codec.Codec`; returned
values are always copies.
"""

from __future__ import annotations

import ctypes
import errno
import struct
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Optional,
    Tuple,
    Type,
    TypeVar,
    overload,
)

from . import _libbpf
from .codec import Codec
from .errors import (
    ENOTSUPP,
    ClosedError,
    NotSupportedError,
    QueueEmptyError,
    StateError,
    libbpf_error,
)
from .mapbulk import WholeMap
from .uapi import (
    ARRAY_MAP_TYPES,
    BPF_ANY,
    BPF_EXIST,
    BPF_F_LOCK,
    BPF_NOEXIST,
    PERCPU_MAP_TYPES,
    MapType,
)

if TYPE_CHECKING:
    from .mapinmap import OwnedMap

__all__ = ["Map", "MapType", "BPF_ANY", "BPF_NOEXIST", "BPF_EXIST", "BPF_F_LOCK",
           "QueueEmptyError"]

_PERCPU = PERCPU_MAP_TYPES
_ARRAYS = ARRAY_MAP_TYPES
_QUEUES = frozenset({MapType.QUEUE, MapType.STACK})
_NOT_DICTS = _QUEUES | {MapType.RINGBUF, MapType.PERF_EVENT_ARRAY, MapType.ARENA}
_MISSING: Any = object()
# a struct format of an integer value -> the ctypes integer m[k] reads it through
_INT_CTYPES = {"?": ctypes.c_bool, "b": ctypes.c_int8, "B": ctypes.c_uint8,
               "h": ctypes.c_int16, "H": ctypes.c_uint16, "i": ctypes.c_int32,
               "I": ctypes.c_uint32, "l": ctypes.c_long, "L": ctypes.c_ulong,
               "q": ctypes.c_int64, "Q": ctypes.c_uint64}


def _percpu_slot(value_size: int) -> int:
    """Bytes per CPU in a per-CPU map's value buffer: the kernel rounds to 8."""
    return (value_size + 7) & ~7


def possible_cpus() -> int:
    """Possible CPUs as libbpf counts them (``/sys/devices/system/cpu/possible``)."""
    return int(_libbpf.check(_libbpf.lib().libbpf_num_possible_cpus(),
                             "counting possible CPUs"))


if TYPE_CHECKING:
    from .perfbuf import PerfBuffer
    from .ringbuf import RingBuffer

_R = TypeVar("_R")
K = TypeVar("K")
V = TypeVar("V")
E = TypeVar("E")


class Map(WholeMap[K, V]):
    """One map of a skeleton: metadata, and a mapping of keys to values.

    ``key_type``/``value_type`` are the generated classes from the map's BTF
    (or ctypes integer types), ``None`` without BTF.
    """

    def __init__(self, skel: Any, ptr: int, ident: str, key_type: Any = None,
                 value_type: Any = None, section: str = "") -> None:
        self._skel = skel
        self._raw_ptr = ptr
        self.ident = ident
        self.key_type = key_type
        self.value_type = value_type
        self.section = section  # the global data section for .data/.bss/..., else ""
        self._codecs: Optional[Tuple[Codec, Codec, int, int]] = None
        self._batch_ok = True
        self._pinned_here = False  # pin() set libbpf's pin path; unpin() clears it
        self._res = skel._res  # its ``obj`` is None once the skeleton is destroyed
        self._live: Optional[Tuple[int, Codec, Codec, int, int]] = None
        self._get: Optional[Tuple[Any, ...]] = None  # m[k], see _go_live
        self._array_len = 0  # max_entries of an array map (for IndexError), else 0

    @property
    def _ptr(self) -> int:
        # libbpf frees the struct with its object: never hand it out after destroy()
        if self._skel.destroyed:
            raise ClosedError(f"map {self.ident!r}: the skeleton was destroyed")
        return int(self._raw_ptr)

    @staticmethod
    def create(map_type: int, key_size: int, value_size: int, max_entries: int,
               **opts: Any) -> "OwnedMap":
        """A new map owned by this process, outside any skeleton
        (:class:`bpfskel.mapinmap.OwnedMap`: ``name``, ``map_flags``,
        ``key_type``, ``value_type``, ``inner_map``)."""
        from .mapinmap import create_map

        return create_map(map_type, key_size, value_size, max_entries, **opts)

    # -- metadata ----------------------------------------------------------------

    @property
    def name(self) -> str:
        return _libbpf.cstr(_libbpf.lib().bpf_map__name(self._ptr))

    @property
    def fd(self) -> int:
        return int(_libbpf.lib().bpf_map__fd(self._ptr))

    @property
    def type(self) -> int:
        """``enum bpf_map_type``; settable before load (``bpf_map__set_type``),
        e.g. to turn a perf event array into a ring buffer."""
        return int(_libbpf.lib().bpf_map__type(self._ptr))

    @type.setter
    def type(self, value: int) -> None:
        self._set(_libbpf.lib().bpf_map__set_type, "type", int(value))

    @property
    def key_size(self) -> int:
        return int(_libbpf.lib().bpf_map__key_size(self._ptr))

    @key_size.setter
    def key_size(self, size: int) -> None:
        self._set(_libbpf.lib().bpf_map__set_key_size, "key_size", int(size))

    @property
    def autocreate(self) -> bool:
        """Whether load creates this map (``bpf_map__set_autocreate``); a map
        left out must only be used by programs that are not loaded, or in code
        the verifier proves dead."""
        return bool(_libbpf.lib().bpf_map__autocreate(self._ptr))

    @autocreate.setter
    def autocreate(self, value: bool) -> None:
        self._set(_libbpf.lib().bpf_map__set_autocreate, "autocreate", bool(value))

    @property
    def pin_path(self) -> Optional[str]:
        """Where load pins (or reuses a map already pinned); None if nowhere."""
        raw = _libbpf.lib().bpf_map__pin_path(self._ptr)
        return raw.decode() if raw else None

    @pin_path.setter
    def pin_path(self, path: Optional[str]) -> None:
        self._set(_libbpf.lib().bpf_map__set_pin_path, "pin_path",
                  path.encode() if path else None)

    def reuse_fd(self, fd: int) -> None:
        """Before load: use the existing map ``fd`` (it must match this map's
        type, sizes and flags) instead of creating one (``bpf_map__reuse_fd``,
        which dups it: the caller keeps ``fd``)."""
        self._set(_libbpf.lib().bpf_map__reuse_fd, "the map fd", int(fd))

    def _set_inner_map(self, inner: Any) -> None:
        fd = inner if isinstance(inner, int) else inner.fd
        self._set(_libbpf.lib().bpf_map__set_inner_map_fd, "inner_map", int(fd))

    inner_map = property(fset=_set_inner_map, doc="""Before load, for a map-in-map:
        the template inner map (a Map or a map fd) the kernel checks every
        inserted map against (``bpf_map__set_inner_map_fd``; write-only).""")

    def _set(self, fn: Any, what: str, value: Any) -> None:
        if self._skel._loaded:  # not every libbpf setter checks (reuse_fd would swap fds)
            raise libbpf_error(errno.EBUSY, f"setting {what} of map {self.name!r}: "
                               "the object is already loaded")
        _libbpf.call(fn, f"setting {what} of map {self.name!r}", self._ptr, value)
        self._codecs = None

    @property
    def value_size(self) -> int:
        return int(_libbpf.lib().bpf_map__value_size(self._ptr))

    @value_size.setter
    def value_size(self, size: int) -> None:
        """Resize before load (``bpf_map__set_value_size``).  For a global data
        section this needs libbpf >= 1.3, and the section's view is rebuilt so
        that its final array variable spans the new size."""
        lib = _libbpf.lib()
        if self.section:
            _libbpf.require_libbpf((1, 3), f"resizing the {self.section} section")
            self._skel._check_resize(self.section, size)
        _libbpf.call(lib.bpf_map__set_value_size, f"resizing map {self.name!r}",
                     self._ptr, size)
        self._codecs = self._live = self._get = None
        if self.section:
            self._skel._section_resized(self.section)

    @property
    def max_entries(self) -> int:
        return int(_libbpf.lib().bpf_map__max_entries(self._ptr))

    @max_entries.setter
    def max_entries(self, n: int) -> None:
        _libbpf.call(_libbpf.lib().bpf_map__set_max_entries,
                     f"setting max_entries of map {self.name!r}", self._ptr, n)

    @property
    def map_flags(self) -> int:
        return int(_libbpf.lib().bpf_map__map_flags(self._ptr))

    @property
    def percpu(self) -> bool:
        return self.type in _PERCPU

    def __repr__(self) -> str:
        if self._skel.destroyed:
            return f"<Map {self.ident} (destroyed)>"
        return f"<Map {self.ident} type={self.type} fd={self.fd}>"

    # -- plumbing ----------------------------------------------------------------

    def _what(self) -> str:
        return f"map {self.name!r}"

    def _live_fd(self, op: str) -> int:
        fd = self.fd
        if fd < 0:
            self._skel._check_loaded(op)
            raise StateError(f"cannot {op}: {self._what()} has no fd (not created at load)")
        return fd

    def _setup(self) -> Tuple[Codec, Codec, int, int]:
        """(key codec, value codec, per-entry value bytes, CPUs or 0)."""
        if self._codecs is None:
            vsize = self.value_size
            ncpu = possible_cpus() if self.percpu else 0
            per_entry = _percpu_slot(vsize) * ncpu if ncpu else vsize
            self._codecs = (Codec(self.key_type, self.key_size, f"key of {self._what()}"),
                            Codec(self.value_type, vsize, f"value of {self._what()}"),
                            per_entry, ncpu)
        return self._codecs

    def _dict_op(self, op: str) -> Tuple[int, Codec, Codec, int, int]:
        """(fd, key codec, value codec, per-entry value bytes, CPUs or 0)."""
        live = self._live
        if live is None or not self._res.obj:
            live = self._go_live(op)
        return live

    def _go_live(self, op: str) -> Tuple[int, Codec, Codec, int, int]:
        """What every element operation needs, read from libbpf once: after
        load, none of it (fd, type, sizes, max_entries) can change, so a lookup
        costs one syscall and no libbpf metadata calls.  Before load nothing is
        cached (``value_size``/``max_entries`` may still be set)."""
        mtype = self.type  # raises ClosedError once destroyed
        if mtype in _NOT_DICTS:
            raise TypeError(f"{self._what()} (type {mtype}) has no keys: {op} is "
                            "for hash, array and LPM trie maps")
        fd = self._live_fd(op)
        live = (fd, *self._setup())
        self._array_len = self.max_entries if mtype in _ARRAYS else 0
        if self._skel.loaded:
            self._live = live
            _fd, kc, vc, per_entry, ncpu = live
            slot = _percpu_slot(vc.size)
            decode = (lambda buf: vc.decode_many(buf, ncpu, slot)) if ncpu else vc.decode
            # integer keys and values skip the codec's type dispatch (a key
            # struct.pack refuses goes through it, for its error message)
            # (an enum value reads as its generated CEnum: the codec does that)
            kfmt = kc._int_format
            vfmt = None if ncpu or vc._enum is not None else vc._int_format
            if type(self)._decode_value is not Map._decode_value:
                # a map kind whose values are not the codec's (map-in-map ids,
                # stack traces) decodes them itself, on this path too
                decode, vfmt = (lambda buf: self._decode_value(vc, buf, ncpu)), None
            # m[k]'s lookup holds the GIL (the syscall never waits: see
            # _libbpf._GIL_HELD) and takes the fd, key bytes and value buffer as
            # they are.  The value buffer is reused: ``spare`` holds it (with its
            # ``byref``) while no lookup does; a lookup pops it (atomic under the
            # GIL), so a thread or signal handler that looks up meanwhile finds
            # the list empty and makes its own, which it leaves there in turn.
            # An integer value is read through a ctypes integer of its format
            # (``.value``), anything else decoded from bytes; decoders copy, so
            # no returned value shares the buffer.
            itype = _INT_CTYPES.get(vfmt) if vfmt else None
            buf_type: Any = itype if itype is not None else ctypes.c_char * per_entry

            def new_slot() -> Tuple[Any, Any]:
                buf = buf_type()
                return buf, ctypes.byref(buf)

            self._get = (fd, struct.Struct(kfmt).pack if kfmt else kc.encode, kc.encode,
                         new_slot, None if itype is not None else decode,
                         _libbpf.lib().bpf_map_lookup_elem_held, [new_slot()],
                         self._array_len)
        return live

    def _key(self, codec: Any, key: Any, check_only: bool = False) -> bytes:
        n = self._array_len  # set by _dict_op, which every caller runs first
        if n and isinstance(key, int) and not 0 <= key < n:
            raise IndexError(f"index {key} out of range for array {self._what()} "
                             f"of {n} entries")
        return b"" if check_only else codec.encode(key)

    def _decode_value(self, vcodec: Codec, buf: Any, ncpu: int) -> Any:
        if ncpu:
            return vcodec.decode_many(buf, ncpu, _percpu_slot(vcodec.size))
        return vcodec.decode(buf.raw)

    def _encode_value(self, vcodec: Codec, value: Any, ncpu: int, per_entry: int) -> Any:
        if not ncpu:
            return vcodec.encode(value)
        if isinstance(value, (bytes, str)) or not hasattr(value, "__len__"):
            raise TypeError(f"value of per-CPU {self._what()}: expected a sequence of "
                            f"{ncpu} values (one per possible CPU)")
        if len(value) != ncpu:
            raise TypeError(f"value of per-CPU {self._what()}: expected {ncpu} values "
                            f"(one per possible CPU), got {len(value)}")
        buf = ctypes.create_string_buffer(per_entry)
        stride = _percpu_slot(vcodec.size)
        for i, v in enumerate(value):
            vcodec.encode_into(v, buf, i * stride)
        return buf

    # -- single elements -----------------------------------------------------------

    def __getitem__(self, key: Any) -> V:
        # The hot path: everything but the syscall was prepared once (see
        # _go_live); a message is built only on error.
        get = self._get
        if get is None or not self._res.obj:
            self._go_live("lookup")  # raises before load and after destroy
            get = self._get
            assert get is not None
        fd, pack, encode, new_slot, decode, lookup, spare, array_len = get
        if array_len:
            self._key(None, key, check_only=True)
        try:
            raw = pack(key)
        except struct.error:
            raw = encode(key)  # raises the TypeError or OverflowError naming the type
        try:
            slot = spare.pop()
        except IndexError:  # another lookup holds it (see _go_live)
            slot = new_slot()
        buf, ref = slot
        ret = lookup(fd, raw, ref)
        if ret:
            spare.append(slot)
            if ret == -errno.ENOENT:
                raise KeyError(key)
            _libbpf.check(ret, f"looking up a key in {self._what()}")
        value = buf.value if decode is None else decode(buf)
        spare.append(slot)
        return value  # type: ignore[no-any-return]

    def get(self, key: Any, default: Optional[V] = None) -> Optional[V]:
        try:
            return self[key]
        except (KeyError, IndexError):  # an array index out of range is absent too
            return default

    def __contains__(self, key: Any) -> bool:
        try:
            self[key]
        except (KeyError, IndexError):
            return False
        return True

    def set(self, key: Any, value: Any, flags: int = BPF_ANY) -> None:
        """``bpf_map_update_elem`` with ``flags`` (BPF_ANY, BPF_NOEXIST, BPF_EXIST,
        BPF_F_LOCK).  BPF_NOEXIST on a present key raises FileExistsError."""
        fd, kc, vc, per_entry, ncpu = self._dict_op("update")
        raw = self._key(kc, key)
        data = self._encode_value(vc, value, ncpu, per_entry)
        ret = _libbpf.lib().bpf_map_update_elem(fd, raw, data, flags)
        if ret:
            _libbpf.check(ret, f"updating a key in {self._what()}")

    __setitem__ = set

    def __delitem__(self, key: Any) -> None:
        fd, kc, _vc, _pe, _n = self._dict_op("delete")
        if self._array_len:
            raise TypeError(f"array {self._what()}: elements cannot be deleted "
                            "(assign zero, or use clear())")
        ret = _libbpf.lib().bpf_map_delete_elem(fd, self._key(kc, key))
        if ret:
            if ret == -errno.ENOENT:
                raise KeyError(key)
            _libbpf.check(ret, f"deleting a key from {self._what()}")

    def pop(self, key: Any = _MISSING, default: Any = _MISSING) -> V:
        """Lookup-and-delete (``bpf_map_lookup_and_delete_elem``).

        On a hash: ``pop(key[, default])`` like ``dict.pop``.  On a queue or
        stack map: ``pop()`` takes the next value, QueueEmptyError when empty.
        """
        if self.type in _QUEUES:
            if key is not _MISSING:
                raise TypeError(f"{self._what()} is a queue/stack: pop() takes no key")
            return self._queue_take(_libbpf.lib().bpf_map_lookup_and_delete_elem, "pop")  # type: ignore[no-any-return]
        if key is _MISSING:
            raise TypeError("pop() needs a key on a hash map")
        fd, kc, vc, per_entry, ncpu = self._dict_op("pop")
        if self.type in _ARRAYS:
            raise TypeError(f"array {self._what()}: elements cannot be deleted, so not "
                            "popped (read it, then assign zero)")
        buf = ctypes.create_string_buffer(per_entry)
        ret = _libbpf.lib().bpf_map_lookup_and_delete_elem(fd, self._key(kc, key), buf)
        if ret == -errno.ENOENT:
            if default is _MISSING:
                raise KeyError(key)
            return default  # type: ignore[no-any-return]
        if ret == -ENOTSUPP:  # e.g. LPM tries: only the hash family has it
            raise NotSupportedError(f"pop from {self._what()}: the kernel has no "
                                    f"lookup-and-delete for map type {self.type}")
        _libbpf.check(ret, f"lookup-and-delete in {self._what()}")
        return self._decode_value(vc, buf, ncpu)  # type: ignore[no-any-return]

    # -- queue and stack maps --------------------------------------------------------

    def push(self, value: Any, flags: int = BPF_ANY) -> None:
        """Add to a queue/stack map; BPF_EXIST overwrites the oldest when full."""
        if self.type not in _QUEUES:
            raise TypeError(f"{self._what()} is not a queue or stack map")
        _kc, vc, _pe, _n = self._setup()
        fd = self._live_fd("push")
        ret = _libbpf.lib().bpf_map_update_elem(fd, None, vc.encode(value), flags)
        full = " (full: push(value, BPF_EXIST) drops the oldest)" if ret == -errno.E2BIG else ""
        _libbpf.check(ret, f"pushing to {self._what()}{full}")

    def peek(self) -> V:
        """The value ``pop()`` would return, left in place."""
        if self.type not in _QUEUES:
            raise TypeError(f"{self._what()} is not a queue or stack map")
        return self._queue_take(_libbpf.lib().bpf_map_lookup_elem, "peek")  # type: ignore[no-any-return]

    def _queue_take(self, fn: Callable[..., int], op: str) -> Any:
        _kc, vc, _pe, _n = self._setup()
        fd = self._live_fd(op)
        buf = ctypes.create_string_buffer(vc.size)
        ret = fn(fd, None, buf)
        if ret == -errno.ENOENT:
            raise QueueEmptyError(f"{op} from empty {self._what()}")
        _libbpf.check(ret, f"{op} from {self._what()}")
        return vc.decode(buf.raw)

    # -- pinning -----------------------------------------------------------------------

    def pin(self, path: str) -> None:
        """Pin the map at ``path`` on a bpffs (``bpf_map__pin``).  A failed pin
        leaves no state behind: libbpf records the path before it pins and
        keeps it when pinning fails, which would refuse every later path."""
        lib = _libbpf.lib()
        ptr = self._ptr
        before = lib.bpf_map__pin_path(ptr)  # a copy (c_char_p), or None
        with _libbpf.capture() as lines:
            ret = lib.bpf_map__pin(ptr, path.encode())
        if ret < 0:
            lib.bpf_map__set_pin_path(ptr, before)
            _libbpf.check(ret, f"pinning {self._what()} at {path!r}", lines)
        if before is None:
            self._pinned_here = True

    def unpin(self, path: Optional[str] = None) -> None:
        """Remove the pin at ``path`` (default: where the map was pinned).
        A path :meth:`pin` gave is forgotten, so the map can be pinned elsewhere."""
        lib = _libbpf.lib()
        _libbpf.call(lib.bpf_map__unpin, f"unpinning {self._what()}",
                     self._ptr, path.encode() if path else None)
        if self._pinned_here:
            lib.bpf_map__set_pin_path(self._ptr, None)
            self._pinned_here = False

    # -- event readers -------------------------------------------------------------------

    @overload
    def ring_buffer(self, callback: Optional[Callable[[E], Any]],
                    event_type: Type[E]) -> "RingBuffer[E]": ...
    @overload
    def ring_buffer(self, callback: Optional[Callable[[E], Any]] = None, *,
                    event_type: Type[E]) -> "RingBuffer[E]": ...
    @overload
    def ring_buffer(self, callback: Optional[Callable[[bytes], Any]] = None,
                    event_type: None = None) -> "RingBuffer[bytes]": ...

    def ring_buffer(self, callback: Optional[Callable[[Any], Any]] = None,
                    event_type: Any = None) -> "RingBuffer[Any]":
        """A reader for this ``BPF_MAP_TYPE_RINGBUF`` map (see :mod:`bpfskel.ringbuf`)."""
        from .ringbuf import RingBuffer

        if self.type != MapType.RINGBUF:
            raise TypeError(f"{self._what()} is not a ring buffer (type {self.type})")
        return self._reader(RingBuffer(self._live_fd("read a ring buffer"),
                                       self.max_entries, callback, event_type, self.name))

    @overload
    def perf_buffer(self, callback: Optional[Callable[[int, E], Any]],
                    event_type: Type[E], lost: Optional[Callable[[int, int], Any]] = None,
                    page_count: int = 64) -> "PerfBuffer[E]": ...
    @overload
    def perf_buffer(self, callback: Optional[Callable[[int, E], Any]] = None, *,
                    event_type: Type[E], lost: Optional[Callable[[int, int], Any]] = None,
                    page_count: int = 64) -> "PerfBuffer[E]": ...
    @overload
    def perf_buffer(self, callback: Optional[Callable[[int, bytes], Any]] = None,
                    event_type: None = None, lost: Optional[Callable[[int, int], Any]] = None,
                    page_count: int = 64) -> "PerfBuffer[bytes]": ...

    def perf_buffer(self, callback: Optional[Callable[[int, Any], Any]] = None,
                    event_type: Any = None, lost: Optional[Callable[[int, int], Any]] = None,
                    page_count: int = 64) -> "PerfBuffer[Any]":
        """A reader for this ``BPF_MAP_TYPE_PERF_EVENT_ARRAY`` (see :mod:`bpfskel.perfbuf`)."""
        from .perfbuf import PerfBuffer

        if self.type != MapType.PERF_EVENT_ARRAY:
            raise TypeError(f"{self._what()} is not a perf event array (type {self.type})")
        return self._reader(PerfBuffer(self._live_fd("read a perf buffer"), callback,
                                       event_type, lost, page_count, self.name,
                                       self.max_entries))

    def _reader(self, reader: _R) -> _R:
        """The skeleton closes every reader it made when it is destroyed."""
        self._skel._res.readers.add(reader)
        return reader

