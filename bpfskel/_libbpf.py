"""Our ctypes bindings to libbpf.so.1 (the C library's few symbols are in
:mod:`bpfskel._libc`; both load through :mod:`bpfskel._native`, the one module
that calls ``ctypes.CDLL``).

Invariants kept here so that the rest of the package can stay pure Python:

* **Discovery.** ``BPFSKEL_LIBBPF`` (an explicit path, never silently ignored),
  then the soname ``libbpf.so.1``, then ``ctypes.util.find_library("bpf")``
  (imported only when the soname fails: it pulls in ``subprocess``).
  Loading is lazy: importing bpfskel, or running ``bpfskel --help``, never needs
  libbpf; the first call that does raises :class:`LibbpfNotFoundError`.
* **Typed calls.** Every function used has ``argtypes``/``restype`` declared in
  :data:`_SIGNATURES`.  Functions that only newer libbpf releases export are
  marked optional and resolve to ``None`` on older ones.
* **Options structs** are declared with the layout of the *oldest* supported
  libbpf (1.1) and passed with ``sz`` set to that size.  libbpf accepts a struct
  smaller than the one it knows and zero-fills the rest, so the same bytes work
  from 1.1 to current releases; we never pass one larger than 1.1 knows.
* **Errors.** libbpf 1.x returns a negative errno, or NULL with ``errno`` set;
  :func:`check` and :func:`check_ptr` turn both into :class:`LibbpfError`
  subclasses that carry the errno and the lines libbpf logged meanwhile.
* **Logging.** libbpf's print callback is routed to the ``bpfskel.libbpf``
  logger (WARN->WARNING, INFO->INFO, DEBUG->DEBUG); warnings and info lines
  are also captured per thread so that an error can quote them.  That needs
  the callback's ``va_list`` passed on to ``vsnprintf``: on an architecture
  where :mod:`bpfskel.arch` does not know that to be valid, libbpf's own
  printer (stderr) stays in place instead.  ``logging`` is imported when
  libbpf is loaded, not at import (start-up cost).
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from contextlib import contextmanager
from ctypes import (
    CFUNCTYPE,
    POINTER,
    PYFUNCTYPE,
    Structure,
    c_bool,
    c_char_p,
    c_int,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import Any, Callable, Iterator, List, Optional, Tuple

from . import _native, arch
from ._libbpf_file import ENV_VAR as ENV_VAR  # re-exported: where it always was
from ._libbpf_file import SONAME
from ._libc import format_va
from .errors import LOG_TAIL_LINES, Error, LibbpfError, libbpf_error, tail

__all__ = [
    "lib",
    "version",
    "check",
    "check_ptr",
    "capture",
    "LibbpfNotFoundError",
    "ObjectOpenOpts",
    "MapCreateOpts",
    "MapInfo",
    "TestRunOpts",
    "TcHook",
    "TcOpts",
    "ProgInfo",
]

INSTALL_HINT = "install Debian's libbpf1 package (apt-get install libbpf1), or set BPFSKEL_LIBBPF"

log: Any = None  # the bpfskel.libbpf logger, from libbpf's first message (_logger)


class LibbpfNotFoundError(Error, ImportError):
    """libbpf.so.1 could not be loaded."""


# -- options structs (libbpf 1.1 layouts; ``sz`` is always set) -------------


class ObjectOpenOpts(Structure):
    """``struct bpf_object_open_opts`` as libbpf 1.1 declares it."""

    _fields_ = [
        ("sz", c_size_t),
        ("object_name", c_char_p),
        ("relaxed_maps", c_bool),
        ("pin_root_path", c_char_p),
        ("_unused_attach_prog_fd", c_uint32),
        ("kconfig", c_char_p),
        ("btf_custom_path", c_char_p),
        ("kernel_log_buf", c_void_p),
        ("kernel_log_size", c_size_t),
        ("kernel_log_level", c_uint32),
    ]


class MapCreateOpts(Structure):
    """``struct bpf_map_create_opts`` as libbpf 1.1 declares it."""

    _fields_ = [
        ("sz", c_size_t),
        ("btf_fd", c_uint32),
        ("btf_key_type_id", c_uint32),
        ("btf_value_type_id", c_uint32),
        ("btf_vmlinux_value_type_id", c_uint32),
        ("inner_map_fd", c_uint32),
        ("map_flags", c_uint32),
        ("map_extra", c_uint64),
        ("numa_node", c_uint32),
        ("map_ifindex", c_uint32),
    ]


class MapInfo(Structure):
    """The head of ``struct bpf_map_info`` (``BPF_OBJ_GET_INFO_BY_FD``); the
    kernel fills as many bytes as the length passed says."""

    _fields_ = [
        ("type", c_uint32),
        ("id", c_uint32),
        ("key_size", c_uint32),
        ("value_size", c_uint32),
        ("max_entries", c_uint32),
        ("map_flags", c_uint32),
        ("name", ctypes.c_char * 16),
    ]


class TestRunOpts(Structure):
    """``struct bpf_test_run_opts`` as libbpf 1.1 declares it."""

    __test__ = False  # not a pytest test class
    _fields_ = [
        ("sz", c_size_t),
        ("data_in", c_void_p),
        ("data_out", c_void_p),
        ("data_size_in", c_uint32),
        ("data_size_out", c_uint32),
        ("ctx_in", c_void_p),
        ("ctx_out", c_void_p),
        ("ctx_size_in", c_uint32),
        ("ctx_size_out", c_uint32),
        ("retval", c_uint32),
        ("repeat", c_int),
        ("duration", c_uint32),
        ("flags", c_uint32),
        ("cpu", c_uint32),
        ("batch_size", c_uint32),
    ]


class UprobeOpts(Structure):
    """``struct bpf_uprobe_opts`` as libbpf 1.1 declares it."""

    _fields_ = [
        ("sz", c_size_t),
        ("ref_ctr_offset", c_size_t),
        ("bpf_cookie", c_uint64),
        ("retprobe", c_bool),
        ("func_name", c_char_p),
    ]


class TcHook(Structure):
    """``struct bpf_tc_hook`` as libbpf 1.1 declares it (24 bytes, ``size_t :0``)."""

    _fields_ = [
        ("sz", c_size_t),
        ("ifindex", c_int),
        ("attach_point", c_int),  # enum bpf_tc_attach_point
        ("parent", c_uint32),
    ]


class TcOpts(Structure):
    """``struct bpf_tc_opts`` as libbpf 1.1 declares it (32 bytes, ``size_t :0``)."""

    _fields_ = [
        ("sz", c_size_t),
        ("prog_fd", c_int),
        ("flags", c_uint32),
        ("prog_id", c_uint32),
        ("handle", c_uint32),
        ("priority", c_uint32),
    ]


class ProgSkeleton(Structure):
    """``struct bpf_prog_skeleton`` (libbpf.h)."""

    _fields_ = [
        ("name", c_char_p),
        ("prog", POINTER(c_void_p)),  # struct bpf_program **
        ("link", POINTER(c_void_p)),  # struct bpf_link **
    ]


class ObjectSkeleton(Structure):
    """``struct bpf_object_skeleton`` (libbpf.h), as far as attaching uses it."""

    _fields_ = [
        ("sz", c_size_t),
        ("name", c_char_p),
        ("data", c_void_p),
        ("data_sz", c_size_t),
        ("obj", POINTER(c_void_p)),
        ("map_cnt", c_int),
        ("map_skel_sz", c_int),
        ("maps", c_void_p),
        ("prog_cnt", c_int),
        ("prog_skel_sz", c_int),
        ("progs", POINTER(ProgSkeleton)),
    ]


# -- object info and run-time statistics (bpf_obj_get_info_by_fd, BPF_ENABLE_STATS) --


class ProgInfo(Structure):
    """``struct bpf_prog_info`` (linux/bpf.h, 8-byte aligned, 232 bytes).

    Passed whole: a kernel that knows fewer fields checks that the tail it
    does not know is zero, which an input buffer of zeros is.
    ``run_time_ns``/``run_cnt`` advance only while statistics are enabled
    (``kernel.bpf_stats_enabled`` or a ``BPF_ENABLE_STATS`` fd).
    """

    _fields_ = [
        ("type", c_uint32),
        ("id", c_uint32),
        ("tag", ctypes.c_uint8 * 8),
        ("jited_prog_len", c_uint32),
        ("xlated_prog_len", c_uint32),
        ("jited_prog_insns", c_uint64),
        ("xlated_prog_insns", c_uint64),
        ("load_time", c_uint64),
        ("created_by_uid", c_uint32),
        ("nr_map_ids", c_uint32),
        ("map_ids", c_uint64),
        ("name", ctypes.c_char * 16),
        ("ifindex", c_uint32),
        ("gpl_compatible", c_uint32),  # bit 0; 31 bits of padding
        ("netns_dev", c_uint64),
        ("netns_ino", c_uint64),
        ("nr_jited_ksyms", c_uint32),
        ("nr_jited_func_lens", c_uint32),
        ("jited_ksyms", c_uint64),
        ("jited_func_lens", c_uint64),
        ("btf_id", c_uint32),
        ("func_info_rec_size", c_uint32),
        ("func_info", c_uint64),
        ("nr_func_info", c_uint32),
        ("nr_line_info", c_uint32),
        ("line_info", c_uint64),
        ("jited_line_info", c_uint64),
        ("nr_jited_line_info", c_uint32),
        ("line_info_rec_size", c_uint32),
        ("jited_line_info_rec_size", c_uint32),
        ("nr_prog_tags", c_uint32),
        ("prog_tags", c_uint64),
        ("run_time_ns", c_uint64),
        ("run_cnt", c_uint64),
        ("recursion_misses", c_uint64),
        ("verified_insns", c_uint32),
        ("attach_btf_obj_id", c_uint32),
        ("attach_btf_id", c_uint32),
        ("_pad_tail", c_uint32),
    ]




def opts(cls: Any, **values: Any) -> Any:
    """An options struct with ``sz`` set to the size this module declares."""
    o = cls(**values)
    o.sz = ctypes.sizeof(cls)
    return o


# -- signatures ---------------------------------------------------------------

_p = c_void_p  # opaque libbpf pointers: bpf_object*, bpf_map*, bpf_program*, btf*, ...
PRINT_FN = CFUNCTYPE(c_int, c_int, c_char_p, c_void_p)
# ring_buffer_sample_fn: (ctx, data, size).  bpfskel reads ring buffers itself
# (bpfskel.ringbuf); libbpf's C reader is bound for bench/'s comparison with it.
RINGBUF_SAMPLE_FN = CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t)
# btf_dump_printf_fn_t: (ctx, fmt, va_list); the va_list is rendered with libc's
# vsnprintf (:func:`format_va`), as the log callback does.
BTF_DUMP_PRINTF_FN = CFUNCTYPE(None, c_void_p, c_char_p, c_void_p)

# name: (restype, argtypes, first libbpf version exporting it or None for 1.1)
_SIGNATURES: dict[str, Tuple[Any, List[Any], Optional[Tuple[int, int]]]] = {
    "libbpf_major_version": (c_uint32, [], None),
    "libbpf_minor_version": (c_uint32, [], None),
    "libbpf_version_string": (c_char_p, [], None),
    "libbpf_set_print": (c_void_p, [PRINT_FN], None),
    "libbpf_num_possible_cpus": (c_int, [], None),
    # objects
    "bpf_object__open_mem": (_p, [c_void_p, c_size_t, POINTER(ObjectOpenOpts)], None),
    "bpf_object__load": (c_int, [_p], None),
    "bpf_object__close": (None, [_p], None),
    "bpf_object__name": (c_char_p, [_p], None),
    "bpf_object__btf": (_p, [_p], None),
    "bpf_object__next_map": (_p, [_p, _p], None),
    "bpf_object__next_program": (_p, [_p, _p], None),
    # maps
    "bpf_map__name": (c_char_p, [_p], None),
    "bpf_map__fd": (c_int, [_p], None),
    "bpf_map__type": (c_int, [_p], None),
    "bpf_map__key_size": (c_uint32, [_p], None),
    "bpf_map__value_size": (c_uint32, [_p], None),
    "bpf_map__max_entries": (c_uint32, [_p], None),
    "bpf_map__map_flags": (c_uint32, [_p], None),
    "bpf_map__is_internal": (c_bool, [_p], None),
    "bpf_map__btf_key_type_id": (c_uint32, [_p], None),
    "bpf_map__btf_value_type_id": (c_uint32, [_p], None),
    "bpf_map__initial_value": (c_void_p, [_p, POINTER(c_size_t)], None),
    "bpf_map__set_value_size": (c_int, [_p, c_uint32], None),
    "bpf_map__set_max_entries": (c_int, [_p, c_uint32], None),
    "bpf_map__pin": (c_int, [_p, c_char_p], None),
    "bpf_map__pin_path": (c_char_p, [_p], None),
    "bpf_map__set_pin_path": (c_int, [_p, c_char_p], None),
    "bpf_map__unpin": (c_int, [_p, c_char_p], None),
    # programs
    "bpf_program__name": (c_char_p, [_p], None),
    "bpf_program__section_name": (c_char_p, [_p], None),
    "bpf_program__fd": (c_int, [_p], None),
    "bpf_program__type": (c_int, [_p], None),
    "bpf_program__autoload": (c_bool, [_p], None),
    "bpf_program__set_autoload": (c_int, [_p, c_bool], None),
    "bpf_program__autoattach": (c_bool, [_p], (1, 0)),
    "bpf_program__set_autoattach": (None, [_p, c_bool], (1, 0)),
    "bpf_object__attach_skeleton": (c_int, [c_void_p], None),
    "bpf_program__attach": (_p, [_p], None),
    "bpf_program__attach_tracepoint": (_p, [_p, c_char_p, c_char_p], None),
    "bpf_program__attach_raw_tracepoint": (_p, [_p, c_char_p], None),
    "bpf_program__attach_uprobe_opts": (_p, [_p, c_int, c_char_p, c_size_t,
                                             POINTER(UprobeOpts)], None),
    "bpf_program__attach_xdp": (_p, [_p, c_int], None),
    "bpf_program__attach_cgroup": (_p, [_p, c_int], None),
    "bpf_program__attach_tcx": (_p, [_p, c_int, c_void_p], (1, 3)),
    # classic tc (netlink: a clsact qdisc and cls_bpf filters), since libbpf 0.4
    "bpf_tc_hook_create": (c_int, [POINTER(TcHook)], None),
    "bpf_tc_hook_destroy": (c_int, [POINTER(TcHook)], None),
    "bpf_tc_attach": (c_int, [POINTER(TcHook), POINTER(TcOpts)], None),
    "bpf_tc_detach": (c_int, [POINTER(TcHook), POINTER(TcOpts)], None),
    "bpf_tc_query": (c_int, [POINTER(TcHook), POINTER(TcOpts)], None),
    # links
    "bpf_link__destroy": (c_int, [_p], None),
    "bpf_link__fd": (c_int, [_p], None),
    # btf
    "btf__type_cnt": (c_uint32, [_p], None),
    "btf__type_by_id": (c_void_p, [_p, c_uint32], None),
    "btf__name_by_offset": (c_char_p, [_p, c_uint32], None),
    # btf files and the C dumper (``bpfskel vmlinux``, build time only)
    "btf__parse": (_p, [c_char_p, c_void_p], None),
    "btf__parse_split": (_p, [c_char_p, _p], None),
    "btf__free": (None, [_p], None),
    "btf_dump__new": (_p, [_p, BTF_DUMP_PRINTF_FN, c_void_p, c_void_p], None),
    "btf_dump__dump_type": (c_int, [_p, c_uint32], None),
    "btf_dump__free": (None, [_p], None),
    # raw syscall wrappers
    "bpf_map_create": (c_int, [c_int, c_char_p, c_uint32, c_uint32, c_uint32,
                               POINTER(MapCreateOpts)], None),
    "bpf_map_freeze": (c_int, [c_int], None),
    "bpf_map_lookup_elem": (c_int, [c_int, c_void_p, c_void_p], None),
    "bpf_map_update_elem": (c_int, [c_int, c_void_p, c_void_p, c_uint64], None),
    "bpf_map_delete_elem": (c_int, [c_int, c_void_p], None),
    "bpf_map_get_next_key": (c_int, [c_int, c_void_p, c_void_p], None),
    "bpf_map_lookup_and_delete_elem": (c_int, [c_int, c_void_p, c_void_p], None),
    "bpf_map_lookup_batch": (c_int, [c_int, c_void_p, c_void_p, c_void_p, c_void_p,
                                     POINTER(c_uint32), c_void_p], None),
    "bpf_map_lookup_and_delete_batch": (c_int, [c_int, c_void_p, c_void_p, c_void_p,
                                                c_void_p, POINTER(c_uint32), c_void_p], None),
    "bpf_map_update_batch": (c_int, [c_int, c_void_p, c_void_p, POINTER(c_uint32),
                                     c_void_p], None),
    "bpf_map_delete_batch": (c_int, [c_int, c_void_p, POINTER(c_uint32), c_void_p], None),
    "bpf_prog_test_run_opts": (c_int, [c_int, POINTER(TestRunOpts)], None),
    # struct_ops, map-in-map, maps by id (issue 17: bpfskel.structops, bpfskel.mapinmap)
    "bpf_map__attach_struct_ops": (_p, [_p], None),
    "bpf_map__inner_map": (_p, [_p], None),
    "bpf_map__set_inner_map_fd": (c_int, [_p, c_int], None),
    "bpf_map_get_fd_by_id": (c_int, [c_uint32], None),
    "bpf_obj_get_info_by_fd": (c_int, [c_int, c_void_p, POINTER(c_uint32)], None),
    "bpf_obj_pin": (c_int, [c_int, c_char_p], None),
    "bpf_enable_stats": (c_int, [c_int], None),
    # libbpf's ring buffer reader
    "ring_buffer__new": (_p, [c_int, RINGBUF_SAMPLE_FN, c_void_p, c_void_p], None),
    "ring_buffer__consume": (c_int, [_p], None),
    "ring_buffer__free": (None, [_p], None),
}


# -- attach kinds, feature probes, map and program setters --------------------
# Declared in ._attach_abi (options structs and signatures; no native code there).
from ._attach_abi import (  # noqa: E402
    ATTACH_SIGNATURES,
    IterAttachOpts,
    IterLinkInfo,
    KprobeMultiOpts,
    KprobeOpts,
    KsyscallOpts,
    LinkCreateOpts,
    NetfilterOpts,
    PerfEventOpts,
    ProgLoadOpts,
    TraceOpts,
    UprobeMultiOpts,
    UsdtOpts,
)

_SIGNATURES.update(ATTACH_SIGNATURES)
__all__ += ["IterAttachOpts", "IterLinkInfo", "KprobeMultiOpts", "KprobeOpts", "KsyscallOpts",
            "LinkCreateOpts", "NetfilterOpts", "PerfEventOpts", "ProgLoadOpts", "TraceOpts",
            "UprobeMultiOpts", "UsdtOpts"]

# Functions also bound as ``<name>_held``: called with the GIL held
# (``ctypes.PYFUNCTYPE``), without argtypes, and without ctypes' errno swap.
# That saves the GIL's release and reacquisition, the per-argument
# ``from_param`` conversions and two errno copies: about 0.45 us of the 0.85
# us the typed binding adds to a ~1.2 us lookup syscall (``m[k]``'s hot
# path, see bpfskel.maps).  The caller passes what C takes as is: an int fd,
# ``bytes`` (passed as a pointer to their data) and ctypes objects passed by
# reference; the result is the negative errno, as from the typed binding.
# Only for calls that wait for nothing: a map element lookup copies a key in
# and a value out under RCU, takes no lock user space can hold and never
# waits for another task, so other threads are held up for the syscall
# alone.  Everything that may block (``ring_buffer__poll``, epoll, updates of
# map-in-maps, which wait for an RCU grace period) releases the GIL through
# the typed binding.
_GIL_HELD: dict[str, Any] = {"bpf_map_lookup_elem": c_int}


class _Lib:
    """Resolved libbpf functions as attributes; ``None`` where not exported.

    Each function is bound (looked up, typed) on its first use and then kept
    as a plain instance attribute, so later reads never come back here:
    binding all of :data:`_SIGNATURES` up front cost every ``import`` of a
    generated module several ms (start-up), for functions most programs
    never call."""

    path: str
    version: Tuple[int, int]  # (major, minor); read through version()

    def __init__(self, cdll: ctypes.CDLL, path: str) -> None:
        self._cdll = cdll
        self.path = path
        self.version = (int(self.libbpf_major_version()), int(self.libbpf_minor_version()))

    def __getattr__(self, name: str) -> Any:  # only reached for names not bound yet
        if name.endswith("_held") and name[:-5] in _GIL_HELD:
            held = PYFUNCTYPE(_GIL_HELD[name[:-5]])((name[:-5], self._cdll))
            held.argtypes = None  # type: ignore[assignment]  # see _GIL_HELD: the callers pass C-ready arguments
            setattr(self, name, held)
            return held
        try:
            restype, argtypes, _since = _SIGNATURES[name]
        except KeyError:
            raise AttributeError(f"libbpf function {name!r} is not declared in _SIGNATURES"
                                 ) from None
        fn = getattr(self._cdll, name, None)
        if fn is not None:
            fn.restype = restype
            fn.argtypes = argtypes
        setattr(self, name, fn)  # racing threads bind equal functions: either one is kept
        return fn


_lock = threading.Lock()
_lib: Optional[_Lib] = None


def _candidates(explicit: Optional[str]) -> Iterator[str]:
    if explicit:
        yield explicit
        return
    yield SONAME
    import ctypes.util  # runs ldconfig through subprocess: only when the soname failed

    found = ctypes.util.find_library("bpf")
    if found:
        yield found


def _load() -> _Lib:
    explicit = os.environ.get(ENV_VAR)
    errors = []
    for cand in _candidates(explicit):
        try:
            cdll = _native.load(cand, use_errno=True)
        except OSError as e:
            errors.append(f"{cand}: {e}")
            continue
        return _Lib(cdll, cand)
    where = f"{ENV_VAR}={explicit!r} could not be loaded" if explicit else "libbpf.so.1 not found"
    raise LibbpfNotFoundError(f"{where} ({'; '.join(errors)}); {INSTALL_HINT}")


def lib() -> _Lib:
    """The loaded libbpf (loading it, and installing the log hook, on first use)."""
    global _lib
    if _lib is None:
        with _lock:
            if _lib is None:
                loaded = _load()
                if arch.va_list_by_pointer():
                    loaded.libbpf_set_print(_print_cb)
                # else libbpf's own printer stays: its warnings go to stderr, and
                # errors carry the errno without the log (see bpfskel.arch)
                _lib = loaded
    return _lib


# -- the libbpf version: the one way to read it, and the one gate ----------------


def version() -> Tuple[int, int]:
    """``(major, minor)`` of the libbpf the bindings loaded: what every
    version comparison in bpfskel reads."""
    return lib().version


def version_string() -> str:
    """The loaded libbpf's version as it names it, without the ``v``
    (``"1.1"``): what messages and ``bpfskel.libbpf_version()`` show."""
    return (lib().libbpf_version_string() or b"").decode().lstrip("v")


def require_libbpf(needed: Tuple[int, int], feature: str) -> None:
    """Raise NotSupportedError, naming ``feature``, the version it needs and
    the one loaded, unless the running libbpf is at least ``needed``."""
    loaded = lib()
    if loaded.version < needed:
        from .errors import NotSupportedError

        raise NotSupportedError(
            f"{feature} needs libbpf >= {needed[0]}.{needed[1]}; the running libbpf is "
            f"{version_string()} ({loaded.path}): point {ENV_VAR} to a newer libbpf.so.1")


# -- logging ------------------------------------------------------------------

# libbpf_print_level -> logging's level numbers (WARNING, INFO, DEBUG)
_WARNING, _INFO, _DEBUG = 30, 20, 10
_LEVELS = {0: _WARNING, 1: _INFO, 2: _DEBUG}
_tls = threading.local()


def _after_fork_in_child() -> None:
    # Another thread may have held the lock when this process forked (objfile
    # parses in a forked child): the child would wait forever in lib().
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _logger() -> Any:
    """The ``bpfskel.libbpf`` logger, or None while nothing imported ``logging``.

    Until some module imports ``logging`` no handler can exist, and the
    ``NullHandler`` below keeps Python's last-resort handler quiet, so every
    record would be dropped: skipping them then is exact, and spares a
    generated module's start-up the import.
    """
    global log
    if log is None and "logging" in sys.modules:
        import logging

        # an app that configures no logging sees no libbpf lines
        logging.getLogger("bpfskel").addHandler(logging.NullHandler())
        log = logging.getLogger("bpfskel.libbpf")
    return log


def _print(level: int, fmt: Optional[bytes], args: int) -> int:
    try:
        log = _logger()
        pylevel = _LEVELS.get(level, _DEBUG)
        sinks: Optional[List[List[str]]] = getattr(_tls, "sinks", None)
        wanted = bool(sinks) and pylevel >= _INFO
        loglevel = _DEBUG if getattr(_tls, "quiet", 0) else pylevel
        emit = log is not None and log.isEnabledFor(loglevel)
        if fmt is None or not (wanted or emit):
            return 0
        text = format_va(fmt, args)
        if wanted and sinks:
            sinks[-1].append(text)
        if emit:
            log.log(loglevel, "%s", text.rstrip("\n"))
    except BaseException:  # a callback from C must never raise
        pass
    return 0


_print_cb = PRINT_FN(_print)


@contextmanager
def capture(quiet: bool = False) -> Iterator[List[str]]:
    """Collect what libbpf logs (INFO and WARN) in this thread meanwhile.
    ``quiet`` logs those lines at DEBUG only, for a call whose failure is
    expected and handled (``bpf_tc_hook_create``'s EEXIST)."""
    sinks = getattr(_tls, "sinks", None)
    if sinks is None:
        sinks = _tls.sinks = []
    lines: List[str] = []
    sinks.append(lines)
    _tls.quiet = getattr(_tls, "quiet", 0) + quiet
    try:
        yield lines
    finally:
        sinks.pop()
        _tls.quiet -= quiet


def _log_text(lines: Optional[List[str]]) -> str:
    """The whole captured log (the error message quotes only its end)."""
    return tail(lines) if lines else ""


def check(ret: int, operation: str, lines: Optional[List[str]] = None) -> int:
    """Raise the matching :class:`LibbpfError` if ``ret`` is a negative errno."""
    if ret < 0:
        raise libbpf_error(-ret, operation, _log_text(lines))
    return ret


def check_ptr(ptr: Optional[int], operation: str, lines: Optional[List[str]] = None) -> int:
    """Raise the matching :class:`LibbpfError` if ``ptr`` is NULL (errno set)."""
    if not ptr:
        raise libbpf_error(ctypes.get_errno(), operation, _log_text(lines))
    return ptr


def call(fn: Callable[..., Any], operation: str, *args: Any) -> int:
    """Call a libbpf function returning int, capturing its log for the error."""
    with capture() as lines:
        ret = fn(*args)
    return check(ret, operation, lines)


def call_ptr(fn: Callable[..., Any], operation: str, *args: Any) -> int:
    """Call a libbpf function returning a pointer, capturing its log for the error."""
    with capture() as lines:
        ctypes.set_errno(0)
        ptr = fn(*args)
    return check_ptr(ptr, operation, lines)


def cstr(value: Optional[bytes]) -> str:
    return "" if value is None else value.decode(errors="replace")


def object_maps(obj: int) -> Iterator[int]:
    """Every ``struct bpf_map *`` of an opened ``struct bpf_object *``, in
    libbpf's order (``bpf_object__for_each_map``): the one enumeration the
    skeleton, the generator and the arena code share."""
    return _walk(lib().bpf_object__next_map, obj)


def object_programs(obj: int) -> Iterator[int]:
    """Every ``struct bpf_program *`` of an opened object, in libbpf's order
    (``bpf_object__for_each_program``)."""
    return _walk(lib().bpf_object__next_program, obj)


def _walk(next_fn: Callable[[int, Optional[int]], Optional[int]], obj: int) -> Iterator[int]:
    item = next_fn(obj, None)
    while item:
        yield int(item)
        item = next_fn(obj, item)


def require(name: str) -> Callable[..., Any]:
    """A function the running libbpf may lack; raise NotSupportedError if so."""
    from .errors import NotSupportedError

    fn = getattr(lib(), name)
    if fn is None:
        since = _SIGNATURES[name][2]
        if since:
            require_libbpf(since, name)
        raise NotSupportedError(f"{name} is not exported by libbpf {version_string()} "
                                f"({lib().path})")
    return fn  # type: ignore[no-any-return]


__all__ += ["format_va", "BTF_DUMP_PRINTF_FN",
            "call", "call_ptr", "cstr", "object_maps", "object_programs", "require",
            "require_libbpf", "version_string", "opts",
            "LOG_TAIL_LINES",
            "LibbpfError"]
