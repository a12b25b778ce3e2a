"""C library bindings: the few libc symbols bpfskel calls (``mmap``,
``munmap``, ``vsnprintf``, ``syscall``, ``setns``, ``capget``, ``capset``,
``prctl``), GCC's libatomic for ``exchange`` on mapped globals, and the
rendering of a C ``va_list`` that libbpf's callbacks hand us.

Loaded lazily through :mod:`bpfskel._native` (the one module that calls
``ctypes.CDLL``), with ``argtypes``/``restype`` declared for every function.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import threading
from ctypes import c_char_p, c_int, c_long, c_size_t, c_uint32, c_uint64, c_void_p
from typing import Optional

from . import _native, arch

__all__ = ["libc", "libatomic", "format_va"]

_libc: Optional[ctypes.CDLL] = None


def libc() -> ctypes.CDLL:
    """The C library, for ``mmap``/``munmap``/``vsnprintf``/``syscall``/``setns`` and
    the capability calls ``capget``/``capset``/``prctl``."""
    global _libc
    if _libc is None:
        c = _native.load(None, use_errno=True)
        c.mmap.restype = c_void_p
        c.mmap.argtypes = [c_void_p, c_size_t, c_int, c_int, c_int, c_long]
        c.munmap.restype = c_int
        c.munmap.argtypes = [c_void_p, c_size_t]
        c.vsnprintf.restype = c_int
        c.vsnprintf.argtypes = [c_void_p, c_size_t, c_char_p, c_void_p]
        c.syscall.restype = c_long  # variadic: callers pass c_long/c_void_p arguments
        c.setns.restype = c_int  # bpfskel.testing's network namespaces
        c.setns.argtypes = [c_int, c_int]
        # capabilities (bpfskel.caps): capget/capset take a header and 2 data structs
        c.capget.restype = c_int
        c.capget.argtypes = [c_void_p, c_void_p]
        c.capset.restype = c_int
        c.capset.argtypes = [c_void_p, c_void_p]
        c.prctl.restype = c_int  # variadic: callers pass c_ulong arguments
        _libc = c
    return _libc


_libatomic: Optional[ctypes.CDLL] = None
_libatomic_missing = ""


def libatomic() -> ctypes.CDLL:
    """GCC's ``libatomic.so.1``, for a real atomic exchange on mapped memory
    (``__atomic_exchange_4``/``_8``: one ``xchg`` instruction on x86-64).
    Raises :class:`NotSupportedError` naming the package when it is missing."""
    global _libatomic, _libatomic_missing
    if _libatomic is None and not _libatomic_missing:
        try:
            c = _native.load("libatomic.so.1")
        except OSError as e:
            _libatomic_missing = str(e)
        else:
            for width, ctype in ((4, c_uint32), (8, c_uint64)):
                fn = getattr(c, f"__atomic_exchange_{width}")
                fn.restype = ctype
                fn.argtypes = [c_void_p, ctype, c_int]
            _libatomic = c
    if _libatomic is None:
        from .errors import NotSupportedError

        raise NotSupportedError(f"an atomic exchange needs libatomic.so.1 (install Debian's "
                                f"libatomic1 package): {_libatomic_missing}")
    return _libatomic


# -- va_list rendering ---------------------------------------------------------

# libbpf's longest message is a verifier log (at most 16 MiB).  The buffer is an
# anonymous mapping, so only the pages a message touches are ever committed.
_FMT_BUF_SIZE = 32 << 20
_fmt_buf: Optional[mmap.mmap] = None
_fmt_addr = 0
_fmt_lock = threading.Lock()


def _after_fork_in_child() -> None:
    # Another thread may have held the lock, or been writing the (shared)
    # buffer, when this process forked (objfile parses in a forked child):
    # the child would wait forever on its first libbpf message.
    global _fmt_lock, _fmt_buf, _fmt_addr
    _fmt_lock = threading.Lock()
    _fmt_buf, _fmt_addr = None, 0


os.register_at_fork(after_in_child=_after_fork_in_child)


def format_va(fmt: bytes, args: int) -> str:
    """A printf format and its ``va_list`` rendered by libc's ``vsnprintf``,
    passed on as the pointer it arrived as (NotSupportedError where
    :func:`bpfskel.arch.va_list_by_pointer` does not know that to be valid)."""
    global _fmt_buf, _fmt_addr
    if not arch.va_list_by_pointer():
        from .errors import NotSupportedError

        raise NotSupportedError(f"rendering libbpf's printf output is not known to be valid "
                                f"on {arch.MACHINE!r} (see bpfskel.arch)")
    with _fmt_lock:
        if _fmt_buf is None:
            _fmt_buf = mmap.mmap(-1, _FMT_BUF_SIZE)
            _fmt_addr = ctypes.addressof(ctypes.c_char.from_buffer(_fmt_buf))
        n = libc().vsnprintf(_fmt_addr, _FMT_BUF_SIZE, fmt, args)
        if n < 0:
            return fmt.decode(errors="replace")
        text = ctypes.string_at(_fmt_addr, min(n, _FMT_BUF_SIZE - 1))
    return text.decode(errors="replace")
