"""``m[k]``'s hot path (bpfskel.maps.Map.__getitem__): libbpf's lookup called
with the GIL held, and one value buffer per map reused between lookups.

What must survive those shortcuts: a missing key is a KeyError, any other
failure an OSError subclass carrying the kernel's errno, and a lookup that
runs while another is in progress (a signal handler, a trace function,
another thread) gets its own buffer, so neither reads the other's value.
The kernel's answers are the ground truth: maps made here with
``bpf_map_create`` and filled through libbpf directly."""

from __future__ import annotations

import ctypes
import errno
import sys
import threading
from types import FrameType
from typing import Any, Iterator, List, Optional

import pytest

from bpfskel import _libbpf
from bpfskel.errors import LibbpfError
from bpfskel.maps import Map

from bpfenv import requires_bpf

pytestmark = [requires_bpf]

BPF_MAP_TYPE_HASH = 1
BPF_MAP_TYPE_ARRAY = 2
BPF_F_WRONLY = 1 << 4  # user space may not read the map


def _put(fd: int, key: int, value: int) -> None:
    """Store through libbpf, not through the code under test."""
    k, v = ctypes.c_uint32(key), ctypes.c_uint64(value)
    assert _libbpf.lib().bpf_map_update_elem(fd, ctypes.byref(k), ctypes.byref(v), 0) == 0


@pytest.fixture
def table() -> Iterator[Any]:
    m = Map.create(BPF_MAP_TYPE_HASH, 4, 8, 64, name="lookup_t", key_type=ctypes.c_uint32,
                   value_type=ctypes.c_uint64)
    with m:
        for i in range(1, 33):
            _put(m.fd, i, i * 1000 + 7)
        yield m


def test_values_missing_keys_and_errno(table: Any) -> None:
    assert [table[i] for i in range(1, 33)] == [i * 1000 + 7 for i in range(1, 33)]
    with pytest.raises(KeyError) as e:
        table[99]
    assert e.value.args == (99,)
    assert table.get(99, -1) == -1 and 5 in table and 99 not in table
    with Map.create(BPF_MAP_TYPE_HASH, 4, 8, 4, name="lookup_wo",
                    map_flags=BPF_F_WRONLY) as wo:
        with pytest.raises(PermissionError) as pe:
            wo[1]
    assert isinstance(pe.value, LibbpfError) and pe.value.errno == errno.EPERM
    assert "lookup_wo" in str(pe.value)


def test_lookup_inside_a_lookup_at_every_step(table: Any) -> None:
    """A trace function runs a lookup of another key between every two
    bytecodes of an outer lookup (as a signal handler could): each gets its
    own value.  A buffer shared without the spare list fails this."""
    code = Map.__getitem__.__code__
    seen: List[int] = []

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code is not code:
            return None
        frame.f_trace_opcodes = True
        if event == "opcode":
            seen.append(table[2])
        return tracer

    assert table[1] == 1007  # the fast path is set up outside the trace
    sys.settrace(tracer)
    try:
        got = table[1]
    finally:
        sys.settrace(None)
    assert got == 1007
    assert len(seen) > 10 and set(seen) == {2007}


def test_threads_read_their_own_values(table: Any) -> None:
    errors: List[str] = []
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        def worker(key: int) -> None:
            want = key * 1000 + 7
            for _ in range(3000):
                got = table[key]
                if got != want:
                    errors.append(f"key {key}: read {got}, not {want}")
                    return

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(1, 9)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert errors == []


def test_struct_and_array_values(table: Any) -> None:
    class Pair(ctypes.Structure):
        _fields_ = [("a", ctypes.c_uint32), ("b", ctypes.c_uint32)]

    with Map.create(BPF_MAP_TYPE_ARRAY, 4, 8, 4, name="lookup_arr",
                    value_type=Pair) as arr:
        _put(arr.fd, 2, (9 << 32) | 5)
        first, again = arr[2], arr[2]
        assert (first.a, first.b) == (5, 9)
        first.a = 77  # a copy: neither the map nor the next read sees it
        assert again.a == 5 and arr[2].a == 5
        assert (arr[0].a, arr[0].b) == (0, 0)
        with pytest.raises(IndexError):
            arr[4]


def test_fails_after_close(table: Any) -> None:
    m: Optional[Any] = Map.create(BPF_MAP_TYPE_HASH, 4, 8, 4, name="lookup_c")
    assert m is not None
    _put(m.fd, 1, 3)
    assert m[1] == 3
    m.close()
    with pytest.raises(Exception) as e:
        m[1]
    assert "closed" in str(e.value)


def test_gc_paused_restores_and_leaves_without_a_collection() -> None:
    """read() and items() build their lists under gc_paused: the collector's
    state comes back as it was (also on error, also nested), and leaving
    does not itself walk the objects just made."""
    import gc

    from bpfskel.gcpause import gc_paused

    runs: List[int] = []

    def note(phase: str, info: Any) -> None:
        if phase == "start":
            runs.append(info["generation"])

    assert gc.isenabled()
    gc.callbacks.append(note)
    try:
        with gc_paused():
            assert not gc.isenabled()
            kept = [[i] for i in range(20_000)]  # far past the young threshold
            with gc_paused():
                pass
            assert not gc.isenabled()
        collections = len(runs)  # read before anything allocates (that may collect)
        assert collections == 0 and gc.isenabled()
        del kept
        with pytest.raises(ZeroDivisionError):
            with gc_paused():
                1 / 0
        assert gc.isenabled()
        gc.disable()
        try:
            with gc_paused():
                pass
            assert not gc.isenabled()  # it was off before: it stays off
        finally:
            gc.enable()
    finally:
        gc.callbacks.remove(note)
