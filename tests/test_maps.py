"""Typed maps on a real program (bpf/maps.bpf.c): dict semantics, per-CPU
values, batch iteration checked against an independent key-by-key walk, queue
maps, pinning, and the errors for wrong keys."""

from __future__ import annotations

import ctypes
import errno
import os
from typing import Any, Iterator

import pytest

import bpfskel
from bpfskel.maps import QueueEmptyError

from bpfenv import module_fixture, possible_cpus_from_sysfs
from mapsenv import comm, pytestmark, raw_walk, traced  # noqa: F401

mod = module_fixture("maps")


@pytest.fixture
def skel(mod: Any) -> Iterator[Any]:
    with traced(mod) as s:
        yield s


def test_types_come_from_btf(mod: Any, skel: Any) -> None:
    assert skel.maps.stats.key_type is mod.types.key
    assert skel.maps.stats.value_type is mod.types.stat
    assert skel.maps.counters.key_type is ctypes.c_uint32
    assert skel.maps.counters.value_type is ctypes.c_uint64
    assert skel.maps.events.key_type is None and skel.maps.events.value_type is None
    assert skel.maps.todo.value_type is mod.types.key


def test_bpf_fills_hash_array_and_percpu(mod: Any) -> None:
    with traced(mod, slots=4) as skel:
        for _ in range(30):
            os.getppid()
        stats = skel.maps.stats.items()
        assert sorted(k.slot for k, _ in stats) == [0, 1, 2, 3]
        for k, v in stats:
            assert isinstance(k, mod.types.key) and isinstance(v, mod.types.stat)
            assert (k.tgid, k.kind) == (os.getpid(), 7)
            assert v.comm == comm()
            assert v.last_seq % 4 == k.slot
        assert sum(v.calls for _, v in stats) == 30
        assert len(skel.maps.stats) == 4
        assert skel.maps.counters[0] == 30
        assert skel.maps.counters.items() == [(0, 30), (1, 0), (2, 0), (3, 0)]
        per_cpu = skel.maps.pcpu[0]
        assert len(per_cpu) == possible_cpus_from_sysfs()
        assert sum(per_cpu) == 30
        assert skel.maps.pcpu.items()[0] == (0, per_cpu)


def test_python_writes_are_seen_by_bpf(mod: Any, skel: Any) -> None:
    os.getppid()
    key = mod.types.key(tgid=os.getpid(), slot=0, kind=7)
    assert skel.maps.stats[key].calls == 1
    skel.maps.stats[key] = mod.types.stat(calls=100, last_seq=0, comm=b"x")
    skel.maps.counters[0] = 1000
    skel.maps.pcpu[1] = [5] * possible_cpus_from_sysfs()
    os.getppid()
    assert skel.maps.stats[key].calls == 101
    assert skel.maps.stats[key].comm == comm()
    assert skel.maps.counters[0] == 1001
    assert skel.maps.pcpu[1] == [5] * possible_cpus_from_sysfs()
    # the same entry by bytes and by an independent raw lookup
    raw = dict(raw_walk(skel.maps.stats.fd, 8, 32))
    assert raw[bytes(key)] == bytes(skel.maps.stats[bytes(key)])


def test_errors_name_the_problem(mod: Any, skel: Any) -> None:
    stats, counters = skel.maps.stats, skel.maps.counters
    absent = mod.types.key(tgid=1, slot=2, kind=3)
    with pytest.raises(KeyError):
        stats[absent]
    with pytest.raises(KeyError):
        del stats[absent]
    assert stats.get(absent) is None and absent not in stats
    with pytest.raises(TypeError, match="types.key"):
        stats["a string"]
    with pytest.raises(TypeError, match="7 bytes"):
        stats[b"\0" * 7]
    with pytest.raises(TypeError, match="expected"):
        stats[mod.types.stat()]          # the value class is not the key class
    with pytest.raises(TypeError, match="types.stat"):
        stats[absent] = 5
    with pytest.raises(IndexError, match="out of range"):
        counters[4]
    with pytest.raises(IndexError):
        counters[-1] = 1
    assert 4 not in counters
    counters[0] = (1 << 64) + 3          # the integer rule: converted as C does
    assert counters[0] == 3
    with pytest.raises(TypeError, match="cannot be deleted"):
        del counters[0]
    with pytest.raises(TypeError, match="one per possible CPU"):
        skel.maps.pcpu[0] = 1
    with pytest.raises(TypeError, match="has no keys"):
        skel.maps.events[0]
    with pytest.raises(FileExistsError) as exc:
        os.getppid()
        stats.set(mod.types.key(tgid=os.getpid(), slot=0, kind=7), mod.types.stat(),
                  bpfskel.maps.BPF_NOEXIST)
    assert exc.value.errno == errno.EEXIST


