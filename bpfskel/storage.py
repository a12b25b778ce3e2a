"""Local storage maps: task, inode, socket and cgroup storage.

Such a map hangs one value on a kernel object.  From user space the key is a
file descriptor naming that object, as the kernel's ``bpf()`` expects:

========================  ==============================================
``TASK_STORAGE``          a pidfd (``os.pidfd_open(pid)``; ``for_pid``)
``SK_STORAGE``            a socket fd (a ``socket.socket`` works too)
``INODE_STORAGE``         any fd open on the inode
``CGRP_STORAGE``          an fd of the cgroup v2 directory
========================  ==============================================

``m[fd]``, ``m.for_fd(fd)``, ``m[fd] = v`` and ``del m[fd]``; anything with a
``fileno()`` is taken as its fd.  An object without a value raises KeyError.
The kernel cannot list these maps (no ``get_next_key``), so iteration raises
TypeError.  The value lives as long as the object: the kernel frees it with
the task, socket, inode or cgroup.
"""

from __future__ import annotations

import os
from typing import Any, NoReturn

from .maps import Map
from .uapi import STORAGE_MAP_TYPES

__all__ = ["STORAGE_MAP_TYPES", "StorageMap"]



def _fd_of(key: Any) -> Any:
    """The fd a storage key names: an int, or anything with ``fileno()``."""
    fileno = getattr(key, "fileno", None)
    return fileno() if fileno is not None else key


class StorageMap(Map[Any, Any]):
    """A local storage map keyed by the fd of the object it annotates."""

    def _key(self, codec: Any, key: Any, check_only: bool = False) -> bytes:
        return super()._key(codec, _fd_of(key), check_only)

    def __getitem__(self, key: Any) -> Any:
        # Map's lookup fast path packs the key itself: give it the fd
        return super().__getitem__(_fd_of(key))

    def for_fd(self, fd: Any) -> Any:
        """The value on the object ``fd`` names (KeyError if it has none)."""
        return self[fd]

    def for_pid(self, pid: int) -> Any:
        """Task storage: the value on process ``pid`` (through a pidfd)."""
        fd = os.pidfd_open(pid)
        try:
            return self[fd]
        finally:
            os.close(fd)

    def set_for_pid(self, pid: int, value: Any) -> None:
        """Task storage: set the value on process ``pid`` (through a pidfd)."""
        fd = os.pidfd_open(pid)
        try:
            self[fd] = value
        finally:
            os.close(fd)

    def _walk(self, want_values: bool) -> NoReturn:
        raise TypeError(f"{self._what()} is keyed by the fd of the object it annotates: the "
                        "kernel cannot list it; look values up with m[fd]")
