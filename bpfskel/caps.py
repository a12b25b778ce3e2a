"""Giving up capabilities once the programs are attached.

Loading and attaching need CAP_BPF and CAP_PERFMON (and CAP_NET_ADMIN for
XDP/tc); afterwards, on Linux 6.5 and later, an agent only reads: mapped
globals need no privilege at all, and map and ring buffer operations on
fds it already holds are checked against the fd, not against capabilities.
So a long-running exporter can drop everything::

    skel.load(); skel.attach()
    bpfskel.drop_capabilities()          # keep nothing

Before 6.5 every ``bpf()`` command was refused without CAP_BPF while
``kernel.unprivileged_bpf_disabled`` is set (the default), map reads
included: keep ``CAP_BPF`` there.  Creating new maps or programs, attaching,
or enabling statistics later needs the capabilities back, which a dropped
set never gives.

Pure standard library: ``capget``/``capset``/``prctl`` from the C library,
declared in :mod:`bpfskel._libbpf`, the one module that loads native code.
"""

from __future__ import annotations

import ctypes
import errno
import os
from typing import Iterable, NamedTuple, Union

from . import _libc
from .errors import CAP_NAMES, CapabilityError
from .uapi import PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS

__all__ = ["drop_capabilities", "capabilities", "CapSets", "cap_number", "cap_names"]

_VERSION_3 = 0x20080522  # _LINUX_CAPABILITY_VERSION_3: two 32-bit words per set
CAP_SETPCAP = CAP_NAMES.index("CAP_SETPCAP")


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


class CapSets(NamedTuple):
    """A thread's capability sets, as bit masks (bit ``n`` = capability ``n``)."""

    effective: int
    permitted: int
    inheritable: int


def cap_number(cap: Union[str, int]) -> int:
    """``"CAP_BPF"``, ``"cap_bpf"``, ``"bpf"`` or ``39`` -> 39."""
    if isinstance(cap, int):
        if not 0 <= cap < 64:
            raise ValueError(f"no capability number {cap}")
        return cap
    name = cap.upper()
    name = name if name.startswith("CAP_") else "CAP_" + name
    try:
        return CAP_NAMES.index(name)
    except ValueError:
        raise ValueError(f"unknown capability {cap!r}") from None


def cap_names(mask: int) -> list[str]:
    """The names of the bits set in ``mask``."""
    return [CAP_NAMES[i] if i < len(CAP_NAMES) else f"cap_{i}"
            for i in range(64) if mask >> i & 1]


def _fail(what: str) -> CapabilityError:
    err = ctypes.get_errno()
    return CapabilityError(err, f"{what}: {os.strerror(err)} (errno {err})")


def capabilities() -> CapSets:
    """This thread's capability sets (``capget``)."""
    hdr = _Header(_VERSION_3, 0)
    data = (_Data * 2)()
    if _libc.libc().capget(ctypes.byref(hdr), data) != 0:
        raise _fail("capget")
    return CapSets(*(getattr(data[0], f) | getattr(data[1], f) << 32
                     for f in ("effective", "permitted", "inheritable")))


def _last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except (OSError, ValueError):
        return len(CAP_NAMES) - 1


def drop_capabilities(keep: Iterable[Union[str, int]] = (), *,
                      no_new_privs: bool = False) -> CapSets:
    """Keep only ``keep`` (names or numbers) in this process's effective and
    permitted sets; empty the inheritable and ambient sets, and, when the
    process may (CAP_SETPCAP), the bounding set too, so that a program it
    runs later, even as root, cannot get the rest back.  ``no_new_privs``
    also sets ``PR_SET_NO_NEW_PRIVS`` (no gain through setuid or file
    capabilities).  Returns the sets now in force.

    Raises :class:`~bpfskel.CapabilityError` (a ``PermissionError``) if a
    capability to keep is not held, before anything is changed.

    Capabilities belong to a thread: call this before starting threads, or
    know that the threads started earlier keep theirs.
    """
    want = 0
    for cap in keep:
        want |= 1 << cap_number(cap)
    now = capabilities()
    if want & ~now.permitted:
        raise CapabilityError(errno.EPERM, "cannot keep capabilities this process does not "
                              f"have: {', '.join(cap_names(want & ~now.permitted))}")
    libc = _libc.libc()
    ul = ctypes.c_ulong
    if libc.prctl(PR_CAP_AMBIENT, ul(PR_CAP_AMBIENT_CLEAR_ALL), ul(0), ul(0), ul(0)) != 0 \
            and ctypes.get_errno() != errno.EINVAL:  # EINVAL: kernel without ambient sets
        raise _fail("clearing the ambient capabilities")
    if now.effective >> CAP_SETPCAP & 1:
        for cap in range(_last_cap() + 1):
            if not want >> cap & 1 and libc.prctl(PR_CAPBSET_DROP, ul(cap), ul(0), ul(0),
                                                  ul(0)) != 0:
                raise _fail(f"dropping {cap_names(1 << cap)[0]} from the bounding set")
    hdr = _Header(_VERSION_3, 0)
    data = (_Data * 2)()
    for i in range(2):
        word = want >> (32 * i) & 0xFFFFFFFF
        data[i].effective = data[i].permitted = word
        data[i].inheritable = 0
    if libc.capset(ctypes.byref(hdr), data) != 0:
        raise _fail("capset")
    if no_new_privs and libc.prctl(PR_SET_NO_NEW_PRIVS, ul(1), ul(0), ul(0), ul(0)) != 0:
        raise _fail("PR_SET_NO_NEW_PRIVS")
    return capabilities()
