"""The libbpf ABI of the attach kinds, feature probes and setters: options
structs and function signatures, merged into :mod:`bpfskel._libbpf`'s table
(which alone loads native code).

Structs have their libbpf 1.1 layout, except those of functions only newer
libbpf exports (the layout of the first release that has them), and are passed
with ``sz`` set to that size, as everywhere in ``_libbpf``.
"""

from __future__ import annotations

from ctypes import (
    POINTER,
    Structure,
    c_bool,
    c_char_p,
    c_int,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import Any, Dict, List, Optional, Tuple

_p = c_void_p  # opaque libbpf pointers

class KprobeOpts(Structure):
    """``struct bpf_kprobe_opts`` (libbpf 1.1)."""

    _fields_ = [("sz", c_size_t), ("bpf_cookie", c_uint64), ("offset", c_size_t),
                ("retprobe", c_bool)]


class KprobeMultiOpts(Structure):
    """``struct bpf_kprobe_multi_opts`` (libbpf 1.1)."""

    _fields_ = [("sz", c_size_t), ("syms", c_void_p), ("addrs", c_void_p),
                ("cookies", c_void_p), ("cnt", c_size_t), ("retprobe", c_bool)]


class KsyscallOpts(Structure):
    """``struct bpf_ksyscall_opts`` (libbpf 1.1)."""

    _fields_ = [("sz", c_size_t), ("bpf_cookie", c_uint64), ("retprobe", c_bool)]


class UprobeMultiOpts(Structure):
    """``struct bpf_uprobe_multi_opts`` (libbpf 1.3)."""

    _fields_ = [("sz", c_size_t), ("syms", c_void_p), ("offsets", c_void_p),
                ("ref_ctr_offsets", c_void_p), ("cookies", c_void_p), ("cnt", c_size_t),
                ("retprobe", c_bool)]


class UsdtOpts(Structure):
    """``struct bpf_usdt_opts`` (libbpf 1.1)."""

    _fields_ = [("sz", c_size_t), ("usdt_cookie", c_uint64)]


class TraceOpts(Structure):
    """``struct bpf_trace_opts`` (libbpf 1.1)."""

    _fields_ = [("sz", c_size_t), ("cookie", c_uint64)]


class PerfEventOpts(Structure):
    """``struct bpf_perf_event_opts`` (libbpf 1.1)."""

    _fields_ = [("sz", c_size_t), ("bpf_cookie", c_uint64)]


class IterLinkInfo(Structure):
    """``union bpf_iter_link_info`` as bytes: map_fd, cgroup (order, fd, id)
    and task (tid, pid, pid_fd) all start at offset 0 (16 bytes)."""

    _fields_ = [("u32", c_uint32 * 2), ("u64", c_uint64)]


class IterAttachOpts(Structure):
    """``struct bpf_iter_attach_opts`` (libbpf 1.1)."""

    _fields_ = [("sz", c_size_t), ("link_info", POINTER(IterLinkInfo)),
                ("link_info_len", c_uint32)]


class NetfilterOpts(Structure):
    """``struct bpf_netfilter_opts`` (libbpf 1.3)."""

    _fields_ = [("sz", c_size_t), ("pf", c_uint32), ("hooknum", c_uint32),
                ("priority", c_int), ("flags", c_uint32)]


class ProgLoadOpts(Structure):
    """``struct bpf_prog_load_opts`` (libbpf 1.1), for the feature probes."""

    _fields_ = [("sz", c_size_t), ("attempts", c_int), ("expected_attach_type", c_int),
                ("prog_btf_fd", c_uint32), ("prog_flags", c_uint32),
                ("prog_ifindex", c_uint32), ("kern_version", c_uint32),
                ("attach_btf_id", c_uint32), ("attach_prog_fd", c_uint32),
                ("attach_btf_obj_fd", c_uint32), ("fd_array", c_void_p),
                ("func_info", c_void_p), ("func_info_cnt", c_uint32),
                ("func_info_rec_size", c_uint32), ("line_info", c_void_p),
                ("line_info_cnt", c_uint32), ("line_info_rec_size", c_uint32),
                ("log_level", c_uint32), ("log_size", c_uint32), ("log_buf", c_void_p)]


class LinkCreateOpts(Structure):
    """``struct bpf_link_create_opts`` (libbpf 1.1), its kprobe_multi arm only."""

    _fields_ = [("sz", c_size_t), ("flags", c_uint32), ("iter_info", c_void_p),
                ("iter_info_len", c_uint32), ("target_btf_id", c_uint32),
                ("kprobe_multi_flags", c_uint32), ("kprobe_multi_cnt", c_uint32),
                ("kprobe_multi_syms", c_void_p), ("kprobe_multi_addrs", c_void_p),
                ("kprobe_multi_cookies", c_void_p)]


ATTACH_SIGNATURES: Dict[str, Tuple[Any, List[Any], Optional[Tuple[int, int]]]] = {
    # probes of what the kernel supports (libbpf 0.7)
    "libbpf_probe_bpf_prog_type": (c_int, [c_int, c_void_p], None),
    "libbpf_probe_bpf_map_type": (c_int, [c_int, c_void_p], None),
    "libbpf_probe_bpf_helper": (c_int, [c_int, c_int, c_void_p], None),
    "libbpf_find_vmlinux_btf_id": (c_int, [c_char_p, c_int], None),
    "btf__load_vmlinux_btf": (_p, [], None),
    "btf__find_by_name_kind": (c_int, [_p, c_char_p, c_uint32], None),
    "bpf_prog_load": (c_int, [c_int, c_char_p, c_char_p, c_void_p, c_size_t,
                              POINTER(ProgLoadOpts)], None),
    "bpf_raw_tracepoint_open": (c_int, [c_char_p, c_int], None),
    "bpf_link_create": (c_int, [c_int, c_int, c_int, POINTER(LinkCreateOpts)], None),
    "bpf_prog_attach": (c_int, [c_int, c_int, c_int, c_uint32], None),
    "bpf_prog_detach2": (c_int, [c_int, c_int, c_int], None),
    # program setters, before load
    "bpf_program__set_type": (c_int, [_p, c_int], None),
    "bpf_program__expected_attach_type": (c_int, [_p], None),
    "bpf_program__set_expected_attach_type": (c_int, [_p, c_int], None),
    "bpf_program__set_attach_target": (c_int, [_p, c_int, c_char_p], None),
    # map setters, before load
    "bpf_map__set_type": (c_int, [_p, c_int], None),
    "bpf_map__set_key_size": (c_int, [_p, c_uint32], None),
    "bpf_map__autocreate": (c_bool, [_p], None),
    "bpf_map__set_autocreate": (c_int, [_p, c_bool], None),
    "bpf_map__set_pin_path": (c_int, [_p, c_char_p], None),
    "bpf_map__pin_path": (c_char_p, [_p], None),
    "bpf_map__reuse_fd": (c_int, [_p, c_int], None),
    "bpf_map__set_inner_map_fd": (c_int, [_p, c_int], None),
    # attach kinds
    "bpf_program__attach_kprobe_opts": (_p, [_p, c_char_p, POINTER(KprobeOpts)], None),
    "bpf_program__attach_kprobe_multi_opts": (_p, [_p, c_char_p, POINTER(KprobeMultiOpts)],
                                              None),
    "bpf_program__attach_ksyscall": (_p, [_p, c_char_p, POINTER(KsyscallOpts)], None),
    "bpf_program__attach_uprobe_multi": (_p, [_p, c_int, c_char_p, c_char_p,
                                              POINTER(UprobeMultiOpts)], (1, 3)),
    "bpf_program__attach_usdt": (_p, [_p, c_int, c_char_p, c_char_p, c_char_p,
                                      POINTER(UsdtOpts)], None),
    "bpf_program__attach_trace_opts": (_p, [_p, POINTER(TraceOpts)], None),
    "bpf_program__attach_lsm": (_p, [_p], None),
    "bpf_program__attach_iter": (_p, [_p, POINTER(IterAttachOpts)], None),
    "bpf_iter_create": (c_int, [c_int], None),
    "bpf_program__attach_perf_event_opts": (_p, [_p, c_int, POINTER(PerfEventOpts)], None),
    "bpf_program__attach_netns": (_p, [_p, c_int], None),
    "bpf_program__attach_freplace": (_p, [_p, c_int, c_char_p], None),
    "bpf_program__attach_netfilter": (_p, [_p, POINTER(NetfilterOpts)], (1, 3)),
}
