"""Fidelity (bpf/fidelity.bpf.c): Python sees exactly the bytes, records and
scalars BPF sees.  Ground truth is what the BPF program copied or sent, read
back through the kernel (BPF_PROG_TEST_RUN), never our own encoder alone.
"""

from __future__ import annotations

import ctypes
from typing import Any, List

import pytest

import bpfskel
from bpfskel.chars import CharArray

from bpfenv import compile_bpf, loaded_skeleton, module_fixture, requires_bpf

pytestmark = [requires_bpf]

PKT = bytes(64)
HUGE = 1 << 20

mod = module_fixture("fidelity")
skel = loaded_skeleton


def run(skel: Any) -> None:
    skel.progs.emit.test_run(PKT)


# -- 1. char[N]: every byte, both ways, everywhere --------------------------------------


def test_char_reads_every_byte_and_is_a_live_array(skel: Any) -> None:
    skel.bss.buf = b"A\x00B\x00\x00\x00\x00Z"
    buf = skel.bss.buf
    assert isinstance(buf, CharArray) and len(buf) == 8
    assert buf.raw == bytes(buf) == b"A\x00B\x00\x00\x00\x00Z"
    assert buf.value == b"A"            # the C string
    assert buf[0] == ord("A") and buf[-1] == ord("Z") and buf[2] == ord("B")
    run(skel)
    assert skel.bss.seen_buf.raw == b"A\x00B\x00\x00\x00\x00Z"  # what BPF saw
    buf[1] = 0x41                       # an element write reaches BPF
    run(skel)
    assert skel.bss.seen_buf.raw == b"AAB\x00\x00\x00\x00Z"


def test_char_element_read_does_not_copy(skel: Any) -> None:
    run(skel)
    huge = skel.bss.huge
    assert len(huge) == HUGE and huge[-1] == ord("Z") and huge[HUGE - 1] == ord("Z")
    # the array is a view on the section, not a copy of 1 MiB
    assert ctypes.addressof(huge) == ctypes.addressof(skel.bss) + type(skel.bss).huge.offset
    huge[0] = 7
    assert ctypes.string_at(ctypes.addressof(skel.bss) + type(skel.bss).huge.offset, 1) == b"\x07"


def test_char_write_every_byte_after_a_nul(skel: Any) -> None:
    skel.bss.buf = b"\x00\x11\x22\x33\x44\x55\x66\x77"
    run(skel)
    assert skel.bss.seen_buf.raw == b"\x00\x11\x22\x33\x44\x55\x66\x77"


def test_char_overlong_write_raises_even_after_a_nul(skel: Any) -> None:
    skel.bss.buf = b"keep"
    for bad in (b"\x00" + b"x" * 100, b"123456789"):
        with pytest.raises(ValueError, match="char\\[8\\]"):
            skel.bss.buf = bad
        with pytest.raises(ValueError):
            skel.bss.buf.value = bad
        with pytest.raises(ValueError):
            skel.bss.member.name = bad
    assert skel.bss.buf.raw == b"keep\x00\x00\x00\x00"
    with pytest.raises(TypeError):
        skel.bss.buf = "text"


def test_char_short_write_is_nul_padded_everywhere(mod: Any, skel: Any) -> None:
    skel.bss.buf = b"abcdefgh"
    skel.bss.buf = b"ab"
    assert skel.bss.buf.raw == b"ab" + bytes(6)
    skel.bss.buf = b"abcdefgh"
    skel.bss.buf.value = b"xy"
    assert skel.bss.buf.raw == b"xy" + bytes(6)
    skel.bss.buf.raw = b"z"
    assert skel.bss.buf.raw == b"z" + bytes(7)
    skel.bss.member.name = b"12345678"
    skel.bss.member.name = b"q"
    run(skel)
    assert skel.bss.seen_member.name.raw == b"q" + bytes(7)
    # map values: a struct member, through a value object and through bytes
    v = mod.types.named(id=1, name=b"abcdefgh", tail=2)
    v.name = b"hi"
    skel.maps.named_map[1] = v
    assert skel.maps.named_map[1].name.raw == b"hi" + bytes(6)
    # constructing a struct with a short char value pads it too
    assert mod.types.named(name=b"x").name.raw == b"x" + bytes(7)


