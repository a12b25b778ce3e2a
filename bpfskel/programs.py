"""Programs and links: attach, detach, and ``BPF_PROG_TEST_RUN``."""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import socket
import struct
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Set, TypeVar

from . import _libbpf
from .errors import ClosedError, NotSupportedError

__all__ = ["Program", "Link", "TcLink", "TestRunResult"]

BPF_PROG_TYPE_SYSCALL = 31
BPF_TC_INGRESS, BPF_TC_EGRESS = 1, 2  # enum bpf_tc_attach_point

log = logging.getLogger("bpfskel")


_L = TypeVar("_L", bound="Link")


class Link:
    """An attachment (``struct bpf_link``).  ``destroy()`` detaches; idempotent."""

    def __init__(self, ptr: int, what: str) -> None:
        self._ptr: Optional[int] = ptr
        self.what = what

    @property
    def fd(self) -> int:
        if not self._ptr:
            raise ClosedError(f"link {self.what} was destroyed")
        return int(_libbpf.lib().bpf_link__fd(self._ptr))

    @property
    def destroyed(self) -> bool:
        return not self._ptr

    def destroy(self) -> None:
        ptr, self._ptr = self._ptr, None
        if ptr:
            _libbpf.lib().bpf_link__destroy(ptr)

    def __enter__(self) -> "Link":
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def __del__(self) -> None:
        try:
            self.destroy()
        except Exception:  # never raise from a finalizer
            pass

    def __repr__(self) -> str:
        return f"<Link {self.what}{' destroyed' if not self._ptr else ''}>"


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
        self._attached = True
        self._pid = os.getpid()

    @property
    def fd(self) -> int:
        if not self._attached:
            raise ClosedError(f"link {self.what} was destroyed")
        raise NotSupportedError(f"{self.what}: a classic tc filter has no link fd")

    @property
    def destroyed(self) -> bool:
        return not self._attached

    def destroy(self) -> None:
        if not self._attached:
            return
        self._attached = False
        if os.getpid() != self._pid:
            return  # a forked child's copy: the filter belongs to the parent
        _tc_detach(self.ifindex, self.ingress, self.handle, self.priority, self.prog_id,
                   self.what)

    def __enter__(self) -> "TcLink":
        return self

    def __repr__(self) -> str:
        return f"<TcLink {self.what}{'' if self._attached else ' destroyed'}>"


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
_RTM_NEWTFILTER, _RTM_GETTFILTER = 44, 46
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_NLMSG_HDR = struct.Struct("=IHHII")     # struct nlmsghdr
_TCMSG = struct.Struct("=BBHiIII")       # struct tcmsg
_CLSACT_PARENTS = (0xFFFFFFF2, 0xFFFFFFF3)  # TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_{INGRESS,EGRESS})


def _tc_hook(ifindex: int, attach_point: int) -> Any:
    return _libbpf.opts(_libbpf.TcHook, ifindex=int(ifindex), attach_point=attach_point)


