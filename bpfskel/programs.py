"""Programs and links: attach, detach, and ``BPF_PROG_TEST_RUN``."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any, Callable, Optional

from . import _libbpf
from .errors import ClosedError

__all__ = ["Program", "Link", "TestRunResult"]

BPF_PROG_TYPE_SYSCALL = 31


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


@dataclass(frozen=True)
class TestRunResult:
    """What ``BPF_PROG_TEST_RUN`` reports."""

    __test__ = False  # not a pytest test class

    retval: int
    data_out: bytes
    ctx_out: bytes
    duration_ns: int


class Program:
    """One program of a skeleton (``struct bpf_program``)."""

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
        return Link(ptr, f"{self.name}:{what}")

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
        return self._attach(_libbpf.lib().bpf_program__attach_perf_event,
                            f"perf event fd {pfd}", int(pfd))

    def attach_xdp(self, ifindex: int) -> Link:
        return self._attach(_libbpf.lib().bpf_program__attach_xdp, f"xdp ifindex {ifindex}",
                            int(ifindex))

    def attach_cgroup(self, cgroup_fd: int) -> Link:
        return self._attach(_libbpf.lib().bpf_program__attach_cgroup,
                            f"cgroup fd {cgroup_fd}", int(cgroup_fd))

    def attach_tcx(self, ifindex: int) -> Link:
        """tc (tcx) attach; needs libbpf >= 1.3."""
        fn = _libbpf.require("bpf_program__attach_tcx")
        return self._attach(fn, f"tcx ifindex {ifindex}", int(ifindex), None)

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
