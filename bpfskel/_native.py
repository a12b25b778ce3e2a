"""The one place bpfskel loads native code (``ctypes.CDLL``).

:mod:`bpfskel._libbpf` binds libbpf.so.1 and :mod:`bpfskel._libc` binds the C
library and GCC's libatomic; both load through :func:`load`, so a reader
looking for what native code bpfskel maps into the process finds every
library here, named by its callers, and nothing else in the package calls
``ctypes.CDLL``.
"""

from __future__ import annotations

import ctypes
from typing import Optional

__all__ = ["load"]


def load(name: Optional[str], use_errno: bool = False) -> ctypes.CDLL:
    """``dlopen(name)`` (``None``: the process itself, i.e. libc).

    Raises :class:`OSError` when the library cannot be loaded; the callers
    turn that into the error that names what to install.
    """
    return ctypes.CDLL(name, use_errno=use_errno)
