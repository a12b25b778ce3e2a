"""What the ring buffer and perf buffer readers share: waiting, typing, asyncio.

A reader owns an epoll instance over the kernel fds that become readable
when events are pending (``fileno()`` returns it, for ``selectors``).  Both
readers consume records by reading the shared memory the kernel writes, in
Python, with no C callback per event; ``poll()`` drains what is pending,
waits on epoll if nothing was, and drains again.

Typing: with ``event_type`` (a generated class), each record is copied into a
fresh instance (``from_buffer_copy``), or, in a run of same-size records (see
``RUN_MIN``), is an element of one copy of the run; without, the callback
gets ``bytes``.
A record of another size than ``event_type`` is still delivered as one:
real tools send only the used part of a record (``bpf_ringbuf_output(...,
offsetof(struct event, args) + e->args_size, ...)``), so a short record is
zero-padded, and a longer one is cut.  :func:`record_size` gives the
record's real size.  Decoding never raises, so no record is dropped.

Exceptions: an exception raised by the callback stops the drain at that
record (which counts as consumed, as in libbpf) and propagates out of
``poll()``/``consume()``; nothing is printed or swallowed.

Lifetime and threads: a reader is driven from one thread at a time, but
``close()`` may come from anywhere: a callback, another thread, a signal
handler, or ``Skeleton.destroy()``, which closes every reader the skeleton
made.  ``close()`` marks the reader closed at once and wakes a waiting
``poll()`` (through an eventfd in the epoll set, so a wait with no timeout
ends too) and every async iteration.  From then on:

* a ``poll()``/``consume()``/``read()`` that is delivering stops after the
  event in hand and returns what it delivered; one that is waiting raises
  :class:`~bpfskel.ClosedError`; every later call raises ``ClosedError``;
* ``async for`` ends.

The reader owns its fds (epoll, eventfd, the rings' mappings; a perf buffer
also its event fds and its own duplicate of the map fd).  They are released
exactly once, by whichever caller leaves last: every operation that touches
them registers as a user first, and ``close()`` only releases when no user is
left (else the last user does, on its way out).  Taking a user slot and
taking ownership for release are single list operations, atomic under the
GIL and between bytecodes, so neither threads nor a signal handler can run
the release twice or while a user still reads the rings.  An async iteration
is a user for as long as its event loop watches the epoll fd.

Async iteration reads a batch and yields it one event at a time: events read
but not yet yielded when the loop stops are kept, and the next
``read()``/``poll()``/iteration delivers them first.  asyncio is imported
only when an async iteration starts, so a reader costs nothing before its
first poll.
"""

from __future__ import annotations

import ctypes
import os
import select
from collections import deque
from itertools import repeat
from typing import (
    Any,
    AsyncIterator,
    Callable,
    Deque,
    Generic,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
)

from .closing import Closing
from .errors import ClosedError, EventSizeError  # noqa: F401 - EventSizeError re-exported
from .gcpause import gc_paused

__all__ = ["EventReader", "EventSizeError", "event_decoder", "record_size", "run_events",
           "run_to", "taken", "typed_run"]

_SIZE_KEY = "_record_size_"


def record_size(event: Any) -> int:
    """The size in bytes of the record ``event`` was decoded from.

    ``len(event)`` for ``bytes`` events; for typed ones, ``sizeof(event)``
    unless the record was shorter (the missing tail reads as zeros) or
    longer (the extra bytes were cut).  Perf buffer samples include the
    kernel's padding to 8 bytes.
    """
    if isinstance(event, (bytes, bytearray)):  # a reader without event_type
        return len(event)
    d = getattr(event, "__dict__", None)
    size = d.get(_SIZE_KEY) if d is not None else None
    if size is None:  # an element of a run (typed_run): its array holds the size
        run = getattr(event, "_b_base_", None)
        if isinstance(run, ctypes.Array) and run._type_ is type(event):
            size = run.__dict__.get(_SIZE_KEY)
    return ctypes.sizeof(event) if size is None else int(size)


