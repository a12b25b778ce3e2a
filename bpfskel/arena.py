"""BPF arenas (``BPF_MAP_TYPE_ARENA``, linux 6.9+): ``__arena`` globals and
arena pointers, read and written from Python with no syscall.

An arena is a sparse region of up to 4 GiB that a BPF program and user space
share.  libbpf (1.4+) maps it at load, at one user address, and the kernel
refuses a second mapping anywhere else.  BPF programs keep that address space
in their pointers: an ``__arena`` pointer a program stores in the arena is a
valid address in this process.  So Python uses libbpf's mapping in place
(:class:`~bpfskel.memory.BorrowedMemory`) and follows BPF's pointers with
bounds checks.

What a skeleton offers (see :class:`ArenaSupport`)
    ``skel.arena``
        The view of the ``__arena`` globals (clang's ``.addr_space.1``
        section, named ``arena`` as in bpftool's C skeleton), with the exact
        layout rules of every view.  ``None`` before load (libbpf copies the
        C initializers in at load); from load on, its reads and writes go
        straight to the arena, so set values after load, before attaching.
    ``skel.arena_ptr(address, T)``
        A view of the generated class ``T`` at an arena address BPF stored
        (``struct node __arena *next``; pointers are generated as ints).  The
        whole object must lie inside the arena, or :class:`~bpfskel.BoundsError`
        is raised: memory outside it is never read.  ``0`` (NULL) raises too.
    ``skel.arena_memory``
        The :class:`ArenaMemory`: ``address`` (the arena's base), ``size``
        (``max_entries`` pages, up to 4 GiB), ``globals_offset`` and
        ``globals_size``, bounds-checked ``read_at``/``write_at`` and
        ``ptr(address, T)``.
    After ``destroy()`` all of these raise :class:`~bpfskel.ClosedError`.
    Objects taken from the views earlier (``skel.arena.slots[0]``) read zeros
    instead of faulting: right after libbpf unmaps the arena, zero pages go
    where they point (if another thread maps something there in between,
    bpfskel logs a warning and leaves that mapping alone).

Where the globals start
    libbpf exports no function for it; it is a fixed rule of each version:

    * libbpf 1.4 to 1.6 put the globals at the start of the arena
      (``globals_offset == 0``), so the first page(s) are taken by them.
    * libbpf 1.7 and later put them at the end, leaving page 0 unallocated
      so that NULL arena pointers fault: ``globals_offset = size -
      round_up(globals_size, page size)``.  libbpf hands this address only to C
      skeletons (through ``bpf_object__load_skeleton``); bpfskel applies the
      same rule for the running version.
    * libbpf 1.1 to 1.3 cannot load arenas.  Opening an object with an arena
      raises :class:`~bpfskel.NotSupportedError` naming libbpf 1.4, while
      ``bpfskel gen`` still generates its module (:mod:`bpfskel.gen.legacy_arena`).

Kernel rules worth knowing
    * Touching a page of the arena from user space allocates it, as if BPF had
      called ``bpf_arena_alloc_pages``, unless the arena was created with
      ``BPF_F_SEGV_ON_FAULT``.  There, a page BPF has not allocated is a
      SIGSEGV; :meth:`ArenaMemory.ptr` refuses such pages (it asks the kernel
      through ``/proc/self/mem``, which reports the fault as an error), but a
      page BPF frees later, under a view kept from before, still faults.
      libbpf 1.4 to 1.6 write the ``__arena`` globals' initial values from
      user space and so crash at load on such an arena; opening an object
      with both raises NotSupportedError instead.
    * With ``BPF_F_NO_USER_CONV`` BPF stores pointers without converting them
      to user addresses.  Their low 32 bits still locate the object, as the
      arena never crosses a 4 GiB boundary: the user address is
      ``(arena_memory.address & ~0xFFFFFFFF) | (ptr & 0xFFFFFFFF)``.
    * Coherence is Memory's: one aligned value of at most 8 bytes is read or
      written at once; anything larger needs BPF atomics or a protocol.
"""

