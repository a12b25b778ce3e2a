"""bpfskel.Memory on real BPF_F_MMAPABLE array maps (real kernel, no mocks).

Every check that memory reached the kernel goes through a bpf() syscall
(BPF_MAP_LOOKUP_ELEM / BPF_MAP_UPDATE_ELEM), never through the mapping itself.
"""

from __future__ import annotations

import ctypes
import errno
import gc

import pytest

import bpfskel
from bpfskel import BoundsError, ClosedError, Memory, ReadOnlyError

from bpfenv import (
    BPF_F_MMAPABLE,
    BPF_F_RDONLY_PROG,
    close_fd,
    create_array,
    freeze,
    lookup,
    requires_bpf,
    update,
)

pytestmark = requires_bpf

MMAP = BPF_F_MMAPABLE


@pytest.fixture
def make_map():
    """make_map(value_size, flags=MMAP) -> fd; every fd is closed at teardown."""
    fds = []

    def make(value_size: int, flags: int = MMAP) -> int:
        fd = create_array(value_size, 1, flags)
        fds.append(fd)
        return fd

    yield make
    for fd in fds:
        close_fd(fd)


# -- read-write mapping ---------------------------------------------------------


def test_rw_mapping_attributes(make_map):
    fd = make_map(64)
    with Memory(fd, 64) as mem:
        assert mem.readonly is False
        assert mem.size == 64
        assert len(mem) == 64
        assert mem.closed is False
        assert "read-write" in repr(mem)
        assert mem.read_at(0, 64) == bytes(64)  # a new array map is zeroed


def test_write_at_is_seen_by_syscall_lookup(make_map):
    fd = make_map(64)
    with Memory(fd, 64) as mem:
        mem.write_at(5, b"hello")
        mem.write_at(60, bytearray(b"\xde\xad\xbe\xef"))
        expected = bytearray(64)
        expected[5:10] = b"hello"
        expected[60:64] = b"\xde\xad\xbe\xef"
        assert lookup(fd, 0, 64) == bytes(expected)


def test_syscall_update_is_seen_by_read_at(make_map):
    fd = make_map(32)
    with Memory(fd, 32) as mem:
        value = bytes(range(1, 33))
        update(fd, 0, value)
        assert mem.read_at(0, 32) == value
        assert mem.read_at(7, 3) == value[7:10]


def test_write_at_accepts_any_buffer(make_map):
    fd = make_map(16)
    with Memory(fd, 16) as mem:
        mem.write_at(0, memoryview(ctypes.c_uint64(0x0102030405060708)))
        mem.write_at(8, ctypes.c_uint32(0xAABBCCDD))
        assert lookup(fd, 0, 16)[:12] == (0x0102030405060708).to_bytes(8, "little") + \
            (0xAABBCCDD).to_bytes(4, "little")


# -- read-only mappings -----------------------------------------------------------


def _assert_readonly(fd: int, mem: Memory, size: int) -> None:
    before = lookup(fd, 0, size)
    assert mem.readonly is True
    assert "read-only" in repr(mem)
    with pytest.raises(ReadOnlyError) as ei:
        mem.write_at(0, b"\x01")
    assert isinstance(ei.value, PermissionError)
    assert isinstance(ei.value, bpfskel.Error)
    assert ei.value.errno == errno.EPERM
    with pytest.raises(ReadOnlyError):
        mem[0:1] = b"\x01"
    assert lookup(fd, 0, size) == before
    assert mem.read_at(0, size) == before
    mv = memoryview(mem)
    try:
        assert mv.readonly is True
        with pytest.raises(TypeError):
            mv[0] = 1
    finally:
        mv.release()
    with pytest.raises(TypeError):  # ctypes refuses a writable view of read-only memory
        ctypes.c_uint8.from_buffer(mem)


def test_frozen_map_maps_readonly(make_map):
    fd = make_map(16)
    update(fd, 0, b"frozen-contents!")
    assert freeze(fd) == 0
    with Memory(fd, 16) as mem:
        _assert_readonly(fd, mem, 16)
        assert mem.read_at(0, 16) == b"frozen-contents!"


def test_rdonly_prog_map_maps_readonly(make_map):
    fd = make_map(16, MMAP | BPF_F_RDONLY_PROG)
    update(fd, 0, b"R" * 16)  # user space may still write through the syscall
    with Memory(fd, 16) as mem:
        _assert_readonly(fd, mem, 16)
        assert mem.read_at(0, 16) == b"R" * 16
        update(fd, 0, b"S" * 16)  # ... and the read-only mapping sees it
        assert mem.read_at(0, 16) == b"S" * 16


