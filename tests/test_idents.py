"""One identifier per item, and roles as data (bpf/idents.bpf.c).

* Maps and programs whose names collide once sanitized (``a$b`` and ``a_b``)
  both appear, under the identifiers the README's collision rule gives, and
  each is bound to its own libbpf item (told apart by what the C source gave
  them: max_entries, return values).
* A map or program named like a ``Namespace`` field (``_kind``, ``_absent_``)
  is an ordinary item, and the namespace keeps working.
* Generated classes say which fields are C members (``_members_``): real
  members named ``_pad_x``, ``_size``, ``_bits_y`` or ``_int128_z`` are shown,
  a C member named like bpfskel's bookkeeping is renamed around it, and a
  resize stretches the final array, never ``__int128`` storage.

Ground truth is the C source (initializers, max_entries, what the programs
return and write), read back through libbpf and the kernel.
"""

from __future__ import annotations

import ctypes
import importlib.util
from pathlib import Path
from typing import Any

import pytest

import bpfskel
from bpfskel import _libbpf
from bpfskel.gen.generate import generate
from bpfskel.names import BPFSKEL_RESERVED, CTYPES_RESERVED, item_idents
from bpfskel.skeleton import _resized_class

from bpfenv import compile_bpf, loaded_skeleton, module_fixture, requires_bpf

mod = module_fixture("idents")
skel = loaded_skeleton


# -- 1. one identifier per item ------------------------------------------------------------


def test_the_collision_rule_does_not_depend_on_declaration_order() -> None:
    expected = {"a_b": "a_b", "a$b": "a_b_", "a-b": "a_b__", "class": "class_"}
    assert item_idents(["a$b", "a_b", "a-b", "class"]) == expected
    assert item_idents(["class", "a-b", "a_b", "a$b"]) == expected


COLLIDING = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#define ARRAY(name, n) struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, n); \\
	__type(key, __u32); __type(value, __u64); } name SEC(".maps")
