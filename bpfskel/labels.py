"""Decoders that turn the raw values BPF keeps into readable labels.

Each decoder is a plain callable ``raw -> str``, usable for Prometheus labels
(:mod:`bpfskel.export`), JSON lines (:mod:`bpfskel.jsonl`) or printing.  They
take what a generated module hands out: ints, ``bytes`` (``char[N]`` reads as
bytes), ctypes arrays and generated structs (anything ``bytes()`` accepts).
A value a decoder cannot name comes back as its number, never an exception:
a scrape must not fail because one process exited or one errno is new.

Pure standard library: no libbpf, no prometheus_client.
"""

from __future__ import annotations

import errno as _errno
import os
import socket
import sys
import time
from typing import Any, Callable, Dict, Mapping, Optional

__all__ = ["comm", "errno_name", "ipv4", "ipv6", "ip", "static", "ksym", "CgroupPaths",
           "cgroup_path", "cgroup2_root", "raw_bytes"]


def raw_bytes(value: Any) -> bytes:
    """The bytes of a value as BPF stored them (bytes, ctypes array or struct)."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return bytes(memoryview(value).cast("B"))


def comm(value: Any) -> str:
    """A task name (``char comm[16]``): cut at the first NUL, undecodable
    bytes replaced.  The kernel does not guarantee a NUL when all 16 bytes
    are used, so the whole array may be text."""
    return raw_bytes(value).split(b"\0", 1)[0].decode(errors="replace")


def errno_name(value: Any) -> str:
    """``2`` or ``-2`` (the kernel's return convention) -> ``"ENOENT"``; 0 ->
    ``"0"``; unknown numbers stay numbers."""
    n = abs(int(value))
    return _errno.errorcode.get(n, str(int(value)))


def ipv4(value: Any) -> str:
    """An IPv4 address as BPF keeps it (``__be32``: network byte order in
    memory).  An int is the in-memory u32 as a ctypes field reads it on this
    host, so its bytes are taken in native order; 4 bytes are taken as is."""
    if isinstance(value, int):
        return socket.inet_ntop(socket.AF_INET, (value & 0xFFFFFFFF).to_bytes(4, sys.byteorder))
    return socket.inet_ntop(socket.AF_INET, raw_bytes(value)[:4])


def ipv6(value: Any) -> str:
    """An IPv6 address from its 16 bytes (``struct in6_addr``, ``__u8[16]``,
    ``__u32[4]``): the memory is already in network order."""
    data = raw_bytes(value)
    if len(data) != 16:
        raise ValueError(f"an IPv6 address is 16 bytes, got {len(data)}")
    return socket.inet_ntop(socket.AF_INET6, data)


def ip(value: Any) -> str:
    """IPv4 or IPv6 by size: 4 bytes (or an int) or 16 bytes."""
    if isinstance(value, int) or len(raw_bytes(value)) == 4:
        return ipv4(value)
    return ipv6(value)


def static(mapping: Mapping[Any, str], default: Optional[Callable[[Any], str]] = None
           ) -> Callable[[Any], str]:
    """A decoder from a fixed table (``{6: "tcp", 17: "udp"}``); values not in
    it go through ``default`` (``str`` if not given)."""
    table = dict(mapping)
    fallback = default or str

    def decode(value: Any) -> str:
        key = int(value) if isinstance(value, int) else value
        name = table.get(key)
        return name if name is not None else fallback(value)

    return decode


def ksym(resolve: Callable[[int], Any]) -> Callable[[Any], str]:
    """A kernel-address decoder built on any symbol resolver.

    ``resolve(addr)`` returns a name (``str``), an object with a ``name``
    attribute (and optionally ``offset``), a ``(name, offset)`` tuple, or
    ``None``.  bpfskel keeps no symbol table of its own here: pass the
    resolver of your symbol module (``bpfskel.sym`` when it exists, or one
    reading ``/proc/kallsyms``, which shows real addresses only to a process
    with CAP_SYSLOG when ``kernel.kptr_restrict`` is 1).  Unresolved addresses
    are labelled in hex.
    """
    def decode(value: Any) -> str:
        addr = int(value)
        found = resolve(addr)
        if found is None:
            return f"{addr:#x}"
        if isinstance(found, str):
            return found
        if isinstance(found, tuple):
            name, offset = found[0], (found[1] if len(found) > 1 else 0)
        else:
            name, offset = getattr(found, "name", None), getattr(found, "offset", 0)
            if name is None:
                return str(found)
        return f"{name}+{offset:#x}" if offset else str(name)

    return decode


def cgroup2_root() -> str:
    """Where cgroup v2 is mounted (``/proc/self/mounts``), else ``/sys/fs/cgroup``."""
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 2 and parts[2] == "cgroup2":
                    return parts[1]
    except OSError:
        pass
    return "/sys/fs/cgroup"


class CgroupPaths:
    """cgroup id (``bpf_get_current_cgroup_id()``) -> path below the cgroup2
    root, such as ``/system.slice/ssh.service``.

    On cgroup v2 a cgroup's id is the inode number of its directory, so the
    table is built by walking ``root`` (by default the cgroup2 mount:
    ``/sys/fs/cgroup``, or ``/sys/fs/cgroup/unified`` on a hybrid system).
    It is rebuilt when an id is missing (a cgroup created since), at most
    once per ``rescan_seconds``, so a scrape that meets a cgroup already
    removed stays cheap; such an id is labelled with its number.
    """

    def __init__(self, root: Optional[str] = None, rescan_seconds: float = 5.0) -> None:
        self.root = root or cgroup2_root()
        self.rescan_seconds = rescan_seconds
        self._paths: Dict[int, str] = {}
        self._scanned = -float("inf")

    def scan(self) -> None:
        paths: Dict[int, str] = {}
        try:
            paths[os.stat(self.root).st_ino] = "/"
        except OSError:
            pass
        for dirpath, dirnames, _files in os.walk(self.root, onerror=lambda e: None):
            for d in dirnames:
                full = os.path.join(dirpath, d)
                try:
                    paths[os.stat(full).st_ino] = "/" + os.path.relpath(full, self.root)
                except OSError:  # removed meanwhile
                    continue
        self._paths = paths
        self._scanned = time.monotonic()

    def __call__(self, value: Any) -> str:
        cgid = int(value)
        path = self._paths.get(cgid)
        if path is None and time.monotonic() - self._scanned >= self.rescan_seconds:
            self.scan()
            path = self._paths.get(cgid)
        return path if path is not None else str(cgid)


_default_cgroups: Optional[CgroupPaths] = None


def cgroup_path(value: Any) -> str:
    """:class:`CgroupPaths` over the cgroup2 mount, shared by the process."""
    global _default_cgroups
    if _default_cgroups is None:
        _default_cgroups = CgroupPaths()
    return _default_cgroups(value)