def test_non_mmapable_map_raises_oserror(make_map):
    """A failed mmap is our own system call: a SyscallError with the errno,
    not a LibbpfError (libbpf was not involved)."""
    fd = make_map(16, 0)
    with pytest.raises(bpfskel.SyscallError) as ei:
        Memory(fd, 16)
    assert isinstance(ei.value, OSError) and isinstance(ei.value, bpfskel.Error)
    assert not isinstance(ei.value, bpfskel.LibbpfError)
    assert ei.value.errno == errno.EINVAL
    assert str(ei.value).startswith(f"mmap of map fd {fd} (16 bytes): Invalid argument")


# -- bounds ---------------------------------------------------------------------


def test_write_across_page_boundary(make_map):
    fd = make_map(8192)
    with Memory(fd, 8192) as mem:
        data = bytes(range(0x41, 0x41 + 16))  # 4090..4106 straddles 4096
        mem.write_at(4090, data)
        got = lookup(fd, 0, 8192)
        assert got[4090:4106] == data
        assert got[:4090] == bytes(4090) and got[4106:] == bytes(8192 - 4106)
        assert mem.read_at(4090, 16) == data


def test_last_byte(make_map):
    fd = make_map(100)
    with Memory(fd, 100) as mem:
        mem.write_at(99, b"x")
        assert mem.read_at(99, 1) == b"x"
        assert lookup(fd, 0, 100)[99:] == b"x"
        assert mem.read_at(0, 100)[-1:] == b"x"
        mem.write_at(0, bytes(100))  # whole-region write ends exactly at the end
        assert lookup(fd, 0, 100) == bytes(100)


def test_empty_access_at_end_is_allowed(make_map):
    fd = make_map(16)
    with Memory(fd, 16) as mem:
        assert mem.read_at(16, 0) == b""
        assert mem.read_at(0, 0) == b""
        mem.write_at(16, b"")


@pytest.mark.parametrize("offset,size", [
    (99, 2), (100, 1), (101, 0), (0, 101), (-1, 1), (-1, 0), (5, -1),
    (2**32, 1), (2**32 + 99, 1), (0, 2**32 + 1), (2**32, 0), (2**64 - 1, 1), (-(2**32), 1),
])
def test_read_out_of_bounds_raises(make_map, offset, size):
    fd = make_map(100)
    with Memory(fd, 100) as mem:
        with pytest.raises(BoundsError) as ei:
            mem.read_at(offset, size)
        assert isinstance(ei.value, ValueError)
        assert isinstance(ei.value, IndexError)


@pytest.mark.parametrize("offset,data", [
    (100, b"x"), (99, b"xy"), (-1, b"x"), (2**32, b"x"), (2**32 + 99, b"x"),
    (2**32 - 1, b"x"), (0, bytes(101)),
])
def test_write_out_of_bounds_raises_and_changes_nothing(make_map, offset, data):
    fd = make_map(100)
    update(fd, 0, b"\x5a" * 100)
    with Memory(fd, 100) as mem:
        with pytest.raises(BoundsError):
            mem.write_at(offset, data)
        assert lookup(fd, 0, 100) == b"\x5a" * 100


def test_non_int_offsets_rejected(make_map):
    fd = make_map(16)
    with Memory(fd, 16) as mem:
        with pytest.raises(TypeError):
            mem.read_at(1.0, 1)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            mem.read_at(0, "1")  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [0, -1, 2**32 + 16])
def test_bad_mapping_size_is_refused(make_map, size):
    # 2**32 + 16 must not be truncated to 16 (which would map fine).
    fd = make_map(16)
    with pytest.raises((ValueError, OSError)):
        Memory(fd, size)


def _mapping_at(address: int) -> str:
    """The /proc/self/maps line of the mapping starting at ``address`` ("" if none)."""
    with open("/proc/self/maps") as f:
        for line in f:
            if int(line.split("-", 1)[0], 16) == address:
                return line.strip()
    return ""


# -- lifetime -----------------------------------------------------------------------


