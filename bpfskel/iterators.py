"""BPF iterators: ``SEC("iter/task")``, ``iter/task_file``, ``iter/bpf_map_elem``, ...

An iterator link is not an event source: each ``bpf_iter_create(link_fd)``
starts a fresh walk, and reading that fd runs the program over the kernel
objects, returning what it wrote with ``BPF_SEQ_PRINTF`` / ``bpf_seq_write``
until EOF.  :class:`IterLink` does that from Python: ``for chunk in
link.read()`` or ``link.read_text()``, as ``cat /sys/fs/bpf/<pinned iter>``
would.
"""

from __future__ import annotations

import ctypes
import os
from typing import TYPE_CHECKING, Any, Iterator, Optional

from . import _libbpf
from .links import Link

if TYPE_CHECKING:
    from .programs import Program

__all__ = ["IterLink", "attach"]

# enum bpf_cgroup_iter_order
BPF_CGROUP_ITER_SELF_ONLY, BPF_CGROUP_ITER_DESCENDANTS_PRE = 1, 2
BPF_CGROUP_ITER_DESCENDANTS_POST, BPF_CGROUP_ITER_ANCESTORS_UP = 3, 4


class IterLink(Link):
    """A ``bpf_link`` of an iterator program; each read walks anew."""

    def read(self, chunk_size: int = 1 << 16) -> Iterator[bytes]:
        """One walk of the iterator: the bytes the program wrote, in chunks
        as the kernel hands them out, until EOF (``bpf_iter_create`` + read)."""
        fd = _libbpf.check(_libbpf.lib().bpf_iter_create(self.fd),
                           f"creating an iterator for {self.what}")
        try:
            while True:
                chunk = os.read(fd, chunk_size)
                if not chunk:
                    return
                yield chunk
        finally:
            os.close(fd)

    def read_bytes(self) -> bytes:
        """One whole walk, as bytes."""
        return b"".join(self.read())

    def read_text(self, encoding: str = "utf-8", errors: str = "replace") -> str:
        """One whole walk, as text."""
        return self.read_bytes().decode(encoding, errors)


def attach(prog: "Program", *, map: Any = None, cgroup_fd: Optional[int] = None,
           cgroup_id: int = 0, order: int = 0, tid: int = 0, pid: int = 0,
           pid_fd: int = 0) -> IterLink:
    """``bpf_program__attach_iter`` with ``union bpf_iter_link_info`` built from
    the options: ``map`` (a Map or a map fd) for ``iter/bpf_map_elem`` and
    friends; ``cgroup_fd``/``cgroup_id`` and ``order`` for ``iter/cgroup``;
    ``tid``/``pid``/``pid_fd`` for the task iterators (kernel 6.1+)."""
    info = _libbpf.IterLinkInfo()
    raw = (ctypes.c_uint32 * 4).from_buffer(info)
    given = 0
    if map is not None:
        raw[0] = map if isinstance(map, int) else map.fd
        given += 1
    if cgroup_fd is not None or cgroup_id or order:
        raw[0], raw[1] = order, cgroup_fd or 0
        info.u64 = cgroup_id
        given += 1
    if tid or pid or pid_fd:
        raw[0], raw[1], raw[2] = tid, pid, pid_fd
        given += 1
    if given > 1:
        raise ValueError("attach_iter: give one of map, cgroup_fd/cgroup_id/order, "
                         "or tid/pid/pid_fd")
    o = _libbpf.opts(_libbpf.IterAttachOpts,
                     link_info=ctypes.pointer(info) if given else None,
                     link_info_len=ctypes.sizeof(info) if given else 0)
    prog._skel._check_loaded(f"attaching {prog.name!r}")
    ptr = _libbpf.call_ptr(_libbpf.lib().bpf_program__attach_iter,
                           f"attaching program {prog.name!r} (iter)", prog._ptr,
                           ctypes.byref(o))
    return prog._keep(IterLink(ptr, f"{prog.name}:iter"))
