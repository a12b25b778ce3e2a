"""Programs: attach (returning links), and ``BPF_PROG_TEST_RUN``."""

from __future__ import annotations

import ctypes
import errno
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional, Sequence, TypeVar

from . import _libbpf
from .errors import ClosedError, libbpf_error
from .links import Link
from .uapi import ProgType

if TYPE_CHECKING:
    from .iterators import IterLink
    from .perf_event import LinkGroup
    from .tc import TcLink

__all__ = ["Program", "Link", "LinkGroup", "IterLink", "TcLink", "TestRunResult"]

# the link classes of the attach kinds, from their modules on first access (PEP 562)
_LAZY = {"IterLink": ".iterators", "LinkGroup": ".perf_event", "TcLink": ".tc"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module, __package__), name)


_L = TypeVar("_L", bound=Link)


# the call form: the class form compiles each annotation string at import
_TestRunFields = NamedTuple("_TestRunFields", [("retval", int), ("data_out", bytes),
                                               ("ctx_out", bytes), ("duration_ns", int)])


class TestRunResult(_TestRunFields):
    """What ``BPF_PROG_TEST_RUN`` reports (immutable; a NamedTuple rather than
    a dataclass, which would import ``dataclasses`` at start-up)."""

    __slots__ = ()
    __test__ = False  # not a pytest test class


