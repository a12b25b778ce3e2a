"""Map types beyond hash and array on a real program (bpf/maps_edge.bpf.c): per-CPU values
whose size is not a multiple of 8, LRU maps, queue and stack order, a map type
without batch operations, the batch walk's ENOSPC retry, and the errors of
arrays.

The program runs through BPF_PROG_TEST_RUN pinned to one CPU at a time, so
which per-CPU slot it writes is known.  Expected values are read back with
raw ``bpf_map_*`` calls and ``struct`` on the C layout, not through Map.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from typing import Any, Dict, List, Tuple

import pytest

import bpfskel
from bpfskel import _libbpf, batch
from bpfskel.maps import BPF_EXIST, QueueEmptyError
from bpfskel.perfbuf import online_cpus

from bpfenv import loaded_skeleton, module_fixture, on_cpu, possible_cpus_from_sysfs, requires_bpf

pytestmark = [requires_bpf]

PKT = bytes(64)
TAG = 0xC0DE0000
TRIPLE = struct.Struct("<III")  # struct triple: 12 bytes
STRIDE = 16  # the kernel's per-CPU slot: round_up(12, 8)
ENOTSUPP = 524


mod = module_fixture("maps_edge")
skel = loaded_skeleton


NCPU = possible_cpus_from_sysfs()


def touch(skel: Any, key: int, times: int, cpu: int) -> None:
    skel.bss.key = key
    with on_cpu(cpu):
        skel.progs.touch.test_run(PKT, repeat=times)


def raw_percpu(fd: int, key: int) -> List[Tuple[int, int, int]]:
    """One (a, b, c) per possible CPU, by a raw lookup and the C layout."""
    k = ctypes.c_uint32(key)
    buf = ctypes.create_string_buffer(STRIDE * NCPU)
    assert _libbpf.lib().bpf_map_lookup_elem(fd, ctypes.byref(k), buf) == 0
    return [TRIPLE.unpack_from(buf, STRIDE * i) for i in range(NCPU)]


def raw_walk(fd: int, key_size: int, value_size: int) -> Dict[bytes, bytes]:
    lib = _libbpf.lib()
    out, prev = {}, None
    key = ctypes.create_string_buffer(key_size)
    value = ctypes.create_string_buffer(value_size)
    while lib.bpf_map_get_next_key(fd, prev, key) == 0:
        assert lib.bpf_map_lookup_elem(fd, key, value) == 0
        out[key.raw] = value.raw
        prev = ctypes.create_string_buffer(key.raw)
    return out


def triples(values: List[Any]) -> List[Tuple[int, int, int]]:
    return [(v.a, v.b, v.c) for v in values]


# -- per-CPU values of 12 bytes (stride 16) ----------------------------------------------


def test_percpu_twelve_byte_values_written_by_bpf(mod: Any, skel: Any) -> None:
    cpus = sorted(online_cpus())
    for cpu in cpus:
        touch(skel, 5, cpu + 2, cpu)
        touch(skel, 6, 1, cpu)
    want5 = [(c + 2, c, TAG | 5) if c in cpus else (0, 0, 0) for c in range(NCPU)]
    want6 = [(1, c, TAG | 6) if c in cpus else (0, 0, 0) for c in range(NCPU)]
    pch, lpch, pca = skel.maps.pch, skel.maps.lpch, skel.maps.pca
    assert pch.value_size == 12 and pch.value_type is mod.types.triple
    for m in (pch, lpch):
        assert raw_percpu(m.fd, 5) == want5  # the ground truth agrees with the model
        assert triples(m[5]) == want5
        assert all(type(v) is mod.types.triple for v in m[5])
        items = {k: triples(v) for k, v in m.items()}  # batch path
        assert items == {5: want5, 6: want6}
        m._batch_ok = False  # the key-by-key path decodes the same
        assert {k: triples(v) for k, v in m.items()} == items
    # the array: slot 5 % 4 == 1 and 6 % 4 == 2, counts added per run
    assert raw_percpu(pca.fd, 1) == [(a, b, TAG | 1 if a else 0) for a, b, _ in want5]
    got = pca.items()
    assert [k for k, _ in got] == [0, 1, 2, 3]
    assert triples(got[1][1]) == raw_percpu(pca.fd, 1)
    assert triples(got[2][1]) == raw_percpu(pca.fd, 2)
    assert triples(got[0][1]) == [(0, 0, 0)] * NCPU


def test_percpu_twelve_byte_values_written_by_python(mod: Any, skel: Any) -> None:
    T = mod.types.triple
    pch = skel.maps.pch
    entries = {k: [T(a=k, b=c, c=k * 1000 + c) for c in range(NCPU)] for k in range(300)}
    pch.update(entries)  # one batch
    for k in (0, 150, 299):
        assert raw_percpu(pch.fd, k) == [(k, c, k * 1000 + c) for c in range(NCPU)]
    pch[7] = [bytes(TRIPLE.pack(9, 9, c)) for c in range(NCPU)]  # bytes per CPU
    assert raw_percpu(pch.fd, 7) == [(9, 9, c) for c in range(NCPU)]
    # BPF adds to this CPU's slot of a value Python wrote
    cpu = next(iter(os.sched_getaffinity(0)))
    touch(skel, 150, 3, cpu)
    want = [(150 + 3, cpu, TAG | 150) if c == cpu else (150, c, 150 * 1000 + c)
            for c in range(NCPU)]
    assert triples(pch[150]) == want
    items = {k: triples(v) for k, v in pch.items()}
    assert len(items) == 300 and items[150] == want and items[7] == [(9, 9, c)
                                                                     for c in range(NCPU)]
    assert items == {k: raw_percpu(pch.fd, k) for k in range(300)}
    # batch delete with absent keys: the kernel stops at each, Map resumes after it
    assert pch.delete_keys([1, 2, 999, 3, 1, 998, 4]) == 4
    assert sorted(raw_walk(pch.fd, 4, STRIDE * NCPU)) == sorted(
        struct.pack("<I", k) for k in range(300) if k not in (1, 2, 3, 4))
    with pytest.raises(TypeError, match="one per possible CPU"):
        pch[1] = [T()] * (NCPU + 1)
    with pytest.raises(TypeError, match="12 bytes"):
        pch[1] = [bytes(16)] * NCPU  # a slot's value is 12 bytes, not the stride


def test_batch_walk_grows_its_chunk_past_a_full_bucket(skel: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    pch = skel.maps.pch
    pch.update({k: [bytes(TRIPLE.pack(k, c, 0)) for c in range(NCPU)] for k in range(400)})
    # Record what the kernel answers to each batch lookup (the real call).
    lib = _libbpf.lib()
    real = lib.bpf_map_lookup_batch
    calls: List[Tuple[int, int, int]] = []  # (entries asked, entries given, return)

    def recording(fd: int, in_batch: Any, out_batch: Any, keys: Any, values: Any,
                  count: Any, opts: Any) -> int:
        asked = count._obj.value
        ret = real(fd, in_batch, out_batch, keys, values, count, opts)
        calls.append((asked, count._obj.value, ret))
        return int(ret)

    monkeypatch.setattr(lib, "bpf_map_lookup_batch", recording)
    # Chunks capped at one entry's bytes: the 400 keys share 512 buckets, so
    # some bucket holds two or more, the kernel answers ENOSPC, and the walk
    # must retry that bucket with a larger chunk.
    monkeypatch.setattr(batch, "MAX_CHUNK_BYTES", 1)
    got = {k: triples(v) for k, v in pch.items()}
    assert got == {k: [(k, c, 0) for c in range(NCPU)] for k in range(400)}
    assert pch._batch_ok
    assert calls[0][0] == 1  # the cap applies from the first call
    assert any(ret == -errno.ENOSPC and given == 0 for _, given, ret in calls)
    assert max(asked for asked, _, _ in calls) <= 64  # grown past buckets only
    assert sum(given for _, given, _ in calls) == 400


# -- LRU hash ----------------------------------------------------------------------------


def test_lru_hash_typed_access(skel: Any) -> None:
    lru = skel.maps.lru
    cpu = next(iter(os.sched_getaffinity(0)))
    lru[7] = 40
    touch(skel, 7, 1, cpu)  # BPF adds 1 to what Python wrote
    touch(skel, 8, 2, cpu)  # BPF inserts 1, then adds 1
    assert (lru[7], lru[8]) == (41, 2)
    with pytest.raises(KeyError):
        lru[9]
    assert lru.get(9) is None and 9 not in lru and 8 in lru
    assert sorted(lru.items()) == [(7, 41), (8, 2)]
    assert lru.pop(8) == 2 and 8 not in lru
    del lru[7]
    assert len(lru) == 0
    with pytest.raises(TypeError, match="expected int"):
        lru[b"\0" * 3]
    # more keys than max_entries: the LRU evicts instead of failing
    for k in range(200):
        lru[1000 + k] = k
    assert 1199 in lru and lru[1199] == 199  # the newest survives
    raw = raw_walk(lru.fd, 4, 8)
    assert 0 < len(raw) <= 64 == lru.max_entries
    assert {struct.pack("<I", k): struct.pack("<Q", v) for k, v in lru.items()} == raw


# -- queue and stack -----------------------------------------------------------------------


def test_queue_is_fifo_and_stack_is_lifo(skel: Any) -> None:
    q, st = skel.maps.q, skel.maps.st
    touch(skel, 0, 5, next(iter(os.sched_getaffinity(0))))  # BPF pushes 0..4 to both
    for m in (q, st):
        m.push(100)
        m.push(101)
    assert q.peek() == 0 and st.peek() == 101
    assert [q.pop() for _ in range(7)] == [0, 1, 2, 3, 4, 100, 101]
    assert [st.pop() for _ in range(7)] == [101, 100, 4, 3, 2, 1, 0]
    for m in (q, st):
        with pytest.raises(QueueEmptyError):
            m.pop()
        with pytest.raises(KeyError):
            m.peek()
    # full: a plain push is refused; BPF_EXIST drops the oldest element
    for m in (q, st):
        for i in range(16):
            m.push(i)
        with pytest.raises(OSError) as exc:
            m.push(99)
        assert exc.value.errno == errno.E2BIG
        m.push(99, BPF_EXIST)
    assert [q.pop() for _ in range(16)] == list(range(1, 16)) + [99]
    assert [st.pop() for _ in range(16)] == [99] + list(range(15, 0, -1))
    with pytest.raises(TypeError, match="no keys"):
        q[0]
    with pytest.raises(TypeError, match="takes no key"):
        q.pop(0)


# -- the key-by-key fallback -----------------------------------------------------------------


def test_map_type_without_batch_ops_falls_back(skel: Any) -> None:
    devs = skel.maps.devs
    # ground truth: this kernel has no batch lookup for device hash maps
    count = ctypes.c_uint32(8)
    ret = _libbpf.lib().bpf_map_lookup_batch(
        devs.fd, None, ctypes.create_string_buffer(8), ctypes.create_string_buffer(32),
        ctypes.create_string_buffer(32), ctypes.byref(count),
        ctypes.byref(_libbpf.opts(batch.BatchOpts)))
    assert ret == -ENOTSUPP
    lo = 1  # the loopback device's ifindex: values must be existing devices
    devs[1] = devs[5] = lo  # single-element updates
    # each bulk operation finds out by itself that the kernel says ENOTSUPP
    assert sorted(devs.items()) == [(1, lo), (5, lo)]
    assert not devs._batch_ok
    devs._batch_ok = True
    devs.update({k: lo for k in (9, 200)})
    assert not devs._batch_ok
    assert raw_walk(devs.fd, 4, 4) == {struct.pack("<I", k): struct.pack("<I", lo)
                                       for k in (1, 5, 9, 200)}
    assert sorted(devs.items()) == [(1, lo), (5, lo), (9, lo), (200, lo)]
    assert sorted(devs) == sorted(devs.keys()) == [1, 5, 9, 200]
    assert devs.values() == [lo] * 4 and len(devs) == 4
    devs._batch_ok = True
    assert devs.delete_keys([5, 77, 9, 5]) == 2  # absent keys are skipped
    assert not devs._batch_ok
    assert sorted(devs.keys()) == [1, 200]
    devs.clear()
    assert len(devs) == 0 and raw_walk(devs.fd, 4, 4) == {}


def test_lpm_trie_uses_the_batch_path(mod: Any, skel: Any) -> None:
    lpm = skel.maps.lpm
    K = mod.types.lpm_key
    lpm.update([(K(prefixlen=8 + i, addr=(10, i, 0, 0)), i) for i in range(20)])
    assert lpm._batch_ok  # unlike device maps, LPM tries have batch operations
    assert sorted((k.prefixlen, v) for k, v in lpm.items()) == [(8 + i, i) for i in range(20)]
    with pytest.raises(bpfskel.NotSupportedError, match="lookup-and-delete"):
        lpm.pop(K(prefixlen=8, addr=(10, 0, 0, 0)))  # not an unexplained errno 524
    assert len(lpm) == 20
    assert lpm.delete_keys([K(prefixlen=8, addr=(10, 0, 0, 0))]) == 1 and len(lpm) == 19


# -- arrays ---------------------------------------------------------------------------------


def test_array_errors_and_absent_indexes(skel: Any) -> None:
    pca = skel.maps.pca
    with pytest.raises(IndexError, match="out of range"):
        pca[4]
    assert pca.get(4) is None and pca.get(-1, "x") == "x" and 4 not in pca
    with pytest.raises(TypeError, match="cannot be deleted"):
        pca.pop(0)  # not an unexplained errno 524 from lookup-and-delete
    with pytest.raises(TypeError, match="cannot be deleted"):
        del pca[0]
    with pytest.raises(TypeError, match="cannot be deleted"):
        pca.delete_keys([0])
    assert len(pca) == 4
