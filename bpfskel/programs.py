"""Programs: attach (returning links), and ``BPF_PROG_TEST_RUN``."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any, Callable, Optional, TypeVar

from . import _libbpf, tc
from .errors import ClosedError
from .links import Link
from .tc import TcLink

__all__ = ["Program", "Link", "TcLink", "TestRunResult"]

BPF_PROG_TYPE_SYSCALL = 31

_L = TypeVar("_L", bound=Link)


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
        self._autoattach = True  # our own switch, for a libbpf without one

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

    @property
    def autoattach(self) -> bool:
        """Whether ``skel.attach()`` attaches this program (default True).

        Set it to False for a program the app attaches itself (say, a uprobe on
        a binary it picks at run time), so that ``attach()`` still attaches
        the rest.  It is libbpf's ``bpf_program__set_autoattach`` (1.0+), and
        a switch of our own on a libbpf without it.  ``prog.attach()`` ignores
        it, as libbpf's ``bpf_program__attach`` does."""
        fn = _libbpf.lib().bpf_program__autoattach
        if fn is None:
            return bool(self._ptr) and self._autoattach
        return bool(fn(self._ptr))

    @autoattach.setter
    def autoattach(self, value: bool) -> None:
        fn = _libbpf.lib().bpf_program__set_autoattach
        ptr = self._ptr  # ClosedError after destroy, either way
        if fn is None:
            self._autoattach = bool(value)
        else:
            fn(ptr, bool(value))

    def _attach(self, fn: Callable[..., Any], what: str, *args: Any) -> Link:
        self._skel._check_loaded(f"attach {self.name!r}")
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
        self._skel._check_loaded(f"attach {self.name!r}")
        link = tc.attach(self.fd, self.name, int(ifindex), bool(ingress), priority, handle)
        return self._keep(link)

    def test_run(self, data_in: bytes = b"", ctx_in: Optional[bytes] = None, repeat: int = 1,
                 data_size_out: Optional[int] = None, ctx_size_out: Optional[int] = None,
                 flags: int = 0) -> TestRunResult:
        """Run the program once (or ``repeat`` times) in the kernel on the given
        input, with ``bpf_prog_test_run_opts``."""
        self._skel._check_loaded(f"test-run {self.name!r}")
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
