"""``BPF_MAP_TYPE_STACK_TRACE``: the stacks ``bpf_get_stackid()`` stored.

A stack id indexes one value of ``value_size`` bytes: ``value_size / 8``
return addresses, innermost first, the unused tail zero.  With
``BPF_F_STACK_BUILD_ID`` the kernel stores ``struct bpf_stack_build_id``
instead (32 bytes per frame): a status, the 20-byte build id of the ELF file
the address falls in and the offset into it, so a stack taken on one
machine can be symbolized elsewhere.  Status ``BPF_STACK_BUILD_ID_IP`` means
the kernel could not read the build id (no ``mmap_lock``, a file without
one): the frame then holds the raw address, returned with ``build_id=None``.
Symbols are not resolved here.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from typing import Any, Dict, List, NamedTuple, Optional, Union

from . import _libbpf
from .maps import Map
from .uapi import BPF_F_STACK_BUILD_ID

__all__ = ["BPF_F_STACK_BUILD_ID", "StackFrame", "StackTraceMap"]

BUILD_ID_SIZE = 20
# struct bpf_stack_build_id: __s32 status; unsigned char build_id[20]; u64 offset/ip
_BUILD_ID_FRAME = struct.Struct("<i20sQ")
_EMPTY, _VALID, _IP = 0, 1, 2


class StackFrame(NamedTuple):
    """One frame of a build-id stack: ``build_id`` (20 bytes) and the offset
    into that file, or ``build_id=None`` and the raw address."""

    build_id: Optional[bytes]
    offset: int


Stack = Union[List[int], List[StackFrame]]


class StackTraceMap(Map[Any, Any]):
    """Stacks by id: ``m.stack(stack_id)`` and ``m.stacks()``."""

    @property
    def build_id(self) -> bool:
        """True for a ``BPF_F_STACK_BUILD_ID`` map (frames are StackFrame)."""
        return bool(self.map_flags & BPF_F_STACK_BUILD_ID)

    def stack(self, stack_id: int) -> Stack:
        """The stack stored under ``stack_id``: return addresses (zeros
        trimmed), or StackFrames on a build-id map.  KeyError when absent; a
        negative id is the error ``bpf_get_stackid`` returned and raises a
        KeyError naming it."""
        if stack_id < 0:
            name = errno.errorcode.get(-stack_id, str(-stack_id))
            raise KeyError(f"stack id {stack_id} is the error bpf_get_stackid() returned "
                           f"({name}: {os.strerror(-stack_id)})")
        fd = self._live_fd("read a stack")
        buf = ctypes.create_string_buffer(self.value_size)
        ret = _libbpf.lib().bpf_map_lookup_elem(fd, ctypes.byref(ctypes.c_uint32(stack_id)),
                                                buf)
        if ret == -errno.ENOENT:
            raise KeyError(stack_id)
        _libbpf.check(ret, f"looking up stack {stack_id} in {self._what()}")
        return self._decode_stack(buf.raw)

    def _decode_stack(self, raw: bytes) -> Stack:
        if self.build_id:
            frames: List[StackFrame] = []
            for status, bid, off in _BUILD_ID_FRAME.iter_unpack(raw):
                if status == _EMPTY:
                    break
                frames.append(StackFrame(bid if status == _VALID else None, off))
            return frames
        addrs = list(memoryview(raw).cast("Q"))
        while addrs and not addrs[-1]:
            addrs.pop()
        return addrs

    def stacks(self) -> Dict[int, Stack]:
        """Every stored stack by id (a walk of the live map)."""
        out: Dict[int, Stack] = {}
        for stack_id in self.keys():
            try:
                out[stack_id] = self.stack(stack_id)
            except KeyError:
                continue  # removed meanwhile
        return out

    def _decode_value(self, vcodec: Any, buf: Any, ncpu: int) -> Any:
        return self._decode_stack(bytes(buf))
