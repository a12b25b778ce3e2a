""".rodata and .kconfig are read-only after load, at every depth.

Every write is attempted in a separate interpreter (``skelenv.run_isolated``),
so a write that faulted would fail these tests instead of killing pytest.  One
run makes all the attempts in order and reports each outcome; the tests below
check them one by one.  Source: bpf/globals.bpf.c.
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any, Dict

import pytest

import bpfskel
from bpfskel.gen.generate import generate

from bpfenv import compile_bpf, generated_module, requires_bpf
from skelenv import run_isolated

pytestmark = requires_bpf

# Run with r = skel.rodata and k = skel.kconfig after load, T = the module's types.
WRITES = {
    "a field": "r.limit = 1",
    "a scalar in a struct": "r.cfg.threshold = 1",
    "a nested struct's field": "r.cfg.origin.x = 1",
    "two levels down": "r.cfg.nest.inner.y = 1",
    "an array element": "r.cfg.ports[0] = 1",
    "a negative index": "r.cfg.ports[-1] = 1",
    "a slice": "r.cfg.ports[0:2] = [1, 2]",
    "a field of an array-of-structs element": "r.cfg.corners[1].x = 1",
    "an array-of-structs element": "r.cfg.corners[0] = T.point(1, 2)",
    "a bitfield": "r.cfg.mode.level = 1",
    "a signed bitfield": "r.cfg.mode.bias = 1",
    "char[N] bytes": "r.cfg.tag = b'x'",
    "a nested struct": "r.cfg.origin = T.point(1, 2)",
    "a whole struct": "r.cfg = T.config()",
    "setattr()": "setattr(r.cfg.nest, 'depth', 1)",
    "through ctypes.pointer": "ctypes.pointer(r).contents.limit = 1",
    "through a pointer to a member": "ctypes.pointer(r.cfg.origin)[0].y = 1",
    "through a pointer's index": "ctypes.pointer(r.cfg.corners[1])[0].y = 1",
    "a .kconfig int": "k.CONFIG_HZ = 1",
    "a .kconfig unsigned": "k.LINUX_KERNEL_VERSION = 1",
    "a .kconfig char[N]": "k.CONFIG_BPFSKEL_TAG = b'x'",
}

# Sub-objects taken before load (``cap``), written after it.
CAPTURED = {
    "a captured struct": "cap['cfg'].threshold = 1",
    "a captured nested struct": "cap['origin'].x = 1",
    "a captured struct two levels down": "cap['inner'].y = 1",
    "a captured array": "cap['ports'][2] = 1",
    "a captured array-of-structs element": "cap['corner'].x = 1",
    "captured bitfields": "cap['mode'].level = 1",
}

# Writes through raw memory, which no Python class sees.  CPython gives them no
# hook to refuse; they must not crash, and must not reach the kernel's map.
RAW = {
    "memmove(view)": "ctypes.memmove(r, b'\\xff' * 8, 8)",
    "memmove into an array": "ctypes.memmove(r.cfg.ports, b'\\xff' * 8, 8)",
    "from_buffer": "ctypes.c_uint64.from_buffer(r, 72).value = 1",
    "memoryview": "memoryview(r).cast('B')[8] = 0xff",
    "memset at addressof": "ctypes.memset(ctypes.addressof(r), 0xab, ctypes.sizeof(r))",
    "a cast pointer": "ctypes.cast(ctypes.pointer(r), ctypes.POINTER(ctypes.c_uint64))[0] = 7",
}

SCRIPT = """
import ctypes, json
import bpfskel
from bpfenv import lookup

WRITES, CAPTURED, RAW = {writes!r}, {captured!r}, {raw!r}
out = {{}}

def attempt(name, stmt, ns):
    try:
        exec(stmt, ns)
    except bpfskel.ReadOnlyError:
        out[name] = "ReadOnlyError"
    except Exception as e:
        out[name] = type(e).__name__
    else:
        out[name] = "no error"

skel = skel_mod.open(kconfig={{"CONFIG_BPFSKEL_TAG": '"tag"'}})
cfg = skel.rodata.cfg
cap = dict(cfg=cfg, origin=cfg.origin, inner=cfg.nest.inner, ports=cfg.ports,
           corner=cfg.corners[1], mode=cfg.mode)
# before load, the captured sub-objects configure the program
cap["cfg"].threshold = 16
cap["origin"].x = 11
cap["inner"].y = 12
cap["ports"][2] = 13
cap["corner"].x = 14
cap["mode"].level = 15
skel.load()
r, k = skel.rodata, skel.kconfig
ns = dict(r=r, k=k, T=skel_mod.types, ctypes=ctypes, cap=cap)
out["before"] = {{"rodata": bytes(r).hex(), "kconfig": bytes(k).hex()}}
for name, stmt in {{**WRITES, **CAPTURED}}.items():
    attempt(name, stmt, ns)
