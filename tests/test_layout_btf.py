"""The layout planner and emitter on BTF built in memory (tests/btfbuilder.py):
every BTF kind and every tricky layout, no clang and no kernel.

Each case encodes a type's size and its members' offsets in raw BTF; that
encoding is the ground truth.  The bytes go through libbpf's parser, bpfskel's
decoder, the planner and the emitter, and the generated module is imported
(its import-time layout check runs).  Then, for the class of each case:
``sizeof`` is the encoded size; each plain member is a ctypes field at the
encoded offset with the encoded size; each bitfield or ``__int128`` member,
set to all ones in a zeroed object, sets exactly its encoded bits and reads
back; and the user-visible names (``bpfskel.fields_of``) are the C members.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any, Sequence, Tuple

import pytest

from bpfskel.structs import fields_of

from btfbuilder import BOOL, CHAR, CONST, RESTRICT, SIGNED, VOLATILE, BtfBuilder, load

# an expected member: (name, bit offset, bits)
Expect = Tuple[str, int, int]


def check_class(cls: Any, size: int, members: Sequence[Expect]) -> None:
    assert ctypes.sizeof(cls) == size
    for name, bit_off, bits in members:
        field = getattr(cls, name)
        if hasattr(field, "offset"):  # a ctypes field, or bpfskel.members' wrapper of one
            assert (field.offset * 8, field.size * 8) == (bit_off, bits), name
            continue
        obj = cls()  # an accessor: its bits, and only those
        ones = (1 << bits) - 1
        setattr(obj, name, ones)
        got = int.from_bytes(bytes(obj), "little")
        assert got == ones << bit_off, f"{name}: bits {got:#x}, want {ones << bit_off:#x}"
        assert getattr(obj, name) in (ones, -1), name
    assert sorted(fields_of(cls)) == sorted(m[0] for m in members)


@pytest.fixture
def b() -> BtfBuilder:
    return BtfBuilder()


def ints(b: BtfBuilder) -> Tuple[int, int, int, int, int]:
    """u8, u16, u32, u64, int"""
    return (b.integer("unsigned char", 1), b.integer("unsigned short", 2),
            b.integer("unsigned int", 4), b.integer("long long unsigned int", 8),
            b.integer("int", 4, encoding=SIGNED))


# -- INT, FLOAT, PTR, modifiers, TYPEDEF, FWD, FUNC, FUNC_PROTO, tags ---------------------


def test_integer_encodings_pick_their_ctypes(b: BtfBuilder, tmp_path: Path) -> None:
    s8 = b.integer("signed char", 1, encoding=SIGNED)
    u16 = b.integer("unsigned short", 2)
    s64 = b.integer("long", 8, encoding=SIGNED)
    boolean = b.integer("_Bool", 1, encoding=BOOL)
    char = b.integer("char", 1, encoding=CHAR | SIGNED)
    s128 = b.integer("__int128", 16, encoding=SIGNED)
    u128 = b.integer("unsigned __int128", 16)
    f32, f64, f128 = b.floating("float", 4), b.floating("double", 8), b.floating("long double", 16)
    b.struct("ints", 96, [("a", s8, 0, 0), ("b", u16, 16, 0), ("c", s64, 64, 0),
                          ("flag", boolean, 128, 0), ("ch", char, 136, 0),
                          ("f", f32, 160, 0), ("d", f64, 192, 0), ("s", s128, 256, 0),
                          ("u", u128, 384, 0), ("ld", f128, 512, 0)])
    cls = load(b, tmp_path).types.ints
    check_class(cls, 96, [("a", 0, 8), ("b", 16, 16), ("c", 64, 64), ("flag", 128, 8),
                          ("ch", 136, 8), ("f", 160, 32), ("d", 192, 64), ("s", 256, 128),
                          ("u", 384, 128), ("ld", 512, 128)])
    ftypes = dict(cls._fields_)
    assert (ftypes["a"], ftypes["b"], ftypes["c"]) == (ctypes.c_int8, ctypes.c_uint16,
                                                      ctypes.c_int64)
    assert (ftypes["flag"], ftypes["f"], ftypes["d"]) == (ctypes.c_bool, ctypes.c_float,
                                                         ctypes.c_double)
    obj = cls()
    obj.s, obj.u = -2, (1 << 128) - 2
    assert (obj.s, obj.u) == (-2, (1 << 128) - 2)  # 128-bit, both signs
    obj.a, obj.flag = -1, True
    assert (obj.a, obj.flag) == (-1, True)


def test_pointers_modifiers_typedefs_and_tags(b: BtfBuilder, tmp_path: Path) -> None:
    u8, _u16, u32, _u64, i32 = ints(b)
    fwd_s, fwd_u = b.fwd("opaque"), b.fwd("opaque_u", union=True)
    proto = b.func_proto(i32, [("x", u32), ("", 0)])  # (unsigned x, ...)
    b.func("handler", proto)
    b.decl_tag("kernel", b.func("tagged", b.func_proto(0, [])))
    user = b.type_tag("user", u8)
    cvu32 = b.modifier(CONST, b.modifier(VOLATILE, u32))
    u32_t = b.typedef("u32_t", u32)
    s = b.struct("ptrs", 48, [
        ("fn", b.ptr(proto), 0, 0), ("s", b.ptr(fwd_s), 64, 0), ("u", b.ptr(fwd_u), 128, 0),
        ("r", b.modifier(RESTRICT, b.ptr(user)), 192, 0), ("cv", cvu32, 256, 0),
        ("t", u32_t, 288, 0), ("v", b.ptr(0), 320, 0)])
    b.decl_tag("member_tag", s, 0)
    mod = load(b, tmp_path)
    cls = mod.types.ptrs
    check_class(cls, 48, [("fn", 0, 64), ("s", 64, 64), ("u", 128, 64), ("r", 192, 64),
                          ("cv", 256, 32), ("t", 288, 32), ("v", 320, 64)])
    ftypes = dict(cls._fields_)
    assert all(ftypes[n] is ctypes.c_uint64 for n in ("fn", "s", "u", "r", "v"))
    assert ftypes["cv"] is ftypes["t"] is ctypes.c_uint32
    assert mod.types.u32_t is ctypes.c_uint32  # the typedef is an alias
    assert not hasattr(mod.types, "opaque")  # a forward declaration has no layout


# -- ENUM, ENUM64 -----------------------------------------------------------------------


def test_enums_of_every_size_and_sign(b: BtfBuilder, tmp_path: Path) -> None:
    e1 = b.enum("e1", 1, [("E1_A", 1), ("E1_B", 255)])
    e2 = b.enum("e2", 2, [("E2_NEG", -3), ("E2_POS", 3)], signed=True)
    e4 = b.enum("e4", 4, [("E4_MAX", 0xFFFFFFFF)])
    e8 = b.enum64("e8", 8, [("E8_BIG", 1 << 40), ("E8_TOP", (1 << 64) - 1)])
    s8 = b.enum64("s8", 8, [("S8_MIN", -(1 << 63))], signed=True)
    b.struct("enums", 24, [("a", e1, 0, 0), ("b", e2, 16, 0), ("c", e4, 32, 0),
                           ("d", e8, 64, 0), ("e", s8, 128, 0)])
    mod = load(b, tmp_path)
    cls = mod.types.enums
    check_class(cls, 24, [("a", 0, 8), ("b", 16, 16), ("c", 32, 32), ("d", 64, 64),
                          ("e", 128, 64)])
    t = mod.types
    assert (t.e1.E1_B, t.e2.E2_NEG, t.e4.E4_MAX) == (255, -3, 0xFFFFFFFF)
    assert (t.e8.E8_BIG, t.e8.E8_TOP, t.s8.S8_MIN) == (1 << 40, (1 << 64) - 1, -(1 << 63))
    obj = cls()
    obj.b, obj.e = t.e2.E2_NEG, t.s8.S8_MIN
    assert (obj.b, obj.e) == (t.e2.E2_NEG, t.s8.S8_MIN)  # signed storage


# -- bitfields ----------------------------------------------------------------------------


def test_kind_flag_bitfields(b: BtfBuilder, tmp_path: Path) -> None:
    """kind_flag set: each member's offset is ``bits << 24 | bit_offset``."""
    _u8, _u16, u32, u64, i32 = ints(b)
    b.struct("flags", 16, [("a", u32, 0, 1), ("b", u32, 1, 7), ("c", i32, 8, 9),
                           ("", u32, 17, 15),  # an unnamed bitfield: padding
                           ("d", u64, 64, 40), ("e", u32, 104, 24)])
    cls = load(b, tmp_path).types.flags
    check_class(cls, 16, [("a", 0, 1), ("b", 1, 7), ("c", 8, 9), ("d", 64, 40),
                          ("e", 104, 24)])
    obj = cls()
    obj.c = -1
    assert obj.c == -1 and obj.a == 0  # signed, and alone in its bits


