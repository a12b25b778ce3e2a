"""What the running kernel (and libbpf) can do, asked the way C tools ask it
(``libbpf_probe_bpf_*``, ``trace_helpers.c``), so that a tool picks fentry or
kprobe, tp_btf or raw_tp, a ring buffer or a perf buffer, before it loads.

Every probe is:

* **honest**: it asks the kernel, never a version table.  The program-type,
  map-type and helper probes load a minimal program or create a map through
  libbpf; :func:`fentry_available`, :func:`tp_btf_available` and
  :func:`lsm_available` load a trampoline program *and attach it*, because a
  kernel can verify such a program and still refuse to attach it (EPERM, or an
  LSM list without ``bpf``); :func:`kprobe_available` opens a real kprobe perf
  event;
* **cheap**: a few syscalls, once;
* **cached** for the life of the process (the kernel does not change under
  it); ``cache_clear()`` forgets every answer.

Names are the kernel's, looked up in the running kernel's BTF
(``enum bpf_prog_type``, ``enum bpf_map_type``, ``enum bpf_func_id``), with
or without their prefix and in either case: ``"kprobe"``,
``"BPF_PROG_TYPE_KPROBE"``, ``"ringbuf"``, ``"ringbuf_output"``.  A name the
kernel's enum lacks is a feature the kernel lacks, so the answer is ``False``.
Numbers are accepted too.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
from typing import Callable, Dict, FrozenSet, List, Optional, TypeVar, Union

from . import _libbpf
from . import btf as btf_mod
from .btf import Kind
from .errors import NotSupportedError, SyscallError, libbpf_error

__all__ = [
    "prog_type", "map_type", "helper", "kernel_function", "tracepoint", "btf_type",
    "kprobe_available", "kprobe_multi_available", "fentry_available", "tp_btf_available",
    "lsm_available", "usdt_available", "uprobe_multi_available", "ringbuf_available",
    "cache_clear", "enum_value",
]

# r0 = 0; exit
_RET0 = bytes([0xB7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0])

_F = TypeVar("_F", bound=Callable[..., object])
_cached: List[Callable[..., object]] = []


def _cache(fn: _F) -> _F:
    wrapped = functools.lru_cache(maxsize=None)(fn)
    _cached.append(wrapped)
    return wrapped  # type: ignore[return-value]


def cache_clear() -> None:
    """Forget every cached answer (for tests, or after loading a module)."""
    for fn in _cached:
        fn.cache_clear()  # type: ignore[attr-defined]


def _tracefs() -> Optional[str]:
    for path in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
        if os.path.isdir(os.path.join(path, "events")):
            return path
    return None



# -- kernel BTF ----------------------------------------------------------------------


@_cache
def _vmlinux() -> Optional[int]:
    """libbpf's parse of the kernel's BTF, kept for the life of the process."""
    with _libbpf.capture(quiet=True):
        ctypes.set_errno(0)
        ptr = _libbpf.lib().btf__load_vmlinux_btf()
    return int(ptr) if ptr else None


_KINDS = {name: kind for kind, name in Kind.NAMES.items()}


@_cache
def btf_type(name: str, kind: Optional[str] = None) -> bool:
    """Whether the kernel's BTF has a type ``name`` (of ``kind``: ``"struct"``,
    ``"union"``, ``"enum"``, ``"typedef"``, ``"func"``, ...; any kind when None).
    What CO-RE code checks with ``bpf_core_type_exists``, asked before load.
    ``False`` without kernel BTF."""
    if kind is not None and kind not in _KINDS:
        raise ValueError(f"unknown BTF kind {kind!r} (one of {', '.join(list(_KINDS)[1:])})")
    ptr = _vmlinux()
    if ptr is None:
        return False
    lib = _libbpf.lib()
    kinds = [_KINDS[kind]] if kind is not None else list(_KINDS.values())[1:]
    return any(lib.btf__find_by_name_kind(ptr, name.encode(), k) > 0 for k in kinds)


@_cache
def _enum(enum_name: str) -> Dict[str, int]:
    ptr = _vmlinux()
    if ptr is None:
        return {}
    tid = _libbpf.lib().btf__find_by_name_kind(ptr, enum_name.encode(), Kind.ENUM)
    if tid <= 0:
        return {}
    return {e.name: e.value for e in btf_mod.TypeReader(ptr).read(tid).enumerators}


def enum_values(enum_name: str) -> Dict[str, int]:
    """The running kernel's ``enum enum_name`` as {name: value} (kernel BTF),
    empty when the kernel has no such enum or no BTF.  For kernel facts that
    move between versions (``req_flag_bits``, ...)."""
    return dict(_enum(enum_name))


_PREFIX = {"bpf_prog_type": "BPF_PROG_TYPE_", "bpf_map_type": "BPF_MAP_TYPE_",
           "bpf_func_id": "BPF_FUNC_", "bpf_attach_type": "BPF_"}


def enum_value(enum_name: str, value: Union[int, str]) -> Optional[int]:
    """``value`` of the kernel's ``enum_name`` (``bpf_prog_type``, ...): an int
    as is, a name with or without its prefix; ``None`` when the running
    kernel's enum has no such name.  Without kernel BTF a name raises
    ``ValueError``: pass the number."""
    if isinstance(value, int):
        return value
    prefix = _PREFIX[enum_name]
    bare = value
    for p in (prefix, "BPF_"):
        if bare.upper().startswith(p):
            bare = bare[len(p):]
            break
    names = _enum(enum_name)
    if not names:
        raise ValueError(f"no kernel BTF to look {value!r} up in enum {enum_name}: "
                         f"pass the number")
    # helper ids are spelt BPF_FUNC_ringbuf_output; the other enums are upper case
    return names.get(prefix + (bare.lower() if enum_name == "bpf_func_id" else bare.upper()))


# -- libbpf_probe_bpf_* ----------------------------------------------------------------


def _probe_result(ret: int, what: str) -> bool:
    if ret == 1:
        return True
    if ret == 0:
        return False
    if -ret == errno.EOPNOTSUPP:
        raise NotSupportedError(f"libbpf {_libbpf.version_string()} cannot probe {what}")
    raise libbpf_error(-ret, f"probing {what}")


@_cache
def prog_type(type: Union[int, str]) -> bool:
    """Whether the kernel loads programs of this type (``libbpf_probe_bpf_prog_type``)."""
    value = enum_value("bpf_prog_type", type)
    if value is None:
        return False
    return _probe_result(_libbpf.lib().libbpf_probe_bpf_prog_type(value, None),
                         f"program type {type!r}")


@_cache
def map_type(type: Union[int, str]) -> bool:
    """Whether the kernel creates maps of this type (``libbpf_probe_bpf_map_type``)."""
    value = enum_value("bpf_map_type", type)
    if value is None:
        return False
    return _probe_result(_libbpf.lib().libbpf_probe_bpf_map_type(value, None),
                         f"map type {type!r}")


# What the verifier says of a helper the program type may not call: "invalid
# func" (unknown id), "unknown func" (before 6.x), and the newer wording that
# libbpf 1.1 to 1.4 do not recognise (they would answer True).
_HELPER_REFUSALS = (b"invalid func ", b"unknown func ", b"program of this type cannot use helper ")


def _verifier_refuses_helper(ptype: int, hid: int) -> bool:
    """Load ``call hid; r0 = 0; exit`` and read the verifier's verdict.  A load
    that fails for another reason (arguments, a type that needs an attach
    target) says nothing about the helper: ``False``."""
    insns = bytes([0x85, 0, 0, 0]) + hid.to_bytes(4, "little") + _RET0
    buf = ctypes.create_string_buffer(insns, len(insns))
    log = ctypes.create_string_buffer(4096)
    opts = _libbpf.opts(_libbpf.ProgLoadOpts, log_level=1, log_size=len(log),
                        log_buf=ctypes.addressof(log))
    with _libbpf.capture(quiet=True):
        fd = _libbpf.lib().bpf_prog_load(ptype, b"bpfskel_probe", b"GPL", buf, 3,
                                         ctypes.byref(opts))
    if fd >= 0:
        os.close(fd)
        return False
    return any(msg in log.value for msg in _HELPER_REFUSALS)


@_cache
def helper(prog_type: Union[int, str], helper: Union[int, str]) -> bool:
    """Whether programs of ``prog_type`` may call ``helper`` (``"ringbuf_output"``,
    ``"bpf_ringbuf_output"`` or its number): ``libbpf_probe_bpf_helper``,
    checked against the verifier's own wording, which libbpf before 1.5 misses
    on recent kernels."""
    ptype = enum_value("bpf_prog_type", prog_type)
    hid = enum_value("bpf_func_id", helper)
    if ptype is None or hid is None:
        return False
    ok = _probe_result(_libbpf.lib().libbpf_probe_bpf_helper(ptype, hid, None),
                       f"helper {helper!r} in program type {prog_type!r}")
    return ok and not _verifier_refuses_helper(ptype, hid)


def ringbuf_available() -> bool:
    """``BPF_MAP_TYPE_RINGBUF`` (Linux 5.8): the test for the C tools' ring
    buffer -> perf buffer fallback."""
    return map_type("ringbuf")


# -- kernel functions and tracepoints ---------------------------------------------------


@_cache
def _filter_functions() -> FrozenSet[str]:
    base = _tracefs()
    if base is None:
        return frozenset()
    try:
        with open(os.path.join(base, "available_filter_functions")) as f:
            return frozenset(line.split()[0] for line in f if line.strip())
    except OSError:
        return frozenset()


@_cache
def kernel_function(name: str) -> bool:
    """Whether the kernel has a function ``name`` that BPF can hook: in the
    kernel's BTF (fentry/fexit targets) or in ftrace's
    ``available_filter_functions`` (kprobe targets, module functions)."""
    return btf_type(name, "func") or name in _filter_functions()


@_cache
def tracepoint(category: str, name: str) -> bool:
    """Whether tracefs lists the tracepoint ``category/name``."""
    base = _tracefs()
    return base is not None and os.path.isdir(os.path.join(base, "events", category, name))


# -- kprobes and uprobes ----------------------------------------------------------------


def _pmu_type(pmu: str) -> Optional[int]:
    try:
        with open(f"/sys/bus/event_source/devices/{pmu}/type") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


@_cache
def kprobe_available() -> bool:
    """Whether a kprobe can be created: opens (and closes) a real kprobe perf
    event on ``vfs_read`` through the kprobe PMU, as libbpf does; on kernels
    without that PMU, whether tracefs offers ``kprobe_events`` (libbpf's
    legacy path)."""
    from .perf_event import perf_event_open

    pmu = _pmu_type("kprobe")
    if pmu is None:
        base = _tracefs()
        return base is not None and os.path.exists(os.path.join(base, "kprobe_events"))
    target = ctypes.create_string_buffer(b"vfs_read")
    try:
        fd = perf_event_open(pmu, 0, pid=-1, cpu=0, config1=ctypes.addressof(target))
    except SyscallError:
        return False
    os.close(fd)
    return True


def _load_ret0(ptype: int, **opts: int) -> int:
    """A ``r0 = 0; exit`` program of ``ptype``: its fd, or -1."""
    o = _libbpf.opts(_libbpf.ProgLoadOpts, **opts)
    insns = ctypes.create_string_buffer(_RET0, len(_RET0))
    with _libbpf.capture(quiet=True):
        fd = _libbpf.lib().bpf_prog_load(ptype, b"bpfskel_probe", b"GPL", insns, 2,
                                         ctypes.byref(o))
    return int(fd) if fd >= 0 else -1


def _attaches(fd: int, attach: Callable[[int], int]) -> bool:
    """Whether ``attach(prog_fd)`` returns a link fd; closes the link and ``fd``."""
    if fd < 0:
        return False
    try:
        with _libbpf.capture(quiet=True):
            link = attach(fd)
        if link < 0:
            return False
        os.close(link)
        return True
    finally:
        os.close(fd)


@_cache
def kprobe_multi_available() -> bool:
    """Whether kprobe_multi links attach (fprobe: Linux 5.18 with
    ``CONFIG_FPROBE``, which some distribution kernels leave off): creates one
    on ``vfs_read`` and closes it."""
    atype = _enum("bpf_attach_type").get("BPF_TRACE_KPROBE_MULTI")
    ptype = _enum("bpf_prog_type").get("BPF_PROG_TYPE_KPROBE")
    if atype is None or ptype is None:
        return False
    name = ctypes.create_string_buffer(b"vfs_read")
    syms = (ctypes.c_void_p * 1)(ctypes.addressof(name))
    o = _libbpf.opts(_libbpf.LinkCreateOpts, kprobe_multi_cnt=1,
                     kprobe_multi_syms=ctypes.addressof(syms))
    return _attaches(_load_ret0(ptype, expected_attach_type=atype),
                     lambda fd: int(_libbpf.lib().bpf_link_create(fd, 0, atype, ctypes.byref(o))))


@_cache
def usdt_available() -> bool:
    """Whether USDT probes can be attached: libbpf has ``attach_usdt`` (1.0+)
    and the kernel has uprobes (the uprobe PMU, or tracefs ``uprobe_events``)."""
    if _libbpf.lib().bpf_program__attach_usdt is None:
        return False
    if _pmu_type("uprobe") is not None:
        return True
    base = _tracefs()
    return base is not None and os.path.exists(os.path.join(base, "uprobe_events"))


@_cache
def uprobe_multi_available() -> bool:
    """Whether ``attach_uprobe_multi`` works: libbpf >= 1.3 and a kernel that
    knows ``BPF_TRACE_UPROBE_MULTI`` (6.6)."""
    if _libbpf.lib().bpf_program__attach_uprobe_multi is None:
        return False
    return "BPF_TRACE_UPROBE_MULTI" in _enum("bpf_attach_type")


# -- trampolines: load and attach a minimal program ----------------------------------

def _trampoline(prog_type_name: str, attach_type_name: str, targets: List[str]) -> bool:
    ptype = _enum("bpf_prog_type").get("BPF_PROG_TYPE_" + prog_type_name.upper())
    atype = _enum("bpf_attach_type").get("BPF_" + attach_type_name.upper())
    if ptype is None or atype is None:
        return False
    lib = _libbpf.lib()
    btf_id = -1
    for target in targets:
        with _libbpf.capture(quiet=True):
            btf_id = lib.libbpf_find_vmlinux_btf_id(target.encode(), atype)
        if btf_id > 0:
            break
    if btf_id <= 0:
        return False
    return _attaches(_load_ret0(ptype, expected_attach_type=atype, attach_btf_id=btf_id),
                     lambda fd: int(lib.bpf_raw_tracepoint_open(None, fd)))


@_cache
def fentry_available() -> bool:
    """Whether fentry/fexit programs load *and attach* (BPF trampolines: JIT,
    kernel BTF, and no refusal such as the EPERM some kernels give)."""
    return _trampoline("tracing", "trace_fentry", ["vfs_read", "do_nanosleep"])


@_cache
def tp_btf_available() -> bool:
    """Whether ``SEC("tp_btf/...")`` programs load and attach (else use raw_tp)."""
    return _trampoline("tracing", "trace_raw_tp", ["sched_switch", "sys_enter"])


@_cache
def lsm_available() -> bool:
    """Whether ``SEC("lsm/...")`` programs load and attach (``CONFIG_BPF_LSM``
    and ``bpf`` in the kernel's ``lsm=`` list)."""
    return _trampoline("lsm", "lsm_mac", ["file_open", "bpf"])