from __future__ import annotations

import ctypes
import mmap
import os
from typing import Any, ClassVar, Optional, Tuple, Type, TypeVar

from . import _libbpf, elf
from .errors import BoundsError, ClosedError, Error, StateError
from .memory import BorrowedMemory
from .names import ARENA_SECTION
from .uapi import BPF_F_SEGV_ON_FAULT, MapType

__all__ = ["GLOBALS_AT_END_SINCE", "MIN_LIBBPF", "ArenaMemory",
           "ArenaSupport", "globals_offset", "has_arena_section", "require_arena_support"]

T = TypeVar("T")

MIN_LIBBPF = (1, 4)             # first libbpf that maps arenas and relocates __arena globals
GLOBALS_AT_END_SINCE = (1, 7)   # libbpf moved the globals to the end of the arena
PAGE_SIZE = mmap.PAGESIZE


def globals_offset(version: Tuple[int, int], size: int, globals_size: int) -> int:
    """Offset of the ``__arena`` globals in an arena of ``size`` bytes under
    libbpf ``version`` (see the module documentation)."""
    if version < GLOBALS_AT_END_SINCE or globals_size == 0:
        return 0
    return size - (globals_size + PAGE_SIZE - 1) // PAGE_SIZE * PAGE_SIZE


def require_arena_support(what: str) -> None:
    """Raise NotSupportedError if the running libbpf cannot load arenas."""
    _libbpf.require_libbpf(MIN_LIBBPF, f"{what} (a BPF arena)")


class ArenaMemory(BorrowedMemory):
    """The arena of a loaded skeleton: libbpf's mapping, used in place."""

    def __init__(self, address: int, size: int, *, globals_offset: int = 0,
                 globals_size: int = 0, flags: int = 0) -> None:
        super().__init__(address, size)
        self.globals_offset = globals_offset
        self.globals_size = globals_size
        self.flags = flags

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"globals at +{self.globals_offset:#x}"
        return f"<bpfskel.ArenaMemory {self.size:#x} bytes at {self._address:#x}, {state}>"

    def contains(self, address: int, size: int = 1) -> bool:
        """Whether ``size`` bytes at ``address`` lie inside the arena."""
        return self._address <= address and address + size <= self._address + self.size

    def ptr(self, address: int, cls: Type[T]) -> T:
        """A view of ``cls`` at ``address``, an arena pointer BPF stored."""
        self._check_open()
        if isinstance(address, bool) or not isinstance(address, int):
            raise TypeError(f"an arena address is an int, not {type(address).__name__}")
        size = ctypes.sizeof(cls)  # type: ignore[arg-type]
        name = getattr(cls, "__name__", str(cls))
        if address == 0:
            raise BoundsError(f"NULL arena pointer (to {name})")
        if not self.contains(address, size):
            raise BoundsError(
                f"{name} at {address:#x} ({size} bytes) is outside the arena "
                f"{self._address:#x}..{self._address + self.size:#x}")
        if self.flags & BPF_F_SEGV_ON_FAULT:
            self._require_pages(address, size)
        return self.view(cls, address - self._address)  # type: ignore[no-any-return]

    def _require_pages(self, address: int, size: int) -> None:
        # With BPF_F_SEGV_ON_FAULT a page BPF never allocated kills us on the
        # first touch; reading it through /proc/self/mem gets EIO instead.
        first = address // PAGE_SIZE * PAGE_SIZE
        fd = os.open("/proc/self/mem", os.O_RDONLY | os.O_CLOEXEC)
        try:
            for page in range(first, address + max(size, 1), PAGE_SIZE):
                try:
                    os.pread(fd, 1, page)
                except OSError:
                    raise BoundsError(f"arena page {page:#x} is not allocated (the arena "
                                      "faults on unallocated pages)") from None
        finally:
            os.close(fd)


def _arena_map(obj: int) -> Optional[int]:
    lib = _libbpf.lib()
    return next((m for m in _libbpf.object_maps(obj)
                 if lib.bpf_map__type(m) == MapType.ARENA), None)