def test_bitfields_in_the_int_encoding(b: BtfBuilder, tmp_path: Path) -> None:
    """kind_flag clear: the member's INT carries the bits and bit offset."""
    u32 = b.integer("unsigned int", 4)
    three = b.integer("unsigned int", 4, bits=3)
    five_at_2 = b.integer("unsigned int", 4, bits=5, offset=2)
    b.struct("old", 8, [("x", u32, 0, 0), ("y", three, 32, 0), ("z", five_at_2, 33, 0)],
             kflag=False)
    check_class(load(b, tmp_path).types.old, 8, [("x", 0, 32), ("y", 32, 3), ("z", 35, 5)])


def test_bitfields_straddling_bytes_in_a_packed_struct(b: BtfBuilder, tmp_path: Path) -> None:
    """``struct __attribute__((packed)) { char c; u32 a:30, b:12; u64 big:60; }``:
    fields cross byte and storage-unit boundaries."""
    u8, _u16, u32, u64, _i32 = ints(b)
    b.struct("straddle", 14, [("c", u8, 0, 0), ("a", u32, 8, 30), ("b", u32, 38, 12),
                              ("big", u64, 50, 60)])
    check_class(load(b, tmp_path).types.straddle, 14,
                [("c", 0, 8), ("a", 8, 30), ("b", 38, 12), ("big", 50, 60)])


