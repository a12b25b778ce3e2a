"""Map kinds with operations of their own, on a real program
(bpf/mapkinds.bpf.c): stack traces (plain and build-id), bloom filters,
fd-keyed storage, read-and-clear of hashes and of .bss counters."""

from __future__ import annotations

import errno
import os
import re
import socket
import subprocess
import threading
from typing import Any, Iterator, List, Tuple

import pytest

import bpfskel
import bpfskel.mapinmap
import bpfskel.maps
from bpfskel.stackmap import StackFrame
from bpfskel.uapi import MapType

from bpfenv import generated_module, module_fixture
from mapsenv import pytestmark, traced  # noqa: F401

mod = module_fixture("mapkinds")


@pytest.fixture
def skel(mod: Any) -> Iterator[Any]:
    with traced(mod) as s:
        yield s


def libc_mappings() -> Tuple[str, List[Tuple[int, int]]]:
    """libc's path and its executable ranges, from /proc/self/maps."""
    ranges, path = [], ""
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and re.search(r"/libc\.so\.6$", parts[5]) and "x" in parts[1]:
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                ranges.append((lo, hi))
                path = parts[5]
    assert ranges, "libc is not mapped?"
    return path, ranges


def build_id_of(path: str) -> bytes:
    """The GNU build id of an ELF file, as readelf prints it (ground truth)."""
    out = subprocess.run(["readelf", "-n", path], capture_output=True, text=True,
                         check=True).stdout
    m = re.search(r"Build ID: ([0-9a-f]+)", out)
    assert m, out
    return bytes.fromhex(m.group(1))


# -- stack traces --------------------------------------------------------------------


def test_stack_addresses_point_into_libc(skel: Any) -> None:
    os.getppid()
    stack_id = skel.data.last_stackid
    assert stack_id >= 0
    stack = skel.maps.stacks.stack(stack_id)
    assert stack and all(isinstance(a, int) and a for a in stack)  # zeros trimmed
    assert len(stack) < skel.maps.stacks.value_size // 8
    _path, ranges = libc_mappings()
    # the innermost frame is the getppid() syscall wrapper in libc
    assert any(lo <= stack[0] < hi for lo, hi in ranges)
    assert skel.maps.stacks.stacks()[stack_id] == stack
    with pytest.raises(KeyError):
        skel.maps.stacks.stack(63 if stack_id != 63 else 62)
    with pytest.raises(KeyError, match="EFAULT"):
        skel.maps.stacks.stack(-14)


def test_build_id_stack_names_libc(skel: Any) -> None:
    os.getppid()
    m = skel.maps.build_id_stacks
    assert m.build_id and not skel.maps.stacks.build_id
    frames = m.stack(skel.data.last_build_id_stackid)
    assert frames and all(isinstance(f, StackFrame) for f in frames)
    path, _ranges = libc_mappings()
    libc_id = build_id_of(path)
    first = frames[0]
    if first.build_id is None:
        pytest.skip("the kernel fell back to raw addresses (could not read the build id)")
    assert first.build_id == libc_id
    assert 0 < first.offset < os.path.getsize(path)


# -- bloom filter ----------------------------------------------------------------------


def test_bloom_filter_push_and_contains(skel: Any) -> None:
    seen = skel.maps.seen
    assert 42 not in seen
    seen.push(42)
    assert 42 in seen
    for v in range(1000, 1010):
        seen.push(v)
    assert all(v in seen for v in range(1000, 1010))  # no false negatives
    skel.bss.probe_value = 42
    os.getppid()
    skel.bss.probe_value = 7_777_777  # never pushed
    os.getppid()
    assert skel.bss.bloom_hits >= 1  # BPF's bpf_map_peek_elem saw Python's push
    with pytest.raises(TypeError, match="bloom filter"):
        seen.items()
    with pytest.raises(TypeError, match="expected"):
        seen.push(b"short")


# -- storage keyed by fd ---------------------------------------------------------------


