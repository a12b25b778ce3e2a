"""Reading a ``BPF_MAP_TYPE_RINGBUF`` straight from its memory.

The kernel lets user space map a ring buffer map in two parts:

* offset 0, one page, read-write: the *consumer page*; its first u64 is the
  consumer position, which only user space advances;
* offset one page, read-only: the *producer page* (its first u64 is the
  producer position) followed by the data area, mapped **twice** back to
  back, so a record that wraps past the end is still contiguous in memory.

Each record starts with an 8-byte header: a u32 length whose top two bits
are the BUSY bit (reserved, not yet submitted) and the DISCARD bit, then a
u32 page offset the kernel uses.  The record occupies ``round_up(len + 8,
8)`` bytes.  A consumer walks from its position to the producer's, stops at
the first BUSY record (records are submitted in any order but consumed in
order), skips discarded ones, and publishes its new position so that the
producer can reuse the space.

This is what libbpf's ``ring_buffer__poll`` does in C; doing it in Python
costs less than libbpf's C-to-Python callback per event.  Memory ordering:
the kernel publishes with release stores, so the producer position and each
record header are read with acquire loads, and the consumer position is
written with a release store, as libbpf does.  On x86-64 (total store order)
those are plain 4/8-byte loads and stores; elsewhere they are
:func:`bpfskel.arch.load_acquire` and :func:`~bpfskel.arch.store_release`.
An architecture :mod:`bpfskel.arch` does not know is refused.
"""

from __future__ import annotations

import ctypes
import functools
import mmap
import struct
from typing import Any, Callable, List, Optional

from . import arch, columns
from .events import RUN_MAX, RUN_MIN, E, EventReader, event_decoder, run_to, taken, typed_run
from .memory import buffer_address

__all__ = ["RingBuffer"]

BUSY_BIT = 1 << 31
DISCARD_BIT = 1 << 30
HDR_SIZE = 8
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")


