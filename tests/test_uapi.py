"""bpfskel.uapi against the kernel's own numbers.

Ground truth is never our table: enumerators come from the running kernel's
BTF as ``bpftool`` prints it, and macros from the installed UAPI headers as
the C compiler evaluates them.  A constant found in neither fails the test
(a typo in a name is caught, not skipped).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict

import pytest

from bpfskel import uapi

VMLINUX = Path("/sys/kernel/btf/vmlinux")
_HEADERS = ["linux/bpf.h", "linux/perf_event.h", "linux/netlink.h", "linux/rtnetlink.h",
            "linux/pkt_sched.h", "linux/prctl.h", "linux/sched.h"]
# named in uapi.py by what the C macro expression is
_EXPRS = {"TC_H_CLSACT_INGRESS": "TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)",
          "TC_H_CLSACT_EGRESS": "TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS)"}
_PREFIX = {uapi.MapType: "BPF_MAP_TYPE_", uapi.ProgType: "BPF_PROG_TYPE_",
           uapi.AttachType: "BPF_"}


def _kernel_enumerators() -> Dict[str, int]:
    bpftool = shutil.which("bpftool")
    if bpftool is None or not VMLINUX.exists():
        pytest.skip("needs bpftool and /sys/kernel/btf/vmlinux for the kernel's enumerators")
    out = subprocess.run([bpftool, "btf", "dump", "file", str(VMLINUX)], check=True,
                         capture_output=True, text=True).stdout
    return {m[1]: int(m[2]) for m in re.finditer(r"^\s+'(\w+)' val=(-?\d+)$", out, re.M)}


def _header_values(names: Dict[str, str], tmp: Path) -> Dict[str, int]:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("needs a C compiler for the UAPI headers' macros")
    src = tmp / "uapi.c"
    src.write_text("#include <stdio.h>\n" + "".join(f"#include <{h}>\n" for h in _HEADERS)
                   + "int main(void) {\n"
                   + "".join(f'    printf("{n} %lld\\n", (long long)({e}));\n'
                             for n, e in names.items()) + "    return 0;\n}\n")
    subprocess.run([cc, "-o", str(tmp / "uapi"), str(src)], check=True, capture_output=True)
    out = subprocess.run([str(tmp / "uapi")], check=True, capture_output=True, text=True).stdout
    return {n: int(v) for n, v in (line.split() for line in out.splitlines())}


def test_enums_match_the_running_kernel() -> None:
    kernel = _kernel_enumerators()
    for enum_cls, prefix in _PREFIX.items():
        members = {n: v for n, v in vars(enum_cls).items() if n.isupper()}
        assert len(members) > 30
        for short, value in members.items():
            name = prefix + short
            assert name in kernel, f"{name} is not an enumerator of this kernel"
            assert kernel[name] == value, (name, kernel[name], value)
            assert uapi.name_of(enum_cls, value) == short


def test_constants_match_kernel_or_headers(tmp_path: Path) -> None:
    kernel = _kernel_enumerators()
    constants = {n: v for n, v in vars(uapi).items()
                 if n.isupper() and isinstance(v, int) and not n.endswith("_TYPES")}
    assert len(constants) > 30
    from_headers = {n: _EXPRS.get(n, n) for n in constants if n not in kernel}
    headers = _header_values(from_headers, tmp_path) if from_headers else {}
    for name, value in constants.items():
        truth = kernel[name] if name in kernel else headers[name]
        assert truth == value, (name, truth, value)


def test_derived_sets() -> None:
    assert uapi.PERCPU_MAP_TYPES == {uapi.MapType.PERCPU_HASH, uapi.MapType.PERCPU_ARRAY,
                                     uapi.MapType.LRU_PERCPU_HASH}
    assert all(str(uapi.name_of(uapi.MapType, t)).endswith("STORAGE")
               for t in uapi.STORAGE_MAP_TYPES)
    assert uapi.name_of(uapi.MapType, 12345) is None
