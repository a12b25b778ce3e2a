"""The whole-map operations of :class:`~bpfskel.maps.Map`: iteration,
``keys``/``values``/``items``, ``pop_items``, ``update``, ``delete_keys``,
``clear``, ``len`` and the columnar reads.

A mixin of :class:`~bpfskel.maps.Map`, apart because it is one concept: the
map as a whole, read and written in batches of hundreds of entries per
syscall (``BPF_MAP_*_BATCH``, :mod:`bpfskel.batch`) when the map type has
them, else key by key with ``BPF_MAP_GET_NEXT_KEY``.  A walk of a live map is
not a snapshot: entries BPF adds or removes meanwhile may or may not be seen.
"""

from __future__ import annotations

import ctypes
import errno
from typing import TYPE_CHECKING, Any, Generic, Iterable, Iterator, List, Optional, Tuple, TypeVar

from . import _libbpf, batch
from .codec import Codec
from .gcpause import gc_paused
from .uapi import ARRAY_MAP_TYPES, BPF_ANY, BPF_F_LOCK

if TYPE_CHECKING:
    from .maps import Map

__all__ = ["WholeMap"]

K = TypeVar("K")
V = TypeVar("V")


class WholeMap(Generic[K, V]):
    """Whole-map operations; :class:`~bpfskel.maps.Map` supplies the rest."""

    _batch_ok: bool  # cleared once the kernel refuses a batch command for this map

    if TYPE_CHECKING:  # provided by Map
        @property
        def type(self) -> int: ...
        @property
        def max_entries(self) -> int: ...
        @property
        def percpu(self) -> bool: ...
        def _what(self) -> str: ...
        def _dict_op(self, op: str) -> Tuple[int, Codec, Codec, int, int]: ...
        def _key(self, codec: Any, key: Any, check_only: bool = False) -> bytes: ...
        def _decode_value(self, vcodec: Codec, buf: Any, ncpu: int) -> Any: ...
        def _encode_value(self, vcodec: Codec, value: Any, ncpu: int,
                          per_entry: int) -> Any: ...
        def pop(self, key: Any = ..., default: Any = ...) -> V: ...

    def _map(self) -> "Map[K, V]":
        return self  # type: ignore[return-value]  # WholeMap is only ever a Map

    def _walk(self, want_values: bool) -> Iterator[Tuple[List[Any], List[Any]]]:
        """Chunks of (keys, values): batch lookup, else get_next_key + lookup."""
        fd, kc, vc, per_entry, ncpu = self._dict_op("iterate")
        if self._batch_ok:
            try:
                for keys, values, n in batch.lookup_batches(fd, kc.size, per_entry,
                                                            self._what()):
                    ks = kc.decode_many(keys, n, kc.size)
                    yield ks, (self._decode_values(vc, values, n, per_entry, ncpu)
                               if want_values else [])
                return
            except batch.BatchUnsupported:
                self._batch_ok = False
        yield from self._walk_keys(fd, kc, vc, per_entry, ncpu, want_values)

    def _decode_values(self, vc: Codec, values: Any, n: int, per_entry: int,
                       ncpu: int) -> List[Any]:
        """The ``n`` values of a batch buffer."""
        if ncpu:
            return [self._decode_value(vc, values[i * per_entry:(i + 1) * per_entry], ncpu)
                    for i in range(n)]
        return vc.decode_many(values, n, per_entry)

    def _walk_keys(self, fd: int, kc: Codec, vc: Codec, per_entry: int, ncpu: int,
                   want_values: bool) -> Iterator[Tuple[List[Any], List[Any]]]:
        lib = _libbpf.lib()
        prev: Optional[Any] = None
        key = ctypes.create_string_buffer(kc.size)
        value = ctypes.create_string_buffer(per_entry)
        while True:
            ret = lib.bpf_map_get_next_key(fd, prev, key)
            if ret == -errno.ENOENT:
                return
            _libbpf.check(ret, f"walking the keys of {self._what()}")
            raw = key.raw
            prev = ctypes.create_string_buffer(raw, kc.size)
            if not want_values:
                yield [kc.decode(raw)], []
                continue
            ret = lib.bpf_map_lookup_elem(fd, raw, value)
            if ret == -errno.ENOENT:
                continue  # deleted between the two syscalls
            _libbpf.check(ret, f"looking up a key in {self._what()}")
            yield [kc.decode(raw)], [self._decode_value(vc, value, ncpu)]

    def __iter__(self) -> Iterator[K]:
        for keys, _ in self._walk(False):
            yield from keys

    def keys(self) -> List[K]:
        with gc_paused():
            return [k for keys, _ in self._walk(False) for k in keys]

    def values(self) -> List[V]:
        with gc_paused():
            return [v for _, values in self._walk(True) for v in values]

    def items(self, delete: bool = False) -> List[Tuple[K, V]]:
        """Every (key, value), read in batches of hundreds per syscall.
        ``delete=True`` is :meth:`pop_items`."""
        if delete:
            return self.pop_items()
        out: List[Tuple[K, V]] = []
        with gc_paused():
            for keys, values in self._walk(True):
                out.extend(zip(keys, values))
        return out

    def items_array(self) -> Tuple[Any, Any]:
        """``(keys, values)`` as two arrays read with the batch syscalls, no
        object per entry: numpy arrays (dtypes from the generated layout;
        per-CPU values shaped ``(entries, possible CPUs)``), or ctypes arrays
        without numpy.  Same order as :meth:`items`."""
        from .maparrays import items_array

        return items_array(self._map())

    def values_array(self) -> Any:
        """The values of :meth:`items_array`."""
        return self.items_array()[1]

    def sum(self) -> Tuple[Any, Any]:
        """Per-CPU maps: ``(keys, totals)``, each value summed over the CPUs
        (struct values field by field) without per-CPU Python objects."""
        from .maparrays import percpu_sum

        if not self.percpu:
            raise TypeError(f"{self._what()} is not a per-CPU map: nothing to sum")
        keys, values = self.items_array()
        return keys, percpu_sum(values)

    def to_numpy(self) -> Any:
        """The whole map as one numpy structured array, fields ``key`` and
        ``value`` (needs numpy)."""
        from .maparrays import to_numpy

        return to_numpy(self._map())

    def to_pandas(self) -> Any:
        """The whole map as a pandas DataFrame: a column per key and value
        member; per-CPU values summed.  Needs pandas."""
        from .maparrays import to_pandas

        return to_pandas(self._map())

    def pop_items(self) -> List[Tuple[Any, Any]]:
        """Read and remove every entry, each by the kernel's lookup-and-delete,
        so no entry BPF adds between a read and a ``clear()`` is lost:
        ``BPF_MAP_LOOKUP_AND_DELETE_BATCH`` (hash, LRU hash and their per-CPU
        variants), else key by key with ``BPF_MAP_LOOKUP_AND_DELETE_ELEM``.
        (An increment BPF makes through a value pointer it looked up just
        before the delete still lands in the removed copy, as with any delete.)"""
        fd, kc, vc, per_entry, ncpu = self._dict_op("pop_items")
        if self.type in ARRAY_MAP_TYPES:
            raise TypeError(f"array {self._what()}: elements cannot be deleted, so not "
                            "popped (for .bss counters, see exchange())")
        out: List[Tuple[Any, Any]] = []
        with gc_paused():
            try:
                for keys, values, n in batch.lookup_batches(fd, kc.size, per_entry,
                                                            self._what(), delete=True):
                    out.extend(zip(kc.decode_many(keys, n, kc.size),
                                   self._decode_values(vc, values, n, per_entry, ncpu)))
                return out
            except batch.BatchUnsupported:
                pass
            for key in self.keys():
                try:
                    out.append((key, self.pop(key)))
                except KeyError:
                    continue  # deleted meanwhile
        return out

    def __len__(self) -> int:
        if self.type in ARRAY_MAP_TYPES:
            return self.max_entries
        return sum(len(keys) for keys, _ in self._walk(False))

    def update(self, entries: Any = (), flags: int = BPF_ANY) -> None:
        """Write many entries (a mapping or (key, value) pairs) in batches."""
        pairs = list(entries.items() if hasattr(entries, "items") else entries)
        if not pairs:
            return
        fd, kc, vc, per_entry, ncpu = self._dict_op("update")
        keys = b"".join(self._key(kc, k) for k, _ in pairs)
        values = b"".join(bytes(self._encode_value(vc, v, ncpu, per_entry)) for _, v in pairs)
        # BPF_MAP_UPDATE_BATCH takes only BPF_F_LOCK (EINVAL for NOEXIST/EXIST)
        if self._batch_ok and not flags & ~BPF_F_LOCK:
            try:
                batch.update_batch(fd, keys, values, len(pairs), self._what(), flags)
                return
            except batch.BatchUnsupported:
                self._batch_ok = False
        for i in range(len(pairs)):
            _libbpf.check(_libbpf.lib().bpf_map_update_elem(
                fd, keys[i * kc.size:(i + 1) * kc.size],
                values[i * per_entry:(i + 1) * per_entry], flags),
                f"updating a key in {self._what()}")

    def delete_keys(self, keys: Iterable[Any]) -> int:
        """Delete many keys in batches; absent keys are skipped.  Returns the
        number deleted."""
        fd, kc, _vc, _pe, _n = self._dict_op("delete")
        if self.type in ARRAY_MAP_TYPES:
            raise TypeError(f"array {self._what()}: elements cannot be deleted")
        raws = [self._key(kc, k) for k in keys]
        deleted = 0
        while raws and self._batch_ok:
            try:
                n = batch.delete_batch(fd, b"".join(raws), len(raws), self._what())
            except batch.BatchUnsupported:
                self._batch_ok = False
                break
            deleted += n
            if n == len(raws):
                return deleted
            raws = raws[n + 1:]  # raws[n] was absent: ENOENT stopped the kernel there
        lib = _libbpf.lib()
        for raw in raws:
            ret = lib.bpf_map_delete_elem(fd, raw)
            if ret != -errno.ENOENT:
                _libbpf.check(ret, f"deleting a key from {self._what()}")
                deleted += 1
        return deleted

    def clear(self) -> None:
        """Remove every entry (arrays: zero every element)."""
        fd, kc, vc, per_entry, ncpu = self._dict_op("clear")
        if self.type in ARRAY_MAP_TYPES:
            n = self.max_entries
            zero = bytes(vc.size)
            self.update([(i, [zero] * ncpu if ncpu else zero) for i in range(n)])
            return
        self.delete_keys(self.keys())
