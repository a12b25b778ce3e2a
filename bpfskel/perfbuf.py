"""Reading a ``BPF_MAP_TYPE_PERF_EVENT_ARRAY``: one perf ring per CPU.

For each online CPU the reader opens a ``PERF_COUNT_SW_BPF_OUTPUT`` software
event (``perf_event_open``), maps its ring (one metadata page plus
``page_count`` data pages, a power of two), and stores the event's fd in the
map at the CPU's index; ``bpf_perf_event_output(ctx, &map, BPF_F_CURRENT_CPU,
...)`` in BPF then writes into that CPU's ring.

A ring is read like libbpf's ``perf_buffer__poll`` does it: ``data_head``
(metadata offset 1024) is where the kernel has written up to, ``data_tail``
(offset 1032) where user space has read up to.  Records are a
``perf_event_header`` (u32 type, u16 misc, u16 size) and may wrap around the
end of the data area, so they are copied out (two slices) when they do.
``PERF_RECORD_SAMPLE`` carries a u32 size and the raw bytes BPF wrote (padded
by the kernel to keep 8-byte alignment); ``PERF_RECORD_LOST`` counts events
dropped because the ring was full.  Ordering is as in
:mod:`bpfskel.ringbuf`: ``data_head`` is read with an acquire load (every
record before it is then complete) and ``data_tail`` written with a release
store; plain loads and stores on x86-64, :mod:`bpfskel.arch`'s elsewhere.
"""

from __future__ import annotations

import ctypes
import fcntl
import functools
import itertools
import mmap
import os
import struct
from typing import Any, Callable, List, Optional, Tuple

from . import _libbpf, arch, columns
from .events import RUN_MAX, RUN_MIN, E, EventReader, event_decoder, run_to, taken, typed_run
from .memory import buffer_address
from .perf_event import (
    PERF_COUNT_SW_BPF_OUTPUT,
    PERF_SAMPLE_RAW,
    PERF_TYPE_SOFTWARE,
    online_cpus,
    perf_event_open,
)
from .uapi import PERF_EVENT_IOC_ENABLE, PERF_RECORD_LOST, PERF_RECORD_SAMPLE

__all__ = ["PerfBuffer", "online_cpus"]

_HEAD_OFF, _TAIL_OFF = 1024, 1032
_HDR = struct.Struct("<IHH")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_LOST = struct.Struct("<QQ")


def _unpack_head(mem: mmap.mmap) -> int:
    return int(_U64.unpack_from(mem, _HEAD_OFF)[0])


def _open_bpf_output(cpu: int) -> int:
    # sample_period 1 and wakeup_events 1: every record is a sample, and
    # wakes the reader
    return perf_event_open(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_BPF_OUTPUT, sample_period=1,
                           cpu=cpu, disabled=False, sample_type=PERF_SAMPLE_RAW,
                           wakeup_events=1)


class _CpuRing:
    """One CPU's perf event fd and its mapped ring."""

    def __init__(self, cpu: int, page_count: int, tso: bool) -> None:
        self.cpu = cpu
        self.fd = _open_bpf_output(cpu)
        try:
            page = mmap.PAGESIZE
            self.mem = mmap.mmap(self.fd, page * (page_count + 1), mmap.MAP_SHARED,
                                 mmap.PROT_READ | mmap.PROT_WRITE)
            addr = buffer_address(self.mem)
            # data_head with an acquire load, data_tail with a release store
            self.head: Callable[[], int] = (
                functools.partial(_unpack_head, self.mem) if tso
                else functools.partial(arch.load_acquire, addr + _HEAD_OFF))
            self.publish: Callable[[int], None] = (
                functools.partial(_U64.pack_into, self.mem, _TAIL_OFF) if tso
                else functools.partial(arch.store_release, addr + _TAIL_OFF))
            self.data_off = page
            self.data_size = page * page_count
            fcntl.ioctl(self.fd, PERF_EVENT_IOC_ENABLE, 0)
        except BaseException:
            os.close(self.fd)
            raise

    def read(self, start: int, n: int) -> bytes:
        """A copy of the ``n`` bytes at ring position ``start``, unwrapped."""
        off = start % self.data_size
        base = self.data_off
        if off + n <= self.data_size:
            return self.mem[base + off:base + off + n]
        first = self.data_size - off
        return self.mem[base + off:base + self.data_size] + self.mem[base:base + n - first]

    def close(self) -> None:
        self.mem.close()
        os.close(self.fd)


