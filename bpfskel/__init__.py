"""bpfskel: typed Python skeletons for eBPF objects, driven by libbpf.

``bpfskel gen prog.bpf.o -o prog_skel.py`` generates a module; apps import it.
This package is the runtime those modules use.

Importing the package is lazy (PEP 562): each public name is imported from
its module on first access, so ``import bpfskel`` (and the ``bpfskel`` command
line, and every generated module through ``bpfskel.runtime``) pays only for
what it uses.  Type checkers and IDEs see the eager imports below.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, List

if TYPE_CHECKING:
    from ._libbpf import LibbpfNotFoundError
    from .caps import drop_capabilities
    from .errors import (
        BoundsError,
        CapabilityError,
        ClosedError,
        Error,
        EventSizeError,
        LibbpfError,
        NotSupportedError,
        ObjectMismatchError,
        QueueEmptyError,
        ReadOnlyError,
        RingBufferFullError,
        StateError,
        SyscallError,
        VerifierError,
    )
    from .events import record_size
    from .maps import Map
    from .memory import BorrowedMemory, Memory
    from .structs import asdict
    from .uapi import BPF_ANY, BPF_EXIST, BPF_F_LOCK, BPF_NOEXIST

__version__ = "0.1.0"

__all__ = [
    "BPF_ANY",
    "BPF_EXIST",
    "BPF_F_LOCK",
    "BPF_NOEXIST",
    "BorrowedMemory",
    "BoundsError",
    "CapabilityError",
    "ClosedError",
    "Error",
    "EventSizeError",
    "LibbpfError",
    "LibbpfNotFoundError",
    "Map",
    "Memory",
    "NotSupportedError",
    "ObjectMismatchError",
    "QueueEmptyError",
    "ReadOnlyError",
    "RingBufferFullError",
    "StateError",
    "SyscallError",
    "VerifierError",
    "asdict",
    "drop_capabilities",
    "libbpf_version",
    "record_size",
    "__version__",
]

# public name -> the module that defines it
_LAZY = {
    "LibbpfNotFoundError": "._libbpf",
    "drop_capabilities": ".caps",
    "record_size": ".events",
    "Map": ".maps",
    "BorrowedMemory": ".memory",
    "Memory": ".memory",
    "asdict": ".structs",
    **{n: ".uapi" for n in ("BPF_ANY", "BPF_EXIST", "BPF_F_LOCK", "BPF_NOEXIST")},
    **{n: ".errors" for n in ("BoundsError", "CapabilityError", "ClosedError", "Error",
                              "EventSizeError", "LibbpfError", "NotSupportedError",
                              "ObjectMismatchError", "QueueEmptyError", "ReadOnlyError",
                              "RingBufferFullError", "StateError", "SyscallError",
                              "VerifierError")},
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))


def libbpf_version() -> str:
    """Version of the libbpf the bindings load, as libbpf names it (``"1.1"``;
    loads it)."""
    from . import _libbpf

    return _libbpf.version_string()
