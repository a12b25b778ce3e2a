"""The options structs of bpfskel._attach_abi against the system libbpf
headers (1.1): every field's offset and the struct's size, from gcc.

UprobeMultiOpts and NetfilterOpts exist from libbpf 1.3 on, so the 1.1
headers cannot check them; their behaviour is tested by real attaches under
1.4 (tests/test_attach_kinds.py, tests/test_attach_net.py)."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import pytest

from bpfskel import _attach_abi as abi

pytestmark = pytest.mark.skipif(
    shutil.which("gcc") is None or not Path("/usr/include/bpf/libbpf.h").exists(),
    reason="needs gcc and libbpf-dev's headers")

# ctypes class -> (C type, {our field: C member})
CASES = {
    abi.KprobeOpts: ("struct bpf_kprobe_opts", {}),
    abi.KprobeMultiOpts: ("struct bpf_kprobe_multi_opts", {}),
    abi.KsyscallOpts: ("struct bpf_ksyscall_opts", {}),
    abi.UsdtOpts: ("struct bpf_usdt_opts", {}),
    abi.TraceOpts: ("struct bpf_trace_opts", {}),
    abi.PerfEventOpts: ("struct bpf_perf_event_opts", {}),
    abi.IterAttachOpts: ("struct bpf_iter_attach_opts", {}),
    abi.ProgLoadOpts: ("struct bpf_prog_load_opts", {}),
    abi.LinkCreateOpts: ("struct bpf_link_create_opts", {
        "kprobe_multi_flags": "kprobe_multi.flags", "kprobe_multi_cnt": "kprobe_multi.cnt",
        "kprobe_multi_syms": "kprobe_multi.syms", "kprobe_multi_addrs": "kprobe_multi.addrs",
        "kprobe_multi_cookies": "kprobe_multi.cookies"}),
}


def test_layouts_match_the_headers(tmp_path: Path) -> None:
    lines = []
    for cls, (ctype, renames) in CASES.items():
        lines.append(f'printf("{cls.__name__} size %zu\\n", sizeof({ctype}));')
        for name, _t in cls._fields_:
            member = renames.get(name, name)
            lines.append(f'printf("{cls.__name__} {name} %zu\\n", offsetof({ctype}, {member}));')
    lines.append('printf("IterLinkInfo size %zu\\n", sizeof(union bpf_iter_link_info));')
    src = tmp_path / "abi.c"
    src.write_text("#include <stddef.h>\n#include <stdio.h>\n#include <bpf/libbpf.h>\n"
                   "#include <bpf/bpf.h>\n#include <linux/bpf.h>\nint main(void) {\n"
                   + "\n".join(lines) + "\nreturn 0;\n}\n")
    exe = tmp_path / "abi"
    subprocess.run(["gcc", "-o", str(exe), str(src)], check=True)
    truth = {}
    for line in subprocess.run([str(exe)], capture_output=True, text=True,
                               check=True).stdout.splitlines():
        cls_name, what, value = line.split()
        truth[(cls_name, what)] = int(value)
    ours = {}
    for cls in CASES:
        ours[(cls.__name__, "size")] = ctypes.sizeof(cls)
        for name, _t in cls._fields_:
            ours[(cls.__name__, name)] = getattr(cls, name).offset
    ours[("IterLinkInfo", "size")] = ctypes.sizeof(abi.IterLinkInfo)
    assert ours == truth
