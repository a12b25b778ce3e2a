"""``bpfskel vmlinux``: libbpf's btf_dump through our bindings, against bpftool.

bpftool is the reference: for the same BTF, the two headers must be the same
text, except where the dumper in the libbpf we load and the one built into
bpftool differ by release (named in :mod:`bpfskel.gen.vmlinux`'s docstring):
``()`` against ``(void)`` for a prototype without parameters, and
``__attribute__((mode(byte)))`` kept on a 1-byte enum.  Only those two
differences are normalised; any other difference fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import bpfcc
from bpfenv import build_obj

KERNEL_BTF = "/sys/kernel/btf/vmlinux"
BPFTOOL = shutil.which("bpftool")
needs_bpftool = pytest.mark.skipif(BPFTOOL is None, reason="bpftool not installed (reference)")
needs_kernel_btf = pytest.mark.skipif(not os.path.exists(KERNEL_BTF),
                                      reason="kernel has no BTF at /sys/kernel/btf/vmlinux")


def normalise(text: str) -> str:
    text = text.replace(" __attribute__((mode(byte)))", "")
    return text.replace("()", "(void)")  # "()" is only ever an empty parameter list


def bpftool_dump(path: str) -> str:
    assert BPFTOOL
    return subprocess.run([BPFTOOL, "btf", "dump", "file", path, "format", "c"],
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("vmlinux") / "vmlinux.h"
    proc = subprocess.run([sys.executable, "-m", "bpfskel", "vmlinux", "-o", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out


@needs_kernel_btf
@needs_bpftool
def test_kernel_header_matches_bpftool(ours: Path) -> None:
    mine, ref = normalise(ours.read_text()), normalise(bpftool_dump(KERNEL_BTF))
    if mine != ref:  # show the first differing line, not two 3 MB strings
        for i, (a, b) in enumerate(zip(mine.splitlines(), ref.splitlines())):
            assert a == b, f"line {i + 1}"
    assert mine == ref


@needs_kernel_btf
@pytest.mark.skipif(bpfcc.missing_reason() is not None, reason=str(bpfcc.missing_reason()))
def test_kernel_header_compiles(ours: Path, tmp_path: Path) -> None:
    src = tmp_path / "p.bpf.c"
    src.write_text('#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n'
                   "SEC(\"tp_btf/sched_switch\") int f(__u64 *ctx) "
                   "{ struct task_struct *t = (void *)ctx[1]; return t->pid > 0; }\n"
                   'char LICENSE[] SEC("license") = "GPL";\n')
    bpfcc.compile_bpf(src, tmp_path / "p.o", [f"-I{ours.parent}"])  # raises with clang's stderr


@needs_bpftool
def test_object_btf_matches_bpftool(tmp_path: Path) -> None:
    from bpfskel.gen.vmlinux import dump_c

    obj = str(build_obj("globals"))  # an ELF file: btf__parse reads its .BTF
    assert normalise(dump_c(obj)) == normalise(bpftool_dump(obj))
    out = tmp_path / "g.h"
    proc = subprocess.run([sys.executable, "-m", "bpfskel", "vmlinux", "--btf", obj,
                           "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0 and out.read_text() == dump_c(obj)


def test_bad_btf_path_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "v.h"
    proc = subprocess.run([sys.executable, "-m", "bpfskel", "vmlinux", "--btf",
                           str(tmp_path / "missing"), "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("bpfskel: error: ") and "missing" in proc.stderr
    assert not out.exists()
