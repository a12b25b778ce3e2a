"""What errors say: a verifier rejection is a VerifierError (not a
PermissionError), and libbpf's common failure logs become messages a user can
act on.  Each case is a small real BPF object, loaded or attached for real."""

from __future__ import annotations

import errno
import importlib.util
from pathlib import Path
from typing import Any

import pytest

import bpfskel
from bpfskel.gen.generate import generate

from bpfenv import compile_bpf, requires_bpf

pytestmark = [requires_bpf]

HEAD = "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_core_read.h>\n"
TAIL = 'char LICENSE[] SEC("license") = "GPL";\n'


def module(tmp_path: Path, name: str, body: str) -> Any:
    src = tmp_path / f"{name}.bpf.c"
    src.write_text(HEAD + body + TAIL)
    obj = compile_bpf(src, tmp_path / f"{name}.bpf.o")
    path = tmp_path / f"{name}_skel.py"
    path.write_text(generate(obj.read_bytes(), str(obj), name))
    spec = importlib.util.spec_from_file_location(f"{name}_skel", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load_error(mod: Any) -> bpfskel.LibbpfError:
    with mod.open() as skel, pytest.raises(bpfskel.LibbpfError) as ei:
        skel.load()
    return ei.value


def test_missing_kernel_function_is_named(tmp_path: Path) -> None:
    mod = module(tmp_path, "fentry_missing", """
SEC("fentry/bpfskel_no_such_function")
int on_entry(void *ctx) { return 0; }
""")
    e = load_error(mod)
    assert e.errno == errno.ESRCH
    # not "No such process": ESRCH is libbpf's "not found" here
    assert not isinstance(e, ProcessLookupError)
    assert str(e).splitlines()[0] == (
        "loading BPF object 'fentry_missing': kernel function 'bpfskel_no_such_function' "
        "not found in kernel BTF; is it inlined or renamed on this kernel? (ESRCH, errno 3)")


def test_missing_ksym_is_named(tmp_path: Path) -> None:
    mod = module(tmp_path, "ksym_missing", """
extern void bpfskel_no_such_kfunc(void) __ksym;
SEC("tc")
int use_ksym(void *ctx) { bpfskel_no_such_kfunc(); return 0; }
""")
    first = str(load_error(mod)).splitlines()[0]
    assert "kernel symbol 'bpfskel_no_such_kfunc' (a __ksym extern) not found in kernel " \
        "BTF" in first, first


def test_failed_core_relocation_is_a_verifier_error_that_says_so(tmp_path: Path) -> None:
    mod = module(tmp_path, "core_missing", """
struct task_struct___bpfskel { int bpfskel_no_such_field; } __attribute__((preserve_access_index));
int out;
SEC("raw_tp/sys_enter")
int read_field(void *ctx) {
    struct task_struct___bpfskel *t = (void *)bpf_get_current_task();
    out = BPF_CORE_READ(t, bpfskel_no_such_field);
    return 0;
}
""")
    e = load_error(mod)
    assert isinstance(e, bpfskel.VerifierError) and e.program == "read_field"
    assert not isinstance(e, PermissionError)
    first = str(e).splitlines()[0]
    assert "a CO-RE relocation does not match this kernel's types" in first, first
    assert "task_struct___bpfskel.bpfskel_no_such_field" in first, first


def test_missing_tracepoint_is_named_by_attach(tmp_path: Path) -> None:
    mod = module(tmp_path, "tp_missing", """
SEC("tp/bpfskel_none/nothing")
int on_tp(void *ctx) { return 0; }
""")
    with mod.open_and_load() as skel, pytest.raises(FileNotFoundError) as ei:
        skel.attach()
    first = str(ei.value).splitlines()[0]
    assert "program 'on_tp'" in first, first
    assert "tracepoint 'bpfskel_none/nothing' does not exist on this kernel" in first, first


def test_verifier_error_survives_pickling(tmp_path: Path) -> None:
    import pickle

    mod = module(tmp_path, "rejects", """
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1);
         __type(key, __u32); __type(value, __u64); } values SEC(".maps");
SEC("raw_tp/sys_enter")
int deref(void *ctx) { __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&values, &k); return *v; }
""")
    e = load_error(mod)
    assert isinstance(e, bpfskel.VerifierError) and e.program == "deref"
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is bpfskel.VerifierError and str(again) == str(e)