def _initial_value(m: int) -> Tuple[int, int]:
    size = ctypes.c_size_t()
    ptr = _libbpf.lib().bpf_map__initial_value(m, ctypes.byref(size))
    return int(ptr or 0), int(size.value)


class ArenaSupport:
    """The arena part of :class:`~bpfskel.Skeleton`, which mixes it in.

    Generated modules set ``_arena_ = (section, ident, view class)`` when the
    object has ``__arena`` globals.  The skeleton calls :meth:`_arena_require`
    before libbpf opens the object, :meth:`_arena_opened` after, and
    :meth:`_arena_loaded` after load; its resources close the
    :class:`ArenaMemory` around ``bpf_object__close``.
    """

    _arena_: ClassVar[Optional[Tuple[str, str, type]]] = None
    _res: Any

    @classmethod
    def _arena_require(cls, data: bytes, name: str) -> None:
        if cls._arena_ is not None or has_arena_section(data):
            require_arena_support(f"BPF object {name!r} has __arena globals (section "
                                  f"{ARENA_SECTION}); it")

    def _arena_opened(self) -> None:
        m = _arena_map(self._res.obj)
        if m is not None:
            name = _libbpf.cstr(_libbpf.lib().bpf_map__name(m))
            require_arena_support(f"the arena map {name!r}")
        if self._arena_ is None:
            return
        _section, ident, cls = self._arena_
        _ptr, size = _initial_value(m) if m is not None else (0, 0)
        if m is None or size < ctypes.sizeof(cls):
            from .errors import ObjectMismatchError
            raise ObjectMismatchError(f"{ARENA_SECTION}: {size} bytes of __arena globals in "
                                      f"the object, the view needs {ctypes.sizeof(cls)}")
        if _libbpf.lib().bpf_map__map_flags(m) & BPF_F_SEGV_ON_FAULT:
            # Before 1.7, libbpf writes the initial values from user space, into
            # pages BPF never allocated: with this flag, load would kill the process.
            _libbpf.require_libbpf(GLOBALS_AT_END_SINCE, "__arena globals in an arena "
                                   "created with BPF_F_SEGV_ON_FAULT (earlier ones crash at load)")
        self.__dict__[ident] = None  # like .kconfig: the view exists from load on

    def _arena_loaded(self) -> None:
        m = _arena_map(self._res.obj)
        if m is None:
            return
        lib = _libbpf.lib()
        base, gsize = _initial_value(m)
        size = int(lib.bpf_map__max_entries(m)) * PAGE_SIZE
        if not base:
            raise Error("libbpf did not map the arena at load")
        mem = ArenaMemory(base, size, globals_offset=globals_offset(_libbpf.version(), size,
                                                                    gsize),
                          globals_size=gsize, flags=int(lib.bpf_map__map_flags(m)))
        self._res.arena = mem
        if self._arena_ is not None:
            _section, ident, cls = self._arena_
            self.__dict__[ident] = mem.view(cls, mem.globals_offset)

    @property
    def arena_memory(self) -> ArenaMemory:
        """The arena of this loaded skeleton (see :class:`ArenaMemory`)."""
        mem = self._res.arena
        if mem is None:
            if not self._res.obj:
                raise ClosedError("the skeleton owning this arena was destroyed")
            if _arena_map(self._res.obj) is None:
                raise Error("this BPF object has no arena map")
            raise StateError("the arena exists from load() on")
        return mem  # type: ignore[no-any-return]

    def arena_ptr(self, address: int, cls: Type[T]) -> T:
        """A bounds-checked view of ``cls`` at the arena address ``address``
        (a pointer BPF stored); BoundsError if it is not wholly in the arena."""
        return self.arena_memory.ptr(address, cls)


# -- objects for a libbpf without arena support (the generator's side: gen.legacy_arena)


def has_arena_section(data: bytes) -> bool:
    """Whether the BPF object ``data`` has ``__arena`` globals."""
    return any(sec.name == ARENA_SECTION for sec in elf.sections(data))
