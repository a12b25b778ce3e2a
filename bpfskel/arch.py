"""What bpfskel assumes about the CPU architecture, in one place.

(Named ``arch``, not ``platform``, so that it never shadows the standard
library's module.)

Three things in the runtime depend on the architecture, and each is a fact
of the Linux ABI for that architecture, recorded in :data:`ARCHES`:

* **System call numbers.**  bpfskel calls ``perf_event_open(2)`` itself
  (glibc has no wrapper); its number differs per architecture
  (``asm/unistd*.h``).
* **Passing a ``va_list`` on.**  libbpf hands its print callback a
  ``va_list``; bpfskel renders it with libc's ``vsnprintf`` by passing the
  callback's argument on unchanged, as a pointer.  That is valid where a
  ``va_list`` argument travels as a pointer: on x86-64 (SysV: ``va_list`` is
  an array type and decays to a pointer) and on aarch64 (AAPCS64: it is a
  32-byte struct, and structs over 16 bytes are passed by reference, so the
  callback receives the address of a copy, which ``vsnprintf`` receives the
  same way).  Where it is not known to hold, bpfskel leaves libbpf's own
  printer in place (libbpf prints its warnings to stderr) and errors carry
  the errno without libbpf's log.
* **Memory ordering of the ring readers.**  The kernel's ring buffer and
  perf ring ABIs need an acquire load of the producer position (and of a
  ring buffer record's header) and a release store of the consumer position.
  On x86-64 (total store order) every plain load is an acquire and every
  plain store a release, so the readers use plain ``struct`` loads and
  stores.  Elsewhere (``tso=False``) they go through :func:`load_acquire` and
  :func:`store_release`: GCC's ``libatomic`` ``__atomic_load_N`` /
  ``__atomic_store_N`` with ``__ATOMIC_ACQUIRE`` / ``__ATOMIC_RELEASE``, real
  single-copy-atomic accesses with the barrier the ABI asks for (``ldar`` /
  ``stlr`` on aarch64).  A call from Python is opaque to any compiler, so only
  the CPU's ordering matters, and these functions give it.

An architecture not in :data:`ARCHES` is refused with
:class:`~bpfskel.NotSupportedError` by every function here, so that nothing
runs on guessed numbers or unordered memory.

**The seam.**  :data:`MACHINE` is ``os.uname().machine`` of this process and
is read at every call, never cached: tests set it (``monkeypatch.setattr(
bpfskel.arch, "MACHINE", "sparc64")``) to exercise another
architecture's path.  To run the explicit-ordering path on this machine,
with its real system call numbers, tests replace its :data:`ARCHES` entry by
one with ``tso=False``.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any, Dict, Mapping, NamedTuple

from .errors import NotSupportedError

__all__ = ["MACHINE", "Arch", "ARCHES", "current", "syscall_number", "va_list_by_pointer",
           "load_acquire", "store_release"]

MACHINE: str = os.uname().machine


# The facts bpfskel relies on for one architecture: ``name`` as ``uname -m``
# prints it; the system ``syscalls`` bpfskel makes by number; whether a va_list
# argument can be passed on as a pointer; ``tso``: plain loads are acquire and
# plain stores release (total store order).  A NamedTuple, not a dataclass, and
# in the call form: this module is on the start-up path, where ``dataclasses``
# is not, and the class form compiles each annotation string at import.
Arch = NamedTuple("Arch", [("name", str), ("syscalls", Mapping[str, int]),
                           ("va_list_by_pointer", bool), ("tso", bool)])


ARCHES: Dict[str, Arch] = {
    a.name: a for a in (
        Arch("x86_64", {"perf_event_open": 298}, va_list_by_pointer=True, tso=True),
        Arch("aarch64", {"perf_event_open": 241}, va_list_by_pointer=True, tso=False),
    )
}


def current() -> Arch:
    """The facts for :data:`MACHINE`; NotSupportedError if bpfskel has none."""
    found = ARCHES.get(MACHINE)
    if found is None:
        raise NotSupportedError(
            f"bpfskel does not support the {MACHINE!r} architecture (supported: "
            f"{', '.join(ARCHES)}): its system call numbers and memory ordering are not "
            "recorded in bpfskel.arch")
    return found


def va_list_by_pointer() -> bool:
    """Whether a ``va_list`` argument may be passed on to ``vsnprintf`` as the
    pointer it arrived as (False on an architecture bpfskel does not know)."""
    found = ARCHES.get(MACHINE)
    return found is not None and found.va_list_by_pointer


def syscall_number(name: str) -> int:
    """The number of system call ``name`` on this architecture."""
    return current().syscalls[name]


# -- acquire loads and release stores (non-TSO architectures) --------------------

_ATOMIC_ACQUIRE, _ATOMIC_RELEASE = 2, 3  # GCC's __ATOMIC_* memory orders
_atomics: Dict[str, Any] = {}


def _atomic(name: str) -> Any:
    fn = _atomics.get(name)
    if fn is None:
        from . import _libc

        width = int(name[-1])
        ctype = ctypes.c_uint64 if width == 8 else ctypes.c_uint32
        fn = getattr(_libc.libatomic(), name)
        if name.startswith("__atomic_load"):
            fn.restype, fn.argtypes = ctype, [ctypes.c_void_p, ctypes.c_int]
        else:
            fn.restype, fn.argtypes = None, [ctypes.c_void_p, ctype, ctypes.c_int]
        _atomics[name] = fn
    return fn


def load_acquire(address: int, width: int = 8) -> int:
    """Load the ``width``-byte (4 or 8) unsigned int at ``address`` with
    acquire ordering: no later load or store moves before it."""
    return int(_atomic(f"__atomic_load_{width}")(address, _ATOMIC_ACQUIRE))


def store_release(address: int, value: int, width: int = 8) -> None:
    """Store ``value`` at ``address`` with release ordering: no earlier load
    or store moves after it."""
    _atomic(f"__atomic_store_{width}")(address, value, _ATOMIC_RELEASE)