def test_char_in_map_values_keeps_bytes_after_a_nul(skel: Any) -> None:
    run(skel)
    v = skel.maps.named_map[0]
    assert (v.id, v.name.raw, v.name.value, v.tail) == (8, b"A\x00B\x00\x00\x00\x00Z", b"A", 7)


def test_char_in_events_keeps_bytes_after_a_nul(mod: Any, skel: Any) -> None:
    skel.bss.rec_len = ctypes.sizeof(mod.types.event)
    run(skel)
    want = bytes(0 if i & 1 else ord("a") + i for i in range(32))
    with skel.maps.rb.ring_buffer(None, mod.types.event) as rb:
        (e,) = rb.read()
    assert e.args.raw == want and len(e.args) == 32 and e.args[-1] == 0 and e.args[2] == ord("c")


def test_char_repr_shows_every_byte(mod: Any) -> None:
    v = mod.types.named(id=1, name=b"A\x00B")
    assert "name=char[8](b'A\\x00B\\x00\\x00\\x00\\x00\\x00')" in repr(v)


# -- 4. a typedef of an array of a struct -------------------------------------------------


def test_typedef_of_array_of_struct_imports_with_btf_size(mod: Any) -> None:
    assert ctypes.sizeof(mod.types.cm_var_t) == 8
    assert ctypes.sizeof(mod.types.holder) == 16
    h = mod.types.holder()
    h.mask[0].bits[0] = 2**64 - 1
    assert bytes(h)[8:] == b"\xff" * 8


# -- 5, 6. one scalar rule: globals, members, keys, values ----------------------------------


def test_integers_convert_as_c_does_everywhere(skel: Any) -> None:
    m = skel.maps.wide
    for value, want in ((2**32 + 5, 5), (-1, 2**32 - 1), (2**40, 0)):
        skel.bss.u32_value = value
        run(skel)
        assert skel.bss.u32_value == skel.bss.seen_u32 == want    # global, and BPF's view
        skel.bss.member.id = value
        assert skel.bss.member.id == want                          # struct member
        m[7] = value
        assert m[7] == want                                        # map value
        skel.maps.named_map[1] = skel.bss.member
        assert skel.maps.named_map[1].id == want                   # inside a map value
    m[-1] = 1                                                      # u128 key: wraps the same
    assert m[2**128 - 1] == 1 and (2**128 - 1) in m


def test_non_int_for_an_integer_raises_type_error_everywhere(skel: Any) -> None:
    for bad in (1.5, "3", b"\x01", None):
        with pytest.raises(TypeError):
            skel.bss.u32_value = bad
        with pytest.raises(TypeError):
            skel.bss.member.id = bad
        with pytest.raises(TypeError):
            skel.maps.wide[1] = bad
        with pytest.raises(TypeError):
            skel.bss.flag = bad
    with pytest.raises(TypeError):
        skel.maps.wide[1.0] = 1


def test_bool_takes_ints_as_c_does(skel: Any) -> None:
    skel.bss.flag = 5
    assert skel.bss.flag is True
    skel.bss.flag = 0
    assert skel.bss.flag is False
    with pytest.raises(TypeError):
        skel.bss.flag = "no"
    assert skel.bss.flag is False


def test_bool_array_elements_take_ints_as_a_bool_member_does(skel: Any) -> None:
    flags = skel.bss.flags
    flags[0] = 5
    flags[1] = True
    flags[2] = 0
    assert list(flags) == [True, True, False] and flags[0] is True
    for bad in ("no", 1.5, None, b"\x01"):
        with pytest.raises(TypeError, match="_Bool"):
            flags[2] = bad
        with pytest.raises(TypeError):
            flags[0:2] = [1, bad]
    assert list(flags) == [True, True, False]               # a refused write changes nothing
    run(skel)
    assert bytes(skel.bss.seen_flags) == b"\x01\x01\x00"   # what BPF copied


def test_int128_keys_take_ints(skel: Any) -> None:
    m = skel.maps.wide
    m[2**100 + 3] = 9
    assert m[2**100 + 3] == 9 and m.get(2**100 + 3) == 9
    assert list(m.keys()) == [2**100 + 3] and m.items() == [(2**100 + 3, 9)]