def test_task_storage_by_pidfd(skel: Any) -> None:
    m = skel.maps.task_vals
    os.getppid()
    os.getppid()
    mine = m.for_pid(os.getpid())  # created by BPF with F_CREATE
    assert mine.calls == 2
    value = mod_value(m, calls=mine.calls, set_by_user=12345)
    m.set_for_pid(os.getpid(), value)
    os.getppid()
    assert skel.bss.last_user_set == 12345  # BPF read what Python stored
    fd = os.pidfd_open(os.getpid())
    try:
        assert m[fd].calls == 3 and m.for_fd(fd).set_by_user == 12345
    finally:
        os.close(fd)
    with pytest.raises(KeyError):
        m.for_pid(os.getppid())  # the parent never called getppid under this filter
    with pytest.raises(TypeError, match="cannot list"):
        m.keys()
    with pytest.raises(TypeError, match="cannot list"):
        len(m)


def mod_value(m: Any, **fields: int) -> Any:
    v = m.value_type()
    for k, x in fields.items():
        setattr(v, k, x)
    return v


def test_sk_storage_by_socket(skel: Any) -> None:
    m = skel.maps.sk_vals
    a, b = socket.socketpair()
    with a, b:
        m[a] = 7
        assert m[a] == 7 and m[a.fileno()] == 7
        with pytest.raises(KeyError):
            m[b]
        del m[a]
        with pytest.raises(KeyError):
            m[a]


def test_inode_storage_by_any_fd_on_the_inode(skel: Any, tmp_path: Any) -> None:
    m = skel.maps.inode_vals
    path = tmp_path / "annotated"
    path.write_text("x")
    other = tmp_path / "other"
    other.write_text("y")
    with open(path) as a, open(path) as b, open(other) as c:
        m[a] = 1234
        assert m[b] == 1234  # another fd, the same inode
        with pytest.raises(KeyError):
            m[c]


def cgroup2_dir() -> str:
    """This process's cgroup v2 directory, from /proc/mounts and /proc/self/cgroup."""
    with open("/proc/mounts") as f:
        roots = [line.split()[1] for line in f if line.split()[2:3] == ["cgroup2"]]
    with open("/proc/self/cgroup") as f:
        rel = [x[3:] for x in f.read().splitlines() if x.startswith("0::")]
    if not roots or not rel:
        pytest.skip("no cgroup v2 hierarchy mounted")
    return roots[0] + rel[0]


def test_cgroup_storage_by_directory_fd(skel: Any) -> None:
    fd = os.open(cgroup2_dir(), os.O_RDONLY | os.O_DIRECTORY)
    try:
        skel.maps.cgrp_vals[fd] = 99
        assert skel.maps.cgrp_vals.for_fd(fd) == 99
    finally:
        os.close(fd)
    with pytest.raises(OSError):  # not a cgroup: the kernel says EBADF
        skel.maps.cgrp_vals[0]


# -- read-and-clear ----------------------------------------------------------------------


def hammer(stop: threading.Event) -> None:
    while not stop.is_set():
        os.getppid()


def test_pop_items_loses_no_entry(skel: Any) -> None:
    """BPF adds one entry (value 1) per getppid() and counts the inserts that
    fail (map full); Python pops meanwhile.  Every entry is popped exactly
    once: popped + failed inserts == BPF's calls.  (An entry BPF added
    between a plain items() and clear() would be deleted unread.)"""
    stop = threading.Event()
    t = threading.Thread(target=hammer, args=(stop,))
    t.start()
    popped = 0
    try:
        for _ in range(300):
            popped += sum(v for _k, v in skel.maps.counts.pop_items())
    finally:
        stop.set()
        t.join()
    popped += sum(v for _k, v in skel.maps.counts.items(delete=True))
    assert skel.maps.counts.items() == []
    assert popped > 0
    assert popped + skel.bss.insert_failed == skel.bss.calls


