"""Ring and perf buffer positions: wrap, discard, per-CPU records, close (bpf/events_edge.bpf.c).

Events come from a tc program run with BPF_PROG_TEST_RUN on the calling CPU,
so each test decides how many events exist, their sizes and their CPU.  The
rings are small (4 KiB), so positions wrap many times and records straddle
the end of the data area.  Expected contents are computed here from the
formulas in the C source; ring positions are read through an independent
read-only mapping of the ring buffer map.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import mmap
import os
import struct
import threading
import time
from typing import Any, Dict, List, Tuple

import pytest

import bpfskel
from bpfskel import _libbpf
from bpfskel.perfbuf import online_cpus

from bpfenv import loaded_skeleton, module_fixture, on_cpu, requires_bpf

pytestmark = [requires_bpf]

PKT = bytes(64)  # an Ethernet-sized frame for the tc test run
PAGE = mmap.PAGESIZE
RING = 4096  # small_rb's max_entries
MODE_FIXED, MODE_RING_BYTES, MODE_PERF_BYTES = 0, 1, 2
GOLDEN = 0x9E3779B97F4A7C15
SMALL_EVENT = struct.Struct("<IIQ")  # struct small_event as the C source declares it


mod = module_fixture("events_edge")
skel = loaded_skeleton


def emit(skel: Any, n: int, mode: int) -> None:
    """Run the program n times on this CPU: events seq .. seq + n - 1."""
    skel.bss.mode = mode
    skel.progs.emit.test_run(PKT, repeat=n)


def var_len(seq: int) -> int:
    return 8 + (seq * 13) % 113


def var_record(seq: int, cpu: int) -> bytes:
    """The variable-length record the program writes for ``seq`` on ``cpu``."""
    n = var_len(seq)
    return struct.pack("<II", seq, cpu) + bytes((seq * 31 + i) & 0xFF for i in range(8, n))


def ring_record_bytes(payload_len: int) -> int:
    """Ring space of one record: 8-byte header, rounded up to 8 (kernel ringbuf.c)."""
    return (payload_len + 8 + 7) & ~7


def ring_positions(map_fd: int) -> Tuple[int, int]:
    """(consumer, producer) positions, read through our own read-only mapping."""
    with mmap.mmap(map_fd, 2 * PAGE, mmap.MAP_SHARED, mmap.PROT_READ) as m:
        return struct.unpack_from("<Q", m, 0)[0], struct.unpack_from("<Q", m, PAGE)[0]


def check_fixed(events: List[Any], first: int, cpu: int) -> None:
    assert [e.seq for e in events] == list(range(first, first + len(events)))
    for e in events:
        assert (e.cpu, e.check) == (cpu, (e.seq * GOLDEN) & (2**64 - 1))


# -- ring buffer ------------------------------------------------------------------


def test_ring_positions_wrap_many_times_events_in_order(mod: Any, skel: Any) -> None:
    rb_map = skel.maps.small_rb
    assert rb_map.max_entries == RING
    got: List[Any] = []
    cpu = next(iter(os.sched_getaffinity(0)))
    total = 0
    with on_cpu(cpu), rb_map.ring_buffer(got.append, mod.types.small_event) as rb:
        for rnd in range(60):
            emit(skel, 100, MODE_FIXED)  # 100 * 24 bytes: fits, never full
            got.clear()
            if rnd % 3 == 0:
                got.extend(rb.read())
            elif rnd % 3 == 1:
                assert rb.consume() == 100
            else:  # a partial read across the wrap, then the rest
                got.extend(rb.read(max_events=37))
                assert len(got) == 37
                assert rb.poll(0) == 63
            check_fixed(got, rnd * 100, cpu)
            total += 100 * ring_record_bytes(SMALL_EVENT.size)
            assert ring_positions(rb_map.fd) == (total, total)
    assert skel.bss.dropped == 0
    assert total // RING >= 30  # the positions wrapped that many times
    assert RING % ring_record_bytes(SMALL_EVENT.size)  # so records straddle the end


def test_discarded_records_are_skipped_and_consumed(mod: Any, skel: Any) -> None:
    skel.bss.discard_mod, skel.bss.discard_rem = 3, 1
    seen: List[int] = []
    ended_on_discard = 0
    delivered: List[Any] = []
    with skel.maps.small_rb.ring_buffer(delivered.append, mod.types.small_event) as rb:
        for rnd in range(30):  # 3,000 reservations through a 4 KiB ring
            emit(skel, 100, MODE_FIXED)
            events = rb.read()
            want = [s for s in range(rnd * 100, rnd * 100 + 100) if s % 3 != 1]
            assert [e.seq for e in events] == want
            seen.extend(e.seq for e in events)
            cons, prod = ring_positions(skel.maps.small_rb.fd)
            assert cons == prod == (rnd + 1) * 100 * ring_record_bytes(SMALL_EVENT.size)
            ended_on_discard += (rnd * 100 + 99) % 3 == 1
        assert skel.bss.dropped == 0
        assert ended_on_discard  # some rounds ended on discarded records
        # only discarded records pending: nothing delivered, all consumed
        skel.bss.discard_mod, skel.bss.discard_rem = 1, 0
        emit(skel, 50, MODE_FIXED)
        assert rb.poll(0) == 0 and delivered == [] and rb.read() == []
        cons, prod = ring_positions(skel.maps.small_rb.fd)
        assert cons == prod == 3050 * ring_record_bytes(SMALL_EVENT.size)
    assert len(seen) == 2000


def test_variable_length_records_in_bytes_mode(skel: Any) -> None:
    cpu = next(iter(os.sched_getaffinity(0)))
    got: List[bytes] = []
    total = straddling = 0
    with on_cpu(cpu), skel.maps.small_rb.ring_buffer(got.append) as rb:
        for rnd in range(80):  # 25 records of 8..120 bytes: at most 3,200 bytes
            emit(skel, 25, MODE_RING_BYTES)
            got.clear()
            if rnd % 2:
                got.extend(rb.read())
            else:
                assert rb.consume() == 25
            seqs = range(rnd * 25, rnd * 25 + 25)
            assert got == [var_record(s, cpu) for s in seqs]  # exact lengths too
            for s in seqs:
                size = ring_record_bytes(var_len(s))
                straddling += (total % RING) + size > RING
                total += size
            assert ring_positions(skel.maps.small_rb.fd) == (total, total)
    assert skel.bss.dropped == 0
    assert total // RING >= 20 and straddling >= 20


def test_ring_buffer_records_from_each_cpu(mod: Any, skel: Any) -> None:
    cpus = sorted(online_cpus())
    with skel.maps.small_rb.ring_buffer(event_type=mod.types.small_event) as rb:
        for cpu in cpus:
            with on_cpu(cpu):
                emit(skel, 10, MODE_FIXED)
        events = rb.read()
    assert [e.seq for e in events] == list(range(10 * len(cpus)))  # one ring, one order
    assert [e.cpu for e in events] == [c for c in cpus for _ in range(10)]


def test_read_zero_events_reads_nothing(mod: Any, skel: Any) -> None:
    with skel.maps.small_rb.ring_buffer(event_type=mod.types.small_event) as rb:
        emit(skel, 5, MODE_FIXED)
        assert rb.read(max_events=0) == []  # used to drain (and drop) all five
        events = rb.read()
    assert [e.seq for e in events] == [0, 1, 2, 3, 4]


# -- closing ---------------------------------------------------------------------------


def test_close_from_the_callback_stops_and_publishes(mod: Any, skel: Any) -> None:
    seen: List[int] = []
    readers: List[Any] = []

    def callback(event: Any) -> None:
        seen.append(event.seq)
        if event.seq == 3:
            readers[0].close()

    rb = skel.maps.small_rb.ring_buffer(callback, mod.types.small_event)
    readers.append(rb)
    emit(skel, 10, MODE_FIXED)
    assert rb.consume() == 4  # no ValueError from the unmapped ring
    assert seen == [0, 1, 2, 3] and rb.closed
    with pytest.raises(bpfskel.ClosedError):
        rb.read()
    # the consumer position was published before the ring was unmapped
    with skel.maps.small_rb.ring_buffer(event_type=mod.types.small_event) as again:
        assert [e.seq for e in again.read()] == [4, 5, 6, 7, 8, 9]


def test_perf_close_from_the_callback(skel: Any) -> None:
    seen: List[bytes] = []
    readers: List[Any] = []

    def callback(cpu: int, raw: bytes) -> None:
        seen.append(raw)
        readers[0].close()

    pb = skel.maps.perf.perf_buffer(callback, page_count=1)
    readers.append(pb)
    emit(skel, 5, MODE_PERF_BYTES)
    assert pb.consume() == 1 and pb.closed and len(seen) == 1
    assert skel.bss.dropped == 0
    # close() took the event fds out of the map again, as libbpf does: BPF's
    # bpf_perf_event_output() now fails, and there is nothing left to delete
    emit(skel, 1, MODE_PERF_BYTES)
    assert skel.bss.dropped == 1
    for cpu in online_cpus():
        key = ctypes.c_uint32(cpu)
        assert _libbpf.lib().bpf_map_delete_elem(skel.maps.perf.fd,
                                                 ctypes.byref(key)) == -errno.ENOENT


def test_close_from_another_thread_while_poll_waits(skel: Any) -> None:
    rb = skel.maps.small_rb.ring_buffer(lambda e: None)
    closer = threading.Thread(target=lambda: (time.sleep(0.02), rb.close()))
    closer.start()
    try:
        # whether the close lands before or during the wait, the answer is the
        # same: ClosedError (it used to be an AssertionError after the wait)
        with pytest.raises(bpfskel.ClosedError):
            rb.poll(200)
    finally:
        closer.join()


def test_async_iteration_keeps_events_it_did_not_yield(mod: Any, skel: Any) -> None:
    async def main() -> Tuple[List[int], List[int], List[int]]:
        with skel.maps.small_rb.ring_buffer(event_type=mod.types.small_event) as rb:
            emit(skel, 10, MODE_FIXED)
            first: List[int] = []
            async for e in rb:
                first.append(e.seq)
                if len(first) == 3:
                    break
            # the iteration read all ten; the seven it did not yield are kept
            middle = [e.seq for e in rb.read(max_events=2)]
            last: List[int] = []

            async def rest() -> None:
                async for e in rb:
                    last.append(e.seq)
                    if e.seq == 9:
                        break

            await asyncio.wait_for(rest(), timeout=10)  # lost events would hang here
            return first, middle, last

    assert asyncio.run(main()) == ([0, 1, 2], [3, 4], [5, 6, 7, 8, 9])


def test_close_ends_an_async_iteration(mod: Any, skel: Any) -> None:
    async def main() -> List[int]:
        rb = skel.maps.small_rb.ring_buffer(event_type=mod.types.small_event)
        got: List[int] = []

        async def consume() -> None:
            async for e in rb:
                got.append(e.seq)

        task = asyncio.ensure_future(consume())
        emit(skel, 2, MODE_FIXED)
        while len(got) < 2:
            await asyncio.sleep(0)
        rb.close()  # the iteration is waiting for more: it must end, not hang
        await asyncio.wait_for(task, timeout=10)
        return got

    assert asyncio.run(main()) == [0, 1]


# -- perf buffer -----------------------------------------------------------------------


def perf_record_bytes(raw: bytes) -> int:
    return 8 + 4 + len(raw)  # perf_event_header, u32 size, raw data (padded)


def check_perf_raw(raw: bytes, seq: int, cpu: int) -> None:
    want = var_record(seq, cpu)
    # the kernel pads the sample to 8 bytes by skipping (not zeroing) ring bytes
    assert len(raw) == ((4 + len(want) + 7) & ~7) - 4
    assert raw[:len(want)] == want


def test_perf_records_wrap_the_data_area(skel: Any) -> None:
    cpu = next(iter(os.sched_getaffinity(0)))
    got: List[Tuple[int, bytes]] = []
    lost: List[int] = []
    total = straddling = 0
    with on_cpu(cpu), skel.maps.perf.perf_buffer(lambda c, raw: got.append((c, raw)),
                                                 lost=lambda c, n: lost.append(n),
                                                 page_count=1) as pb:
        data = PAGE  # page_count=1
        for rnd in range(60):  # 25 records of at most 136 bytes per 4 KiB ring
            emit(skel, 25, MODE_PERF_BYTES)
            got.clear()
            if rnd % 2:
                got.extend((cpu, raw) for raw in pb.read())
            else:
                assert pb.consume() == 25
            assert [c for c, _ in got] == [cpu] * 25
            for i, (_, raw) in enumerate(got):
                check_perf_raw(raw, rnd * 25 + i, cpu)
                size = perf_record_bytes(raw)
                straddling += (total % data) + size > data
                total += size
    assert lost == [] and skel.bss.dropped == 0
    assert total // data >= 20 and straddling >= 10


def test_perf_events_from_every_cpu(skel: Any) -> None:
    cpus = sorted(online_cpus())
    if len(cpus) < 2:
        pytest.skip("one online CPU")
    got: List[Tuple[int, bytes]] = []
    sent: Dict[int, List[int]] = {}
    with skel.maps.perf.perf_buffer(lambda c, raw: got.append((c, raw)), page_count=2) as pb:
        seq = 0
        for cpu in cpus:
            n = 5 + cpu % 7
            with on_cpu(cpu):
                emit(skel, n, MODE_PERF_BYTES)
            sent[cpu] = list(range(seq, seq + n))
            seq += n
        assert pb.consume() == seq
    by_cpu: Dict[int, List[int]] = {}
    for cpu, raw in got:
        s, written_on = struct.unpack_from("<II", raw)
        assert written_on == cpu  # delivered with the CPU whose ring held it
        check_perf_raw(raw, s, cpu)
        by_cpu.setdefault(cpu, []).append(s)
    assert by_cpu == sent


def test_perf_reader_outliving_its_skeleton_leaves_other_maps_alone(mod: Any) -> None:
    lib = _libbpf.lib()
    skel = mod.open()
    skel.load()
    pb = skel.maps.perf.perf_buffer(lambda c, raw: None, page_count=1)
    old_fd = skel.maps.perf.fd
    skel.destroy()
    # new maps take the lowest free fd numbers: one of them gets the old number
    created: List[int] = []
    try:
        o = _libbpf.opts(_libbpf.MapCreateOpts)
        while old_fd not in created and len(created) < 64:
            created.append(_libbpf.call(lib.bpf_map_create, "creating a hash", 1,
                                        b"victim", 4, 4, 8, ctypes.byref(o)))
        assert old_fd in created
        victim = old_fd
        for k in range(len(online_cpus())):
            key, value = ctypes.c_uint32(k), ctypes.c_uint32(1000 + k)
            assert lib.bpf_map_update_elem(victim, ctypes.byref(key), ctypes.byref(value),
                                           0) == 0
        pb.close()  # deletes the event fds from the perf map, not from the victim
        for k in range(len(online_cpus())):
            key, value = ctypes.c_uint32(k), ctypes.c_uint32()
            assert lib.bpf_map_lookup_elem(victim, ctypes.byref(key),
                                           ctypes.byref(value)) == 0
            assert value.value == 1000 + k
    finally:
        pb.close()
        for fd in created:
            os.close(fd)