out["after"] = {{"rodata": bytes(r).hex(), "kconfig": bytes(k).hex()}}
out["captured values"] = [cap["cfg"].threshold, cap["origin"].x, cap["inner"].y,
                          cap["ports"][2], cap["corner"].x, cap["mode"].level]
skel.progs.snapshot.test_run()
out["seen by BPF"] = bytes(skel.bss.seen_cfg).hex()
for name, stmt in RAW.items():
    attempt(name, stmt, ns)
skel.progs.snapshot.test_run()
out["seen by BPF after raw writes"] = bytes(skel.bss.seen_cfg).hex()
m = skel.maps.rodata
out["kernel after raw writes"] = lookup(m.fd, 0, m.value_size).hex()
skel.destroy()
attempt("a view after destroy", "r.limit", ns)
attempt("a captured struct after destroy", "cap['origin'].x = 1", ns)
out["a captured struct after destroy reads"] = cap["origin"].x
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    mod = generated_module("globals", tmp_path_factory)
    stdout = run_isolated(mod, SCRIPT.format(writes=WRITES, captured=CAPTURED, raw=RAW))
    got: Dict[str, Any] = json.loads(stdout.splitlines()[-1])
    got["module"] = mod
    return got


@pytest.mark.parametrize("case", list(WRITES) + list(CAPTURED))
def test_write_after_load_raises_readonly_error(outcome: Dict[str, Any], case: str) -> None:
    assert outcome[case] == "ReadOnlyError"


def test_refused_writes_change_nothing(outcome: Dict[str, Any]) -> None:
    assert outcome["after"] == outcome["before"]
    rodata = bytes.fromhex(outcome["before"]["rodata"])
    assert bytes.fromhex(outcome["seen by BPF"]) == rodata[:72]  # cfg, as BPF read it


def test_sub_objects_captured_before_load_configure_then_freeze(
        outcome: Dict[str, Any]) -> None:
    seen = outcome["module"].types.config.from_buffer_copy(
        bytes.fromhex(outcome["seen by BPF"]))
    assert [seen.threshold, seen.origin.x, seen.nest.inner.y, seen.ports[2],
            seen.corners[1].x, seen.mode.level] == [16, 11, 12, 13, 14, 15]
    assert outcome["captured values"] == [16, 11, 12, 13, 14, 15]


def test_raw_memory_writes_neither_crash_nor_reach_the_kernel(
        outcome: Dict[str, Any]) -> None:
    # reaching this test means the isolated interpreter survived every one
    assert outcome["memmove(view)"] == "ArgumentError"  # ctypes refuses a struct here
    assert set(RAW) <= set(outcome)
    rodata = bytes.fromhex(outcome["before"]["rodata"])
    assert bytes.fromhex(outcome["kernel after raw writes"]) == rodata
    assert bytes.fromhex(outcome["seen by BPF after raw writes"]) == rodata[:72]


def test_after_destroy(outcome: Dict[str, Any]) -> None:
    assert outcome["a view after destroy"] == "ClosedError"
    assert outcome["a captured struct after destroy"] == "ReadOnlyError"
    assert outcome["a captured struct after destroy reads"] == 0


NAMES_SRC = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
const volatile char names[2][8] = {"ab", "cd"};
__u64 seen;
SEC("syscall")
int peek(void *ctx) { seen = names[1][0]; return 0; }
char LICENSE[] SEC("license") = "GPL";
"""


def test_char_array_element_value_and_raw_are_read_only(tmp_path: Any) -> None:
    """``char names[2][8]``: an element is a ctypes char array, whose ``.value``
    and ``.raw`` are attributes; they configure before load, refuse after."""
    (tmp_path / "names2d.bpf.c").write_text(NAMES_SRC)
    obj = compile_bpf(tmp_path / "names2d.bpf.c", tmp_path / "names2d.bpf.o")
    path = tmp_path / "names2d_skel.py"
    path.write_text(generate(obj.read_bytes(), str(obj), "names2d"))
    spec = importlib.util.spec_from_file_location("names2d_skel", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with mod.open() as skel:
        second = skel.rodata.names[1]
        second.value = b"x"  # configures the program
        skel.load()
        assert skel.progs.peek.test_run().retval == 0 and skel.bss.seen == ord("x")
        for attr, value in (("value", b"zz"), ("raw", b"y" * 8)):
            with pytest.raises(bpfskel.ReadOnlyError):
                setattr(skel.rodata.names[0], attr, value)
            with pytest.raises(bpfskel.ReadOnlyError):
                setattr(second, attr, value)
        assert [n.value for n in skel.rodata.names] == [b"ab", b"x"]