def test_pop_items_lru_hash_and_the_fallback(skel: Any,
                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    lru = skel.maps.lru_counts
    lru.update({i: i * 10 for i in range(20)})
    assert sorted(lru.items(delete=True)) == [(i, i * 10) for i in range(20)]
    assert lru.items() == []
    # An LPM trie has no lookup-and-delete, batched or not: the fallback refuses
    # rather than read-then-clear, and leaves the entries alone.
    edge = generated_module("maps_edge", tmp_path_factory)
    with edge.open_and_load() as other:
        lpm, key = other.maps.lpm, edge.types.lpm_key
        lpm[key(prefixlen=8, addr=(10, 0, 0, 0))] = 1
        with pytest.raises(bpfskel.NotSupportedError, match="lookup-and-delete"):
            lpm.pop_items()
        assert [v for _k, v in lpm.items()] == [1]


def test_pop_items_refuses_arrays(skel: Any) -> None:
    with pytest.raises(TypeError, match="exchange"):
        skel.maps.bss.pop_items()  # .bss is an array map


def test_exchange_is_atomic_against_bpf(skel: Any) -> None:
    """BPF increments calls and small_counter together; Python exchanges calls
    for 0 meanwhile.  The exchanged values add up to small_counter."""
    stop = threading.Event()
    t = threading.Thread(target=hammer, args=(stop,))
    t.start()
    taken = 0
    try:
        for _ in range(20000):
            taken += skel.bss.exchange("calls", 0)
    finally:
        stop.set()
        t.join()
    taken += skel.bss.exchange("calls", 0)
    total = skel.bss.exchange("small_counter", 0)  # a 4-byte global
    assert taken == total > 0
    assert skel.bss.small_counter == 0
    assert skel.bss.signed_counter == -total
    assert skel.bss.exchange("signed_counter", 5) == -total  # signedness kept
    assert skel.bss.signed_counter == 5
    before = list(skel.bss.hist)
    assert skel.bss.exchange("hist", 0, index=1) == before[1]
    assert skel.bss.hist[1] == 0


def test_exchange_errors(skel: Any) -> None:
    with pytest.raises(bpfskel.ReadOnlyError):
        skel.rodata.exchange("target_tgid", 0)
    with pytest.raises(TypeError, match="takes no index"):
        skel.bss.exchange("calls", 0, index=0)
    with pytest.raises(IndexError):
        skel.bss.exchange("hist", 0, index=8)
    with pytest.raises(TypeError, match="4- and 8-byte"):
        skel.bss.exchange("hist", 0)
    with pytest.raises(AttributeError):
        skel.bss.exchange("no_such_global", 0)


# -- map-in-map ----------------------------------------------------------------------------

BPF_MAP_TYPE_HASH = MapType.HASH


def test_outer_map_reads_back_typed_maps(skel: Any, mod: Any) -> None:
    outer = skel.maps.outer
    assert outer.inner_map == (BPF_MAP_TYPE_HASH, 4, 16, 8, 0)  # the declared struct inner
    inner = outer[0]  # the slot libbpf filled at load from `.values = { [0] = &inner0 }`
    assert isinstance(inner, bpfskel.mapinmap.OwnedMap)
    assert inner.value_type is mod.types.inner_val and inner.key_type is not None
    with inner:
        skel.maps.inner0[0] = mod.types.inner_val(tag=3)
        os.getppid()
        assert inner[0].hits == 1 and inner[0].tag == 3  # the same map BPF updated
        assert isinstance(inner[0], mod.types.inner_val)
    with pytest.raises(KeyError):
        outer[1]
    assert [(k, type(v).__name__) for k, v in outer.items()] == [(0, "OwnedMap")]


def test_create_inner_and_insert(skel: Any, mod: Any) -> None:
    outer = skel.maps.outer
    new = outer.create_inner()
    assert new.shape() == outer.inner_map
    new[0] = mod.types.inner_val(tag=9)
    outer[0] = new  # BPF's bpf_map_lookup_elem(&outer, 0) now finds the new map
    os.getppid()
    os.getppid()
    assert new[0].hits == 2 and new[0].tag == 9
    assert 0 not in skel.maps.inner0  # the declared map no longer gets the updates
    assert outer[0].id == new.id
    skel.maps.outer_hash[77] = new
    assert skel.maps.outer_hash[77].id == new.id
    del skel.maps.outer_hash[77]
    assert 77 not in skel.maps.outer_hash
    with pytest.raises(TypeError, match="a map or a map fd"):
        outer[1] = "not a map"
    wrong = bpfskel.maps.Map.create(BPF_MAP_TYPE_HASH, 4, 8, 8)  # value size differs
    with wrong, pytest.raises(OSError):
        outer[1] = wrong  # the kernel checks the inner map's shape
    new.close()
    with pytest.raises(bpfskel.ClosedError):
        new[0]


def test_inner_map_set_before_load(mod: Any) -> None:
    template = bpfskel.maps.Map.create(BPF_MAP_TYPE_HASH, 4, 16, 32, name="tmpl",
                                       value_type=mod.types.inner_val)
    with template, mod.open() as skel:
        skel.maps.outer_hash.inner_map = template
        skel.load()
        with pytest.raises(bpfskel.LibbpfError, match="already loaded") as ei:
            skel.maps.outer_hash.inner_map = template  # as every map setter after load
        assert ei.value.errno == errno.EBUSY
        made = skel.maps.outer_hash.create_inner()
        assert made.max_entries == 32 and made.value_type is mod.types.inner_val
        skel.maps.outer_hash[1] = made
        assert skel.maps.outer_hash[1].max_entries == 32


# -- user ring buffer ------------------------------------------------------------------------


def test_user_ring_buffer_batches_drained_by_bpf(mod: Any) -> None:
    with mod.open_and_load() as skel:
        rec = mod.types.urec
        with skel.maps.requests.user_ring_buffer(rec) as urb:
            size = skel.maps.requests.max_entries
            assert urb.free == size
            urb.submit(rec(seq=1, weight=10, tag=b"first"))
            assert urb.free == size - 24  # 8-byte header + 16-byte record
            sent, weight, seqs = 1, 10, 1
            seq = 2
            for _round in range(5):  # several times around the ring: records wrap
                batch = [rec(seq=seq + i, weight=i % 7) for i in range(1000)]
                n = urb.submit_many(batch)
                assert 0 < n < 1000  # stopped when full
                with pytest.raises(bpfskel.RingBufferFullError):
                    urb.submit(rec(seq=0))
                sent += n
                weight += sum(r.weight for r in batch[:n])
                seqs += sum(r.seq for r in batch[:n])
                seq += n
                assert skel.progs.drain.test_run().retval == n + (1 if _round == 0 else 0)
                assert urb.free == size
            assert (skel.bss.drained, skel.bss.drained_weight, skel.bss.drain_seq_sum) == (
                sent, weight, seqs)
            with pytest.raises(TypeError, match="expected"):
                urb.submit(b"x" * 3)
        with pytest.raises(bpfskel.ClosedError):
            urb.submit(rec())
        with skel.maps.requests.user_ring_buffer() as raw:  # bytes records
            raw.submit(bytes(rec(seq=5, weight=4)))
            with pytest.raises(bpfskel.EventSizeError):
                raw.submit(bytes(size))
            assert skel.progs.drain.test_run().retval == 1
            assert skel.bss.drained_weight == weight + 4
        with pytest.raises(TypeError, match="user_ring_buffer"):
            skel.maps.requests.items()


def test_generated_module_annotates_map_kinds(mod: Any) -> None:
    """Every class bpfskel.mapkinds picks is reachable as _rt.<name>, and the
    generated namespace names the one each map gets at open."""
    from bpfskel import mapkinds, runtime

    for map_type in mapkinds.KINDS:
        cls = mapkinds.map_class(map_type)
        assert getattr(runtime, cls.__name__) is cls and cls.__name__ in runtime.__all__
    hints = mod.Maps.__annotations__
    assert hints["stacks"] == "_rt.StackTraceMap" and hints["seen"] == "_rt.BloomFilter"
    assert hints["outer"] == "_rt.MapInMap" and hints["task_vals"] == "_rt.StorageMap"
    assert hints["requests"] == "_rt.UserRingBufferMap" and hints["counts"] == "_rt.Map[int, int]"
    with mod.open() as skel:
        for ident, annotation in hints.items():
            kind = annotation[len("_rt."):].split("[")[0]  # Map[K, V] is a Map
            assert type(getattr(skel.maps, ident)).__name__ == kind