def test_use_after_close(make_map):
    fd = make_map(16)
    mem = Memory(fd, 16)
    mem.close()
    assert mem.closed is True
    assert "closed" in repr(mem)
    for op in (lambda: mem.read_at(0, 1), lambda: mem.write_at(0, b"x"),
               lambda: mem[0], lambda: mem.address):
        with pytest.raises(ClosedError) as ei:
            op()
        assert isinstance(ei.value, ValueError)
    mem.close()  # twice is fine
    assert mem.closed is True


def test_context_manager_closes(make_map):
    fd = make_map(16)
    with Memory(fd, 16) as mem:
        assert not mem.closed
    assert mem.closed
    with pytest.raises(ClosedError):
        mem.read_at(0, 1)


def test_close_really_unmaps(make_map):
    fd = make_map(16)
    mem = Memory(fd, 16)
    # The kernel refuses to freeze a map while a writable mapping exists.
    assert freeze(fd) == -errno.EBUSY
    mem.close()
    assert freeze(fd) == 0


def test_close_with_live_ctypes_view_unmaps_without_crashing(make_map):
    fd = make_map(16)
    mem = Memory(fd, 16)
    c = ctypes.c_uint64.from_buffer(mem)
    c.value = 0x1122334455667788
    assert lookup(fd, 0, 16)[:8] == (0x1122334455667788).to_bytes(8, "little")
    assert freeze(fd) == -errno.EBUSY
    address = mem.address
    assert "bpf-map" in _mapping_at(address)
    mem.close()
    assert mem.closed
    assert freeze(fd) == 0  # the map is no longer mapped writable
    assert "bpf-map" not in _mapping_at(address)  # an anonymous placeholder now
    assert c.value == 0  # placeholder zero page, no SIGSEGV
    c.value = 7  # writes land in the placeholder, not in the (frozen) map
    assert lookup(fd, 0, 16)[:8] == (0x1122334455667788).to_bytes(8, "little")
    del c
    gc.collect()


def test_close_readonly_with_live_memoryview(make_map):
    fd = make_map(16, MMAP | BPF_F_RDONLY_PROG)
    update(fd, 0, b"\x09" * 16)
    mem = Memory(fd, 16)
    assert mem.readonly
    address = mem.address
    mv = memoryview(mem)
    assert mv[0] == 9
    mem.close()
    assert "bpf-map" not in _mapping_at(address)
    assert mv[0] == 0 and mv.readonly  # still readable, now zeros
    with pytest.raises(ClosedError):
        mem.read_at(0, 1)
    mv.release()
    del mem
    gc.collect()
    assert _mapping_at(address) == "" or "bpf-map" not in _mapping_at(address)


def test_gc_unmaps_without_close(make_map):
    fd = make_map(16)
    mem = Memory(fd, 16)
    mem.write_at(0, b"gc")
    address = mem.address
    assert freeze(fd) == -errno.EBUSY
    del mem
    gc.collect()
    assert freeze(fd) == 0
    assert lookup(fd, 0, 16)[:2] == b"gc"
    assert "bpf-map" not in _mapping_at(address)


# -- buffer protocol --------------------------------------------------------------------


def test_memoryview_is_writable_and_shared(make_map):
    fd = make_map(32)
    with Memory(fd, 32) as mem:
        mv = memoryview(mem)
        try:
            assert mv.readonly is False
            assert mv.nbytes == 32
            mv[3] = 0x7F
            mv[10:12] = b"ok"
        finally:
            mv.release()
        got = lookup(fd, 0, 32)
        assert got[3] == 0x7F and got[10:12] == b"ok"


class _Pair(ctypes.Structure):
    _fields_ = [("a", ctypes.c_uint32), ("pad", ctypes.c_uint32), ("b", ctypes.c_uint64)]


def test_ctypes_structure_from_buffer(make_map):
    fd = make_map(16)
    mem = Memory(fd, 16)
    s = _Pair.from_buffer(mem)
    s.a = 0xCAFEBABE
    s.b = 2**63 + 5
    got = lookup(fd, 0, 16)
    assert int.from_bytes(got[0:4], "little") == 0xCAFEBABE
    assert int.from_bytes(got[8:16], "little") == 2**63 + 5
    update(fd, 0, (1).to_bytes(4, "little") + bytes(4) + (2).to_bytes(8, "little"))
    assert (s.a, s.b) == (1, 2)
    assert ctypes.addressof(s) == mem.address
    assert mem.address % 4096 == 0  # page-aligned base
    del s
    mem.close()
    assert freeze(fd) == 0