class RingBuffer(EventReader[E]):
    """Events from one ring buffer map; see :class:`~bpfskel.events.EventReader`.

    ``callback(event)`` receives each event; ``event_type`` (a generated
    class) types it, else it is ``bytes``.
    """

    def __init__(self, map_fd: int, size: int, callback: Optional[Callable[[Any], Any]],
                 event_type: Any = None, name: str = "") -> None:
        page = mmap.PAGESIZE
        if size <= 0 or size & (size - 1) or size % page:
            raise ValueError(f"ring buffer size {size} is not a power-of-2 multiple of "
                             "the page size")
        tso = arch.current().tso  # before anything is opened: refuses an unknown arch
        self._consumer: Optional[mmap.mmap] = None
        self._data: Optional[mmap.mmap] = None
        self._consumer = mmap.mmap(map_fd, page, mmap.MAP_SHARED,
                                   mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
        self._data = mmap.mmap(map_fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ,
                               offset=page)
        # Acquire loads where plain ones are not (None: TSO), and the consumer
        # position's store (a release on every architecture).
        self._acquire: Optional[Callable[..., int]] = None if tso else arch.load_acquire
        self._data_addr = buffer_address(self._data)
        self._publish: Callable[[int], None] = (
            functools.partial(_U64.pack_into, self._consumer, 0) if tso
            else functools.partial(arch.store_release, buffer_address(self._consumer)))
        super().__init__(f"ring buffer {name!r}", [map_fd])
        self._mask = size - 1
        self._callback = callback
        self.event_type = event_type
        self._decode = event_decoder(event_type, self.source)

    def _drain(self, sink: Callable[..., Any], limit: Optional[int],
               bulk: Optional[Callable[..., Any]] = None) -> int:
        data, cons_page = self._data, self._consumer
        assert data is not None and cons_page is not None
        mask, page, decode = self._mask, mmap.PAGESIZE, self._decode
        u32, u64 = _U32.unpack_from, _U64.unpack_from
        acquire, addr, publish = self._acquire, self._data_addr, self._publish
        cls = self.event_type
        size = ctypes.sizeof(cls) if cls is not None else 0
        stride = (size + HDR_SIZE + 7) & ~7
        header = ((0, 4, size),)  # the length word: no BUSY or DISCARD bit, this size
        # A run's headers are checked with plain loads, which are acquire loads
        # only on TSO machines: elsewhere every record goes the ordered way.
        runs = acquire is None and cls is not None and size > 0
        cons = u64(cons_page, 0)[0]  # only this reader writes it
        count = 0
        single = 0  # records left to take one by one before probing for a run again
        # The consumer position is published once per batch (each snapshot of
        # the producer position), not per event as libbpf does, which saves a
        # store per record.  The space of the batch in hand goes back to the
        # producer when the batch is done (or the callback raises).
        try:
            while True:
                prod = u64(data, 0)[0] if acquire is None else acquire(addr)
                if cons >= prod:
                    return count
                if count:
                    publish(cons)
                while cons < prod:
                    off = page + (cons & mask)
                    if runs and not single and prod - cons >= RUN_MIN * stride:
                        n = min((prod - cons) // stride, RUN_MAX)
                        if limit is not None:
                            n = min(n, limit - count)
                        run = columns.run_length(data, off, n, stride, header, None)
                        if run < RUN_MIN:
                            single = RUN_MIN
                        else:
                            events = typed_run(cls, data, off + HDR_SIZE, run, stride)
                            done = 0
                            it = iter(events)
                            try:
                                if bulk is not None:
                                    bulk(events)
                                    done = run
                                else:
                                    run_to(sink, it, self)
                            finally:
                                if bulk is None:
                                    done = taken(it, run)
                                cons += done * stride
                                count += done
                            if count == limit or self._closed:
                                return count
                            continue
                    elif single:
                        single -= 1
                    length = u32(data, off)[0] if acquire is None else acquire(addr + off, 4)
                    if length & BUSY_BIT:
                        return count
                    n = length & ~DISCARD_BIT
                    cons += (n + HDR_SIZE + 7) & ~7
                    if length & DISCARD_BIT:
                        continue
                    count += 1
                    sink(decode(data, off + HDR_SIZE, n))
                    if count == limit or self._closed:  # closed by the callback
                        return count
        finally:
            publish(cons)

    def _drain_array(self, parts: List[Any], limit: Optional[int]) -> None:
        """Copy runs of records, not records (as :meth:`_drain` does, with
        numpy when it is installed): fixed-size records sit ``stride``
        bytes apart, and the data area is mapped twice, so the pending span is
        contiguous.  A run ends at the first header that is not exactly
        ``size`` (BUSY, DISCARD or another length): that record goes the slow
        way (skipped, or decoded by the short-record rule), then runs resume.
        The consumer position is stored once, at the end."""
        data, cons_page = self._data, self._consumer
        assert data is not None and cons_page is not None
        cls = self.event_type
        size = ctypes.sizeof(cls)
        stride = (size + HDR_SIZE + 7) & ~7
        header = ((0, 4, size),)  # the length word: no BUSY or DISCARD bit, this size
        mask, page = self._mask, mmap.PAGESIZE
        u32, u64 = _U32.unpack_from, _U64.unpack_from
        acquire, addr = self._acquire, self._data_addr
        np = columns.numpy_or_none()
        singles = bytearray()  # records of another size, decoded one by one
        nsingles = 0
        cons = u64(cons_page, 0)[0]
        count = 0
        try:
            while count != limit and not self._closed:
                prod = u64(data, 0)[0] if acquire is None else acquire(addr)
                if cons >= prod:
                    break
                off = page + (cons & mask)
                n = (prod - cons) // stride
                if limit is not None:
                    n = min(n, limit - count)
                # run_length reads the headers with plain loads, an acquire only
                # under TSO; elsewhere every record takes the acquiring path below.
                run = columns.run_length(data, off, n, stride, header, np) \
                    if acquire is None else 0
                if run:
                    if nsingles:
                        parts.append(columns.records_array(cls, singles, nsingles))
                        singles, nsingles = bytearray(), 0
                    parts.append(columns.strided_records(cls, data, off + HDR_SIZE, run,
                                                         stride, np))
                    cons += run * stride
                    count += run
                    continue
                length = u32(data, off)[0] if acquire is None else acquire(addr + off, 4)
                if length & BUSY_BIT:
                    break
                rlen = length & ~DISCARD_BIT
                cons += (rlen + HDR_SIZE + 7) & ~7
                if length & DISCARD_BIT:
                    continue
                singles += bytes(self._decode(data, off + HDR_SIZE, rlen))
                nsingles += 1
                count += 1
        finally:
            self._publish(cons)
            if nsingles:
                parts.append(columns.records_array(cls, singles, nsingles))

    def _close_maps(self) -> None:
        for m in (self._consumer, self._data):
            if m is not None:
                m.close()
        self._consumer = self._data = None
