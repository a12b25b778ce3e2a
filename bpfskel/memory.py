"""Memory: direct access to the memory of a BPF map, without syscalls.

A Python port of the idea behind cilium/ebpf's ``Memory``.  Given the fd of a
map created with ``BPF_F_MMAPABLE`` (arrays and arenas), the map's memory is
mapped ``MAP_SHARED`` into this process: a load or store there *is* a load or
store in the kernel's copy of the map, seen by BPF programs at once.

Read-only fallback
    Maps created with ``BPF_F_RDONLY_PROG`` stay writable from user space until
    they are frozen; but the kernel refuses a *writable* mapping of a frozen map
    (EPERM) or of a ``BPF_F_RDONLY_PROG`` map (EACCES).  Otherwise user space
    could keep writing through a mapping made before the freeze, since page
    protections of an existing mapping cannot be revoked, while the verifier
    treats the contents as constants.  On either errno we map read-only instead
    and report it in :attr:`Memory.readonly`.

Memory coherence
    Nothing here synchronises with BPF programs running concurrently.  A single
    naturally aligned value of at most 8 bytes is read or written with one
    machine access, so it is never observed half-written, provided the BPF side
    accesses it the same way.  Packed structs break this: they drop alignment to
    one byte and compilers then use byte-wise loads and stores, so a reader can
    see a value that is half old, half new.  Avoid packed layouts in shared
    memory.  Anything larger than one value (a struct, an array, a copy made
    with :meth:`read_at`) needs the usual care: BPF atomics, a sequence counter,
    or a protocol where only one side writes.  A Python ``+=`` on a global
    (``skel.bss.n += 1``) is a read, then a write: an increment BPF makes in
    between is lost, so let one side own each counter.  tests/test_concurrency.py
    holds these rules under load: four threads against a BPF writer; counters
    only go up, a value BPF copies never runs ahead of its source, and a pair
    published under a sequence counter (retry while it is odd or has changed)
    is always consistent.  That last protocol relies on x86-64 ordering loads
    with loads (TSO); Python cannot issue the read barriers a weaker memory
    model (arm64) would need between the counter and the data.

Alignment
    The mapping starts on a page boundary, so offsets in the map are offsets
    from an aligned base: a field that is aligned in the BPF object's layout is
    aligned here too.  The generated ctypes classes reproduce that layout byte
    for byte with explicit padding, never relying on the host's rules.

Lifetime
    :meth:`close` always releases the map's pages.  If ctypes objects still
    point into the mapping (a view someone kept), the range is not unmapped but
    replaced in place by anonymous zero pages (``MAP_FIXED``), so those objects
    read zeros instead of faulting, while the map itself is no longer mapped
    (it can be frozen, for instance).  Memory is an :class:`mmap.mmap`, and the
    mmap object's deallocator unmaps at garbage collection; it never raises.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import mmap
import weakref
from typing import Any, List, Optional, Tuple

from . import _libc
from .errors import ENOTSUPP, BoundsError, ClosedError, ReadOnlyError, syscall_error

__all__ = ["Memory", "BorrowedMemory", "buffer_address"]

PAGE_SIZE = mmap.PAGESIZE
_MAP_FIXED = 0x10
_MAP_ANONYMOUS = getattr(mmap, "MAP_ANONYMOUS", 0x20)
_MAP_FAILED = ctypes.c_void_p(-1).value


class _PyBuffer(ctypes.Structure):
    # Py_buffer, part of the stable ABI since Python 3.11 (unchanged since 3.3).
    _fields_ = [
        ("buf", ctypes.c_void_p),
        ("obj", ctypes.c_void_p),
        ("len", ctypes.c_ssize_t),
        ("itemsize", ctypes.c_ssize_t),
        ("readonly", ctypes.c_int),
        ("ndim", ctypes.c_int),
        ("format", ctypes.c_char_p),
        ("shape", ctypes.c_void_p),
        ("strides", ctypes.c_void_p),
        ("suboffsets", ctypes.c_void_p),
        ("internal", ctypes.c_void_p),
    ]


_get_buffer = ctypes.pythonapi.PyObject_GetBuffer
_get_buffer.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int]
_get_buffer.restype = ctypes.c_int
_release_buffer = ctypes.pythonapi.PyBuffer_Release
_release_buffer.argtypes = [ctypes.POINTER(_PyBuffer)]
_release_buffer.restype = None


def buffer_address(obj: Any) -> int:
    """Address of the first byte of any object exposing the buffer protocol,
    read-only buffers included (``ctypes.c_char.from_buffer`` refuses those)."""
    view = _PyBuffer()
    if _get_buffer(obj, ctypes.byref(view), 0) != 0:  # PyBUF_SIMPLE
        raise TypeError(f"{type(obj).__name__} does not expose a buffer")
    try:
        return int(view.buf or 0)
    finally:
        _release_buffer(ctypes.byref(view))


def _round_up(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def _check_bounds(offset: int, size: int, total: int) -> None:
    # The seed computes ``off+size < len`` and so rejects an access that
    # ends exactly on the last byte; the correct test is ``<=``.
    if not isinstance(offset, int) or not isinstance(size, int):
        raise TypeError("offset and size must be ints")
    if offset < 0 or size < 0 or offset + size > total:
        raise BoundsError(f"access of {size} bytes at offset {offset} is outside 0..{total}")


class _Region:
    """What Memory and BorrowedMemory share: attributes and the access rules."""

    _size: int
    _readonly: bool
    _closed: bool
    _address: int

    @property
    def size(self) -> int:
        """Size of the mapped region in bytes."""
        return self._size

    @property
    def readonly(self) -> bool:
        """True if the region is read-only (for Memory: the kernel only allowed that)."""
        return self._readonly

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def address(self) -> int:
        """Address of the first byte (stable for the object's lifetime)."""
        self._check_open()
        return self._address

    def __len__(self) -> int:
        return self._size

    def _state(self) -> str:
        return "closed" if self._closed else ("read-only" if self._readonly else "read-write")

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("memory-mapped region is closed")

    def _bounds(self, offset: int, size: int) -> None:
        _check_bounds(offset, size, self._size)


class Memory(_Region, mmap.mmap):  # type: ignore[misc,override]  # size, closed: properties
    """The memory of one ``BPF_F_MMAPABLE`` map, mapped into this process.

    ``Memory(fd, size)`` maps ``size`` bytes of the map behind ``fd``
    read-write, or read-only when the kernel refuses a writable mapping.  It
    exposes the buffer protocol (read-only when the mapping is), which is what
    generated section views overlay.
    """

    def __new__(cls, fd: int, size: int) -> "Memory":
        if not isinstance(size, int) or size <= 0:
            raise ValueError(f"size must be a positive int, not {size!r}")
        if not isinstance(fd, int) or fd < 0:
            raise ValueError(f"fd must be a non-negative int, not {fd!r}")
        readonly = False
        try:
            self = super().__new__(cls, fd, size, flags=mmap.MAP_SHARED,
                                   prot=mmap.PROT_READ | mmap.PROT_WRITE)
        except OSError as e:
            if e.errno == ENOTSUPP:
                raise syscall_error(ENOTSUPP, f"mmap of map fd {fd} ({size} bytes)",
                                    "this map type cannot be mapped (only arrays created "
                                    "with BPF_F_MMAPABLE, arenas and ring buffers can)") \
                    from None
            if e.errno not in (_errno.EPERM, _errno.EACCES):
                raise syscall_error(e.errno or _errno.EINVAL,
                                    f"mmap of map fd {fd} ({size} bytes)") from None
            readonly = True
            try:
                self = super().__new__(cls, fd, size, access=mmap.ACCESS_READ)
            except OSError as e2:
                raise syscall_error(e2.errno or _errno.EINVAL,
                                    f"read-only mmap of map fd {fd} ({size} bytes)") from None
        self._start(size, readonly)
        return self

    def _start(self, size: int, readonly: bool) -> None:
        self._size = size
        self._readonly = readonly
        self._closed = False
        self._owner = [True]  # close() pops it: one caller releases, once
        self._address = buffer_address(self)

    def __init__(self, fd: int, size: int) -> None:  # mmap's __init__ takes no part
        pass

    @classmethod
    def anonymous(cls, size: int) -> "Memory":
        """Zeroed private memory, to be turned into a map's memory by :meth:`remap`.

        Skeleton views start on such a region before load, so that the same
        ctypes view (and any sub-object taken from it) follows the live map
        after load, the way libbpf's C skeleton remaps in place.
        """
        if not isinstance(size, int) or size <= 0:
            raise ValueError(f"size must be a positive int, not {size!r}")
        self = super().__new__(cls, -1, size, flags=mmap.MAP_PRIVATE | _MAP_ANONYMOUS,
                               prot=mmap.PROT_READ | mmap.PROT_WRITE)
        self._start(size, False)
        return self

    def remap(self, fd: int) -> None:
        """Replace this region's pages, in place, by the memory of the map ``fd``
        (``MAP_SHARED | MAP_FIXED``, read-write).  Every ctypes object pointing
        in now reads and writes the live map.  The map must be writable."""
        self._check_open()
        length = _round_up(self._size, PAGE_SIZE)
        got = _libc.libc().mmap(self._address, length, mmap.PROT_READ | mmap.PROT_WRITE,
                                  mmap.MAP_SHARED | _MAP_FIXED, fd, 0)
        if got in (None, _MAP_FAILED) or got != self._address:
            err = ctypes.get_errno() or _errno.EINVAL
            self._placeholder()  # a failed MAP_FIXED may have unmapped the range
            raise syscall_error(err, f"mmap of map fd {fd} in place ({self._size} bytes)")

    def _placeholder(self) -> None:
        """Anonymous zero pages over the whole region, at the same address."""
        prot = mmap.PROT_READ if self._readonly else mmap.PROT_READ | mmap.PROT_WRITE
        length = _round_up(self._size, PAGE_SIZE)
        got = _libc.libc().mmap(self._address, length, prot,
                                  mmap.MAP_PRIVATE | _MAP_ANONYMOUS | _MAP_FIXED, -1, 0)
        if got in (None, _MAP_FAILED) or got != self._address:  # pragma: no cover
            raise syscall_error(ctypes.get_errno(), "mmap placeholder over closed Memory")

    # -- attributes (size, readonly, closed, address: see _Region) -------------

    def __repr__(self) -> str:
        return f"<bpfskel.Memory {self._size} bytes, {self._state()}>"

    # -- access ----------------------------------------------------------------

    def read_at(self, offset: int, size: int) -> bytes:
        """Copy ``size`` bytes starting at ``offset``."""
        self._check_open()
        self._bounds(offset, size)
        return mmap.mmap.__getitem__(self, slice(offset, offset + size))

    def write_at(self, offset: int, data: Any) -> None:
        """Write ``data`` (any bytes-like object) at ``offset``."""
        self._check_open()
        if self._readonly:
            raise ReadOnlyError("memory-mapped region")
        view = memoryview(data).cast("B")
        self._bounds(offset, view.nbytes)
        mmap.mmap.__setitem__(self, slice(offset, offset + view.nbytes), view)

    def __getitem__(self, key: Any) -> Any:
        self._check_open()
        return mmap.mmap.__getitem__(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._writable()
        mmap.mmap.__setitem__(self, key, value)

    # The file-like methods inherited from mmap.mmap obey the same rules as
    # read_at/write_at: ClosedError after close, ReadOnlyError on a read-only
    # region, BoundsError outside 0..size.  None of them may reach the mapping
    # unchecked: after close it may be zero pages standing in for the map.

    def _writable(self) -> None:
        self._check_open()
        if self._readonly:
            raise ReadOnlyError("memory-mapped region")

    def read(self, n: Optional[int] = None) -> bytes:
        self._check_open()
        return mmap.mmap.read(self, n)

    def read_byte(self) -> int:
        self._check_open()
        return mmap.mmap.read_byte(self)

    def readline(self) -> bytes:
        self._check_open()
        return mmap.mmap.readline(self)

    def find(self, sub: Any, *args: Any) -> int:
        self._check_open()
        return mmap.mmap.find(self, sub, *args)

    def rfind(self, sub: Any, *args: Any) -> int:
        self._check_open()
        return mmap.mmap.rfind(self, sub, *args)

    def tell(self) -> int:
        self._check_open()
        return mmap.mmap.tell(self)

    def seek(self, pos: int, whence: int = 0) -> None:
        self._check_open()
        base = {0: 0, 1: mmap.mmap.tell(self), 2: self._size}.get(whence)
        if base is None:
            raise ValueError(f"unknown whence {whence!r}")
        if not 0 <= base + pos <= self._size:
            raise BoundsError(f"seek to {base + pos} is outside 0..{self._size}")
        mmap.mmap.seek(self, base + pos)

    def write(self, data: Any) -> int:
        self._writable()
        n = memoryview(data).nbytes
        self._bounds(mmap.mmap.tell(self), n)
        return mmap.mmap.write(self, data)

    def write_byte(self, byte: int) -> None:
        self._writable()
        self._bounds(mmap.mmap.tell(self), 1)
        mmap.mmap.write_byte(self, byte)

    def move(self, dest: int, src: int, count: int) -> None:
        self._writable()
        self._bounds(src, count)
        self._bounds(dest, count)
        mmap.mmap.move(self, dest, src, count)

    def flush(self, *args: Any) -> None:
        """Nothing to write back: the mapping is the map's memory itself."""
        self._check_open()

    def madvise(self, *args: Any) -> None:
        self._check_open()
        mmap.mmap.madvise(self, *args)

    def resize(self, newsize: int) -> None:
        self._check_open()
        raise TypeError("the memory of a BPF map cannot be resized")

    # -- lifetime --------------------------------------------------------------

    def close(self, keep_exported: bool = False) -> None:
        """Release the map's pages.  Idempotent, and exactly once even when
        called from several threads or a signal handler.

        If live ctypes objects still point into the region, its pages are
        replaced by anonymous zero pages at the same address instead: the map
        is released all the same and those objects never fault.  With
        ``keep_exported`` they are left mapped instead (the mapping then keeps
        the map alive until the last such object is gone): this Memory still
        refuses every access.
        """
        try:
            self._owner.pop()
        except IndexError:
            return
        self._closed = True
        try:
            mmap.mmap.close(self)
            return
        except BufferError:
            pass  # exported: something still points in
        if not keep_exported:
            self._placeholder()

    def __enter__(self) -> "Memory":
        return self

    def __exit__(self, *exc: Optional[object]) -> None:
        self.close()

    def __reduce__(self) -> Any:
        raise TypeError("a Memory mapping cannot be pickled")


_MAP_FIXED_NOREPLACE = 0x100000
_MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000)


class BorrowedMemory(_Region):
    """``size`` bytes that someone else mapped at ``address``, used in place.

    The form of :class:`Memory` for a mapping that must stay where its owner
    put it, such as the BPF arena libbpf maps at load (the kernel refuses a
    second mapping elsewhere).  It never unmaps: the owner does.  Sizes are
    plain ints, so a 4 GiB arena is no special case.

    The rules are Memory's: :meth:`read_at`/:meth:`write_at` are bounds-checked
    (:class:`BoundsError`), a read-only region refuses writes
    (:class:`ReadOnlyError`) and after :meth:`close` every access raises
    :class:`ClosedError`.  Typed views come from :meth:`view`: a ctypes object
    of a generated class at an offset, bounds-checked (and its read-only twin
    on a read-only region).  ``close`` turns every view still alive into its
    closed twin.  Once the owner has unmapped the range, :meth:`cover` puts
    anonymous zero pages under those views, so that they and any sub-object
    taken from them read zeros instead of faulting, as after Memory's close.
    The pages are released when the last such object is gone.
    """

    def __init__(self, address: int, size: int, *, readonly: bool = False) -> None:
        if not isinstance(size, int) or size <= 0:
            raise ValueError(f"size must be a positive int, not {size!r}")
        if not isinstance(address, int) or address <= 0 or address + size > 1 << 64:
            raise ValueError(f"{size} bytes at address {address!r} is not a valid range")
        self._address = address
        self._size = size
        self._readonly = bool(readonly)
        self._closed = False
        self._views: List["weakref.ref[Any]"] = []

    def __repr__(self) -> str:
        return f"<bpfskel.BorrowedMemory {self._size} bytes at {self._address:#x}, {self._state()}>"

    def read_at(self, offset: int, size: int) -> bytes:
        """Copy ``size`` bytes starting at ``offset``."""
        self._check_open()
        self._bounds(offset, size)
        return ctypes.string_at(self._address + offset, size)

    def write_at(self, offset: int, data: Any) -> None:
        """Write ``data`` (any bytes-like object) at ``offset``."""
        self._check_open()
        if self._readonly:
            raise ReadOnlyError("memory-mapped region")
        raw = bytes(memoryview(data).cast("B"))
        self._bounds(offset, len(raw))
        ctypes.memmove(self._address + offset, raw, len(raw))

    def view(self, cls: Any, offset: int = 0) -> Any:
        """An instance of the ctypes type ``cls`` over the bytes at ``offset``."""
        self._check_open()
        self._bounds(offset, ctypes.sizeof(cls))
        if self._readonly:
            from .views import readonly_class
            cls = readonly_class(cls)
        obj = cls.from_address(self._address + offset)
        self._views = [r for r in self._views if r() is not None]
        self._views.append(weakref.ref(obj))
        return obj

    def close(self) -> None:
        """Refuse every further access, through this object or its views.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        from .views import closed_class
        for obj in self._live():
            object.__setattr__(obj, "__class__", closed_class(type(obj)))

    def cover(self) -> None:
        """After the owner unmapped the range: zero pages under the views still
        alive.  Pages something else has mapped meanwhile are left alone."""
        if not self._closed:
            raise ValueError("cover() is for after close(), once the owner unmapped it")
        spans: List[List[int]] = []
        for obj in self._live():
            start = ctypes.addressof(obj) // PAGE_SIZE * PAGE_SIZE
            end = _round_up(ctypes.addressof(obj) + max(ctypes.sizeof(obj), 1), PAGE_SIZE)
            if spans and start <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        holder = _Cover(spans)
        for obj in self._live():
            object.__setattr__(obj, "_b_cover", holder)
        self._views.clear()

    def _live(self) -> List[Any]:
        objs = [obj for obj in (r() for r in self._views) if obj is not None]
        return sorted(objs, key=ctypes.addressof)

    def __enter__(self) -> "BorrowedMemory":
        return self

    def __exit__(self, *exc: Optional[object]) -> None:
        self.close()


class _Cover:
    """Anonymous zero pages at fixed spans, unmapped when this object dies."""

    def __init__(self, spans: List[List[int]]) -> None:
        self.spans: List[Tuple[int, int]] = []
        libc = _libc.libc()
        for start, end in spans:
            got = libc.mmap(start, end - start, mmap.PROT_READ | mmap.PROT_WRITE,
                            mmap.MAP_PRIVATE | _MAP_ANONYMOUS | _MAP_NORESERVE
                            | _MAP_FIXED_NOREPLACE, -1, 0)
            if got == start:
                self.spans.append((start, end - start))
                continue
            if got not in (None, _MAP_FAILED):  # a kernel without NOREPLACE put it elsewhere
                libc.munmap(got, end - start)
            import logging  # a rare warning: not imported at start-up

            logging.getLogger("bpfskel").warning(
                "cannot put zero pages at %#x..%#x (something else is mapped there): "
                "objects kept from a closed view there must not be used", start, end)

    def __del__(self) -> None:
        spans, self.spans = self.spans, []
        try:
            for start, length in spans:
                _libc.libc().munmap(start, length)
        except Exception:  # never raise from a finalizer (e.g. at interpreter exit)
            pass