def test_bitfields_in_a_union(b: BtfBuilder, tmp_path: Path) -> None:
    u8, _u16, u32, _u64, _i32 = ints(b)
    b.union("ubits", 4, [("all", u32, 0, 0), ("low", u32, 0, 4), ("mid", u8, 4, 4)])
    check_class(load(b, tmp_path).types.ubits, 4, [("all", 0, 32), ("low", 0, 4),
                                                    ("mid", 4, 4)])


# -- padding, alignment, arrays, nesting ----------------------------------------------


def test_packed_and_explicitly_aligned_structs(b: BtfBuilder, tmp_path: Path) -> None:
    u8, u16, u32, u64, _i32 = ints(b)
    b.struct("packed", 7, [("c", u8, 0, 0), ("i", u32, 8, 0), ("s", u16, 40, 0)])
    # struct __attribute__((aligned(32))) { u8 c; u64 x; }: a hole and tail padding
    b.struct("aligned", 32, [("c", u8, 0, 0), ("x", u64, 64, 0)])
    mod = load(b, tmp_path)
    check_class(mod.types.packed, 7, [("c", 0, 8), ("i", 8, 32), ("s", 40, 16)])
    check_class(mod.types.aligned, 32, [("c", 0, 8), ("x", 64, 64)])


def test_int128_members_and_arrays(b: BtfBuilder, tmp_path: Path) -> None:
    u8, _u16, _u32, _u64, i32 = ints(b)
    s128 = b.integer("__int128", 16, encoding=SIGNED)
    b.struct("wide", 64, [("tag", u8, 0, 0), ("v", s128, 128, 0),
                          ("arr", b.array(s128, 2, i32), 256, 0)])
    cls = load(b, tmp_path).types.wide
    check_class(cls, 64, [("tag", 0, 8), ("v", 128, 128), ("arr", 256, 256)])
    obj = cls()
    obj.v = -(1 << 127)
    obj.arr[1].value = 7
    assert (obj.v, obj.arr[1].value, obj.tag) == (-(1 << 127), 7, 0)
    assert bytes(obj)[48:64] == (7).to_bytes(16, "little")


def test_multi_dim_char_and_flexible_arrays(b: BtfBuilder, tmp_path: Path) -> None:
    _u8, u16, u32, _u64, i32 = ints(b)
    char = b.integer("char", 1, encoding=SIGNED)
    grid = b.array(b.array(u16, 3, i32), 2, i32)  # u16 grid[2][3]
    names = b.array(b.array(char, 8, i32), 2, i32)  # char names[2][8]
    comm = b.array(char, 4, i32)
    b.struct("arrays", 36, [("n", u32, 0, 0), ("grid", grid, 32, 0), ("comm", comm, 128, 0),
                            ("names", names, 160, 0), ("data", b.array(u32, 0, i32), 288, 0)])
    cls = load(b, tmp_path).types.arrays
    check_class(cls, 36, [("n", 0, 32), ("grid", 32, 96), ("comm", 128, 32),
                          ("names", 160, 128), ("data", 288, 0)])
    ftypes = dict(cls._fields_)
    assert (ftypes["grid"]._length_, ftypes["grid"]._type_._length_) == (2, 3)
    obj = cls()
    obj.grid[1][2] = 0xBEEF
    obj.comm = b"abcd"
    assert bytes(obj)[4 + 10:4 + 12] == b"\xef\xbe" and obj.comm == b"abcd"


