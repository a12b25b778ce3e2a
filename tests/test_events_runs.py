"""The per-event fast path (bpfskel.events.RUN_MIN): runs of same-size
records are copied at once and delivered one by one, with exactly the
semantics of the record-by-record path: order, short records and their
sizes, an exception or a close in the middle of a run, ``max_events``.
Events come from bpf/fidelity.bpf.c through BPF_PROG_TEST_RUN, the test
pinned to one CPU so that perf samples land in one ring, in order."""

from __future__ import annotations

import contextlib
import ctypes
import os
from typing import Any, Iterator, List

import pytest

import bpfskel
from bpfskel.events import RUN_MIN
from bpfskel.perfbuf import online_cpus

from bpfenv import loaded_skeleton, module_fixture, requires_bpf

pytestmark = [requires_bpf]

PKT = bytes(64)
N = 2 * RUN_MIN + 8  # more than one run's worth, not a multiple of it

mod = module_fixture("fidelity")
skel = loaded_skeleton


@pytest.fixture(autouse=True)
def one_cpu() -> Iterator[None]:
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(saved & set(online_cpus()))})
    try:
        yield
    finally:
        os.sched_setaffinity(0, saved)


def emit(skel: Any, n: int, size: int) -> None:
    skel.bss.rec_len = size
    skel.progs.emit.test_run(PKT, repeat=n)


@contextlib.contextmanager
def reader(skel: Any, mod: Any, kind: str, callback: Any = None) -> Iterator[Any]:
    if kind == "ring":
        r = skel.maps.rb.ring_buffer(callback, mod.types.event)
    else:
        r = skel.maps.pb.perf_buffer(None if callback is None else
                                     (lambda cpu, e: callback(e)), mod.types.event)
    with r:
        yield r


def full_size(mod: Any, kind: str, size: int) -> int:
    """record_size() of a record of ``size`` bytes (perf pads with its u32 size to 8)."""
    return size if kind == "ring" else ((size + 4 + 7) & ~7) - 4


@pytest.mark.parametrize("kind", ["ring", "perf"])
def test_runs_and_short_records_keep_order_and_sizes(mod: Any, skel: Any, kind: str) -> None:
    full = ctypes.sizeof(mod.types.event)
    got: List[Any] = []
    with reader(skel, mod, kind, got.append) as r:
        emit(skel, N, full)
        emit(skel, 1, 13)
        emit(skel, N, full)
        assert r.consume() == 2 * N + 1
    assert [e.seq for e in got] == list(range(2 * N + 1))
    assert all(type(e) is mod.types.event for e in got)
    sizes = [bpfskel.record_size(e) for e in got]
    assert sizes == [full_size(mod, kind, full)] * N + [full_size(mod, kind, 13)] + \
        [full_size(mod, kind, full)] * N
    # every event is its own value: writing one changes no other
    got[1].seq = 999
    assert (got[0].seq, got[2].seq) == (0, 2)


@pytest.mark.parametrize("kind", ["ring", "perf"])
def test_exception_in_a_run_consumes_up_to_that_event(mod: Any, skel: Any, kind: str) -> None:
    got: List[int] = []

    def callback(e: Any) -> None:
        got.append(e.seq)
        if e.seq == RUN_MIN + 3:
            raise ValueError("stop here")

    with reader(skel, mod, kind, callback) as r:
        emit(skel, N, ctypes.sizeof(mod.types.event))
        with pytest.raises(ValueError, match="stop here"):
            r.consume()
        assert got == list(range(RUN_MIN + 4))
        assert r.consume() == N - RUN_MIN - 4
    assert got == list(range(N))


def test_close_in_a_run_stops_after_that_event(mod: Any, skel: Any) -> None:
    got: List[int] = []
    readers: List[Any] = []

    def callback(e: Any) -> None:
        got.append(e.seq)
        if e.seq == RUN_MIN + 3:
            readers[0].close()

    rb = skel.maps.rb.ring_buffer(callback, mod.types.event)
    readers.append(rb)
    emit(skel, N, ctypes.sizeof(mod.types.event))
    assert rb.consume() == RUN_MIN + 4 and rb.closed
    with skel.maps.rb.ring_buffer(event_type=mod.types.event) as again:
        assert [e.seq for e in again.read()] == list(range(RUN_MIN + 4, N))


@pytest.mark.parametrize("kind", ["ring", "perf"])
def test_max_events_splits_a_run(mod: Any, skel: Any, kind: str) -> None:
    with reader(skel, mod, kind) as r:
        emit(skel, N, ctypes.sizeof(mod.types.event))
        first = r.read(max_events=RUN_MIN + 1)
        rest = r.read()
        assert [e.seq for e in first + rest] == list(range(N))
        assert len(first) == RUN_MIN + 1 and r.read() == []
        full = ctypes.sizeof(mod.types.event)
        assert {bpfskel.record_size(e) for e in first + rest} == {full_size(mod, kind, full)}


def test_an_interrupted_perf_read_keeps_events_and_their_cpus(mod: Any, skel: Any) -> None:
    """read() collects events and their CPUs apart; what a failed read took
    off the rings reaches the callback next, each with its CPU."""
    (cpu,) = os.sched_getaffinity(0)
    got: List[Any] = []
    with skel.maps.pb.perf_buffer(lambda c, e: got.append((c, e.seq)), mod.types.event) as r:
        emit(skel, 8, ctypes.sizeof(mod.types.event))  # fewer than a run: one by one
        real, calls = r._decode, [0]

        def failing(buf: Any, off: int, n: int) -> Any:
            calls[0] += 1
            if calls[0] == 5:
                raise MemoryError("while decoding the 5th record")
            return real(buf, off, n)

        r._decode = failing
        with pytest.raises(MemoryError):
            r.read()
        r._decode = real
        assert r.consume() == 7
    assert got == [(cpu, s) for s in (0, 1, 2, 3, 5, 6, 7)]


def test_run_events_are_the_elements_read_would_iterate() -> None:
    """read() turns a run into events by slicing its array; for every element
    type that gives what iterating it gives (a c_char run slices to one bytes
    object, so it is iterated), and struct elements share the run's copy."""
    from bpfskel.events import run_events

    class Ev(ctypes.Structure):
        _fields_ = [("seq", ctypes.c_uint64), ("tag", ctypes.c_uint32)]

    raw = bytearray(b"".join(bytes(Ev(seq=i, tag=7 * i)) for i in range(5)))
    run = (Ev * 5).from_buffer(raw)
    events = run_events(run)
    assert type(events) is list and [(e.seq, e.tag) for e in events] == [
        (i, 7 * i) for i in range(5)]
    assert all(e._b_base_ is run for e in events)
    for ctype, data in ((ctypes.c_char, b"abcd"), (ctypes.c_uint16, bytes(range(8))),
                        (ctypes.c_char * 2, b"wxyz")):
        arr = (ctype * (len(data) // ctypes.sizeof(ctype))).from_buffer_copy(data)
        got = run_events(arr)
        assert type(got) is list and [bytes(x) if isinstance(x, ctypes.Array) else x
                                      for x in got] == [bytes(x) if isinstance(
                                          x, ctypes.Array) else x for x in arr]
