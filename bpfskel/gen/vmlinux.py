"""``bpfskel vmlinux``: a ``vmlinux.h`` from kernel BTF, through libbpf's ``btf_dump``.

The text is what ``bpftool btf dump file PATH format c`` writes for the same
BTF: bpftool does exactly this, the same guard and ``preserve_access_index``
pragma around ``btf_dump__dump_type`` for every id.  The type text is the
dumper's of the libbpf loaded, so it differs from a bpftool built on another
libbpf only where the dumpers differ (libbpf 1.1 to 1.4 print a parameterless
prototype as ``()`` where Debian's bpftool 7.1 prints ``(void)``, and keep a
1-byte enum's size with ``__attribute__((mode(byte)))``);
tests/test_vmlinux.py compares the two with exactly those differences.
No bpftool is needed: the dumper is libbpf's, reached through our bindings.

Build time only: the runtime never imports this module.
"""

from __future__ import annotations

import ctypes
import os
from typing import List, Optional

from .. import _libbpf
from ..errors import Error

__all__ = ["DEFAULT_BTF", "VmlinuxError", "dump_c"]

DEFAULT_BTF = "/sys/kernel/btf/vmlinux"

_HEADER = (
    "#ifndef __VMLINUX_H__\n"
    "#define __VMLINUX_H__\n"
    "\n"
    "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n"
    "#pragma clang attribute push (__attribute__((preserve_access_index)), "
    "apply_to = record)\n"
    "#endif\n"
    "\n"
)
_FOOTER = (
    "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n"
    "#pragma clang attribute pop\n"
    "#endif\n"
    "\n"
    "#endif /* __VMLINUX_H__ */\n"
)

class VmlinuxError(Error, OSError):
    """The BTF could not be read or dumped; carries the errno."""


def _parse(path: str, base: Optional[str]) -> tuple[int, int]:
    """``(btf, base_btf)`` pointers; a split BTF (a module's) needs its base."""
    lib = _libbpf.lib()
    base_ptr = 0
    if base:
        base_ptr = _check(lib.btf__parse(base.encode(), None), base)
    ctypes.set_errno(0)
    ptr = lib.btf__parse_split(path.encode(), base_ptr or None) if base_ptr \
        else lib.btf__parse(path.encode(), None)
    if not ptr:
        err = ctypes.get_errno()
        if base_ptr:
            lib.btf__free(base_ptr)
        raise VmlinuxError(err, f"{path}: cannot read BTF: {os.strerror(err)}")
    return ptr, base_ptr


def _check(ptr: Optional[int], path: str) -> int:
    if not ptr:
        err = ctypes.get_errno()
        raise VmlinuxError(err, f"{path}: cannot read BTF: {os.strerror(err)}")
    return ptr


def dump_c(path: str = DEFAULT_BTF, base: Optional[str] = None) -> str:
    """The C header for every type of the BTF in ``path`` (raw BTF or an ELF file)."""
    lib = _libbpf.lib()
    ctypes.set_errno(0)
    btf, base_ptr = _parse(path, base)
    chunks: List[str] = [_HEADER]
    failure: List[BaseException] = []

    def printf(_ctx: Optional[int], fmt: Optional[bytes], args: Optional[int]) -> None:
        try:
            if fmt is not None:
                chunks.append(_libbpf.format_va(fmt, args or 0))
        except BaseException as e:  # a callback from C must never raise
            failure.append(e)

    cb = _libbpf.BTF_DUMP_PRINTF_FN(printf)
    try:
        ctypes.set_errno(0)
        dumper = lib.btf_dump__new(btf, cb, None, None)
        if not dumper:
            err = ctypes.get_errno()
            raise VmlinuxError(err, f"btf_dump__new: {os.strerror(err)}")
        try:
            # a split BTF's ids continue its base's: dump only its own
            first = int(lib.btf__type_cnt(base_ptr)) if base_ptr else 1
            for type_id in range(first, int(lib.btf__type_cnt(btf))):
                ret = lib.btf_dump__dump_type(dumper, type_id)
                if ret < 0:
                    raise VmlinuxError(-ret, f"btf_dump__dump_type({type_id}): "
                                             f"{os.strerror(-ret)}")
        finally:
            lib.btf_dump__free(dumper)
    finally:
        lib.btf__free(btf)
        if base_ptr:
            lib.btf__free(base_ptr)
    if failure:
        raise failure[0]
    chunks.append(_FOOTER)
    return "".join(chunks)