ARRAY(a$b, 2);
ARRAY(a_b, 3);
__u64 total;
SEC("tp/syscalls/sys_enter_getpid") int p$q(void *ctx) { total++; return 0; }
SEC("syscall") int p_q(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def colliding(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return _module(tmp_path_factory.mktemp("colliding"), "colliding", COLLIDING)


def test_module_records_one_identifier_per_map_and_program(colliding: Any) -> None:
    maps = {ident: name for ident, name, _k, _v in colliding.Skeleton._maps_}
    assert maps == {"a_b": "a_b", "a_b_": "a$b", "bss": ".bss"}
    progs = {ident: name for ident, name, _sec in colliding.Skeleton._progs_}
    assert progs == {"p_q": "p_q", "p_q_": "p$q"}


@requires_bpf
def test_maps_named_a_dollar_b_and_a_b_are_both_bound(colliding: Any) -> None:
    # (the kernel refuses '$' in map names: libbpf's view of the opened object
    # tells them apart, by the max_entries the C source gave each)
    with colliding.open() as s:
        assert sorted(vars(s.maps)) == ["a_b", "a_b_", "bss"]
        assert (s.maps.a_b.name, s.maps.a_b.max_entries) == ("a_b", 3)
        assert (s.maps.a_b_.name, s.maps.a_b_.max_entries) == ("a$b", 2)


@requires_bpf
def test_programs_named_p_dollar_q_and_p_q_are_both_bound(colliding: Any) -> None:
    with colliding.open() as s:
        assert sorted(vars(s.progs)) == ["p_q", "p_q_"]
        assert (s.progs.p_q.name, s.progs.p_q.section) == ("p_q", "syscall")
        assert (s.progs.p_q_.name, s.progs.p_q_.section) == (
            "p$q", "tp/syscalls/sys_enter_getpid")


@requires_bpf
def test_global_data_maps_are_bound_whatever_the_object_name(mod: Any) -> None:
    # libbpf names a global data map after the object ("rename.data"): the
    # module binds it by its section
    with mod.open(object_name="rename") as s:
        assert s.maps.data.name == "rename.data" and s.maps.data.section == ".data"
        assert s.maps.data_flex.section == ".data.flex"


def _module(directory: Path, name: str, source: str) -> Any:
    (directory / f"{name}.bpf.c").write_text(source)
    obj = compile_bpf(directory / f"{name}.bpf.c", directory / f"{name}.bpf.o")
    path = directory / f"{name}_skel.py"
    path.write_text(generate(obj.read_bytes(), str(obj), name))
    spec = importlib.util.spec_from_file_location(f"{name}_skel", path)
    assert spec and spec.loader
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


# -- 2. Namespace keeps its items apart from its own fields --------------------------------


@requires_bpf
def test_items_named_like_namespace_fields_are_items(skel: Any) -> None:
    assert skel.maps._kind.name == "_kind" and skel.maps._kind.max_entries == 5
    assert skel.progs._absent_.name == "_absent_"
    skel.progs._absent_.test_run()          # adds 3 to _kind[0]
    assert skel.maps._kind[0] == 3
    assert len(skel.maps) == 4 and len(skel.progs) == 3
    assert skel.maps._kind in list(skel.maps)
    assert repr(skel.maps).startswith("<maps: ") and "_kind" in repr(skel.maps)
    with pytest.raises(AttributeError, match="no map named 'nope'"):
        skel.maps.nope
    assert skel.links._absent_ is None      # a program attach() has not linked yet
    with pytest.raises(AttributeError, match="no link named 'nope'"):
        skel.links.nope


# -- 3. roles as data ----------------------------------------------------------------------


@requires_bpf
def test_member_named_accessors_next_to_a_bitfield(mod: Any, skel: Any) -> None:
    acc = skel.data.acc
    assert (acc._accessors__, acc.flag, acc.rest, acc._members__) == (1, 5, 7, 9)
    assert [spec[0] for spec in mod.types.acc._accessors_] == ["flag", "rest"]  # ours
    acc.flag = 3
    assert skel.progs.flags.test_run().retval == 3 + 1
    assert repr(acc) == "acc(_accessors__=1, flag=3, rest=7, _members__=9)"


@requires_bpf
def test_repr_shows_members_named_like_storage(mod: Any, skel: Any) -> None:
    like = skel.data.like
    text = "storage_like(_pad_x=1, _size=2, _bits_y=3, _int128_z=4, low=5, wide=6)"
    assert repr(like) == text
    assert bpfskel.asdict(like) == {"_pad_x": 1, "_size": 2, "_bits_y": 3, "_int128_z": 4,
                                    "low": 5, "wide": 6}
    assert mod.types.storage_like(1, 2, 3, 4, 5, 6) == like   # positional: C order
    like._size = 40
    assert skel.progs.sum.test_run().retval == 1 + 40 + 1 + 1


def test_record_dtype_has_members_named_like_storage_and_no_storage(mod: Any) -> None:
    pytest.importorskip("numpy")
    from bpfskel.columns import record_dtype

    names = record_dtype(mod.types.storage_like).names
    assert names == ("_pad_x", "_size", "_bits_y", "_int128_z")  # bitfield, int128: no dtype


def test_resize_refuses_a_section_ending_in_int128(mod: Any) -> None:
    cls = mod.sections.data_i128
    assert ctypes.sizeof(cls) == 32
    with pytest.raises(bpfskel.Error, match="the last variable i128_tail is not an array"):
        _resized_class(cls, 64)


def test_resize_stretches_a_final_array(mod: Any) -> None:
    cls = mod.sections.data_flex
    resized = _resized_class(cls, 8 + 8 * 5 + 4)
    assert ctypes.sizeof(resized) == 52
    assert resized.flex_vals.offset == cls.flex_vals.offset == 8
    view = resized()
    assert len(view.flex_vals) == 5 and list(bpfskel.asdict(view)) == ["flex_n", "flex_vals"]


@requires_bpf
def test_resize_through_the_map(skel_open: Any) -> None:
    if _libbpf.lib().version < (1, 3):
        pytest.skip("resizing a section needs libbpf >= 1.3")
    with pytest.raises(bpfskel.Error, match="not an array"):
        skel_open.maps.data_i128.value_size = 64
    assert skel_open.maps.data_i128.value_size == 32          # libbpf was not asked
    skel_open.maps.data_flex.value_size = 48
    assert list(skel_open.data_flex.flex_vals) == [3, 4, 0, 0, 0]   # clang's initializer
    skel_open.load()
    assert skel_open.data_i128.i128_tail == 2


@pytest.fixture
def skel_open(mod: Any) -> Any:
    with mod.open() as s:
        yield s


# Every name bpfskel keeps on a generated class, and a few of ctypes': a C member
# with that name is renamed (one trailing _), and the class keeps working, in a
# writable section and in a frozen one.
RESERVED = sorted(BPFSKEL_RESERVED | {"_fields_", "_anonymous_", "_objects"})


def _reserved_source() -> str:
    members = "\n".join(f"\tstruct one {name};" for name in RESERVED)
    return f"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
enum e {{ E0, E1 }};
struct one {{ __u32 v; }};
struct all {{
{members}
	__u32 bits:3;
	enum e kind;
	char text[4];
}};
struct all rw = {{ {", ".join(f"{{{i + 1}}}" for i in range(len(RESERVED)))}, 5, E1, "ab" }};
const volatile struct all ro = {{ {", ".join(f"{{{i + 11}}}" for i in range(len(RESERVED)))},
	6, E1, "cd" }};
SEC("syscall") int touch(void *ctx) {{ return rw.bits + ro.bits; }}
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def reserved_mod(tmp_path_factory: pytest.TempPathFactory) -> Any:
    # importable: no member overwrote bookkeeping
    return _module(tmp_path_factory.mktemp("reserved"), "reserved", _reserved_source())


def test_every_reserved_name_is_renamed_around(reserved_mod: Any) -> None:
    assert set(BPFSKEL_RESERVED) <= set(RESERVED) and "_fields_" in CTYPES_RESERVED
    members = list(bpfskel.structs.fields_of(reserved_mod.types.all))
    assert members == [name + "_" for name in RESERVED] + ["bits", "kind", "text"]


@requires_bpf
def test_members_named_like_bookkeeping_work_everywhere(reserved_mod: Any) -> None:
    with reserved_mod.open_and_load() as s:
        e = reserved_mod.types.e
        for view, base, bits, text in ((s.data.rw, 1, 5, b"ab"), (s.rodata.ro, 11, 6, b"cd")):
            for i, name in enumerate(RESERVED):
                assert getattr(view, name + "_").v == base + i, name
            assert (view.bits, view.kind, view.text.value) == (bits, e.E1, text)
        assert s.progs.touch.test_run().retval == 5 + 6
        s.data.rw._freeze__.v = 42            # a writable section: takes it
        assert s.data.rw._freeze__.v == 42
        for name in RESERVED:                 # a frozen one: refuses it at every depth
            with pytest.raises(bpfskel.ReadOnlyError):
                getattr(s.rodata.ro, name + "_").v = 1
        with pytest.raises(bpfskel.ReadOnlyError):
            s.rodata.ro.bits = 1