def test_anonymous_and_nested_unions(b: BtfBuilder, tmp_path: Path) -> None:
    """``struct outer { u32 kind; union { u32 i; struct { u16 lo, hi; }; union
    { u8 b; u64 q; } nest; }; u8 tail; }``"""
    u8, u16, u32, u64, _i32 = ints(b)
    halves = b.struct("", 4, [("lo", u16, 0, 0), ("hi", u16, 16, 0)])
    inner = b.union("", 8, [("b", u8, 0, 0), ("q", u64, 0, 0)])
    mid = b.union("", 8, [("i", u32, 0, 0), ("", halves, 0, 0), ("nest", inner, 0, 0)])
    b.struct("outer", 24, [("kind", u32, 0, 0), ("", mid, 64, 0), ("tail", u8, 128, 0)])
    mod = load(b, tmp_path)
    cls = mod.types.outer
    check_class(cls, 24, [("kind", 0, 32), ("i", 64, 32), ("lo", 64, 16), ("hi", 80, 16),
                          ("nest", 64, 64), ("tail", 128, 8)])
    obj = cls()
    obj.i = 0x22221111
    assert (obj.lo, obj.hi, obj.nest.b) == (0x1111, 0x2222, 0x11)


def test_anonymous_member_with_bitfields(b: BtfBuilder, tmp_path: Path) -> None:
    u8, _u16, u32, _u64, _i32 = ints(b)
    bits = b.struct("", 4, [("x", u32, 0, 3), ("y", u32, 3, 13)])
    b.struct("holder", 8, [("h", u8, 0, 0), ("", bits, 32, 0)])
    check_class(load(b, tmp_path).types.holder, 8, [("h", 0, 8), ("x", 32, 3),
                                                     ("y", 35, 13)])


def test_zero_sized_members(b: BtfBuilder, tmp_path: Path) -> None:
    """GNU C: an empty struct member, a zero-length array, between real members."""
    u8, _u16, u32, _u64, i32 = ints(b)
    empty = b.struct("empty", 0, [])
    b.struct("zeros", 8, [("a", u8, 0, 0), ("e", empty, 8, 0), ("z", b.array(u32, 0, i32), 32, 0),
                          ("b", u32, 32, 0)])
    mod = load(b, tmp_path)
    check_class(mod.types.empty, 0, [])
    check_class(mod.types.zeros, 8, [("a", 0, 8), ("e", 8, 0), ("z", 32, 0), ("b", 32, 32)])


def test_pointers_in_structs_and_self_reference(b: BtfBuilder, tmp_path: Path) -> None:
    u8, _u16, _u32, _u64, _i32 = ints(b)
    ptr = b.ptr(len(b.types) + 2)  # struct node *, to the id that comes next
    node = b.struct("node", 24, [("next", ptr, 0, 0)])
    b.struct("list", 16, [("head", b.ptr(node), 0, 0), ("c", u8, 64, 0)])
    mod = load(b, tmp_path)
    check_class(mod.types.node, 24, [("next", 0, 64)])  # tail padding too
    check_class(mod.types.list, 16, [("head", 0, 64), ("c", 64, 8)])


# -- VAR and DATASEC: section views ----------------------------------------------------


def test_datasec_variables_become_a_view(b: BtfBuilder, tmp_path: Path) -> None:
    _u8, u16, u32, u64, _i32 = ints(b)
    cu32 = b.modifier(CONST, b.modifier(VOLATILE, u32))
    v_a, v_s, v_b = b.var("a", u64), b.var("hidden", u16, linkage=0), b.var("b", u32)
    b.datasec(".bss", 16, [(v_a, 0, 8), (v_s, 8, 2), (v_b, 12, 4)])
    b.datasec(".rodata", 4, [(b.var("cfg", cu32), 0, 4)])
    mod = load(b, tmp_path)
    check_class(mod.sections.bss, 16, [("a", 0, 64), ("b", 96, 32)])  # a static is padding
    check_class(mod.sections.rodata, 4, [("cfg", 0, 32)])
    assert mod.Skeleton._sections_ == ((".bss", "bss", mod.sections.bss),
                                       (".rodata", "rodata", mod.sections.rodata))