def test_floats_are_python_floats_both_ways(skel: Any) -> None:
    m = skel.maps.doubles
    m[2] = 1.5
    m[3] = 2
    assert m[2] == 1.5 and type(m[2]) is float and m.get(3) == 2.0
    assert m.values() == [0.0, 0.0, 1.5, 2.0]
    skel.bss.ratio = 2
    assert skel.bss.ratio == 2.0 and type(skel.bss.ratio) is float
    with pytest.raises(TypeError):
        m[1] = "1.5"


# -- 8. a misspelt .rodata setting -----------------------------------------------------------


def test_misspelt_rodata_setting_raises_attribute_error(mod: Any) -> None:
    with mod.open() as skel:
        skel.rodata.target_tgid = 1234
        with pytest.raises(AttributeError, match="target_tgidd"):
            skel.rodata.target_tgidd = 1234
        skel.load()
        with pytest.raises(AttributeError, match="target_tgidd"):
            skel.rodata.target_tgidd = 1
        with pytest.raises(bpfskel.ReadOnlyError):
            skel.rodata.target_tgid = 1
        assert skel.rodata.target_tgid == 1234


# -- 2, 3. short records are delivered, and read() never loses an event ----------------------


def emit_sized(skel: Any, n: int, size: int) -> None:
    skel.bss.rec_len = size
    skel.progs.emit.test_run(PKT, repeat=n)


def args_of(n: int) -> bytes:
    return bytes(0 if i & 1 else ord("a") + i for i in range(n))


@pytest.mark.parametrize("reader", ["ring", "perf"])
def test_short_records_are_zero_padded_with_their_real_size(mod: Any, skel: Any,
                                                            reader: str) -> None:
    full = ctypes.sizeof(mod.types.event)          # 40
    got: List[Any] = []
    if reader == "ring":
        rb = skel.maps.rb.ring_buffer(got.append, mod.types.event)
    else:
        rb = skel.maps.pb.perf_buffer(lambda cpu, e: got.append(e), mod.types.event)
    with rb:
        for size in (4, 8, 13, full):              # offsetof(args) + args_size, as tools send
            emit_sized(skel, 1, size)
        rb.poll(1000)
        while len(got) < 4 and rb.poll(100):
            pass
    assert [e.seq for e in got] == [0, 1, 2, 3]
    sizes = [bpfskel.record_size(e) for e in got]
    if reader == "ring":
        assert sizes == [4, 8, 13, full]
    else:  # the kernel pads a perf sample (with its u32 size) to 8 bytes
        assert sizes == [4, 12, 20, 44]
    assert got[0].args_size == 0 and got[0].args.raw == bytes(32)
    assert got[1].args_size == 0 and got[1].args.raw == bytes(32)
    assert got[2].args.raw[:5] == args_of(5)    # 13 bytes: 5 of args
    if reader == "ring":                        # perf's pad bytes are not zeroed
        assert got[2].args.raw[5:] == bytes(27)
    assert got[3].args_size == 32 and got[3].args.raw == args_of(32)


def test_read_loses_no_event_around_a_short_record(mod: Any, skel: Any) -> None:
    full = ctypes.sizeof(mod.types.event)
    with skel.maps.rb.ring_buffer(None, mod.types.event) as rb:
        emit_sized(skel, 10, full)
        emit_sized(skel, 1, 4)
        emit_sized(skel, 10, full)
        events = rb.read()
        assert [e.seq for e in events] == list(range(21))
        assert [bpfskel.record_size(e) for e in events].count(4) == 1
        assert rb.read() == []