def event_decoder(event_type: Any, source: str) -> Callable[[Any, int, int], Any]:
    """``decode(buffer, offset, length)`` for records of ``event_type`` (or bytes)."""
    if event_type is None:
        return lambda buf, off, n: bytes(buf[off:off + n])
    size = ctypes.sizeof(event_type)
    copy = event_type.from_buffer_copy

    def decode(buf: Any, off: int, n: int) -> Any:
        if n == size:
            return copy(buf, off)
        if n > size:
            event = copy(buf, off)
        else:  # only the used part was sent: the rest reads as zeros
            event = copy(bytes(buf[off:off + n]) + bytes(size - n))
        event.__dict__[_SIZE_KEY] = n
        return event

    return decode


# Runs of same-size records (the per-event fast path): a reader with an
# event_type checks the headers of up to RUN_MAX pending records at once
# (columns.run_length, no per-record Python code) and copies a run of them
# with one strided copy into a ctypes array; each event is then an element
# of that array (a view sharing its one copy, so an event keeps the buffer
# of its run alive).  Fewer than RUN_MIN pending records, or a probe that
# finds no run, go one by one, and the next RUN_MIN records do too, so
# records of mixed sizes cost one probe per RUN_MIN records, not per record.
RUN_MIN = 16
RUN_MAX = 1024


def typed_run(cls: Any, buf: Any, start: int, count: int, stride: int,
              record_size: int = 0) -> Any:
    """``count`` records of ``cls`` every ``stride`` bytes from ``start`` of
    ``buf``, copied into one ctypes array ``cls * count`` (never numpy: the
    per-event path must not import it).  ``record_size``, if not 0, is what
    :func:`record_size` gives for each element."""
    from .columns import copy_strided

    run = (cls * count).from_buffer(copy_strided(buf, start, count, stride,
                                                 ctypes.sizeof(cls)))
    if record_size:
        run.__dict__[_SIZE_KEY] = record_size
    return run


def run_events(run: Any) -> List[Any]:
    """The elements of a run as a list: a slice of the ctypes array, which
    makes them faster than iterating it (a ``c_char``/``c_wchar`` run slices
    to one string, so it is iterated)."""
    events = run[:]
    return events if isinstance(events, list) else list(run)


def run_to(sink: Callable[..., Any], it: Iterator[Any], reader: "EventReader[Any]",
           *first: Any) -> None:
    """Call ``sink(*first, event)`` for each event of the iterator ``it`` over
    a run, until the reader is closed (after the event in hand).  ``map``
    makes the calls, so the loop body is just the closed check; how many
    were made, even when one raised, is :func:`taken` of ``it``."""
    args = (it,) if not first else (*(repeat(a) for a in first), it)
    for _ in map(sink, *args):
        if reader._closed:  # closed by the callback, or from elsewhere
            break


def taken(it: Iterator[Any], n: int) -> int:
    """How many items the iterator ``it`` over a run of ``n`` has yielded
    (its position, from ``__reduce__``; an exhausted one has none)."""
    state = it.__reduce__()
    return int(state[2]) if len(state) > 2 else n


E = TypeVar("E")


