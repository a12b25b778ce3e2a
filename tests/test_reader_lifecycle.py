"""Life of the ring and perf buffer readers under threads, signals and destroy
(bpf/events_edge.bpf.c: events come from BPF_PROG_TEST_RUN on this CPU).

The race tests force a thread switch every microsecond and repeat a round
until the race shows, within a bounded number of rounds and seconds: before
the fix each of them failed within its first rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
import threading
import time
from typing import Any, Callable, Iterator, List

import pytest

import bpfskel

from bpfenv import loaded_skeleton, module_fixture, requires_bpf
from skelenv import run_isolated

pytestmark = [requires_bpf]

PKT = bytes(64)
MODE_FIXED, MODE_PERF_BYTES = 0, 2
ROUNDS, SECONDS = 300, 6.0

mod = module_fixture("events_edge")
skel = loaded_skeleton


def emit(skel: Any, n: int, mode: int) -> None:
    skel.bss.mode = mode
    skel.progs.emit.test_run(PKT, repeat=n)


@contextlib.contextmanager
def fast_switching() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class Bystander:
    """A thread that keeps opening, using and closing its own pipes: a reader
    closing an fd twice closes one of these (EBADF here), as it did before."""

    def __init__(self) -> None:
        self.errors: List[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            r, w = os.pipe()
            try:
                os.write(w, b"x")
                assert os.read(r, 1) == b"x"
                os.close(r)
                os.close(w)
            except BaseException as e:  # noqa: BLE001 - reported by the test
                self.errors.append(e)
                return

    def __enter__(self) -> "Bystander":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def race(make: Callable[[], Any], work: Callable[[Any], None]) -> List[str]:
    """Rounds of: a worker thread calls ``work(reader)`` in a loop until it
    raises ClosedError, while this thread closes the reader.  Returns what
    went wrong (anything but ClosedError, in either thread), stopping at the
    first round where something did."""
    problems: List[str] = []
    deadline = time.monotonic() + SECONDS
    rng = random.Random(14)
    with fast_switching(), Bystander() as bystander:
        for _ in range(ROUNDS):
            reader = make()
            started = threading.Event()

            def worker(reader: Any = reader, started: threading.Event = started) -> None:
                try:
                    while True:
                        started.set()
                        work(reader)
                except bpfskel.ClosedError:
                    pass
                except BaseException as exc:  # noqa: BLE001 - reported below
                    problems.append(f"worker: {exc!r}")

            t = threading.Thread(target=worker)
            t.start()
            started.wait()
            time.sleep(rng.random() * 1e-4)
            try:
                reader.close()
            except BaseException as e:  # noqa: BLE001 - reported below
                problems.append(f"close: {e!r}")
            t.join(10)
            if t.is_alive():
                problems.append("worker still running 10 s after close()")
                break
            problems.extend(f"bystander: {e!r}" for e in bystander.errors)
            if problems or time.monotonic() > deadline:
                break
    return problems


def test_perf_close_racing_consume_closes_each_fd_once(skel: Any) -> None:
    """Item 1: close() in one thread, consume() looping in another."""
    before = open_fds()
    problems = race(lambda: skel.maps.perf.perf_buffer(lambda c, e: None, page_count=1),
                    lambda pb: pb.consume())
    assert problems == []
    assert open_fds() == before  # every event fd, mapping and epoll fd released


def test_ring_close_racing_read_releases_once(skel: Any) -> None:
    before = open_fds()
    problems = race(lambda: skel.maps.small_rb.ring_buffer(lambda e: None),
                    lambda rb: rb.read())
    assert problems == []
    assert open_fds() == before


@pytest.mark.parametrize("kind", ["ring", "perf"])
def test_poll_racing_close_raises_closed_error(skel: Any, kind: str) -> None:
    """Item 2: never a raw OSError (EBADF) from epoll_wait on a closed fd."""
    def make() -> Any:
        if kind == "ring":
            return skel.maps.small_rb.ring_buffer(lambda e: None)
        return skel.maps.perf.perf_buffer(lambda c, e: None, page_count=1)

    assert race(make, lambda r: r.poll(timeout_ms=1)) == []


def test_close_wakes_a_poll_without_timeout(skel: Any) -> None:
    rb = skel.maps.small_rb.ring_buffer(lambda e: None)
    outcome: List[str] = []

    def wait() -> None:
        try:
            rb.poll()  # no timeout: only close() can end it
        except bpfskel.ClosedError:
            outcome.append("closed")

    t = threading.Thread(target=wait, daemon=True)
    t.start()
    time.sleep(0.05)
    rb.close()
    t.join(10)
    assert outcome == ["closed"]


# -- destroy closes the skeleton's readers ----------------------------------------------


def test_destroy_closes_every_reader(mod: Any) -> None:
    """Item 3: pending and later poll/read raise ClosedError."""
    s = mod.open_and_load()
    try:
        rb = s.maps.small_rb.ring_buffer(lambda e: None, mod.types.small_event)
        pb = s.maps.perf.perf_buffer(lambda c, e: None, page_count=1)
        emit(s, 3, MODE_FIXED)
        outcome: List[str] = []

        def wait() -> None:
            try:
                pb.poll()
            except bpfskel.ClosedError:
                outcome.append("closed")

        t = threading.Thread(target=wait, daemon=True)
        t.start()
        time.sleep(0.05)
        s.destroy()
        t.join(10)
        assert outcome == ["closed"]  # the waiting poll
        assert rb.closed and pb.closed
        for call in (rb.poll, rb.read, rb.consume, pb.read, pb.consume):
            with pytest.raises(bpfskel.ClosedError):
                call()
    finally:
        s.destroy()


def test_destroy_ends_async_iteration(mod: Any) -> None:
    async def main() -> List[int]:
        s = mod.open_and_load()
        rb = s.maps.small_rb.ring_buffer(event_type=mod.types.small_event)
        got: List[int] = []

        async def consume() -> None:
            async for e in rb:
                got.append(e.seq)

        task = asyncio.ensure_future(consume())
        emit(s, 2, MODE_FIXED)
        while len(got) < 2:
            await asyncio.sleep(0.001)
        s.destroy()
        await asyncio.wait_for(task, timeout=10)  # it used to wait forever
        return got

    assert asyncio.run(main()) == [0, 1]


def test_destroy_in_a_signal_handler_stops_a_poll_delivering(mod: Any) -> None:
    s = mod.open_and_load()
    seen: List[int] = []
    old = signal.signal(signal.SIGUSR1, lambda *_: s.destroy())
    try:
        def callback(event: Any) -> None:
            seen.append(event.seq)
            if event.seq == 4:
                os.kill(os.getpid(), signal.SIGUSR1)  # the handler runs before the next event

        rb = s.maps.small_rb.ring_buffer(callback, mod.types.small_event)
        emit(s, 100, MODE_FIXED)
        delivered = rb.poll(0)
        assert seen == [0, 1, 2, 3, 4] and delivered == 5  # it used to deliver all 100
        with pytest.raises(bpfskel.ClosedError):
            rb.poll(0)
    finally:
        signal.signal(signal.SIGUSR1, old)
        s.destroy()


def test_a_reader_does_not_import_asyncio(mod: Any) -> None:
    """Item 13: the first reader costs no asyncio import (40 modules) after attach."""
    out = run_isolated(mod, """
        import sys
        with skel_mod.open_and_load() as skel:
            rb = skel.maps.small_rb.ring_buffer(lambda e: None)
            pb = skel.maps.perf.perf_buffer(lambda c, e: None, page_count=1)
            rb.poll(0), pb.poll(0), rb.read(), pb.read()
            print("asyncio" in sys.modules)
    """)
    assert out.split() == ["False"]