class Program:
    """One program of a skeleton (``struct bpf_program``).

    ``attach()`` auto-attaches from the section name; the explicit
    ``attach_*`` methods (after ``load()``, options named as in libbpf) cover
    every attach kind of libbpf 1.1 to 1.4, and live by concept in
    :mod:`.attach_trace`, :mod:`.attach_net`, :mod:`.iterators`,
    :mod:`.perf_event` and :mod:`.tc`.  Each returns a :class:`Link`:
    ``destroy()`` detaches, idempotently, and a link is a context manager.
    The skeleton keeps every link until it is destroyed, so a link the app
    does not keep stays attached.  ``attach_tc`` returns a :class:`TcLink`: a
    tc filter, unlike a ``bpf_link``, outlives the process unless detached.
    Before load, ``type``, ``expected_attach_type``, ``autoload`` and
    :meth:`set_attach_target` configure the program.  ``test_run`` runs the
    program once in the kernel on given input.
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
        """``enum bpf_prog_type``; settable before load (``bpf_program__set_type``)."""
        return int(_libbpf.lib().bpf_program__type(self._ptr))

    @type.setter
    def type(self, value: int) -> None:
        self._before_load("setting the type")
        _libbpf.call(_libbpf.lib().bpf_program__set_type, f"setting the type of {self.name!r}",
                     self._ptr, int(value))

    @property
    def expected_attach_type(self) -> int:
        """``enum bpf_attach_type``; settable before load."""
        return int(_libbpf.lib().bpf_program__expected_attach_type(self._ptr))

    @expected_attach_type.setter
    def expected_attach_type(self, value: int) -> None:
        self._before_load("setting the expected attach type")
        _libbpf.call(_libbpf.lib().bpf_program__set_expected_attach_type,
                     f"setting the expected attach type of {self.name!r}", self._ptr, int(value))

    def set_attach_target(self, func: Optional[str], target_prog: Any = None) -> None:
        """Before load: the kernel function (fentry/fexit/fmod_ret/tp_btf/lsm)
        or, with ``target_prog`` (a Program or a program fd), the BPF function
        (freplace, fentry on BPF) this program attaches to, as
        ``bpf_program__set_attach_target``."""
        self._before_load("setting the attach target")
        fd = 0 if target_prog is None else (
            target_prog if isinstance(target_prog, int) else target_prog.fd)
        _libbpf.call(_libbpf.lib().bpf_program__set_attach_target,
                     f"setting the attach target of {self.name!r} to {func!r}", self._ptr,
                     int(fd), func.encode() if func else None)

    def _before_load(self, what: str) -> None:
        if self._skel._loaded:
            raise libbpf_error(errno.EBUSY, f"{what} of {self.name!r}: "
                                       "the object is already loaded")

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

    def attach_perf_event(self, pfd: Optional[int] = None, *, type: Optional[int] = None,
                          config: int = 0, sample_period: int = 0, sample_freq: int = 0,
                          cpu: Optional[int] = None, pid: int = -1, cookie: int = 0) -> Link:
        """Attach to perf events bpfskel opens itself: ``type``/``config`` as in
        ``perf_event_attr`` (``bpfskel.perf_event.PERF_TYPE_SOFTWARE``,
        ``PERF_COUNT_SW_CPU_CLOCK``, ...), sampling every ``sample_period``
        events or ``sample_freq`` times a second, on ``cpu`` or, when None, on
        every online CPU (``pid=-1``: every task there).  Returns one
        :class:`LinkGroup` that closes them all.

        With ``pfd`` (from your own ``perf_event_open``), attach to that one
        event instead; on success the link owns ``pfd`` (``destroy()`` closes
        it), on failure it stays the caller's."""
        if pfd is not None:
            if type is not None:
                raise ValueError("give a perf event fd or a type, not both")
            o = _libbpf.opts(_libbpf.PerfEventOpts, bpf_cookie=cookie)
            return self._attach(_libbpf.lib().bpf_program__attach_perf_event_opts,
                                f"perf event fd {pfd}", int(pfd), ctypes.byref(o))
        if type is None:
            raise ValueError("give a perf event type (and config), or a perf event fd")
        self._skel._check_loaded(f"attaching {self.name!r}")
        from . import perf_event  # each attach kind's module loads on first use
        return self._keep(perf_event.attach(
            self._ptr, self.name, type=int(type), config=int(config),
            sample_period=int(sample_period), sample_freq=int(sample_freq), cpu=cpu,
            pid=int(pid), cookie=int(cookie)))

    def attach_kprobe(self, func: str, offset: int = 0, retprobe: bool = False,
                      cookie: int = 0) -> Link:
        """kprobe (or kretprobe) on kernel function ``func`` (+ ``offset``)."""
        from . import attach_trace
        return attach_trace.kprobe(self, func, offset, retprobe, cookie)

    def attach_kprobe_multi(self, pattern: Optional[str] = None, *,
                            syms: Optional[Sequence[str]] = None,
                            addrs: Optional[Sequence[int]] = None,
                            cookies: Optional[Sequence[int]] = None,
                            retprobe: bool = False) -> Link:
        """One kprobe_multi link on every function matching the glob
        ``pattern``, or on ``syms``/``addrs`` (Linux 5.18)."""
        from . import attach_trace
        return attach_trace.kprobe_multi(self, pattern, syms=syms, addrs=addrs,
                                         cookies=cookies, retprobe=retprobe)

    def attach_ksyscall(self, name: str, retprobe: bool = False, cookie: int = 0) -> Link:
        """kprobe on the system call ``name`` (``"openat"``); libbpf resolves the
        arch prefix (``__x64_sys_openat``).  libbpf >= 1.0."""
        from . import attach_trace
        return attach_trace.ksyscall(self, name, retprobe, cookie)

    def attach_uprobe_multi(self, binary: str, pattern: Optional[str] = None, *,
                            syms: Optional[Sequence[str]] = None,
                            offsets: Optional[Sequence[int]] = None,
                            ref_ctr_offsets: Optional[Sequence[int]] = None,
                            cookies: Optional[Sequence[int]] = None, pid: int = -1,
                            retprobe: bool = False) -> Link:
        """One uprobe_multi link on every function of ``binary`` matching
        ``pattern``, or on ``syms``/``offsets``.  libbpf >= 1.3, Linux 6.6."""
        from . import attach_trace
        return attach_trace.uprobe_multi(self, binary, pattern, syms=syms, offsets=offsets,
                                         ref_ctr_offsets=ref_ctr_offsets, cookies=cookies,
                                         pid=pid, retprobe=retprobe)

    def attach_usdt(self, binary: str, provider: str, name: str, pid: int = -1,
                    cookie: int = 0) -> Link:
        """USDT probe ``provider:name`` of ``binary`` (``SEC("usdt")``, with
        ``<bpf/usdt.bpf.h>``); libbpf handles semaphores and arguments."""
        from . import attach_trace
        return attach_trace.usdt(self, binary, provider, name, pid, cookie)

    def attach_trace(self, cookie: int = 0) -> Link:
        """fentry/fexit/fmod_ret/tp_btf (a BPF trampoline) on the target the
        section or :meth:`set_attach_target` named."""
        from . import attach_trace
        return attach_trace.trace(self, cookie)

    def attach_lsm(self) -> Link:
        """``SEC("lsm/<hook>")``: needs ``bpf`` in the kernel's LSM list."""
        from . import attach_trace
        return attach_trace.lsm(self)

    def attach_iter(self, *, map: Any = None, cgroup_fd: Optional[int] = None,
                    cgroup_id: int = 0, order: int = 0, tid: int = 0, pid: int = 0,
                    pid_fd: int = 0) -> IterLink:
        """An iterator link (``SEC("iter/task")``, ...); read its output with
        ``link.read()`` / ``link.read_text()``."""
        from . import iterators
        return iterators.attach(self, map=map, cgroup_fd=cgroup_fd, cgroup_id=cgroup_id,
                                order=order, tid=tid, pid=pid, pid_fd=pid_fd)

    def attach_netns(self, netns_fd: int) -> Link:
        """sk_lookup or flow_dissector program on the network namespace open as
        ``netns_fd`` (``/proc/self/ns/net`` or ``/run/netns/<name>``)."""
        return self._attach(_libbpf.lib().bpf_program__attach_netns,
                            f"netns fd {netns_fd}", int(netns_fd))

    def attach_sk_lookup(self, netns_fd: int) -> Link:
        """``SEC("sk_lookup")`` on a network namespace: :meth:`attach_netns`."""
        return self.attach_netns(netns_fd)

    def attach_netfilter(self, pf: int, hooknum: int, priority: int, flags: int = 0) -> Link:
        """``SEC("netfilter")`` on hook ``hooknum`` of family ``pf``
        (``NFPROTO_IPV4`` = 2, ``NF_INET_LOCAL_IN`` = 1, ...).  libbpf >= 1.3,
        Linux 6.4; attaches in the caller's network namespace."""
        from . import attach_net
        return attach_net.netfilter(self, pf, hooknum, priority, flags)

    def attach_freplace(self, target_prog: Any, func: str) -> Link:
        """``SEC("freplace/<func>")``: replace global function ``func`` of the
        loaded program ``target_prog`` (a Program or a program fd)."""
        fd = target_prog if isinstance(target_prog, int) else target_prog.fd
        return self._attach(_libbpf.lib().bpf_program__attach_freplace,
                            f"freplace {func} of prog fd {fd}", int(fd), func.encode())

    def attach_sockmap(self, map: Any, attach_type: Optional[int] = None) -> Link:
        """Attach an sk_skb/sk_msg program to a sockmap or sockhash (``map``: a
        Map or a map fd) with ``bpf_prog_attach``, as ``attach_type``
        (default: the one libbpf took from the section, e.g.
        ``BPF_SK_MSG_VERDICT`` for ``SEC("sk_msg")``); the link's ``destroy()``
        detaches it (``bpf_prog_detach2``)."""
        if attach_type is None:
            attach_type = self.expected_attach_type
        from . import attach_net
        return attach_net.sockmap(self, map, attach_type)

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
        from . import tc
        link = tc.attach(self.fd, self.name, int(ifindex), bool(ingress), priority, handle)
        return self._keep(link)

    def test_run(self, data_in: bytes = b"", ctx_in: Optional[bytes] = None, repeat: int = 1,
                 data_size_out: Optional[int] = None, ctx_size_out: Optional[int] = None,
                 flags: int = 0) -> TestRunResult:
        """Run the program once (or ``repeat`` times) in the kernel on the given
        input, with ``bpf_prog_test_run_opts``."""
        self._skel._check_loaded(f"test-run {self.name!r}")
        if self.type == ProgType.SYSCALL and repeat == 1:
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
