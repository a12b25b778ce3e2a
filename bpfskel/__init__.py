"""bpfskel: typed Python skeletons for eBPF objects, driven by libbpf.

``bpfskel gen prog.bpf.o -o prog_skel.py`` generates a module; apps import it.
This package is the runtime those modules use.
"""

from __future__ import annotations

import logging

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
from .maps import BPF_ANY, BPF_EXIST, BPF_F_LOCK, BPF_NOEXIST, Map
from .memory import BorrowedMemory, Memory
from .structs import asdict

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

logging.getLogger(__name__).addHandler(logging.NullHandler())


def libbpf_version() -> str:
    """Version of the libbpf the bindings load, as libbpf names it (``"1.1"``;
    loads it)."""
    from . import _libbpf

    return _libbpf.version_string()
