"""Tests for the ground-truth helpers (groundtruth.py; elfread.py has its own file) and the
corpus itself (headers lay out identically under gcc/x86_64 and clang/bpf).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

import bpfcc
import elfread
import groundtruth as gt
from groundtruth import (
    CORPUS_DIR,
    GroundTruthError,
    gcc_bitfield,
    gcc_layout,
    gcc_type_info,
    gcc_values,
)

CASES = gt.corpus_cases()

requires_gcc = pytest.mark.skipif(not gt.have_gcc(), reason="host gcc not found (set BPFSKEL_GCC)")
requires_clang = pytest.mark.skipif(bpfcc.missing_reason() is not None,
                                    reason=str(bpfcc.missing_reason()))


def _bpftool() -> Optional[str]:
    return shutil.which("bpftool")


def H(case: str) -> Path:
    return CORPUS_DIR / (case + ".h")


def test_corpus_is_complete() -> None:
    expected = {"scalars", "structs", "aligned", "anon", "bitfields", "enums", "arrays",
                "sections", "names", "bigbss", "bss_custom"}
    assert expected <= set(CASES)
    for case in CASES:
        assert H(case).is_file(), "every <case>.bpf.c needs a <case>.h"
        text = H(case).read_text()
        guard = re.search(r"#ifndef\s+(\w+)\s*\n\s*#define\s+(\w+)", text)
        assert guard and guard.group(1) == guard.group(2), "%s.h lacks an include guard" % case


# ---------------------------------------------------------------------------
# the headers compile cleanly with both compilers

@requires_gcc
@pytest.mark.parametrize("case", CASES)
def test_header_compiles_with_gcc(case: str, tmp_path: Path) -> None:
    src = tmp_path / "t.c"
    # included twice to exercise the include guard
    src.write_text('#include "%s.h"\n#include "%s.h"\nint main(void) { return 0; }\n'
                   % (case, case))
    proc = subprocess.run([gt.gcc_path() or "gcc", "-std=gnu11", "-Wall", "-Wextra", "-Werror",
                           "-Wno-packed-not-aligned",  # aligned.h: intentional
                           "-I", str(CORPUS_DIR), str(src), "-o", str(tmp_path / "t")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@requires_clang
@pytest.mark.parametrize("case", CASES)
def test_header_compiles_with_clang_bpf(case: str, tmp_path: Path) -> None:
    src = tmp_path / "t.c"
    src.write_text('#include "%s.h"\n#include "%s.h"\n' % (case, case))
    bpfcc.compile_bpf(src, tmp_path / "t.o", ["-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                                              "-I", str(CORPUS_DIR)])


# ---------------------------------------------------------------------------
# gcc_layout / gcc_type_info: known answers (as documented in the headers)

KNOWN_LAYOUT: List[Tuple[str, str, str, Tuple[int, int]]] = [
    ("structs", "struct pk_inner", "", (0, 7)),
    ("structs", "struct pk_inner", "b", (1, 4)),
    ("structs", "struct pk_inner", "c", (5, 2)),
    ("structs", "struct pk_in_normal", "in", (1, 7)),
    ("structs", "struct pk_in_normal", "y", (8, 8)),
    ("structs", "struct pk_in_normal", "", (0, 16)),
    ("structs", "struct normal_in_pk", "n", (1, 8)),
    ("structs", "struct normal_in_pk", "n.b", (5, 4)),
    ("structs", "struct normal_in_pk", "y", (9, 2)),
    ("structs", "struct normal_in_pk", "z", (11, 8)),
    ("structs", "struct normal_in_pk", "", (0, 19)),
    ("structs", "struct pk_aligned4", "", (0, 12)),
    ("structs", "struct pk_member", "b", (1, 8)),
    ("structs", "struct pk_member", "c", (12, 4)),
    ("structs", "struct pragma_pack2", "b", (2, 4)),
    ("structs", "struct pragma_pack2", "c", (6, 8)),
    ("structs", "struct pragma_pack2", "", (0, 14)),
    ("structs", "struct pragma_pack1", "arr[1].b", (13, 4)),
    ("structs", "union tail_pad", "", (0, 8)),
    ("structs", "struct with_union", "u", (4, 8)),
    ("structs", "struct with_union", "after", (12, 2)),
    ("structs", "struct with_union", "", (0, 16)),
    ("structs", "union pk_union", "", (0, 4)),
    ("structs", "struct has_pk_union", "u", (1, 4)),
    ("structs", "struct has_pk_union", "", (0, 5)),
    ("structs", "struct empty_s", "", (0, 0)),
    ("structs", "struct has_empty", "e", (4, 0)),
    ("structs", "struct has_empty", "b", (4, 4)),
    ("structs", "struct lvl1", "l2[1].l3.w", (24, 1)),
    ("aligned", "struct member_aligned", "b", (8, 4)),
    ("aligned", "struct member_aligned", "c", (16, 1)),
    ("aligned", "struct member_aligned", "d", (32, 8)),
    ("aligned", "struct member_aligned", "e", (64, 1)),
    ("aligned", "struct member_aligned", "", (0, 128)),
    ("aligned", "struct uses_aligned_types", "y", (16, 16)),
    ("aligned", "struct uses_aligned_types", "z", (32, 1)),
    ("aligned", "struct uses_aligned_types", "w", (64, 64)),
    ("aligned", "struct al_typedef_user", "b", (16, 4)),
    ("aligned", "struct al_typedef_user", "c", (20, 1)),
    ("aligned", "struct al_typedef_user", "d", (32, 8)),
    ("aligned", "struct arr_of_aligned", "e[2]", (24, 8)),
    ("aligned", "struct pk_holds_aligned", "inner", (1, 16)),
    ("anon", "struct reg64", "hi32", (4, 4)),
    ("anon", "struct anon_deep", "b2", (10, 1)),
    ("anon", "struct anon_deep", "parts.hi", (20, 4)),
    ("anon", "struct anon_deep", "deepest", (28, 4)),
    ("anon", "anon_td_nested", "c", (16, 8)),
    ("anon", "struct anon_packed_inside", "q", (2, 4)),
    ("anon", "struct anon_packed_inside", "r", (8, 4)),
    ("arrays", "struct arr_structs", "pts", (2, 16)),
    ("arrays", "struct arr_structs", "pts[3].y", (16, 2)),
    ("arrays", "struct arr_structs", "tail", (20, 4)),
    ("arrays", "struct grid", "grid", (0, 30)),
    ("arrays", "struct grid", "grid[2][4]", (28, 2)),
    ("arrays", "struct grid", "cube[1][2][3]", (53, 1)),
    ("arrays", "struct flex", "data", (4, 0)),           # flexible array: size 0
    ("arrays", "struct flex", "", (0, 4)),
    ("arrays", "struct flex_aligned", "data", (8, 0)),
    ("arrays", "struct zero_mid", "zl", (4, 0)),
    ("arrays", "struct zero_mid", "b", (4, 4)),
    ("arrays", "struct zero_mid_al", "zl", (8, 0)),
    ("arrays", "struct zero_mid_al", "b", (8, 1)),
    ("arrays", "struct zero_mid_al", "", (0, 16)),
    ("arrays", "struct uses_arr_td", "m[3][1]", (100, 4)),
    ("scalars", "struct wide_ints", "s128", (16, 16)),
    ("scalars", "struct wide_ints", "", (0, 64)),
    ("scalars", "struct ptr_holder", "fn", (32, 8)),
    ("scalars", "struct scalar_mix", "name", (64, 13)),
    ("enums", "struct enum_holder", "c", (8, 8)),
    ("enums", "struct enum_holder", "i", (44, 6)),
    ("enums", "struct enum_holder", "", (0, 56)),
    ("names", "struct kw", "class_", (124, 4)),
    ("names", "struct dollar", "a$b", (0, 4)),
    ("names", "struct dollar", "trail$", (8, 4)),
    ("names", "struct bss", "rodata", (8, 2)),
    ("names", "foo2_t", "b", (8, 8)),
    ("names", "dup", "", (0, 2)),
    ("names", "struct dup", "", (0, 8)),
    ("bigbss", "struct big_hdr", "count", (4, 4)),
]


def _group(rows: List[Tuple[str, str, str, Any]]) -> Dict[str, List[Tuple[str, str, Any]]]:
    out: Dict[str, List[Tuple[str, str, Any]]] = {}
    for case, t, p, exp in rows:
        out.setdefault(case, []).append((t, p, exp))
    return out


@requires_gcc
@pytest.mark.parametrize("case,rows", sorted(_group(KNOWN_LAYOUT).items()))
def test_gcc_layout_known(case: str, rows: List[Tuple[str, str, Tuple[int, int]]]) -> None:
    got = gcc_layout(H(case), [(t, p) for t, p, _ in rows])
    bad = [(t, p, g, e) for (t, p, e), g in zip(rows, got) if g != e]
    assert not bad, "(type, path, got, expected): %r" % bad


@requires_gcc
def test_gcc_type_info_known() -> None:
    got = gcc_type_info(H("aligned"), ["struct al8_type", "struct al16_type", "struct al32_type",
                                       "struct al64_type", "struct member_aligned",
                                       "struct pk_holds_aligned", "struct al1_ignored",
                                       "union al_union", "u32_al16"])
    assert got == [(8, 8), (16, 16), (32, 32), (64, 64), (128, 64), (18, 1), (16, 8),
                   (16, 16), (4, 16)]
    got = gcc_type_info(H("structs"), ["struct pk_inner", "struct pk_member",
                                       "struct pragma_pack2", "union pk_union", "struct empty_s"])
    assert got == [(7, 1), (16, 4), (14, 2), (4, 1), (0, 1)]


@requires_gcc
def test_packed_structs_have_no_padding() -> None:
    # sum of member sizes == sizeof for the fully packed types
    cases = {
        "struct pk_inner": ["a", "b", "c"],
        "struct normal_in_pk": ["x", "n", "y", "z"],
        "struct pk_sandwich": ["first", "mid", "last"],
        "struct pragma_pack1": ["a", "arr", "b"],
    }
    for typ, members in cases.items():
        res = gcc_layout(H("structs"), [(typ, "")] + [(typ, m) for m in members])
        total = res[0][1]
        offs = res[1:]
        assert sum(s for _, s in offs) == total, typ
        # members are contiguous and in order
        pos = 0
        for off, size in offs:
            assert off == pos, typ
            pos += size


@requires_gcc
def test_gcc_layout_invariants_members_within_type() -> None:
    queries = [(t, p) for case, t, p, _ in KNOWN_LAYOUT if case == "structs" and p]
    whole = dict(zip([t for t, _ in queries],
                     [s for _, s in gcc_layout(H("structs"), [(t, "") for t, _ in queries])]))
    for (t, p), (off, size) in zip(queries, gcc_layout(H("structs"), queries)):
        assert 0 <= off and off + size <= whole[t], (t, p, off, size, whole[t])


@requires_gcc
def test_gcc_layout_errors() -> None:
    with pytest.raises(GroundTruthError):
        gcc_layout(H("structs"), [("struct pk_inner", "no_such_member")])
    with pytest.raises(ValueError):
        gcc_layout(H("structs"), [("struct pk_inner", "a; system(\"x\")")])
    with pytest.raises(ValueError):
        gcc_layout(H("structs"), [("struct pk_inner {", "a")])
    assert gcc_layout(H("structs"), []) == []


@requires_gcc
def test_gcc_layout_mixed_flex_and_normal_queries() -> None:
    # incomplete member in the middle of a batch must not disturb the others
    got = gcc_layout(H("arrays"), [("struct grid", "after"), ("struct flex", "data"),
                                   ("struct zero_tail", "items"), ("struct flex", "n")])
    assert got == [(56, 4), (4, 0), (4, 0), (0, 4)]


# ---------------------------------------------------------------------------
# gcc_bitfield

KNOWN_BITFIELDS: List[Tuple[str, str, str, Tuple[int, int, bool]]] = [
    ("bitfields", "struct bf_basic", "lead", (0, 3, False)),
    ("bitfields", "struct bf_basic", "mid", (3, 7, False)),
    ("bitfields", "struct bf_basic", "trail", (10, 22, False)),
    ("bitfields", "struct bf_edges", "lead", (0, 5, False)),
    ("bitfields", "struct bf_edges", "plain_a", (8, 8, False)),
    ("bitfields", "struct bf_edges", "middle", (32, 9, False)),
    ("bitfields", "struct bf_edges", "trail", (128, 3, False)),
    ("bitfields", "struct bf_cross", "a", (0, 30, False)),
    ("bitfields", "struct bf_cross", "b", (32, 4, False)),
    ("bitfields", "struct bf_cross", "c", (36, 2, False)),
    ("bitfields", "struct bf_u8", "c", (8, 3, False)),
    ("bitfields", "struct bf_u8", "d", (16, 7, False)),
    ("bitfields", "struct bf_u16", "b", (16, 9, False)),
    ("bitfields", "struct bf_u16", "d", (40, 1, False)),
    ("bitfields", "struct bf_u64", "c", (64, 2, False)),
    ("bitfields", "struct bf_u64", "d", (128, 63, False)),
    ("bitfields", "struct bf_mixed", "b", (5, 7, False)),
    ("bitfields", "struct bf_mixed", "c", (12, 20, False)),
    ("bitfields", "struct bf_mixed", "d", (64, 40, False)),
    ("bitfields", "struct bf_packed", "b", (3, 17, False)),
    ("bitfields", "struct bf_packed", "c", (20, 9, False)),
    ("bitfields", "struct bf_packed", "d", (32, 8, False)),
    ("bitfields", "struct bf_packed", "e", (40, 33, False)),
    ("bitfields", "struct bf_packed", "f", (73, 7, False)),
    ("bitfields", "struct bf_signed", "x", (0, 3, True)),
    ("bitfields", "struct bf_signed", "y", (3, 5, True)),
    ("bitfields", "struct bf_signed", "z", (8, 2, True)),
    ("bitfields", "struct bf_signed", "w", (10, 40, True)),
    ("bitfields", "struct bf_signed", "u", (50, 4, False)),
    ("bitfields", "struct bf_zero", "b", (32, 4, False)),
    ("bitfields", "struct bf_zero", "c", (36, 2, False)),
    ("bitfields", "struct bf_zero", "d", (40, 3, False)),
    ("bitfields", "struct bf_zero", "e", (64, 1, False)),
    ("bitfields", "union bf_union", "flag", (0, 1, False)),
    ("bitfields", "union bf_union", "wide", (0, 48, False)),
    ("bitfields", "union bf_union", "neg", (0, 7, True)),
    ("bitfields", "union bf_union", "s.hi", (16, 16, False)),
    ("bitfields", "struct bf_bools", "c", (2, 1, False)),
    ("bitfields", "struct bf_bools", "d", (16, 1, False)),
    ("bitfields", "struct bf_bools", "e", (17, 1, False)),
    ("bitfields", "struct bf_enum", "n", (3, 3, False)),
    ("bitfields", "struct bf_enum", "s", (6, 3, True)),
    ("bitfields", "struct bf_after_array", "x", (24, 8, False)),
    ("bitfields", "struct bf_after_array", "y", (32, 9, False)),
    ("anon", "struct anon_bits", "mid", (12, 8, False)),
    ("anon", "struct anon_bits", "hi", (20, 12, False)),
    # plain integer members work too
    ("scalars", "struct scalar_mix", "c", (8, 8, True)),
    ("scalars", "struct scalar_mix", "uc", (24, 8, False)),
]


@requires_gcc
@pytest.mark.parametrize("case,rows", sorted(_group(KNOWN_BITFIELDS).items()))
def test_gcc_bitfield_known(case: str, rows: List[Tuple[str, str, Tuple[int, int, bool]]]
                            ) -> None:
    got = gcc_bitfield(H(case), [(t, p) for t, p, _ in rows])
    bad = [(t, p, g, e) for (t, p, e), g in zip(rows, got) if g != e]
    assert not bad, "(type, path, got, expected): %r" % bad


@requires_gcc
def test_gcc_bitfield_within_type() -> None:
    rows = [(t, p) for case, t, p, _ in KNOWN_BITFIELDS if case == "bitfields"]
    sizes = gcc_layout(H("bitfields"), [(t, "") for t, _ in rows])
    for (t, p), (lo, width, _), (_, size) in zip(rows, gcc_bitfield(H("bitfields"), rows), sizes):
        assert 0 < width and lo + width <= 8 * size, (t, p)


# ---------------------------------------------------------------------------
# gcc_values

@requires_gcc
def test_gcc_values() -> None:
    exprs = ["EU8_MAX", "ES8_MIN", "EU16_B", "ES16_MIN", "EU32_BIG", "ES32_ALIAS", "EU64_MAX",
             "ES64_NEG", "ES64_POS", "EA_DEFAULT", "EA_AFTER", "ANON_E_B",
             "sizeof(enum e_u8)", "sizeof(enum e_s16)", "sizeof(enum e_u32)",
             "sizeof(enum e_u64)", "(enum e_s8)-1 < 0", "(enum e_u8)-1 < 0", "-1", "1ULL << 63",
             "(__int128)-1 << 100", "(unsigned __int128)1 << 127"]
    assert gcc_values(H("enums"), exprs) == [
        255, -128, 0xfffe, -32768, 0xfffffff0, 5, 2**64 - 1, -2**32, 2**63 - 1, 2, 3, 20,
        1, 2, 4, 8, 1, 0, -1, 2**63, -(2**100), 2**127]
    with pytest.raises(ValueError):
        gcc_values(H("enums"), ["1; }"])


# ---------------------------------------------------------------------------
# cross-check: clang/bpf BTF  ==  gcc/x86_64 host layout, for every type in
# every corpus header.  This is what guarantees that the host answers are
# valid ground truth for the BPF objects.

@lru_cache(maxsize=None)
def _btf(obj: str) -> Dict[int, Dict[str, Any]]:
    tool = _bpftool()
    assert tool is not None
    out = subprocess.run([tool, "-j", "btf", "dump", "file", obj], capture_output=True,
                         text=True, check=True).stdout
    return {t["id"]: t for t in json.loads(out)["types"]}


_QUALS = ("TYPEDEF", "CONST", "VOLATILE", "RESTRICT", "TYPE_TAG")


def _resolve(types: Dict[int, Dict[str, Any]], tid: int) -> Dict[str, Any]:
    t = types[tid]
    while t["kind"] in _QUALS:
        t = types[t["type_id"]]
    return t


def _size(types: Dict[int, Dict[str, Any]], tid: int) -> int:
    t = _resolve(types, tid)
    if t["kind"] == "PTR":
        return 8
    if t["kind"] == "ARRAY":
        return int(t["nr_elems"]) * _size(types, t["type_id"])
    return int(t["size"])


def _anon(name: str) -> bool:
    return name in ("", "(anon)")


def _btf_members(types: Dict[int, Dict[str, Any]], tid: int
                 ) -> List[Tuple[str, int, int, int]]:
    """(C path, bit offset, bitfield size or 0, byte size) for every member,
    following anonymous members, nested aggregates and the last element of
    arrays."""
    out: List[Tuple[str, int, int, int]] = []

    def descend(tid: int, path: str, off: int, depth: int) -> None:
        if depth > 8:
            return
        t = _resolve(types, tid)
        if t["kind"] in ("STRUCT", "UNION"):
            walk(t, path, off, depth + 1)
        elif t["kind"] == "ARRAY" and t["nr_elems"] > 0:
            idx = t["nr_elems"] - 1
            esz = _size(types, t["type_id"])
            q = "%s[%d]" % (path, idx)
            out.append((q, off + idx * esz * 8, 0, esz))
            descend(t["type_id"], q, off + idx * esz * 8, depth + 1)

    def walk(t: Dict[str, Any], prefix: str, base: int, depth: int) -> None:
        for m in t["members"]:
            off = base + m["bits_offset"]
            bf = m.get("bitfield_size", 0)
            if _anon(m["name"]):
                mt = _resolve(types, m["type_id"])
                if mt["kind"] in ("STRUCT", "UNION"):
                    walk(mt, prefix, off, depth + 1)
                continue
            p = prefix + ("." if prefix else "") + m["name"]
            out.append((p, off, bf, _size(types, m["type_id"])))
            if not bf:
                descend(m["type_id"], p, off, depth)

    walk(_resolve(types, tid), "", 0, 0)
    return out


def _header_types(case: str, types: Dict[int, Dict[str, Any]]
                  ) -> List[Tuple[str, int]]:
    """(C type expression, BTF id) for the header's named structs/unions and
    typedefs of anonymous structs/unions."""
    text = H(case).read_text()
    found: Dict[str, int] = {}
    for tid, t in sorted(types.items()):
        if t["kind"] in ("STRUCT", "UNION") and not _anon(t["name"]):
            expr = "%s %s" % (t["kind"].lower(), t["name"])
            if re.search(r"\b%s\s+%s\b" % (t["kind"].lower(), re.escape(t["name"])), text):
                found.setdefault(expr, tid)
        elif t["kind"] == "TYPEDEF":
            target = _resolve(types, tid)
            if (target["kind"] in ("STRUCT", "UNION") and _anon(target["name"])
                    and re.search(r"\b%s\s*;" % re.escape(t["name"]), text)):
                found.setdefault(t["name"], tid)
    return sorted(found.items())


@pytest.fixture(scope="module")
def bpftool() -> str:
    tool = _bpftool()
    if tool is None:
        pytest.skip("bpftool not found: cannot dump BTF for the gcc-vs-clang cross-check")
    return tool


@requires_gcc
@pytest.mark.parametrize("case", CASES)
def test_btf_layout_matches_gcc(case: str, corpus_objects: Dict[str, Path], bpftool: str
                                ) -> None:
    types = _btf(str(corpus_objects[case]))
    tops = _header_types(case, types)
    assert tops or case in ("bigbss", "bss_custom"), "no header types found in BTF"
    if not tops:
        pytest.skip("%s: the BTF of the object uses no struct/union from the header" % case)
    layout_q: List[Tuple[str, str]] = []
    layout_exp: List[Tuple[int, int]] = []
    bf_q: List[Tuple[str, str]] = []
    bf_exp: List[Tuple[int, int]] = []
    for expr, tid in tops:
        layout_q.append((expr, ""))
        layout_exp.append((0, _size(types, tid)))
        for path, off, bf, size in _btf_members(types, tid):
            if bf:
                bf_q.append((expr, path))
                bf_exp.append((off, bf))
            else:
                assert off % 8 == 0, (expr, path)
                layout_q.append((expr, path))
                layout_exp.append((off // 8, size))
    got = gcc_layout(H(case), layout_q)
    bad = [(q, g, e) for q, g, e in zip(layout_q, got, layout_exp) if g != e]
    assert not bad, "gcc (offset, size) != BTF: %r" % bad
    if bf_q:
        got_bf = [(lo, w) for lo, w, _ in gcc_bitfield(H(case), bf_q)]
        bad = [(q, g, e) for q, g, e in zip(bf_q, got_bf, bf_exp) if g != e]
        assert not bad, "gcc (bit offset, width) != BTF: %r" % bad


@requires_gcc
@pytest.mark.parametrize("case", ["enums", "bitfields"])
def test_btf_enums_match_gcc(case: str, corpus_objects: Dict[str, Path], bpftool: str) -> None:
    types = _btf(str(corpus_objects[case]))
    text = H(case).read_text()
    names: List[str] = []
    expected: List[int] = []
    sizes_q: List[str] = []
    sizes_exp: List[int] = []
    for t in types.values():
        if t["kind"] not in ("ENUM", "ENUM64"):
            continue
        if not _anon(t["name"]) and re.search(r"\benum\s+(__attribute__\(\(\w+\)\)\s*)?%s\b"
                                              % re.escape(t["name"]), text):
            sizes_q.append("sizeof(enum %s)" % t["name"])
            sizes_exp.append(t["size"])
        for v in t["values"]:
            if not re.search(r"\b%s\b" % re.escape(v["name"]), text):
                continue
            val = int(v["val"])
            if t.get("encoding") == "UNSIGNED":
                # bpftool 7.1 sign-extends 32-bit unsigned values; BTF stores raw bits
                val %= 1 << (8 * max(t["size"], 4 if t["kind"] == "ENUM" else 8))
            names.append(v["name"])
            expected.append(val)
    assert names
    got = gcc_values(H(case), names + sizes_q)
    assert got == expected + sizes_exp


@pytest.mark.parametrize("case", CASES)
def test_btf_datasec_matches_elf_symbols(case: str, corpus_objects: Dict[str, Path],
                                         bpftool: str) -> None:
    """DATASEC var (section, size) agrees with the ELF symbol table.  Note: in
    the .o, clang leaves offset 0 for global vars (libbpf fixes them up from
    the symbols); static vars carry real offsets, which must match too."""
    obj = corpus_objects[case]
    types = _btf(str(obj))
    syms = elfread.symbols(obj)
    checked = 0
    for t in types.values():
        if t["kind"] != "DATASEC":
            continue
        for v in t["vars"]:
            var = types[v["type_id"]]
            sec, value, size, bind, _typ = syms[var["name"]]
            assert sec == t["name"], var["name"]
            assert size == v["size"] == _size(types, var["type_id"]), var["name"]
            if var["linkage"] == "static":
                assert bind == "LOCAL" and value == v["offset"], var["name"]
            else:
                assert bind == "GLOBAL", var["name"]
            checked += 1
    assert checked


# ---------------------------------------------------------------------------
# every corpus object opens with the system libbpf (no privileges needed)

@requires_gcc
def test_corpus_opens_with_system_libbpf(corpus_objects: Dict[str, Path], tmp_path: Path
                                         ) -> None:
    exe = tmp_path / "libbpf_probe"
    src = Path(__file__).resolve().parent / "tools" / "libbpf_probe.c"
    proc = subprocess.run([gt.gcc_path() or "gcc", "-O2", "-Wall", "-Werror", str(src), "-o",
                           str(exe), "-lbpf"], capture_output=True, text=True)
    if proc.returncode != 0:
        if "bpf/libbpf.h" in proc.stderr or "-lbpf" in proc.stderr:
            pytest.skip("libbpf development files not installed: %s" % proc.stderr.strip())
        pytest.fail(proc.stderr)
    run = subprocess.run([str(exe), *[str(p) for p in corpus_objects.values()]],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    for case, obj in corpus_objects.items():
        assert "%s: opened" % obj in run.stdout, case