class EventReader(Closing, Generic[E]):
    """Base of RingBuffer and PerfBuffer: epoll, poll, lifetime, asyncio.
    Generic in the event type: ``RingBuffer[types.event]``, ``[bytes]`` untyped."""

    def __init__(self, source: str, fds: Sequence[int]) -> None:
        self.source = source
        self._closed = False
        # One entry per operation in progress (see the module docstring); the
        # release runs once, by whoever pops ``_owned`` with no user left.
        self._users: List[None] = []
        self._owned: List[bool] = []
        # sink arguments read from the rings but not delivered yet (async iteration)
        self._backlog: Deque[Tuple[Any, ...]] = deque()
        self._wakers: List[Callable[[], None]] = []  # async iterations to wake on close
        self._epoll = select.epoll()
        try:
            self._wake_fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        except BaseException:
            self._epoll.close()
            raise
        self._owned.append(True)
        self._epoll.register(self._wake_fd, select.EPOLLIN)
        for fd in fds:
            self._epoll.register(fd, select.EPOLLIN)

    # subclasses: deliver up to ``limit`` events to ``sink``; return how many.
    # They stop after the event during which the reader was closed.
    # ``bulk``, if given, takes a whole run of events at once instead (read()).
    def _drain(self, sink: Callable[..., Any], limit: Optional[int],
               bulk: Optional[Callable[..., Any]] = None) -> int:
        raise NotImplementedError

    # -- users and the one release -------------------------------------------------

    def _enter(self) -> None:
        """Register as a user of the fds, or raise ClosedError.  The slot is
        taken before the check, so a close() that the check misses sees it."""
        self._users.append(None)
        if self._closed:
            self._leave()
            raise ClosedError(f"{self.source}: the reader is closed")

    def _leave(self) -> None:
        self._users.pop()
        if self._closed and not self._users:
            self._release()

    def _release(self) -> None:
        try:
            self._owned.pop()  # atomic: exactly one caller gets past this
        except IndexError:
            return
        self._backlog.clear()
        try:
            self._close_maps()
        finally:
            self._epoll.close()
            os.close(self._wake_fd)

    def _deliver(self, sink: Callable[..., Any], limit: Optional[int],
                 bulk: Optional[Callable[..., Any]] = None) -> int:
        """The backlog first, then the rings; at most ``limit`` events (0: none)."""
        self._enter()
        try:
            count = 0
            backlog = self._backlog
            while backlog and count != limit and not self._closed:
                args = backlog.popleft()
                count += 1
                sink(*args)
            if count != limit and not self._closed:
                count += self._drain(sink, None if limit is None else limit - count, bulk)
            return count
        finally:
            self._leave()

    _callback: Optional[Callable[..., Any]] = None
    event_type: Any = None

    def _callback_sink(self) -> Callable[..., Any]:
        if self._callback is None:
            raise TypeError(f"{self.source}: no callback was given; use read() or "
                            "async iteration")
        return self._callback

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError(f"{self.source}: the reader is closed")

    def consume(self) -> int:
        """Deliver every pending event to the callback without waiting."""
        self._check_open()
        return self._deliver(self._callback_sink(), None)

    def poll(self, timeout_ms: int = -1) -> int:
        """Deliver pending events; if none, wait up to ``timeout_ms`` (-1: forever)
        for some and deliver those.  Returns the number of events delivered;
        raises ClosedError if the reader is closed before or during the wait."""
        self._check_open()
        sink = self._callback_sink()
        self._enter()
        try:
            n = self._deliver(sink, None)
            if n or self._closed:
                return n
            # close() writes the eventfd: this wait ends at once
            self._epoll.poll(-1 if timeout_ms < 0 else timeout_ms / 1000.0)
            self._check_open()
            return self._deliver(sink, None)
        finally:
            self._leave()

    def read(self, max_events: Optional[int] = None) -> List[E]:
        """The batch path: every pending event (up to ``max_events``) as a list,
        without waiting and without calling the callback."""
        self._check_open()
        out: List[Any] = []
        try:
            with gc_paused():  # left without a collection: see gc_paused
                self._deliver(self._list_sink(out), max_events, self._list_bulk(out))
                return self._events(out)
        except BaseException:
            # Events already taken off the rings are not lost: the next read,
            # poll or iteration delivers them first.
            self._backlog.extendleft(reversed(self._sink_args(out)))
            raise

    # read() collects what the sink gets; these turn that into sink
    # arguments (for the backlog) and into the events read() returns.
    def _list_sink(self, out: List[Any]) -> Callable[..., Any]:
        return out.append

    _run_events = staticmethod(run_events)

    def _list_bulk(self, out: List[Any]) -> Callable[..., Any]:
        def bulk(events: Any) -> None:
            out.extend(run_events(events))
        return bulk

    def _sink_args(self, out: List[Any]) -> List[Tuple[Any, ...]]:
        return [(event,) for event in out]

    def _events(self, out: List[Any]) -> List[E]:
        return out

    def read_array(self, max_events: Optional[int] = None) -> Any:
        """The columnar batch path: every pending event (up to ``max_events``)
        as ONE array, without waiting and without per-event Python objects
        where the reader can avoid them.  A numpy structured array of
        :func:`bpfskel.columns.record_dtype` of ``event_type`` when numpy is
        installed, else a ctypes array ``event_type * n``.  Records of another
        size follow the short-record rule (zero-padded, or cut)."""
        from . import columns

        cls = self.event_type
        if cls is None:
            raise TypeError(f"{self.source}: read_array() needs the reader's event_type")
        self._check_open()
        parts: List[Any] = []
        self._enter()
        try:
            count = 0
            backlog = self._backlog
            if backlog:  # what an async iteration left: delivered first, in order
                taken = []
                while backlog and count != max_events:
                    taken.append(bytes(backlog.popleft()[-1]))
                    count += 1
                parts.append(columns.records_array(cls, bytearray(b"".join(taken)), count))
            if count != max_events and not self._closed:
                self._drain_array(parts, None if max_events is None else max_events - count)
        finally:
            self._leave()
        return columns.concatenate(cls, parts)

    # subclasses with a faster way of copying runs of records override this
    def _drain_array(self, parts: List[Any], limit: Optional[int]) -> None:
        from . import columns

        out: List[Any] = []
        self._drain(self._list_sink(out), limit)
        events: List[Any] = self._events(out)
        parts.append(columns.records_array(self.event_type, bytearray(
            b"".join(bytes(e) for e in events)), len(events)))

    def fileno(self) -> int:
        """The epoll fd: readable when events are pending (and once closed)."""
        self._check_open()
        return self._epoll.fileno()

    async def events(self) -> AsyncIterator[E]:
        """``async for event in reader.events()`` (or ``async for ... in reader``)."""
        import asyncio  # only here: 40 modules a reader that never awaits does not need

        self._enter()  # the loop watches our epoll fd until the finally below
        try:
            loop = asyncio.get_running_loop()
            ready = asyncio.Event()
            fd = self._epoll.fileno()
            backlog = self._backlog

            def keep(*args: Any) -> None:
                backlog.append(args)

            def wake() -> None:  # from close(), perhaps in another thread
                loop.call_soon_threadsafe(ready.set)

            loop.add_reader(fd, ready.set)
            self._wakers.append(wake)
            try:
                while not self._closed:
                    if not backlog:
                        ready.clear()
                        with gc_paused():
                            self._deliver(keep, None)
                        if not backlog:
                            await ready.wait()
                            continue
                    # taken one at a time: what the loop does not take stays queued
                    yield backlog.popleft()[-1]
            finally:
                self._wakers.remove(wake)
                loop.remove_reader(fd)
        finally:
            self._leave()

    def __aiter__(self) -> AsyncIterator[E]:
        return self.events()

    def _close_maps(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Stop the reader and release its fds and mappings (now, or when the
        last poll/read/iteration in progress returns).  Idempotent; callable
        from a callback, another thread or a signal handler."""
        if self._closed:
            return
        self._users.append(None)  # the eventfd stays open while we write it
        try:
            self._closed = True
            try:
                os.eventfd_write(self._wake_fd, 1)
            except OSError:  # the counter is full: a wake-up is pending anyway
                pass
            for wake in list(self._wakers):
                try:
                    wake()
                except RuntimeError:  # its event loop is already closed
                    pass
        finally:
            self._leave()

    @property
    def closed(self) -> bool:
        return self._closed

