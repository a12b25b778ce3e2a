"""Tracing attach kinds: kprobes, syscalls, multi-probes, USDT, trampolines.

Each function takes a loaded :class:`~bpfskel.programs.Program` and the
options named as in libbpf, calls the libbpf attach function and returns the
:class:`~bpfskel.links.Link` (kept by the skeleton, see ``Program._keep``).
What the running libbpf does not export, or what the kernel cannot do (asked
through :mod:`bpfskel.features`), raises :class:`~bpfskel.NotSupportedError`
naming the missing piece before anything is attempted.
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any, Optional, Sequence

from . import _libbpf, features
from .errors import NotSupportedError
from .links import Link

if TYPE_CHECKING:
    from .programs import Program

__all__ = ["kprobe", "kprobe_multi", "ksyscall", "uprobe_multi", "usdt", "trace", "lsm"]


def _need_kprobes() -> None:
    if not features.kprobe_available():
        raise NotSupportedError("this kernel cannot create kprobes (no kprobe PMU and no "
                                "tracefs kprobe_events: CONFIG_KPROBES is off?)")


def _strings(items: Optional[Sequence[str]]) -> Any:
    if not items:
        return None, []
    keep = [ctypes.create_string_buffer(s.encode()) for s in items]
    arr = (ctypes.c_void_p * len(keep))(*[ctypes.addressof(b) for b in keep])
    return arr, keep


def _u64s(items: Optional[Sequence[int]], ctype: Any = ctypes.c_uint64) -> Any:
    return (ctype * len(items))(*items) if items else None


def _count(what: str, *arrays: Optional[Sequence[Any]]) -> int:
    sizes = {len(a) for a in arrays if a}
    if len(sizes) > 1:
        raise ValueError(f"{what}: the arrays must have the same length, got {sorted(sizes)}")
    return sizes.pop() if sizes else 0


def kprobe(prog: "Program", func: str, offset: int = 0, retprobe: bool = False,
           cookie: int = 0) -> Link:
    _need_kprobes()
    o = _libbpf.opts(_libbpf.KprobeOpts, bpf_cookie=cookie, offset=offset,
                     retprobe=bool(retprobe))
    kind = "kretprobe" if retprobe else "kprobe"
    return prog._attach(_libbpf.lib().bpf_program__attach_kprobe_opts,
                        f"{kind} {func}+{offset:#x}", func.encode(), ctypes.byref(o))


def kprobe_multi(prog: "Program", pattern: Optional[str] = None, *,
                 syms: Optional[Sequence[str]] = None, addrs: Optional[Sequence[int]] = None,
                 cookies: Optional[Sequence[int]] = None, retprobe: bool = False) -> Link:
    if (pattern is None) == (not syms and not addrs):
        raise ValueError("kprobe_multi: give a pattern, or syms/addrs")
    if not features.kprobe_multi_available():
        raise NotSupportedError("this kernel cannot attach kprobe_multi links (Linux 5.18+ "
                                "with CONFIG_FPROBE)")
    sym_arr, keep = _strings(syms)
    cnt = _count("kprobe_multi", syms, addrs, cookies)
    addr_arr, cookie_arr = _u64s(addrs, ctypes.c_ulong), _u64s(cookies)
    o = _libbpf.opts(_libbpf.KprobeMultiOpts, syms=ctypes.cast(sym_arr, ctypes.c_void_p),
                     addrs=ctypes.cast(addr_arr, ctypes.c_void_p),
                     cookies=ctypes.cast(cookie_arr, ctypes.c_void_p),
                     cnt=cnt if pattern is None else 0, retprobe=bool(retprobe))
    what = pattern if pattern is not None else f"{cnt} functions"
    link = prog._attach(_libbpf.lib().bpf_program__attach_kprobe_multi_opts,
                        f"kprobe_multi {what}", pattern.encode() if pattern else None,
                        ctypes.byref(o))
    del keep  # libbpf copied the names
    return link


def ksyscall(prog: "Program", name: str, retprobe: bool = False, cookie: int = 0) -> Link:
    fn = _libbpf.require("bpf_program__attach_ksyscall")
    _need_kprobes()
    o = _libbpf.opts(_libbpf.KsyscallOpts, bpf_cookie=cookie, retprobe=bool(retprobe))
    return prog._attach(fn, f"ksyscall {name}{' (return)' if retprobe else ''}",
                        name.encode(), ctypes.byref(o))


def uprobe_multi(prog: "Program", binary: str, pattern: Optional[str] = None, *,
                 syms: Optional[Sequence[str]] = None, offsets: Optional[Sequence[int]] = None,
                 ref_ctr_offsets: Optional[Sequence[int]] = None,
                 cookies: Optional[Sequence[int]] = None, pid: int = -1,
                 retprobe: bool = False) -> Link:
    fn = _libbpf.require("bpf_program__attach_uprobe_multi")
    if (pattern is None) == (not syms and not offsets):
        raise ValueError("uprobe_multi: give a pattern, or syms/offsets")
    if "BPF_TRACE_UPROBE_MULTI" not in features._enum("bpf_attach_type"):
        raise NotSupportedError("this kernel has no uprobe_multi links (Linux 6.6+)")
    sym_arr, keep = _strings(syms)
    cnt = _count("uprobe_multi", syms, offsets, ref_ctr_offsets, cookies)
    arrays = [_u64s(offsets, ctypes.c_ulong), _u64s(ref_ctr_offsets, ctypes.c_ulong),
              _u64s(cookies)]
    o = _libbpf.opts(_libbpf.UprobeMultiOpts, syms=ctypes.cast(sym_arr, ctypes.c_void_p),
                     offsets=ctypes.cast(arrays[0], ctypes.c_void_p),
                     ref_ctr_offsets=ctypes.cast(arrays[1], ctypes.c_void_p),
                     cookies=ctypes.cast(arrays[2], ctypes.c_void_p),
                     cnt=cnt if pattern is None else 0, retprobe=bool(retprobe))
    what = pattern if pattern is not None else f"{cnt} locations"
    link = prog._attach(fn, f"uprobe_multi {binary}:{what}", int(pid), binary.encode(),
                        pattern.encode() if pattern else None, ctypes.byref(o))
    del keep
    return link


def usdt(prog: "Program", binary: str, provider: str, name: str, pid: int = -1,
         cookie: int = 0) -> Link:
    fn = _libbpf.require("bpf_program__attach_usdt")
    o = _libbpf.opts(_libbpf.UsdtOpts, usdt_cookie=cookie)
    return prog._attach(fn, f"usdt {binary}:{provider}:{name}", int(pid), binary.encode(),
                        provider.encode(), name.encode(), ctypes.byref(o))


def trace(prog: "Program", cookie: int = 0) -> Link:
    o = _libbpf.opts(_libbpf.TraceOpts, cookie=cookie)
    return prog._attach(_libbpf.lib().bpf_program__attach_trace_opts, "trace",
                        ctypes.byref(o))


def lsm(prog: "Program") -> Link:
    return prog._attach(_libbpf.lib().bpf_program__attach_lsm, "lsm")