class PerfBuffer(EventReader[E]):
    """Events from a perf event array; ``callback(cpu, event)``,
    ``lost(cpu, count)``.  See :class:`~bpfskel.events.EventReader`."""

    def __init__(self, map_fd: int, callback: Optional[Callable[[int, Any], Any]],
                 event_type: Any = None, lost: Optional[Callable[[int, int], Any]] = None,
                 page_count: int = 64, name: str = "", max_entries: int = 0) -> None:
        if page_count <= 0 or page_count & (page_count - 1):
            raise ValueError(f"page_count {page_count} is not a power of 2")
        self._rings: List[_CpuRing] = []
        # Our own reference to the map: close() deletes the event fds from it,
        # which must never hit another map that reused the caller's fd number
        # (the skeleton may be destroyed before the reader is closed).
        self._map_fd = os.dup(map_fd)
        source = f"perf buffer {name!r}"
        lib = _libbpf.lib()
        try:
            tso = arch.current().tso  # refuses an unknown architecture
            # As libbpf: a CPU whose index the map cannot hold gets no ring.
            for cpu in online_cpus():
                if max_entries and cpu >= max_entries:
                    continue
                ring = _CpuRing(cpu, page_count, tso)
                self._rings.append(ring)
                key, value = ctypes.c_uint32(cpu), ctypes.c_uint32(ring.fd)
                ret = lib.bpf_map_update_elem(self._map_fd, ctypes.byref(key),
                                              ctypes.byref(value), 0)
                _libbpf.check(ret, f"{source}: storing the cpu {cpu} event fd")
            super().__init__(source, [r.fd for r in self._rings])
        except BaseException:
            self._close_maps()
            raise
        self._callback = callback
        self._lost = lost
        self.event_type = event_type
        self._decode = event_decoder(event_type, source)
        self.lost_events = 0
        self._read_cpus: Tuple[List[Any], List[int]] = ([], [])

    # read() collects the events themselves in ``out`` (the list it returns)
    # and their CPUs beside it, for the backlog if the read is interrupted.
    def _cpus_of(self, out: List[Any]) -> List[int]:
        if self._read_cpus[0] is not out:
            self._read_cpus = (out, [])
        return self._read_cpus[1]

    def _list_sink(self, out: List[Any]) -> Callable[..., Any]:
        cpus = self._cpus_of(out)

        def sink(cpu: int, event: Any) -> None:
            cpus.append(cpu)
            out.append(event)
        return sink

    def _list_bulk(self, out: List[Any]) -> Callable[..., Any]:
        cpus = self._cpus_of(out)
        run_events = self._run_events

        def bulk(cpu: int, events: Any) -> None:
            cpus.extend(itertools.repeat(cpu, len(events)))
            out.extend(run_events(events))
        return bulk

    def _sink_args(self, out: List[Any]) -> List[Tuple[Any, ...]]:
        return list(zip(self._cpus_of(out), out))

    def _events(self, out: List[Any]) -> List[Any]:
        self._read_cpus = ([], [])
        return out

    def _drain(self, sink: Callable[..., Any], limit: Optional[int],
               bulk: Optional[Callable[..., Any]] = None) -> int:
        count = 0
        for ring in self._rings:
            count += self._drain_ring(ring, sink, None if limit is None else limit - count,
                                      bulk)
            if count == limit or self._closed:  # closed by a callback
                break
        return count

    def _drain_ring(self, ring: _CpuRing, sink: Callable[..., Any],
                    limit: Optional[int], bulk: Optional[Callable[..., Any]]) -> int:
        """Samples are decoded straight from the mapping, runs of same-size
        samples with one strided copy (see :data:`bpfskel.events.RUN_MIN`);
        only a record that straddles the end of the data area is copied out
        on its own.  Records are 8-byte aligned and the data area is a
        power-of-2 multiple of 8, so a header never straddles.
        ``data_head`` is read with an acquire load (the kernel's release store
        orders the records before it), ``data_tail`` published once, at the end."""
        mem, decode, cpu = ring.mem, self._decode, ring.cpu
        base, dsize = ring.data_off, ring.data_size
        mask = dsize - 1
        u32 = _U32.unpack_from
        cls, stride, header = self._run_shape()
        raw = stride - _HDR.size - 4
        padded = raw if stride and raw != ctypes.sizeof(cls) else 0
        head = ring.head()
        tail = _U64.unpack_from(mem, _TAIL_OFF)[0]  # only this reader writes it
        count = 0
        single = 0  # records left to take one by one before probing for a run again
        try:
            while tail < head and count != limit and not self._closed:
                off = tail & mask
                if stride and not single and head - tail >= RUN_MIN * stride:
                    n = min(min(head - tail, dsize - off) // stride, RUN_MAX)
                    if limit is not None:
                        n = min(n, limit - count)
                    run = columns.run_length(mem, base + off, n, stride, header, None)
                    if run < RUN_MIN:
                        single = RUN_MIN
                    else:
                        # record_size() includes the kernel's padding
                        events = typed_run(cls, mem, base + off + 12, run, stride, padded)
                        done = 0
                        it = iter(events)
                        try:
                            if bulk is not None:
                                bulk(cpu, events)
                                done = run
                            else:
                                run_to(sink, it, self, cpu)
                        finally:
                            if bulk is None:
                                done = taken(it, run)
                            tail += done * stride
                            count += done
                        continue
                elif single:
                    single -= 1
                rtype, _misc, size = _HDR.unpack_from(mem, base + off)
                if size < _HDR.size:
                    tail = head  # a corrupt ring: drop what is in it rather than loop
                    break
                if off + size <= dsize:  # contiguous: no copy
                    tail += size
                    if rtype == PERF_RECORD_SAMPLE:
                        count += 1
                        sink(cpu, decode(mem, base + off + 12, u32(mem, base + off + 8)[0]))
                    elif rtype == PERF_RECORD_LOST:
                        self._count_lost(ring, mem[base + off:base + off + size])
                    continue
                record = ring.read(tail, size)
                tail += size
                if rtype == PERF_RECORD_SAMPLE:
                    count += 1
                    sink(cpu, decode(record, _HDR.size + 4,
                                     _U32.unpack_from(record, _HDR.size)[0]))
                elif rtype == PERF_RECORD_LOST:
                    self._count_lost(ring, record)
        finally:
            ring.publish(tail)
        return count

    def _run_shape(self) -> Tuple[Any, int, Tuple[Tuple[int, int, int], ...]]:
        """(event_type, stride, header) of a run of samples of ``event_type``:
        a sample is ``round_up(8 + 4 + size, 8)`` bytes; the header words are
        the type, the size (misc may differ) and the raw size the kernel
        padded to 8.  Stride 0 without an event type."""
        cls = self.event_type
        size = ctypes.sizeof(cls) if cls is not None else 0
        if not size:
            return cls, 0, ()
        stride = (_HDR.size + 4 + size + 7) & ~7
        return cls, stride, ((0, 4, PERF_RECORD_SAMPLE), (6, 2, stride),
                             (8, 4, stride - _HDR.size - 4))

    def _count_lost(self, ring: _CpuRing, record: bytes) -> None:
        lost = _LOST.unpack_from(record, _HDR.size)[1]
        self.lost_events += lost
        if self._lost is not None:
            self._lost(ring.cpu, lost)

    def _drain_array(self, parts: List[Any], limit: Optional[int]) -> None:
        """As :meth:`_drain`, copying runs of same-size samples: a sample of an
        ``event_type`` record is ``round_up(8 + 4 + size, 8)`` bytes, so a run
        of them up to the end of the data area is a strided array.  A record
        that is not such a sample, or straddles the end, goes the slow way."""
        cls, stride, header = self._run_shape()
        np = columns.numpy_or_none()
        count = 0
        for ring in self._rings:
            if count == limit or self._closed:
                break
            mem, base, dsize = ring.mem, ring.data_off, ring.data_size
            head = ring.head()
            tail = _U64.unpack_from(mem, _TAIL_OFF)[0]
            try:
                while tail < head and count != limit and not self._closed:
                    off = tail % dsize
                    n = min(head - tail, dsize - off) // stride
                    if limit is not None:
                        n = min(n, limit - count)
                    run = columns.run_length(mem, base + off, n, stride, header, np)
                    if run:
                        parts.append(columns.strided_records(cls, mem, base + off + 12, run,
                                                             stride, np))
                        tail += run * stride
                        count += run
                        continue
                    rtype, _misc, rsize = _HDR.unpack_from(ring.read(tail, _HDR.size))
                    if rsize < _HDR.size:
                        tail = head  # a corrupt ring, as in _drain_ring
                        break
                    record = ring.read(tail, rsize)
                    tail += rsize
                    if rtype == PERF_RECORD_SAMPLE:
                        raw_size = _U32.unpack_from(record, _HDR.size)[0]
                        event = self._decode(record, _HDR.size + 4, raw_size)
                        parts.append(columns.records_array(cls, bytearray(bytes(event)), 1))
                        count += 1
                    elif rtype == PERF_RECORD_LOST:
                        self._count_lost(ring, record)
            finally:
                ring.publish(tail)

    def _close_maps(self) -> None:
        """Take the fds out of the map (as libbpf does), then unmap and close."""
        lib = _libbpf.lib()
        rings, self._rings = self._rings, []
        for ring in rings:
            key = ctypes.c_uint32(ring.cpu)
            lib.bpf_map_delete_elem(self._map_fd, ctypes.byref(key))
            ring.close()
        if self._map_fd >= 0:
            os.close(self._map_fd)
            self._map_fd = -1

    @property
    def cpus(self) -> Tuple[int, ...]:
        return tuple(r.cpu for r in self._rings)