@pytest.mark.parametrize("where", ["decode", "run"])
def test_read_keeps_consumed_events_when_delivery_fails(mod: Any, skel: Any,
                                                       where: str) -> None:
    """Whatever stops a read midway, events already off the ring come next,
    and none is lost: a record that fails to decode (records taken one by
    one: fewer than a run) counts as consumed; a run whose delivery fails
    stays in the ring."""
    from bpfskel.events import RUN_MIN

    full = ctypes.sizeof(mod.types.event)
    n = RUN_MIN - 1 if where == "decode" else 2 * RUN_MIN
    with skel.maps.rb.ring_buffer(None, mod.types.event) as rb:
        emit_sized(skel, n, full)
        calls = 0

        def fail_11th() -> None:
            nonlocal calls
            calls += 1
            if calls == 11:
                raise MemoryError("while decoding the 11th record")

        def fail(events: Any) -> None:
            raise MemoryError("while delivering a run")

        real_decode = rb._decode
        if where == "decode":
            rb._decode = lambda buf, off, size: (fail_11th(), real_decode(buf, off, size))[1]
        else:
            rb._list_bulk = lambda out: fail
        with pytest.raises(MemoryError):
            rb.read()
        rb._decode = real_decode
        if where == "decode":
            assert [e.seq for e in rb.read()] == [*range(10), *range(11, n)]
        else:
            del rb._list_bulk
            assert [e.seq for e in rb.read()] == list(range(n))


# -- 7. open(object_path=...) compares the types in depth ------------------------------------

CFG_SRC = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct cfg { __u32 %s; __u32 %s; } cfg;
%s total;
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4);
         __type(key, __u32); __type(value, %s); } m SEC(".maps");
SEC("syscall") int prog(void *ctx) { cfg.lo++; return 0; }
char LICENSE[] SEC("license") = "GPL";
"""


def _cfg_object(tmp_path: Any, name: str, fields: tuple, total: str, value: str) -> Any:
    src = tmp_path / f"{name}.bpf.c"
    src.write_text(CFG_SRC % (*fields, total, value))
    return compile_bpf(src, tmp_path / f"{name}.bpf.o")


def test_object_path_with_other_types_at_the_same_offsets_is_refused(tmp_path: Any) -> None:
    import importlib.util

    from bpfskel.gen.generate import generate

    good = _cfg_object(tmp_path, "good", ("lo", "hi"), "__u64", "__u64")
    path = tmp_path / "good_skel.py"
    path.write_text(generate(good.read_bytes(), str(good), "good"))
    spec = importlib.util.spec_from_file_location("good_skel", path)
    assert spec and spec.loader
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    with m.open(object_path=str(good)) as skel:      # the same object: accepted
        skel.bss.cfg.lo = 1
    cases = {"swapped": (("hi", "lo"), "__u64", "__u64", "section .bss"),
             "retyped": (("lo", "hi"), "double", "__u64", "section .bss"),
             "value": (("lo", "hi"), "__u64", "__s64", "value of map m")}
    for name, (fields, total, value, where) in cases.items():
        other = _cfg_object(tmp_path, name, fields, total, value)
        with pytest.raises(bpfskel.ObjectMismatchError, match=where):
            m.open(object_path=str(other))


def test_enums_read_as_the_generated_enum_everywhere(mod: Any, skel: Any) -> None:
    color = mod.types.color
    skel.bss.color = 2
    assert skel.bss.color is color.GREEN                    # a global
    skel.bss.color = 7                                      # C lets an enum hold any value
    assert skel.bss.color == 7 and isinstance(skel.bss.color, color)
    m = skel.maps.colors
    m[1] = color.RED
    m[2] = 2
    assert m[1] is color.RED and m.get(2) is color.GREEN   # map values
    assert sorted(m.values()) == [color.RED, color.GREEN]
    assert all(isinstance(v, color) for v in m.values())
    with pytest.raises(TypeError):
        skel.bss.color = "RED"


def test_enum_array_elements_read_as_the_generated_enum(mod: Any, skel: Any) -> None:
    color = mod.types.color
    palette = skel.bss.palette
    palette[0] = color.RED
    palette[1] = 7                                          # any value, as in C
    run(skel)                                               # BPF sets palette[2] = GREEN
    assert palette[0] is color.RED and palette[2] is color.GREEN
    assert palette[1] == 7 and isinstance(palette[1], color)
    assert list(palette) == [color.RED, 7, color.GREEN]
    assert all(isinstance(v, color) for v in palette[0:3])
    assert list(skel.bss.seen_palette) == [color.RED, 7, 0]  # what BPF copied
    with pytest.raises(TypeError):
        palette[0] = "RED"
    assert bpfskel.asdict(skel.bss)["palette"] == [color.RED, 7, color.GREEN]
