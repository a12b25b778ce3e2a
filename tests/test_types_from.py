"""``--types-from``: classes for header types the object's BTF does not carry.

The event struct below is only used as ``sizeof(*e)`` behind
``bpf_ringbuf_reserve``, so clang emits no BTF for it: without
``--types-from`` the module has no class for it.  With it, the class's layout
must be gcc's (ground truth from a host compile of the same header), and the
module's import-time check must cover it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, List

import pytest

import bpfcc
import groundtruth
from bpfenv import bpf_unavailable_reason, needs_tracefs

pytestmark = pytest.mark.skipif(bpfcc.missing_reason() is not None,
                                reason=str(bpfcc.missing_reason()))

HEADER = r"""
#ifndef EVENTS_H
#define EVENTS_H
#include <linux/types.h>
enum ev_kind { EV_ENTER = 1, EV_EXIT = 7 };
struct event {
	__u32 tgid;
	__u64 ts;
	char comm[16];
	union { __u32 u32v; __u8 bytes[3]; } payload;
	__u8 flag : 3, more : 5;
	enum ev_kind kind;
};
typedef struct { __u16 a; __u64 b; } pair_t;
#endif
"""

PROG = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "events.h"

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 12); } events SEC(".maps");

SEC("tp/syscalls/sys_enter_getpid")
int on_getpid(void *ctx)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	e->tgid = bpf_get_current_pid_tgid() >> 32;
	e->kind = EV_EXIT;
	e->more = 17;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture
def src(tmp_path: Path) -> Path:
    (tmp_path / "events.h").write_text(HEADER)
    (tmp_path / "prog.bpf.c").write_text(PROG)
    return tmp_path


def bpfskel(*args: Any, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, BPFSKEL_CACHE_DIR=str(cwd / "cache"))
    env.pop("BPFSKEL_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "bpfskel", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"tf_{abs(hash(path))}", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def compile_obj(src: Path) -> Path:
    return bpfcc.compile_bpf(src / "prog.bpf.c", src / "prog.bpf.o")


def test_without_types_from_there_is_no_class(src: Path) -> None:
    obj = compile_obj(src)
    proc = bpfskel("gen", obj, "-o", src / "plain.py", cwd=src)
    assert proc.returncode == 0, proc.stderr
    assert not hasattr(load(src / "plain.py").types, "event")  # the reason for the feature


@pytest.mark.skipif(not groundtruth.have_gcc(), reason="gcc not found (layout ground truth)")
@pytest.mark.parametrize("how", ["gen", "build"])
def test_layout_is_the_compilers(src: Path, how: str) -> None:
    out = src / "mod.py"
    if how == "gen":
        proc = bpfskel("gen", compile_obj(src), "--types-from", src / "events.h", "-o", out,
                       cwd=src)
    else:
        proc = bpfskel("build", "prog.bpf.c", "--types-from", "events.h", "-o", out, cwd=src)
    assert proc.returncode == 0, proc.stderr
    mod = load(out)
    ev, pair = mod.types.event, mod.types.pair_t
    fields: List[str] = ["tgid", "ts", "comm", "payload", "kind"]
    truth = groundtruth.gcc_layout(src / "events.h", [("struct event", "")] +
                                   [("struct event", f) for f in fields] +
                                   [("pair_t", ""), ("pair_t", "b")])
    import ctypes

    assert truth[0][1] == ctypes.sizeof(ev)
    for f, (off, _size) in zip(fields, truth[1:]):
        assert getattr(ev, f).offset == off, f
    assert truth[-2][1] == ctypes.sizeof(pair) and pair.b.offset == truth[-1][0]
    assert mod.types.ev_kind.EV_EXIT == 7
    # the import-time check covers the header's classes too
    text = out.read_text()
    row = f"(types.event, {ctypes.sizeof(ev)}, "
    assert row in text and f"(types.pair_t, {ctypes.sizeof(pair)}, " in text
    broken = out.with_name("broken.py")  # a recorded size that no longer matches
    broken.write_text(text.replace(row, f"(types.event, {ctypes.sizeof(ev) + 8}, "))
    with pytest.raises(Exception, match="event"):
        load(broken)


def test_named_types_only(src: Path) -> None:
    proc = bpfskel("gen", compile_obj(src), "--types-from", src / "events.h", "--type", "pair_t",
                   "-o", src / "m.py", cwd=src)
    assert proc.returncode == 0, proc.stderr
    mod = load(src / "m.py")
    assert hasattr(mod.types, "pair_t") and not hasattr(mod.types, "event")


def test_unknown_type_is_one_line(src: Path) -> None:
    proc = bpfskel("gen", compile_obj(src), "--types-from", src / "events.h", "--type", "nope",
                   "-o", src / "m.py", cwd=src)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "nope" in proc.stderr and not (src / "m.py").exists()


def test_header_that_disagrees_with_the_object(src: Path) -> None:
    obj = compile_obj(src)
    (src / "other.h").write_text(HEADER.replace("__u64 ts;", "__u32 ts;").replace(
        "struct event {", "struct event { __u64 extra[4];"))
    # the object carries struct event only if it is used by value: make it so
    (src / "prog.bpf.c").write_text(PROG + "struct event last_event;\n")
    obj = compile_obj(src)
    proc = bpfskel("gen", obj, "--types-from", src / "other.h", "-o", src / "m.py", cwd=src)
    assert proc.returncode == 2 and "different sources" in proc.stderr, proc.stderr


@needs_tracefs
def test_events_decode_with_the_header_class(src: Path) -> None:
    out = src / "mod.py"
    proc = bpfskel("build", "prog.bpf.c", "--types-from", "events.h", "-o", out, cwd=src)
    assert proc.returncode == 0, proc.stderr
    mod = load(out)
    reason = bpf_unavailable_reason()
    if reason:
        pytest.skip(reason)
    got: List[Any] = []
    with mod.open_and_load() as skel:
        skel.attach()
        with skel.maps.events.ring_buffer(got.append, mod.types.event) as rb:
            os.getpid()
            rb.poll(timeout_ms=200)
    mine = [e for e in got if e.tgid == os.getpid()]
    assert mine and mine[0].kind == mod.types.ev_kind.EV_EXIT and mine[0].more == 17