def _tc_filters_left(ifindex: int) -> bool:
    """Whether any filter is left on ``ifindex``'s clsact ingress or egress
    (one ``RTM_GETTFILTER`` dump each).  Raises OSError if netlink fails."""
    found = False
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0) as s:  # NETLINK_ROUTE
        s.settimeout(5.0)
        for seq, parent in enumerate(_CLSACT_PARENTS, 1):
            body = _TCMSG.pack(socket.AF_UNSPEC, 0, 0, ifindex, 0, parent, 0)
            s.send(_NLMSG_HDR.pack(_NLMSG_HDR.size + len(body), _RTM_GETTFILTER,
                                   _NLM_F_REQUEST | _NLM_F_DUMP, seq, 0) + body)
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
                if typ == _NLMSG_DONE:
                    return found
                if typ == _NLMSG_ERROR:
                    (err,) = struct.unpack_from("=i", buf, off + _NLMSG_HDR.size)
                    if err:
                        raise OSError(-err, os.strerror(-err))
                    return found
                found = found or typ == _RTM_NEWTFILTER
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
        log.warning("cannot tell whether the clsact qdisc of ifindex %d is empty (%s): "
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
        log.warning("%s: %s (errno %d)%s", what, os.strerror(-ret), -ret,
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
            log.debug("%s: the filter now runs program id %d, not ours: left alone", what,
                      o.prog_id)
        elif ret == 0 or -ret not in _GONE:
            o = _libbpf.opts(_libbpf.TcOpts, handle=handle, priority=priority)
            _tc_cleanup(lib.bpf_tc_detach, f"detaching {what}", ctypes.byref(hook),
                        ctypes.byref(o))
        _tc_users[ifindex] = _tc_users.get(ifindex, 1) - 1
        _tc_release_hook(ifindex)


@dataclass(frozen=True)
class TestRunResult:
    """What ``BPF_PROG_TEST_RUN`` reports."""

    __test__ = False  # not a pytest test class

    retval: int
    data_out: bytes
    ctx_out: bytes
    duration_ns: int


class Program:
    """One program of a skeleton (``struct bpf_program``).

    ``attach()`` auto-attaches from the section name.  The explicit attaches
    (after ``load()``) are ``attach_tracepoint``, ``attach_raw_tracepoint``,
    ``attach_uprobe``, ``attach_perf_event``, ``attach_xdp``, ``attach_cgroup``,
    ``attach_tcx`` (libbpf >= 1.3) and ``attach_tc`` (classic tc, any libbpf).
    Each returns a :class:`Link`: ``destroy()`` detaches, idempotently, and a
    link is a context manager.  The skeleton keeps every link until it is
    destroyed, so a link the app does not keep stays attached.  ``attach_tc``
    returns a :class:`TcLink`: a tc filter, unlike a ``bpf_link``, outlives the
    process unless detached.  ``test_run`` runs the program once in
    the kernel on given input.
    """

    def __init__(self, skel: Any, ptr: int, ident: str) -> None:
        self._skel = skel
        self._raw_ptr = ptr
        self.ident = ident

    @property
    def _ptr(self) -> int:
        # libbpf frees the struct with its object: never hand it out after destroy()
        if self._skel.destroyed:
            raise ClosedError(f"program {self.ident!r}: the skeleton was destroyed")
        return int(self._raw_ptr)

    @property
    def name(self) -> str:
        return _libbpf.cstr(_libbpf.lib().bpf_program__name(self._ptr))

    @property
    def section(self) -> str:
        return _libbpf.cstr(_libbpf.lib().bpf_program__section_name(self._ptr))

    @property
    def fd(self) -> int:
        return int(_libbpf.lib().bpf_program__fd(self._ptr))

    @property
    def type(self) -> int:
        return int(_libbpf.lib().bpf_program__type(self._ptr))

    @property
    def autoload(self) -> bool:
        return bool(_libbpf.lib().bpf_program__autoload(self._ptr))

    @autoload.setter
    def autoload(self, value: bool) -> None:
        _libbpf.call(_libbpf.lib().bpf_program__set_autoload,
                     f"setting autoload of {self.name!r}", self._ptr, bool(value))

    def _attach(self, fn: Callable[..., Any], what: str, *args: Any) -> Link:
        self._skel._check_loaded(f"attaching {self.name!r}")
        ptr = _libbpf.call_ptr(fn, f"attaching program {self.name!r} ({what})",
                               self._ptr, *args)
        return self._keep(Link(ptr, f"{self.name}:{what}"))

    def _keep(self, link: _L) -> _L:
        """The skeleton holds every link until it is destroyed, as a C skeleton
        and BCC do: a link the app drops stays attached (``link.destroy()``
        detaches it earlier)."""
        links = self._skel._res.links
        links[:] = [x for x in links if not x.destroyed]
        links.append(link)
        return link

    def attach(self) -> Link:
        """Auto-attach from the section name, as libbpf does (``SEC("tp/...")``)."""
        return self._attach(_libbpf.lib().bpf_program__attach, self.section)

    def attach_tracepoint(self, category: str, name: str) -> Link:
        return self._attach(_libbpf.lib().bpf_program__attach_tracepoint,
                            f"tracepoint {category}/{name}", category.encode(), name.encode())

    def attach_raw_tracepoint(self, name: str) -> Link:
        return self._attach(_libbpf.lib().bpf_program__attach_raw_tracepoint,
                            f"raw tracepoint {name}", name.encode())

    def attach_uprobe(self, binary: str, offset: int = 0, *, symbol: Optional[str] = None,
                      pid: int = -1, retprobe: bool = False, cookie: int = 0) -> Link:
        """Attach a uprobe (or uretprobe) to ``binary`` at ``offset``, or at
        ``offset`` bytes into the function ``symbol`` (resolved by libbpf)."""
        o = _libbpf.opts(_libbpf.UprobeOpts, retprobe=bool(retprobe), bpf_cookie=cookie,
                         func_name=symbol.encode() if symbol else None)
        kind = "uretprobe" if retprobe else "uprobe"
        where = f"{symbol}+{offset:#x}" if symbol else f"{offset:#x}"
        return self._attach(_libbpf.lib().bpf_program__attach_uprobe_opts,
                            f"{kind} {binary}:{where}", int(pid), binary.encode(),
                            int(offset), ctypes.byref(o))

    def attach_perf_event(self, pfd: int) -> Link:
        """Attach to the perf event ``pfd`` (from ``perf_event_open``) and enable
        it.  On success the link owns ``pfd``: ``Link.destroy()`` closes it, so
        do not close it yourself.  On failure it stays the caller's."""
        return self._attach(_libbpf.lib().bpf_program__attach_perf_event,
                            f"perf event fd {pfd}", int(pfd))

    def attach_xdp(self, ifindex: int) -> Link:
        """Attach ``SEC("xdp")`` to interface ``ifindex`` (a ``bpf_link``; the
        kernel picks native or generic mode)."""
        return self._attach(_libbpf.lib().bpf_program__attach_xdp, f"xdp ifindex {ifindex}",
                            int(ifindex))

    def attach_cgroup(self, cgroup_fd: int) -> Link:
        """Attach a cgroup program (``cgroup_skb/egress``, ...) to the cgroup v2
        directory open as ``cgroup_fd``; the caller may close that fd after."""
        return self._attach(_libbpf.lib().bpf_program__attach_cgroup,
                            f"cgroup fd {cgroup_fd}", int(cgroup_fd))

    def attach_tcx(self, ifindex: int) -> Link:
        """tcx attach (``SEC("tcx/ingress")``, ``SEC("tcx/egress")``: the
        direction comes from the section); needs libbpf >= 1.3 and kernel 6.6.
        On older libbpf, :meth:`attach_tc` does the same job."""
        fn = _libbpf.require("bpf_program__attach_tcx")
        return self._attach(fn, f"tcx ifindex {ifindex}", int(ifindex), None)

    def attach_tc(self, ifindex: int, ingress: bool = True, *, priority: int = 0,
                  handle: int = 0) -> TcLink:
        """Classic tc attach, on every libbpf version: a direct-action
        ``cls_bpf`` filter for a ``SEC("tc")`` program on the ingress (or
        egress) of interface ``ifindex``, through libbpf's ``bpf_tc_hook_create``
        and ``bpf_tc_attach``.

        The ``clsact`` qdisc is created if the interface has none.  ``priority``
        (1-65535) and ``handle`` default to 0: the kernel picks them, and the
        returned :class:`TcLink` reports them.  An explicit pair already taken on
        that hook raises ``FileExistsError``.  Return ``TC_ACT_UNSPEC`` (-1)
        from the program to let later filters run.

        The skeleton keeps the link, so ``skel.destroy()`` detaches it even if
        the app dropped it (``skel.detach()`` only detaches what ``attach()``
        made).  The filter outlives a killed process: destroy it.
        """
        self._skel._check_loaded(f"attaching {self.name!r}")
        if not 0 <= priority <= 0xFFFF:
            raise ValueError(f"tc priority must be in 0..65535, not {priority}")
        if not 0 <= handle <= 0xFFFFFFFF:
            raise ValueError(f"tc handle must be a u32, not {handle}")
        ifindex = int(ifindex)
        direction = "ingress" if ingress else "egress"
        op = f"attaching program {self.name!r} (tc {direction} ifindex {ifindex})"
        lib = _libbpf.lib()
        hook = _tc_hook(ifindex, BPF_TC_INGRESS if ingress else BPF_TC_EGRESS)
        o = _libbpf.opts(_libbpf.TcOpts, prog_fd=self.fd, handle=handle, priority=priority)
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
            link = TcLink(self.name, ifindex, bool(ingress), int(o.handle), int(o.priority),
                          int(o.prog_id), created)
        return self._keep(link)

    def test_run(self, data_in: bytes = b"", ctx_in: Optional[bytes] = None, repeat: int = 1,
                 data_size_out: Optional[int] = None, ctx_size_out: Optional[int] = None,
                 flags: int = 0) -> TestRunResult:
        """Run the program once (or ``repeat`` times) in the kernel on the given
        input, with ``bpf_prog_test_run_opts``."""
        self._skel._check_loaded(f"test-running {self.name!r}")
        if self.type == BPF_PROG_TYPE_SYSCALL and repeat == 1:
            repeat = 0  # the kernel refuses repeat for SEC("syscall"); 0 means once
        din = ctypes.create_string_buffer(bytes(data_in), len(data_in)) if data_in else None
        out_sz = data_size_out if data_size_out is not None else (
            max(len(data_in) + 256, 4096) if data_in else 0)
        dout = ctypes.create_string_buffer(out_sz) if out_sz else None
        cin = ctypes.create_string_buffer(bytes(ctx_in), len(ctx_in)) if ctx_in else None
        csz = ctx_size_out if ctx_size_out is not None else (len(ctx_in) if ctx_in else 0)
        cout = ctypes.create_string_buffer(csz) if csz else None
        o = _libbpf.opts(
            _libbpf.TestRunOpts,
            data_in=ctypes.cast(din, ctypes.c_void_p) if din else None,
            data_size_in=len(data_in),
            data_out=ctypes.cast(dout, ctypes.c_void_p) if dout else None,
            data_size_out=out_sz,
            ctx_in=ctypes.cast(cin, ctypes.c_void_p) if cin else None,
            ctx_size_in=len(ctx_in) if ctx_in else 0,
            ctx_out=ctypes.cast(cout, ctypes.c_void_p) if cout else None,
            ctx_size_out=csz,
            repeat=repeat, flags=flags)
        _libbpf.call(_libbpf.lib().bpf_prog_test_run_opts, f"test run of {self.name!r}",
                     self.fd, ctypes.byref(o))
        return TestRunResult(
            retval=int(o.retval),
            data_out=dout.raw[:o.data_size_out] if dout else b"",
            ctx_out=cout.raw[:o.ctx_size_out] if cout else b"",
            duration_ns=int(o.duration))

    def __repr__(self) -> str:
        if self._skel.destroyed:
            return f"<Program {self.ident} (destroyed)>"
        return f"<Program {self.ident} SEC({self.section!r})>"