def test_batch_iteration_matches_key_by_key(mod: Any, skel: Any) -> None:
    stats = skel.maps.stats
    want = {bytes(mod.types.key(tgid=100000 + i, slot=i % 7, kind=1)):
            mod.types.stat(calls=i, last_seq=i * 3, comm=b"e%d" % i) for i in range(400)}
    stats.update((mod.types.key.from_buffer_copy(k), v) for k, v in want.items())
    raw = dict(raw_walk(stats.fd, 8, 32))
    assert len(raw) == 400
    assert raw == {k: bytes(v) for k, v in want.items()}
    batched = stats.items()
    assert stats._batch_ok, "the batch path fell back on a hash map"
    assert {bytes(k): bytes(v) for k, v in batched} == raw
    assert len(batched) == 400 == len(stats)
    stats._batch_ok = False  # force the get_next_key path and compare
    assert {bytes(k): bytes(v) for k, v in stats.items()} == raw
    stats._batch_ok = True
    # delete a slice in batches, with absent keys mixed in
    doomed = [mod.types.key.from_buffer_copy(k) for k in list(want)[:150]]
    assert stats.delete_keys(doomed[:75] + [mod.types.key(tgid=1)] + doomed[75:]) == 150
    assert len(raw_walk(stats.fd, 8, 32)) == 250
    stats.clear()
    assert raw_walk(stats.fd, 8, 32) == [] and len(stats) == 0


def test_update_many_honours_noexist_and_exist(mod: Any, skel: Any) -> None:
    """The batch command takes no BPF_NOEXIST/BPF_EXIST (EINVAL): update()
    with those flags must still write, entry by entry, with their meaning."""
    stats, counters = skel.maps.stats, skel.maps.counters
    new = [(mod.types.key(tgid=200000 + i), mod.types.stat(calls=i)) for i in range(3)]
    stats.update(new, bpfskel.maps.BPF_NOEXIST)
    assert [stats[k].calls for k, _ in new] == [0, 1, 2]
    assert stats._batch_ok  # a flag is no reason to give up the batch path
    with pytest.raises(FileExistsError):
        stats.update(new, bpfskel.maps.BPF_NOEXIST)
    counters.update({1: 11, 2: 22}, bpfskel.maps.BPF_EXIST)
    assert (counters[1], counters[2]) == (11, 22)


def test_per_cpu_values_in_batches(skel: Any) -> None:
    n = possible_cpus_from_sysfs()
    skel.maps.pcpu.update({0: list(range(n)), 1: [7] * n})
    assert skel.maps.pcpu.values() == [list(range(n)), [7] * n]
    skel.maps.pcpu.clear()
    assert skel.maps.pcpu.values() == [[0] * n, [0] * n]


def test_lookup_and_delete(mod: Any, skel: Any) -> None:
    k = mod.types.key(tgid=9, slot=9, kind=9)
    skel.maps.stats[k] = mod.types.stat(calls=3)
    assert skel.maps.stats.pop(k).calls == 3
    assert k not in skel.maps.stats
    assert skel.maps.stats.pop(k, "gone") == "gone"
    with pytest.raises(KeyError):
        skel.maps.stats.pop(k)


def test_queue_push_pop_peek(mod: Any, skel: Any) -> None:
    q = skel.maps.todo
    for i in range(3):
        q.push(mod.types.key(tgid=i))
    assert q.peek().tgid == 0
    assert [q.pop().tgid for _ in range(3)] == [0, 1, 2]
    with pytest.raises(QueueEmptyError):
        q.pop()
    with pytest.raises(IndexError):  # also an IndexError, like list.pop
        q.peek()
    with pytest.raises(TypeError, match="queue"):
        skel.maps.stats.push(b"")


def test_lpm_trie(mod: Any, skel: Any) -> None:
    routes = skel.maps.routes
    routes[mod.types.lpm_key(24, (10, 0, 0, 0))] = 1
    routes[mod.types.lpm_key(16, (10, 1, 0, 0))] = 2
    # longest-prefix match: a /32 lookup finds the covering /24
    assert routes[mod.types.lpm_key(32, (10, 0, 0, 77))] == 1
    got = sorted((k.prefixlen, list(k.addr), v) for k, v in routes.items())
    assert got == [(16, [10, 1, 0, 0], 2), (24, [10, 0, 0, 0], 1)]


@pytest.mark.skipif(not os.path.ismount("/sys/fs/bpf"), reason="bpffs not mounted")
def test_pin_and_unpin(skel: Any) -> None:
    path = f"/sys/fs/bpf/bpfskel_test_{os.getpid()}"
    skel.maps.counters.pin(path)
    try:
        assert os.path.exists(path)
    finally:
        skel.maps.counters.unpin(path)
    assert not os.path.exists(path)


def test_maps_need_a_loaded_skeleton(mod: Any) -> None:
    with mod.open() as skel:
        with pytest.raises(bpfskel.Error, match="before load"):
            skel.maps.counters[0]


def test_keys_may_be_read_only_twins(mod: Any, skel: Any) -> None:
    """A struct taken from a frozen .rodata view is a subclass of the generated
    class (its read-only twin): it is accepted like the class itself."""
    from bpfskel.views import readonly_class

    key = mod.types.key(tgid=5, slot=1, kind=2)
    twin = readonly_class(mod.types.key).from_buffer_copy(bytes(key))
    skel.maps.stats[twin] = mod.types.stat(calls=9)
    assert skel.maps.stats[key].calls == 9
