"""``reader.read_array()``: pending events as one array (bpf/events_edge.bpf.c).

Events are produced by a real tc program (BPF_PROG_TEST_RUN); expected
contents come from the formulas in its C source.  Every test runs with numpy
(a structured array) and, in a subprocess whose import system refuses numpy,
without it (a ctypes array of the event type).
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, List

import pytest

from bpfskel import columns

from bpfenv import generated_module_in, needs_tracefs, on_cpu, requires_bpf
from mapsenv import comm, traced

pytestmark = [requires_bpf]
np = pytest.importorskip("numpy", reason="numpy is not installed (the bpfskel[numpy] extra)")

PKT = bytes(64)
GOLDEN = 0x9E3779B97F4A7C15
MODE_FIXED, MODE_RING_BYTES, MODE_PERF_BYTES = 0, 1, 2
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def mod(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generated_module_in("events_edge", tmp_path_factory.mktemp("events_edge"))


@pytest.fixture
def skel(mod: Any) -> Any:
    with mod.open_and_load() as s:
        yield s


def emit(skel: Any, n: int, mode: int) -> None:
    skel.bss.mode = mode
    skel.progs.emit.test_run(PKT, repeat=n)


def var_record(seq: int, cpu: int) -> bytes:
    n = 8 + (seq * 13) % 113
    return (seq.to_bytes(4, "little") + cpu.to_bytes(4, "little")
            + bytes((seq * 31 + i) & 0xFF for i in range(8, n)))


def test_dtype_comes_from_the_layout_not_from_ctypes(mod: Any) -> None:
    dt = columns.record_dtype(mod.types.small_event)
    assert dt.names == ("seq", "cpu", "check")
    assert dt.itemsize == 16 == ctypes.sizeof(mod.types.small_event)
    assert [dt.fields[n][1] for n in dt.names] == [0, 4, 8]
    assert [dt.fields[n][0].str for n in dt.names] == ["<u4", "<u4", "<u8"]


def test_read_array_fixed_records_across_wraps_and_discards(mod: Any, skel: Any) -> None:
    cpu = next(iter(os.sched_getaffinity(0)))
    skel.bss.discard_mod, skel.bss.discard_rem = 5, 2
    with on_cpu(cpu), skel.maps.small_rb.ring_buffer(None, mod.types.small_event) as rb:
        seen: List[int] = []
        for rnd in range(20):  # 100 * 24 bytes per round through a 4 KiB ring: wraps
            emit(skel, 100, MODE_FIXED)
            if rnd % 2:
                arr = rb.read_array(max_events=30)
                arr = np.concatenate([arr, rb.read_array()])
            else:
                arr = rb.read_array()
            assert isinstance(arr, np.ndarray) and arr.dtype == columns.record_dtype(
                mod.types.small_event)
            want = [s for s in range(rnd * 100, rnd * 100 + 100) if s % 5 != 2]
            assert arr["seq"].tolist() == want
            assert set(arr["cpu"].tolist()) == {cpu}
            assert arr["check"].tolist() == [(s * GOLDEN) % 2**64 for s in want]
            seen.extend(want)
        assert len(rb.read_array()) == 0
        assert rb.read() == []  # the consumer position was stored
    assert skel.bss.dropped == 0


def test_read_array_short_and_long_records_follow_the_short_record_rule(
        mod: Any, skel: Any) -> None:
    cpu = next(iter(os.sched_getaffinity(0)))
    with on_cpu(cpu), skel.maps.small_rb.ring_buffer(None, mod.types.small_event) as rb:
        emit(skel, 30, MODE_RING_BYTES)
        arr = rb.read_array()
    assert len(arr) == 30
    raw = arr.tobytes()
    for i, seq in enumerate(range(30)):
        rec = var_record(seq, cpu)[:16]
        assert raw[16 * i:16 * i + 16] == rec + bytes(16 - len(rec))


def test_read_array_on_a_perf_buffer(mod: Any, skel: Any) -> None:
    cpu = next(iter(os.sched_getaffinity(0)))
    with on_cpu(cpu), skel.maps.perf.perf_buffer(None, mod.types.small_event) as pb:
        emit(skel, 40, MODE_PERF_BYTES)
        arr = pb.read_array()
    assert arr["seq"].tolist() == list(range(40))
    assert set(arr["cpu"].tolist()) == {cpu}


def test_read_array_needs_an_event_type(skel: Any) -> None:
    with skel.maps.small_rb.ring_buffer(None) as rb:
        with pytest.raises(TypeError, match="event_type"):
            rb.read_array()


_NO_NUMPY = """
import ctypes, importlib.util, json, os, sys

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name == "numpy" or name.startswith("numpy."):
            raise ImportError("numpy is blocked for this test")
        return None

