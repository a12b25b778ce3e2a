"""Hostile BTF built in memory (tests/btfbuilder.py): bad lengths, loops,
out-of-range ids and impossible layouts end in bpfskel's error naming the
problem (a ``bpfskel.Error``), never in a crash, a hang or a Python error
from deep inside the planner.

Where libbpf itself refuses the bytes (a header or record past the end, an
unknown kind; libbpf 1.3+ also checks type ids), the error carries its errno.
What every libbpf accepts but no layout can express (1.1.2 takes ids past the
last type; no release refuses loops) is refused by ``objfile.check_btf`` or
the planner.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Callable, Dict, Tuple

import pytest

import bpfskel
from bpfskel.gen.headertypes import HeaderTypesError
from bpfskel.gen.layout import LayoutError
from bpfskel.gen.objfile import InputError

from btfbuilder import STRUCT, TYPEDEF, BtfBuilder, load


def _struct_with_member_type(type_id: int) -> BtfBuilder:
    b = BtfBuilder()
    b.struct("s", 4, [("m", type_id, 0, 0)])
    return b


def _loop() -> BtfBuilder:
    b = BtfBuilder()
    b.typedef("a", 2)
    b.typedef("b", 1)
    b.struct("s", 4, [("m", 1, 0, 0)])
    return b


def _contains_itself() -> BtfBuilder:
    b = BtfBuilder()
    u32 = b.integer("unsigned int", 4)
    b.struct("s", 8, [("x", u32, 0, 0), ("self", 2, 32, 0)])
    return b


def _raw(mutate: Callable[[bytearray], None]) -> bytes:
    b = BtfBuilder()
    u32 = b.integer("unsigned int", 4)
    b.struct("s", 8, [("a", u32, 0, 0), ("b", u32, 32, 0)])
    raw = bytearray(b.raw())
    mutate(raw)
    return bytes(raw)


def _set_u32(at: int, value: int) -> Callable[[bytearray], None]:
    return lambda raw: struct.pack_into("<I", raw, at, value)


# byte offsets in _raw's blob: header 24; [1] INT at 24 (16 bytes); [2] STRUCT at 40
RAW_CASES = {
    "bad magic": (_set_u32(0, 0xDEADBEEF), "no BTF"),
    "type section past the end": (_set_u32(12, 0x10000), "no BTF"),
    "string section past the end": (_set_u32(20, 0x10000), "no BTF"),
    "member records past the end": (_set_u32(44, (STRUCT << 24) | 900), "no BTF"),
    "unknown kind": (_set_u32(44, (27 << 24) | 2), "no BTF"),
    "header length past the end": (_set_u32(4, 0x10000), "no BTF"),
}


@pytest.mark.parametrize("case", sorted(RAW_CASES))
def test_bad_lengths_and_kinds_are_refused_by_the_parser(case: str, tmp_path: Path) -> None:
    mutate, message = RAW_CASES[case]
    path = tmp_path / "types.btf"
    path.write_bytes(_raw(mutate))
    with pytest.raises(HeaderTypesError, match=message) as e:
        from bpfskel.gen.headertypes import _read_btf
        _read_btf(str(path))
    assert str(e.value).count("\n") == 0


GRAPH_CASES: Dict[str, Tuple[Callable[[], BtfBuilder], str]] = {
    "member type past the last type": (lambda: _struct_with_member_type(99), "past the last"),
    "a loop of typedefs": (_loop, "loops"),
    "a struct containing itself": (_contains_itself, "contains itself"),
}


@pytest.mark.parametrize("case", sorted(GRAPH_CASES))
def test_graphs_no_walk_could_finish_are_refused(case: str, tmp_path: Path) -> None:
    make, message = GRAPH_CASES[case]
    with pytest.raises(bpfskel.Error) as e:
        load(make(), tmp_path)
    # libbpf 1.3+ refuses an id past the end itself; older ones leave it to check_btf
    assert isinstance(e.value, (InputError, HeaderTypesError))
    if isinstance(e.value, InputError):
        assert message in str(e.value) and "corrupted BTF" in str(e.value)


def _layout(build: Callable[[BtfBuilder, int], None]) -> BtfBuilder:
    b = BtfBuilder()
    build(b, b.integer("unsigned int", 4))
    return b


LAYOUT_CASES = {
    "member past the size": (lambda b, u: b.struct("s", 4, [("a", u, 32, 0)]),
                             "past its size"),
    "overlapping members": (lambda b, u: b.struct("s", 8, [("a", u, 0, 0), ("b", u, 16, 0)]),
                            "overlaps"),
    "bitfield over a member": (lambda b, u: b.struct("s", 8, [("a", u, 0, 0),
                                                              ("b", u, 8, 3)]), "overlaps"),
    "union member at an offset": (lambda b, u: b.union("u", 8, [("a", u, 32, 0)]),
                                  "union member a at offset 4"),
    "union member wider than the union": (lambda b, u: b.union("u", 2, [("a", u, 0, 0)]),
                                          "wider than the union"),
    "a huge array in a small struct": (
        lambda b, u: b.struct("s", 8, [("a", b.array(u, 0xFFFFFFFF, u), 0, 0)]),
        "past its size"),
    "a name declared twice through an anonymous member": (
        lambda b, u: b.struct("s", 8, [("a", u, 0, 0),
                                       ("", b.struct("", 4, [("a", u, 0, 0)]), 32, 0)]),
        "declared twice"),
    "a nameless member that is no struct": (lambda b, u: b.struct("s", 4, [("", u, 0, 0)]),
                                            "without a name"),
}


@pytest.mark.parametrize("case", sorted(LAYOUT_CASES))
def test_impossible_layouts_are_layout_errors(case: str, tmp_path: Path) -> None:
    build, message = LAYOUT_CASES[case]
    with pytest.raises(LayoutError, match=message):
        load(_layout(build), tmp_path)


def test_names_past_the_string_section(tmp_path: Path) -> None:
    """libbpf 1.3+ refuses a name offset past the strings; 1.1.2 reads the
    name as empty, and a member without a name that is no struct is a
    LayoutError.  Either way, one line naming the problem."""
    b = BtfBuilder()
    u32 = b.integer("unsigned int", 4)
    b.struct("s", 4, [("a", u32, 0, 0)])
    raw = bytearray(b.raw())
    struct.pack_into("<I", raw, 40 + 12, 0xFFFF)  # member a's name_off
    b.raw = lambda: bytes(raw)  # type: ignore[method-assign]
    with pytest.raises((HeaderTypesError, LayoutError), match="no BTF|without a name"):
        load(b, tmp_path)


def test_a_typedef_to_void_chain_is_fine(tmp_path: Path) -> None:
    """Not everything odd is hostile: ``typedef void v; typedef v w;``."""
    b = BtfBuilder()
    b.typedef("w", b.typedef("v", 0))
    b.add(TYPEDEF, "x", size_or_type=1)
    mod = load(b, tmp_path)
    assert not hasattr(mod.types, "w")
