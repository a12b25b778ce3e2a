"""``BPF_MAP_TYPE_USER_RINGBUF``: Python produces, BPF drains.

The mirror of :mod:`bpfskel.ringbuf`, with the roles swapped.  The kernel
maps such a map in two parts:

* offset 0, one page, **read-only** here: the consumer page; its first u64 is
  the consumer position, which only the kernel (``bpf_user_ringbuf_drain``)
  advances;
* offset one page, read-write: the producer page (its first u64 is the
  producer position, ours alone) followed by the data area, mapped twice back
  to back, so a record that wraps is still contiguous.

A record is an 8-byte header (u32 length, BUSY and DISCARD in the top bits,
u32 pad) and the sample, ``round_up(len + 8, 8)`` bytes in all.  To produce,
check the free space (``size - (producer - consumer)``), write the header and
sample at ``producer & mask``, then publish the new producer position.  The
kernel refuses to drain past the published position and stops at a BUSY
header, so a batch writes every record complete (BUSY never set) and
publishes once: BPF sees all of them or none.  As in libbpf's C producer,
there is one producer: share a :class:`UserRingBuffer` between threads only
under a lock.

Memory ordering: the consumer position is read with an acquire load (the
space BPF freed is then really free), and the producer position is published
with a release store after the headers and samples, which the kernel's
acquire load pairs with.  On x86-64 (total store order) those are plain
aligned 8-byte loads and stores through ctypes; elsewhere they are
:mod:`bpfskel.arch`'s.  An architecture it does not know is refused.
"""

from __future__ import annotations

import ctypes
import mmap
from typing import Any, Iterable, Optional

from . import arch
from .closing import Closing
from .codec import Codec
from .errors import ClosedError, EventSizeError, RingBufferFullError
from .maps import Map
from .memory import buffer_address

__all__ = ["UserRingBufferMap", "UserRingBuffer"]

HDR_SIZE = 8


class UserRingBuffer(Closing):
    """Typed records from Python to BPF: ``submit(r)``, ``submit_many(rs)``."""

    def __init__(self, map_fd: int, size: int, event_type: Any = None, name: str = "") -> None:
        page = mmap.PAGESIZE
        if size <= 0 or size & (size - 1) or size % page:
            raise ValueError(f"ring buffer size {size} is not a power-of-2 multiple of "
                             "the page size")
        tso = arch.current().tso  # refuses an unknown architecture
        self.source = f"user ring buffer {name!r}"
        self.event_type = event_type
        self._codec = Codec(event_type, ctypes.sizeof(event_type), f"record of {self.source}") \
            if event_type is not None else None
        self._fd = map_fd
        self._size = size
        self._mask = size - 1
        self._cons_map: Optional[mmap.mmap] = mmap.mmap(map_fd, page, mmap.MAP_SHARED,
                                                        mmap.PROT_READ, offset=0)
        try:
            self._data_map: Optional[mmap.mmap] = mmap.mmap(
                map_fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE,
                offset=page)
        except BaseException:
            self._cons_map.close()
            raise
        # Positions are read and written as single aligned 8-byte loads and stores
        self._cons_addr = buffer_address(self._cons_map)
        self._prod_addr = buffer_address(self._data_map)
        self._base = self._prod_addr + page  # the data area
        self._acquire = _u64 if tso else arch.load_acquire
        self._publish = _store_u64 if tso else arch.store_release

    # -- state -------------------------------------------------------------------

    @property
    def free(self) -> int:
        """Bytes BPF has drained and Python may fill (headers included)."""
        self._check()
        return self._size - (_u64(self._prod_addr) - self._acquire(self._cons_addr))

    def fileno(self) -> int:
        """The map fd: ``select``/``epoll`` report it writable once BPF drained."""
        self._check()
        return self._fd

    def _check(self) -> None:
        if self._data_map is None:
            raise ClosedError(f"{self.source} was closed")

    # -- producing ---------------------------------------------------------------

    def _encode(self, record: Any) -> bytes:
        if self._codec is not None:
            return self._codec.encode(record)
        if isinstance(record, (bytes, bytearray, memoryview)):
            return bytes(record)
        raise TypeError(f"{self.source}: expected bytes (no event_type given), "
                        f"got {type(record).__name__}")

    def submit(self, record: Any) -> None:
        """Publish one record; RingBufferFullError when BPF has not drained
        enough yet (nothing is written then)."""
        if self.submit_many([record]) != 1:
            raise RingBufferFullError(f"{self.source}: no room for a record "
                                      f"({self.free} bytes free)")

    def submit_many(self, records: Iterable[Any]) -> int:
        """Write as many of ``records`` as fit, in order, and publish them at
        once; returns how many were published (the rest were not written)."""
        self._check()
        prod = _u64(self._prod_addr)  # only this producer writes it
        free = self._size - (prod - self._acquire(self._cons_addr))
        pos = prod
        count = 0
        for record in records:
            data = self._encode(record)
            total = (len(data) + HDR_SIZE + 7) & ~7
            if total > self._size:
                raise EventSizeError(f"{self.source}: a {len(data)}-byte record cannot fit "
                                     f"in {self._size} bytes")
            if total > free:
                break
            off = pos & self._mask
            ctypes.memmove(self._base + off + HDR_SIZE, data, len(data))
            ctypes.c_uint64.from_address(self._base + off).value = len(data)  # len, pad 0
            pos += total
            free -= total
            count += 1
        if count:
            self._publish(self._prod_addr, pos)
        return count

    # -- lifetime ----------------------------------------------------------------

    def close(self) -> None:
        if self._data_map is None:
            return
        data, self._data_map = self._data_map, None
        cons, self._cons_map = self._cons_map, None
        data.close()
        if cons is not None:
            cons.close()


def _u64(addr: int) -> int:
    return int(ctypes.c_uint64.from_address(addr).value)


def _store_u64(addr: int, value: int) -> None:
    ctypes.c_uint64.from_address(addr).value = value


class UserRingBufferMap(Map[Any, Any]):
    """A ``BPF_MAP_TYPE_USER_RINGBUF`` map: Python writes, BPF drains."""

    def user_ring_buffer(self, event_type: Any = None) -> UserRingBuffer:
        """A producer for this map; records are ``event_type`` instances (a
        generated class) or, without one, ``bytes``."""
        return UserRingBuffer(self._live_fd("produce to a user ring buffer"),
                              self.max_entries, event_type, self.name)

    def _dict_op(self, op: str) -> Any:
        raise TypeError(f"user ring buffer {self._what()} has no keys: {op} is not "
                        "possible; use user_ring_buffer()")
