"""Ring buffer and perf buffer readers on a real program (bpf/maps.bpf.c):
typed events in order with every field, bytes events, exceptions from
callbacks, lost events, selectors and asyncio."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import selectors
import struct
from typing import Any, Iterator, List, Tuple

import pytest

import bpfskel
from bpfskel.perfbuf import online_cpus

from bpfenv import module_fixture
from mapsenv import comm, pytestmark, traced  # noqa: F401

COOKIE = 0x1122334455667788
EVENT = struct.Struct("<IIQ16s")  # struct event as the C source declares it


mod = module_fixture("maps")


@pytest.fixture
def skel(mod: Any) -> Iterator[Any]:
    with traced(mod) as s:
        s.bss.cookie = COOKIE
        yield s


def fire(n: int) -> None:
    for _ in range(n):
        os.getppid()


def check_events(events: List[Any], n: int, first_seq: int = 0) -> None:
    assert [e.seq for e in events] == list(range(first_seq, first_seq + n))
    for e in events:
        assert (e.tgid, e.cookie, e.comm) == (os.getpid(), COOKIE, comm())


def test_ring_buffer_typed_events_in_order(mod: Any, skel: Any) -> None:
    got: List[Any] = []
    with skel.maps.events.ring_buffer(got.append, mod.types.event) as rb:
        assert rb.poll(0) == 0
        fire(40)
        assert rb.poll(1000) == 40
        assert all(type(e) is mod.types.event for e in got)
        check_events(got, 40)
        assert rb.consume() == 0


def test_ring_buffer_bytes_events(skel: Any) -> None:
    got: List[bytes] = []
    with skel.maps.events.ring_buffer(got.append) as rb:
        fire(3)
        assert rb.consume() == 3
    assert all(isinstance(b, bytes) and len(b) == EVENT.size for b in got)
    fields = [EVENT.unpack(b) for b in got]
    assert [f[0] for f in fields] == [0, 1, 2]
    assert {f[1:3] for f in fields} == {(os.getpid(), COOKIE)}
    assert {f[3].rstrip(b"\0") for f in fields} == {comm()}


def test_ring_buffer_batch_read(mod: Any, skel: Any) -> None:
    with skel.maps.events.ring_buffer(event_type=mod.types.event) as rb:
        fire(25)
        first = rb.read(max_events=10)
        rest = rb.read()
        assert len(first) == 10 and len(rest) == 15
        check_events(first + rest, 25)
        assert rb.read() == []
        with pytest.raises(TypeError, match="no callback"):
            rb.poll(0)


def test_callback_exception_propagates_and_stops(mod: Any, skel: Any) -> None:
    seen: List[int] = []

    def callback(event: Any) -> None:
        seen.append(event.seq)
        if event.seq == 2:
            raise RuntimeError("boom at 2")

    with skel.maps.events.ring_buffer(callback, mod.types.event) as rb:
        fire(6)
        with pytest.raises(RuntimeError, match="boom at 2"):
            rb.poll(1000)
        assert seen == [0, 1, 2]        # stopped at the failing event
        assert rb.consume() == 3        # which counted as consumed
        assert seen == [0, 1, 2, 3, 4, 5]


def test_event_type_larger_than_record_is_zero_padded(skel: Any) -> None:
    got: List[Any] = []
    with skel.maps.events.ring_buffer(got.append, ctypes.c_ubyte * 64) as rb:
        fire(1)
        assert rb.poll(1000) == 1
    (e,) = got
    assert bpfskel.record_size(e) == 32 and bytes(e)[32:] == bytes(32)


def test_ring_buffer_with_selectors_and_close(skel: Any) -> None:
    rb = skel.maps.events.ring_buffer(lambda e: None)
    sel = selectors.DefaultSelector()
    sel.register(rb, selectors.EVENT_READ)
    assert sel.select(0) == []
    fire(1)
    assert len(sel.select(1.0)) == 1
    assert rb.consume() == 1
    sel.close()
    rb.close()
    rb.close()
    assert rb.closed
    with pytest.raises(bpfskel.ClosedError):
        rb.poll(0)


def test_asyncio_reader_receives_events(mod: Any, skel: Any) -> None:
    async def main() -> List[Any]:
        got: List[Any] = []
        with skel.maps.events.ring_buffer(event_type=mod.types.event) as rb:
            loop = asyncio.get_running_loop()
            producer = loop.run_in_executor(None, fire, 5)

            async def collect() -> None:
                async for event in rb:
                    got.append(event)
                    if len(got) == 5:
                        break

            await asyncio.wait_for(collect(), timeout=10)
            await producer
        return got

    check_events(asyncio.run(main()), 5)


def test_perf_buffer_events(mod: Any, skel: Any) -> None:
    got: List[Any] = []
    with skel.maps.perf_events.perf_buffer(lambda cpu, e: got.append((cpu, e)),
                                           mod.types.event) as pb:
        assert set(pb.cpus) == set(online_cpus())
        fire(20)
        n = 0
        while n < 20:
            assert pb.poll(1000) > 0
            n = len(got)
    assert {cpu for cpu, _ in got} <= set(online_cpus())
    check_events(sorted((e for _, e in got), key=lambda e: e.seq), 20)
    # each CPU's events arrive in order
    for cpu in {c for c, _ in got}:
        seqs = [e.seq for c, e in got if c == cpu]
        assert seqs == sorted(seqs)


@contextlib.contextmanager
def on_one_cpu() -> Iterator[int]:
    """Pin this thread to one CPU (the producer is this thread's syscalls)."""
    saved = os.sched_getaffinity(0)
    cpu = min(saved & set(online_cpus()))
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, saved)


def test_perf_buffer_counts_lost_events(mod: Any, skel: Any) -> None:
    lost: List[Tuple[int, int]] = []
    got: List[Tuple[int, Any]] = []
    # One 4 KiB page per CPU holds fewer than 100 of these 48-byte records.
    # Pinned: a producer that migrates overflows two rings, and the kernel
    # writes a ring's LOST record only when that ring is written again, so
    # the count would depend on where the last event ran.
    with skel.maps.perf_events.perf_buffer(lambda cpu, e: got.append((cpu, e)),
                                           mod.types.event,
                                           lost=lambda cpu, n: lost.append((cpu, n)),
                                           page_count=1) as pb, on_one_cpu() as cpu:
        fire(500)
        pb.consume()
        fire(1)  # the kernel writes the LOST record once there is room again
        pb.consume()
        n_lost = sum(n for _, n in lost)
        assert n_lost > 0
        assert len(got) + n_lost == 501
        assert pb.lost_events == n_lost
        assert {c for c, _ in got} | {c for c, _ in lost} == {cpu}


def test_perf_buffer_callback_exception_propagates(skel: Any) -> None:
    seen: List[bytes] = []

    def callback(cpu: int, event: bytes) -> None:
        seen.append(event)
        if len(seen) == 1:
            raise ValueError("from the callback")

    with skel.maps.perf_events.perf_buffer(callback) as pb:
        fire(3)
        with pytest.raises(ValueError, match="from the callback"):
            pb.poll(1000)
        assert len(seen) == 1
        assert pb.consume() == 2
        assert sorted(EVENT.unpack_from(b)[0] for b in seen) == [0, 1, 2]


def test_reader_on_the_wrong_map_type(skel: Any) -> None:
    with pytest.raises(TypeError, match="not a ring buffer"):
        skel.maps.stats.ring_buffer(print)
    with pytest.raises(TypeError, match="not a perf event array"):
        skel.maps.events.perf_buffer(print)
