"""Whole-map reads and writes in a few syscalls: ``BPF_MAP_*_BATCH``.

Walking a map key by key costs two syscalls per entry (``get_next_key`` then
``lookup``).  The batch commands move hundreds of entries per syscall into
flat key and value arrays, which is what makes ``items()`` on a 10,000-entry
hash cheap.  The kernel implements them for hash, LRU hash, array, their
per-CPU variants and LPM tries; other map types (device maps,
prog arrays, ...) answer ENOTSUPP, and the callers then fall back to the
key-by-key walk.

Batch tokens: the kernel resumes a walk from an opaque ``out_batch`` token
(a bucket index for hashes, a key for arrays).  It is at most key-sized, so
the token buffers here are ``max(key_size, 8)`` bytes.
"""

from __future__ import annotations

import ctypes
import errno
from typing import Iterator, Tuple

from . import _libbpf
from .errors import ENOTSUPP

__all__ = ["BatchUnsupported", "lookup_batches", "update_batch", "delete_batch",
           "UNSUPPORTED_ERRNOS"]

UNSUPPORTED_ERRNOS = frozenset({ENOTSUPP, errno.EOPNOTSUPP, errno.ENOSYS})
FIRST_CHUNK = 256
MAX_CHUNK = 1 << 16
# Chunks grow to at most this many bytes of values (a per-CPU map's entry is
# value bytes times possible CPUs: 65,536 entries of one on a 256-CPU machine
# would be gigabytes); only a hash bucket larger than that grows them further.
MAX_CHUNK_BYTES = 8 << 20


class BatchUnsupported(Exception):
    """Internal: the map type has no batch operations; use the key-by-key path."""


class BatchOpts(ctypes.Structure):
    """``struct bpf_map_batch_opts`` (libbpf 1.1 layout)."""

    _fields_ = [("sz", ctypes.c_size_t), ("elem_flags", ctypes.c_uint64),
                ("flags", ctypes.c_uint64)]


def _opts(elem_flags: int = 0) -> BatchOpts:
    return _libbpf.opts(BatchOpts, elem_flags=elem_flags)  # type: ignore[no-any-return]


def lookup_batches(fd: int, key_size: int, value_bytes: int, what: str, *,
                   delete: bool = False, chunk: int = FIRST_CHUNK
                   ) -> Iterator[Tuple[ctypes.Array[ctypes.c_char],
                                       ctypes.Array[ctypes.c_char], int]]:
    """Yield ``(keys, values, n)`` chunks covering the whole map.

    ``value_bytes`` is the bytes per entry (a per-CPU map's is
    ``round_up(value_size, 8) * possible_cpus``).  With ``delete`` the entries
    are removed as they are read (``BPF_MAP_LOOKUP_AND_DELETE_BATCH``).
    Raises :class:`BatchUnsupported` before yielding anything if the map type
    has no batch lookup.
    """
    lib = _libbpf.lib()
    fn = lib.bpf_map_lookup_and_delete_batch if delete else lib.bpf_map_lookup_batch
    token_size = max(key_size, 8)
    tokens = (ctypes.create_string_buffer(token_size), ctypes.create_string_buffer(token_size))
    opts = _opts()
    count = ctypes.c_uint32()
    first = True
    cap = max(1, min(MAX_CHUNK, MAX_CHUNK_BYTES // max(value_bytes, 1)))
    chunk = min(chunk, cap)
    while True:
        keys = ctypes.create_string_buffer(chunk * key_size)
        values = ctypes.create_string_buffer(chunk * value_bytes)
        count.value = chunk
        in_batch = None if first else tokens[0]
        ret = fn(fd, in_batch, tokens[1], keys, values, ctypes.byref(count),
                 ctypes.byref(opts))
        err = -ret if ret < 0 else 0
        if err in UNSUPPORTED_ERRNOS and first:
            raise BatchUnsupported(what)
        if err == errno.ENOSPC and count.value == 0 and chunk < MAX_CHUNK:
            chunk = min(chunk * 4, MAX_CHUNK)  # one hash bucket holds more than the chunk
            continue
        if err not in (0, errno.ENOENT):
            _libbpf.check(ret, f"batch lookup in {what}")
        if count.value:
            yield keys, values, count.value
        if err == errno.ENOENT:
            return
        first = False
        ctypes.memmove(tokens[0], tokens[1], token_size)
        chunk = max(chunk, min(chunk * 2, cap))


def update_batch(fd: int, keys: bytes, values: bytes, n: int, what: str,
                 flags: int = 0) -> None:
    """Write ``n`` entries from flat key and value arrays in one syscall."""
    count = ctypes.c_uint32(n)
    opts = _opts(flags)
    ret = _libbpf.lib().bpf_map_update_batch(fd, keys, values, ctypes.byref(count),
                                             ctypes.byref(opts))
    if ret < 0 and -ret in UNSUPPORTED_ERRNOS:
        raise BatchUnsupported(what)
    # The kernel stops at the first failing entry and reports how many it wrote;
    # a batch refused as a whole leaves the count as it was.
    done = f" ({count.value} written before the failure)" if count.value < n else ""
    _libbpf.check(ret, f"batch update of {n} entries in {what}{done}")


def delete_batch(fd: int, keys: bytes, n: int, what: str) -> int:
    """Delete ``n`` keys from a flat array; returns how many were deleted.

    A key that is absent stops the kernel's walk with ENOENT; the caller
    retries from the first undeleted key.
    """
    count = ctypes.c_uint32(n)
    opts = _opts()
    ret = _libbpf.lib().bpf_map_delete_batch(fd, keys, ctypes.byref(count),
                                             ctypes.byref(opts))
    if ret < 0 and -ret in UNSUPPORTED_ERRNOS:
        raise BatchUnsupported(what)
    if ret < 0 and -ret != errno.ENOENT:
        _libbpf.check(ret, f"batch delete of {n} keys in {what}")
    return count.value