sys.meta_path.insert(0, Refuse())
spec = importlib.util.spec_from_file_location("events_edge_skel", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
out = {}
with mod.open_and_load() as skel:
    os.sched_setaffinity(0, {int(sys.argv[2])})
    skel.bss.discard_mod, skel.bss.discard_rem = 4, 1
    with skel.maps.small_rb.ring_buffer(None, mod.types.small_event) as rb:
        rows = []
        for _ in range(6):
            skel.bss.mode = 0
            skel.progs.emit.test_run(bytes(64), repeat=100)
            arr = rb.read_array()
            assert isinstance(arr, ctypes.Array) and arr._type_ is mod.types.small_event
            rows += [[e.seq, e.cpu, e.check] for e in arr]
        out["fixed"] = rows
        skel.bss.mode = 1
        skel.progs.emit.test_run(bytes(64), repeat=20)
        out["var"] = bytes(rb.read_array()).hex()
out["numpy_loaded"] = "numpy" in sys.modules
print(json.dumps(out))
"""


def test_read_array_without_numpy_gives_a_ctypes_array(mod: Any) -> None:
    cpu = next(iter(os.sched_getaffinity(0)))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(_NO_NUMPY), mod.__file__,
                          str(cpu)], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["numpy_loaded"] is False
    want = [s for s in range(600) if s % 4 != 1]
    assert out["fixed"] == [[s, cpu, (s * GOLDEN) % 2**64] for s in want]
    raw = bytes.fromhex(out["var"])
    assert len(raw) == 20 * 16
    seqs = [int.from_bytes(raw[16 * i:16 * i + 4], "little") for i in range(20)]
    assert seqs == list(range(600, 620))
    for i, seq in enumerate(seqs):
        rec = var_record(seq, cpu)[:16]
        assert raw[16 * i:16 * i + 16] == rec + bytes(16 - len(rec))


def test_copy_strided_packs_records() -> None:
    buf = bytes(range(256)) * 4
    for size, stride, start in ((16, 24, 8), (12, 24, 8), (5, 16, 8), (32, 40, 8)):
        got = columns.copy_strided(buf, start, 7, stride, size)
        assert bytes(got) == b"".join(buf[start + i * stride:start + i * stride + size]
                                      for i in range(7))


# -- perf buffer: fixed-size samples from bpf/maps.bpf.c (a getppid() tracepoint) ----


@pytest.fixture(scope="module")
def maps_mod(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generated_module_in("maps", tmp_path_factory.mktemp("maps"))


@pytest.fixture(params=["numpy", "no numpy"])
def numpy_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both copy paths in one process (the subprocess tests cover a real
    installation without numpy): with "no numpy" the readers see none."""
    if request.param == "no numpy":
        monkeypatch.setattr(columns, "numpy_or_none", lambda: None)
    return str(request.param)


@needs_tracefs
def test_perf_read_array_fixed_samples_wrap_and_lost(maps_mod: Any, numpy_mode: str) -> None:
    cpu = next(iter(os.sched_getaffinity(0)))
    with on_cpu(cpu), traced(maps_mod) as skel, skel.maps.perf_events.perf_buffer(
            None, maps_mod.types.event, page_count=1) as pb:
        seqs: List[int] = []
        # (at most 1,638 events in all: the program's 64 KiB ring buffer is not read)
        for rnd in range(20):  # 40 * 48-byte samples per round through a 4 KiB ring
            for _ in range(40):
                os.getppid()
            arr = pb.read_array()
            assert len(arr) == 40
            rows = [(e["seq"], e["tgid"], e["comm"]) for e in arr] if numpy_mode == "numpy" \
                else [(e.seq, e.tgid, bytes(e.comm).rstrip(b"\0")) for e in arr]
            assert [int(r[0]) for r in rows] == list(range(rnd * 40, rnd * 40 + 40))
            assert {(int(r[1]), bytes(r[2])) for r in rows} == {(os.getpid(), comm())}
            seqs.extend(int(r[0]) for r in rows)
        assert 4096 % 48 and len(seqs) * 48 // 4096 >= 9  # wrapped, straddling the end
        for _ in range(500):  # more than the ring holds: the kernel counts the rest lost
            os.getppid()
        got = len(pb.read_array())
        os.getppid()  # the LOST record is written once there is room again
        got += len(pb.read_array())
        assert pb.lost_events > 0 and got + pb.lost_events == 501


def test_read_array_delivers_what_an_async_iteration_left_first(mod: Any, skel: Any) -> None:
    import asyncio

    cpu = next(iter(os.sched_getaffinity(0)))
    with on_cpu(cpu), skel.maps.small_rb.ring_buffer(None, mod.types.small_event) as rb:
        emit(skel, 50, MODE_FIXED)

        async def first() -> Any:
            async for event in rb:  # reads all 50, yields one, keeps 49
                return event

        assert asyncio.run(first()).seq == 0
        emit(skel, 10, MODE_FIXED)
        arr = rb.read_array(max_events=20)
        assert arr["seq"].tolist() == list(range(1, 21))
        assert rb.read_array()["seq"].tolist() == list(range(21, 60))
        assert len(rb.read_array(max_events=0)) == 0
