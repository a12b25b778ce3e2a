"""Every entry point Memory inherits from mmap.mmap obeys Memory's rules:
ClosedError after close(), ReadOnlyError on a read-only mapping, BoundsError
outside 0..size.  Real BPF_F_MMAPABLE array maps; each method is tested on
its own.  (They used to read and write after close, past read-only, and the
file position past the end.)"""

from __future__ import annotations

import mmap
import threading
from typing import Any, Callable, Dict, Iterator, List

import pytest

from bpfskel import BoundsError, ClosedError, Memory, ReadOnlyError

from bpfenv import BPF_F_MMAPABLE, close_fd, create_array, freeze, lookup, requires_bpf

pytestmark = requires_bpf

SIZE = 64

# method -> a call of it (on a fresh, open Memory of SIZE bytes at position 0)
READERS: Dict[str, Callable[[Any], Any]] = {
    "read": lambda m: m.read(4),
    "read_byte": lambda m: m.read_byte(),
    "readline": lambda m: m.readline(),
    "find": lambda m: m.find(b"\x00"),
    "rfind": lambda m: m.rfind(b"\x00"),
    "tell": lambda m: m.tell(),
    "seek": lambda m: m.seek(8),
    "flush": lambda m: m.flush(),
    "madvise": lambda m: m.madvise(mmap.MADV_NORMAL),
    "getitem": lambda m: m[0],
    "iter": lambda m: next(iter(m)),
    "read_at": lambda m: m.read_at(0, 4),
}
WRITERS: Dict[str, Callable[[Any], Any]] = {
    "write": lambda m: m.write(b"abcd"),
    "write_byte": lambda m: m.write_byte(7),
    "move": lambda m: m.move(8, 0, 8),
    "setitem": lambda m: m.__setitem__(0, 1),
    "write_at": lambda m: m.write_at(0, b"x"),
}


@pytest.fixture
def fd() -> Iterator[int]:
    fd = create_array(SIZE, 1, BPF_F_MMAPABLE)
    yield fd
    close_fd(fd)


@pytest.mark.parametrize("name", sorted({**READERS, **WRITERS}))
def test_closed_refuses_every_method(fd: int, name: str) -> None:
    call = {**READERS, **WRITERS}[name]
    mem = Memory(fd, SIZE)
    call(mem)  # works while open
    keep = memoryview(mem)  # exported: close() puts zero pages in place
    mem.close()
    with pytest.raises(ClosedError):
        call(mem)
    keep.release()


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_readonly_refuses_every_writer(fd: int, name: str) -> None:
    assert freeze(fd) == 0
    with Memory(fd, SIZE) as mem:
        assert mem.readonly
        with pytest.raises(ReadOnlyError):
            WRITERS[name](mem)
        assert mem.read_at(0, SIZE) == bytes(SIZE)


@pytest.mark.parametrize("name", sorted(READERS))
def test_readonly_allows_every_reader(fd: int, name: str) -> None:
    assert freeze(fd) == 0
    with Memory(fd, SIZE) as mem:
        READERS[name](mem)


def test_bounds(fd: int) -> None:
    with Memory(fd, SIZE) as mem:
        with pytest.raises(BoundsError):
            mem.seek(SIZE + 1)
        with pytest.raises(BoundsError):
            mem.seek(-1)
        with pytest.raises(BoundsError):
            mem.seek(1, 2)
        mem.seek(-4, 2)
        with pytest.raises(BoundsError):
            mem.write(b"12345")  # one byte too many
        mem.write(b"1234")  # exactly to the end
        with pytest.raises(BoundsError):
            mem.write_byte(1)
        with pytest.raises(BoundsError):
            mem.move(SIZE - 4, 0, 8)
        with pytest.raises(BoundsError):
            mem.move(0, SIZE - 4, 8)
        mem.move(0, SIZE - 4, 4)
        assert lookup(fd, 0, SIZE)[:4] == b"1234" == lookup(fd, 0, SIZE)[-4:]
        with pytest.raises(TypeError):
            mem.resize(2 * SIZE)


def test_close_runs_once_from_many_threads(fd: int) -> None:
    """The zero-page placeholder (an mmap MAP_FIXED) is put in once."""
    for _ in range(200):
        mem = Memory(fd, SIZE)
        keep = memoryview(mem)
        errors: List[BaseException] = []
        start = threading.Barrier(4)

        def close(mem: Memory = mem, start: threading.Barrier = start,
                  errors: List[BaseException] = errors) -> None:
            start.wait()
            try:
                mem.close()
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=close) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and mem.closed
        assert keep[0] == 0  # the zero page, not the map
        keep.release()
