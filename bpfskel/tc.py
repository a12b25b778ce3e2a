"""Classic tc attachment: a direct-action ``cls_bpf`` filter on a ``clsact`` qdisc.

libbpf's ``bpf_tc_*`` API (any libbpf; ``tcx`` links need 1.3) attaches a
filter that, unlike a ``bpf_link``, is not tied to a file descriptor: it stays
until detached, even after the process is gone.  This module owns the rules
that make that safe: which qdiscs this process may delete, and when.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, Set

from . import _libbpf
from .errors import ClosedError, NotSupportedError
from .links import Link
from .uapi import (
    NLM_F_DUMP,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    RTM_GETTFILTER,
    RTM_NEWTFILTER,
    TC_H_CLSACT_EGRESS,
    TC_H_CLSACT_INGRESS,
)

__all__ = ["TcLink", "attach", "BPF_TC_INGRESS", "BPF_TC_EGRESS"]

BPF_TC_INGRESS, BPF_TC_EGRESS = 1, 2  # enum bpf_tc_attach_point (libbpf.h, not the kernel)

if TYPE_CHECKING:
    import socket


def _log() -> Any:
    import logging  # on the rare paths that log, not at import (start-up cost)

    return logging.getLogger("bpfskel")


class TcLink(Link):
    """A classic tc attachment made by :meth:`Program.attach_tc`: a ``cls_bpf``
    filter (direct action) on the ``clsact`` qdisc of one interface.

    Unlike a ``bpf_link``, it is not tied to a file descriptor: the filter
    stays until it is detached, even after the process is gone (the skeleton's
    finalizer detaches it at a normal exit; a killed process leaves it).  ``destroy()``
    detaches it; it is idempotent, and also runs on leaving a ``with`` block, on
    the skeleton's ``destroy()`` and from the finalizer.  When the process's
    last ``TcLink`` on the interface goes, it also deletes the ``clsact`` qdisc,
    but only if this process created it and no filter (anyone's) is left on it:
    a qdisc that was already there is never deleted.  ``destroy()`` never
    raises: a filter or qdisc someone removed already is fine, and any other
    failure is logged to the ``bpfskel`` logger.  There is no link fd: ``fd``
    raises :class:`NotSupportedError`.  ``handle`` and ``priority`` are the
    filter's, as the kernel chose them when 0 was asked for; ``prog_id`` is the
    attached program's id.
    """

    def __init__(self, prog_name: str, ifindex: int, ingress: bool, handle: int,
                 priority: int, prog_id: int, created_hook: bool) -> None:
        direction = "ingress" if ingress else "egress"
        super().__init__(0, f"{prog_name}:tc {direction} ifindex {ifindex} "
                            f"handle {handle:#x} priority {priority}")
        self.ifindex = ifindex
        self.ingress = ingress
        self.handle = handle
        self.priority = priority
        self.prog_id = prog_id
        self.created_hook = created_hook  # this attach created the clsact qdisc
        self._pid = os.getpid()

    @property
    def fd(self) -> int:
        if self.destroyed:
            raise ClosedError(f"link {self.what} was destroyed")
        raise NotSupportedError(f"{self.what}: a classic tc filter has no link fd")

    def _detach(self, _handle: int) -> None:  # Link.destroy: runs once
        if os.getpid() != self._pid:
            return  # a forked child's copy: the filter belongs to the parent
        _tc_detach(self.ifindex, self.ingress, self.handle, self.priority, self.prog_id,
                   self.what)

    def __enter__(self) -> "TcLink":
        return self

    def __repr__(self) -> str:
        return f"<TcLink {self.what}{' destroyed' if self.destroyed else ''}>"


# The clsact qdiscs this process created, by ifindex: only these are ever
# deleted, when the process's last TcLink on the interface goes and no filter
# at all (anyone's) is left on them.  Ownership ends then either way: a qdisc
# left in place for someone else's filters becomes theirs.  The lock also
# serialises this process's create/attach and detach/delete sequences.
_tc_created: Set[int] = set()
_tc_users: Dict[int, int] = {}  # ifindex -> this process's live TcLinks on it
_tc_lock = threading.Lock()

# rtnetlink, to tell whether a clsact qdisc still holds filters (libbpf's
# bpf_tc_query needs an exact handle and priority; it cannot list them).
_NLMSG_HDR = struct.Struct("=IHHII")     # struct nlmsghdr
_TCMSG = struct.Struct("=BBHiIII")       # struct tcmsg
_CLSACT_PARENTS = (TC_H_CLSACT_INGRESS, TC_H_CLSACT_EGRESS)


def _tc_hook(ifindex: int, attach_point: int) -> Any:
    return _libbpf.opts(_libbpf.TcHook, ifindex=int(ifindex), attach_point=attach_point)


def _tc_filters_left(ifindex: int) -> bool:
    """Whether any filter is left on ``ifindex``'s clsact ingress or egress
    (one ``RTM_GETTFILTER`` dump each).  Raises OSError if netlink fails."""
    import socket  # only for this check, not at import (start-up cost)

    found = False
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0) as s:  # NETLINK_ROUTE
        s.settimeout(5.0)
        for seq, parent in enumerate(_CLSACT_PARENTS, 1):
            body = _TCMSG.pack(socket.AF_UNSPEC, 0, 0, ifindex, 0, parent, 0)
            s.send(_NLMSG_HDR.pack(_NLMSG_HDR.size + len(body), RTM_GETTFILTER,
                                   NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body)
            found = _read_dump(s, seq) or found
    return found


def _read_dump(s: socket.socket, seq: int) -> bool:
    """Read one netlink dump to its end: whether it held any filter."""
    found = False
    while True:
        buf = s.recv(1 << 16)
        off = 0
        while off + _NLMSG_HDR.size <= len(buf):
            length, typ, _flags, mseq, _pid = _NLMSG_HDR.unpack_from(buf, off)
            if length < _NLMSG_HDR.size:
                raise OSError(errno.EPROTO, "malformed netlink reply")
            if mseq == seq:
                if typ == NLMSG_DONE:
                    return found
                if typ == NLMSG_ERROR:
                    (err,) = struct.unpack_from("=i", buf, off + _NLMSG_HDR.size)
                    if err:
                        raise OSError(-err, os.strerror(-err))
                    return found
                found = found or typ == RTM_NEWTFILTER
            off += (length + 3) & ~3


def _tc_release_hook(ifindex: int) -> None:
    """Once this process has no TcLink left on ``ifindex``: delete the clsact
    qdisc if this process created it and it is empty.  The caller holds
    ``_tc_lock``."""
    if _tc_users.get(ifindex):
        return
    _tc_users.pop(ifindex, None)
    if ifindex not in _tc_created:
        return
    _tc_created.discard(ifindex)
    try:
        if _tc_filters_left(ifindex):
            return  # someone else's filter uses it now
    except OSError as e:
        _log().warning("cannot tell whether the clsact qdisc of ifindex %d is empty (%s): "
                    "leaving it in place", ifindex, e)
        return
    hook = _tc_hook(ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS)  # both: deletes the qdisc
    _tc_cleanup(_libbpf.lib().bpf_tc_hook_destroy,
                f"deleting the clsact qdisc of ifindex {ifindex}", ctypes.byref(hook))


# What a cleanup call gets when its target went already: the device (ENODEV),
# the filter (ENOENT), or the qdisc, with the filters in it (EINVAL).
_GONE = (errno.ENOENT, errno.ENODEV, errno.EINVAL)


def _tc_cleanup(fn: Callable[..., int], what: str, *args: Any) -> None:
    """A libbpf tc cleanup call that never raises: a target gone already is
    fine, any other failure is logged."""
    with _libbpf.capture(quiet=True) as lines:
        ret = fn(*args)
    if ret < 0 and -ret not in _GONE:
        said = "; ".join(line.strip() for line in lines)
        _log().warning("%s: %s (errno %d)%s", what, os.strerror(-ret), -ret,
                    f": {said}" if said else "")


def _tc_detach(ifindex: int, ingress: bool, handle: int, priority: int, prog_id: int,
               what: str) -> None:
    hook = _tc_hook(ifindex, BPF_TC_INGRESS if ingress else BPF_TC_EGRESS)
    o = _libbpf.opts(_libbpf.TcOpts, handle=handle, priority=priority)
    lib = _libbpf.lib()
    with _tc_lock:
        # A filter is named by its handle and priority only: if ours went (with
        # its qdisc, say), the same pair may now be someone else's filter.
        with _libbpf.capture(quiet=True):
            ret = lib.bpf_tc_query(ctypes.byref(hook), ctypes.byref(o))
        if ret == 0 and o.prog_id != prog_id:
            _log().debug("%s: the filter now runs program id %d, not ours: left alone", what,
                      o.prog_id)
        elif ret == 0 or -ret not in _GONE:
            o = _libbpf.opts(_libbpf.TcOpts, handle=handle, priority=priority)
            _tc_cleanup(lib.bpf_tc_detach, f"detaching {what}", ctypes.byref(hook),
                        ctypes.byref(o))
        _tc_users[ifindex] = _tc_users.get(ifindex, 1) - 1
        _tc_release_hook(ifindex)


def attach(prog_fd: int, prog_name: str, ifindex: int, ingress: bool, priority: int,
           handle: int) -> TcLink:
    """Attach ``prog_fd`` as a tc filter; see :meth:`bpfskel.programs.Program.attach_tc`."""
    if not 0 <= priority <= 0xFFFF:
        raise ValueError(f"tc priority must be in 0..65535, not {priority}")
    if not 0 <= handle <= 0xFFFFFFFF:
        raise ValueError(f"tc handle must be a u32, not {handle}")
    direction = "ingress" if ingress else "egress"
    op = f"attaching program {prog_name!r} (tc {direction} ifindex {ifindex})"
    lib = _libbpf.lib()
    hook = _tc_hook(ifindex, BPF_TC_INGRESS if ingress else BPF_TC_EGRESS)
    o = _libbpf.opts(_libbpf.TcOpts, prog_fd=prog_fd, handle=handle, priority=priority)
    with _tc_lock:
        with _libbpf.capture(quiet=True) as lines:  # EEXIST is no news
            ret = lib.bpf_tc_hook_create(ctypes.byref(hook))
        created = ret == 0
        if not created and ret != -errno.EEXIST:  # EEXIST: someone's qdisc, keep it
            _libbpf.check(ret, f"{op}: creating the clsact qdisc", lines)
        if created:
            _tc_created.add(ifindex)
        with _libbpf.capture() as lines:
            ret = lib.bpf_tc_attach(ctypes.byref(hook), ctypes.byref(o))
        if ret < 0:
            _tc_release_hook(ifindex)  # the qdisc, if we just made it for nothing
            _libbpf.check(ret, op, lines)
        _tc_users[ifindex] = _tc_users.get(ifindex, 0) + 1
        link = TcLink(prog_name, ifindex, bool(ingress), int(o.handle), int(o.priority),
                      int(o.prog_id), created)
    return link
