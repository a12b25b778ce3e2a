"""BPF arenas on real programs: __arena globals through ``skel.arena``, a list
BPF builds in pages it allocates, walked with ``skel.arena_ptr``, a 4 GiB
arena, an arena that faults on unallocated pages, and old libbpf.

Sources: bpf/arena.bpf.c, bpf/arena_segv.bpf.c.  The live tests need libbpf
>= 1.4 and a kernel with arenas (6.9+); on libbpf 1.1 they skip, and what runs
there instead is the clear refusal to open such an object.
"""

from __future__ import annotations

import ctypes
import gc
import importlib.util
import mmap
import os
from typing import Any

import pytest

import bpfskel
from bpfskel import BoundsError, ClosedError, NotSupportedError, ReadOnlyError, _libbpf
from bpfskel.arena import (
    GLOBALS_AT_END_SINCE,
    MIN_LIBBPF,
    globals_offset,
    has_arena_section,
)
from bpfskel.gen.generate import generate
from bpfskel.memory import BorrowedMemory
from bpfskel.uapi import BPF_F_MMAPABLE, MapType

import elfread
from bpfenv import REPO_ROOT, build_obj, compile_bpf, generated_module, requires_bpf
from skelenv import run_isolated

pytestmark = requires_bpf

PAGE = mmap.PAGESIZE
GIB4 = 1 << 32
EDGE_MAGIC = 0x4544474520454E44  # bpf/arena.bpf.c
LIST_LEN = 5


def _arena_unavailable() -> str:
    if _libbpf.version() < MIN_LIBBPF:
        return (f"libbpf {bpfskel.libbpf_version()} cannot load BPF arenas (needs >= "
                f"{MIN_LIBBPF[0]}.{MIN_LIBBPF[1]}; set BPFSKEL_LIBBPF)")
    o = _libbpf.opts(_libbpf.MapCreateOpts, map_flags=BPF_F_MMAPABLE)
    fd = _libbpf.lib().bpf_map_create(MapType.ARENA, b"arena_probe", 0, 0, 1,
                                      ctypes.byref(o))
    if fd < 0:
        return f"the kernel cannot create BPF arenas ({os.strerror(-fd)}): needs linux >= 6.9"
    os.close(fd)
    return ""


requires_arena = pytest.mark.skipif(bool(_arena_unavailable()), reason=_arena_unavailable())


@pytest.fixture(scope="module")
def arena_mod(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generated_module("arena", tmp_path_factory)


@pytest.fixture(scope="module")
def segv_mod(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generated_module("arena_segv", tmp_path_factory)


# -- generation, and libbpf without arenas -------------------------------------------


def test_generated_module_has_the_arena_view(arena_mod: Any) -> None:
    """On every libbpf (1.1 included): the .addr_space.1 view is named `arena`
    as bpftool names it, with the exact layout of the __arena globals."""
    view = arena_mod.sections.arena
    assert view._section_ == ".addr_space.1"
    assert arena_mod.Skeleton._arena_ == (".addr_space.1", "arena", view)
    assert [s for s, _i, _c in arena_mod.Skeleton._sections_] == [".bss"]
    # ground truth: the ELF symbol table and section size of the object
    obj = build_obj("arena")
    syms = {n: v for n, v in elfread.symbols(obj).items() if v[0] == ".addr_space.1"}
    assert len(syms) == 8
    ours = {name: (getattr(view, name).offset, getattr(view, name).size) for name in syms}
    assert ours == {n: (v[1], v[2]) for n, v in syms.items()}
    assert ctypes.sizeof(view) == elfread.ElfFile(obj).section(".addr_space.1").size == 120
    assert view.slots.size == 4 * ctypes.sizeof(arena_mod.types.slot) == 64
    assert ctypes.sizeof(arena_mod.types.node) == 24
    assert has_arena_section(build_obj("arena").read_bytes())
    assert not has_arena_section(build_obj("arena_segv").read_bytes())


@pytest.mark.skipif(_libbpf.version() >= MIN_LIBBPF, reason="this libbpf loads arenas")
def test_old_libbpf_refuses_arena_objects_clearly(arena_mod: Any, segv_mod: Any) -> None:
    for mod, what in ((arena_mod, "__arena globals"), (segv_mod, "arena map 'arena'")):
        with pytest.raises(NotSupportedError, match=r"needs libbpf >= 1\.4") as info:
            mod.open()
        assert what in str(info.value) and bpfskel.libbpf_version() in str(info.value)
    with pytest.raises(NotSupportedError, match=r"libbpf >= 1\.4"):
        arena_mod.open(object_path=str(build_obj("arena")))


# -- live arenas --------------------------------------------------------------------------


@requires_arena
def test_arena_view_exists_from_load_on(arena_mod: Any, segv_mod: Any) -> None:
    with arena_mod.open() as skel:
        assert skel.arena is None
        with pytest.raises(bpfskel.Error, match="from load"):
            skel.arena_ptr(1 << 40, arena_mod.types.node)
        skel.load()
        mem = skel.arena_memory
        assert ctypes.addressof(skel.arena) == mem.address + mem.globals_offset
        assert mem.size == skel.maps.arena.max_entries * PAGE == 64 * PAGE
        assert mem.globals_size == 120
    with segv_mod.open_and_load() as skel:  # an arena map but no __arena globals
        assert "arena" not in vars(skel) and skel.arena_memory.globals_size == 0


@requires_arena
def test_counters_and_structs_through_skel_arena(arena_mod: Any) -> None:
    with arena_mod.open_and_load() as skel:
        arena = skel.arena
        run = skel.progs.arena_run
        # where libbpf put the globals is where BPF sees them
        assert run.test_run().retval == 0
        assert arena.runs_addr == ctypes.addressof(arena) + type(arena).runs.offset
        assert arena.runs_addr == skel.arena_memory.address + skel.arena_memory.globals_offset
        assert skel.bss.alloc_failures == 0
        assert [(s.hits, s.id, s.seen) for s in arena.slots] == [
            (1, 0, 1), (2, 1, 1), (3, 2, 1), (4, 3, 1)]
        slot2 = arena.slots[2]           # a sub-object follows the arena too
        for expect_runs in (2, 3):
            arena.from_user = 0xF00D + expect_runs   # Python writes ...
            arena.slots[1].hits = 1000               # ... into BPF's memory
            assert run.test_run().retval == 0
            assert arena.runs == expect_runs
            assert arena.echo == 0xF00D + expect_runs  # ... and the next run read it
            assert arena.slots[1].hits == 1002
            assert (slot2.hits, slot2.seen) == (3 * expect_runs, expect_runs)
        raw = skel.arena_memory.read_at(skel.arena_memory.globals_offset, 8)
        assert int.from_bytes(raw, "little") == 3


@requires_arena
def test_walk_the_list_bpf_built(arena_mod: Any) -> None:
    node_t = arena_mod.types.node
    with arena_mod.open_and_load() as skel:
        mem = skel.arena_memory
        for _ in range(3):
            assert skel.progs.arena_run.test_run().retval == 0
        seen = []
        addr = skel.arena.head
        while addr:
            node = skel.arena_ptr(addr, node_t)
            assert isinstance(node, node_t)
            assert ctypes.addressof(node) == addr and mem.contains(addr, ctypes.sizeof(node_t))
            seen.append((node.index, node.value, node.visits, addr // PAGE))
            addr = node.next
        assert [s[:3] for s in seen] == [(i, 1000 + i, 3) for i in range(LIST_LEN)]
        pages = {s[3] for s in seen}
        globals_pages = {(mem.address + mem.globals_offset) // PAGE}
        assert len(pages) == LIST_LEN and not pages & globals_pages  # one page per node
        # a write through a pointer view is seen by the next walk in BPF
        first = skel.arena_ptr(skel.arena.head, node_t)
        first.visits = 100
        assert skel.progs.arena_run.test_run().retval == 0
        assert first.visits == 101


@requires_arena
def test_pointers_outside_the_arena_raise(arena_mod: Any) -> None:
    node_t = arena_mod.types.node
    size = ctypes.sizeof(node_t)
    outside = ctypes.create_string_buffer(64)  # real memory, just not the arena's
    with arena_mod.open_and_load() as skel:
        mem = skel.arena_memory
        lo, hi = mem.address, mem.address + mem.size
        assert skel.arena_ptr(hi - size, node_t) is not None     # the last fitting place
        for addr in (0, lo - 1, lo - size, hi - size + 1, hi, hi + PAGE,
                     ctypes.addressof(outside), (1 << 64) - 8):
            with pytest.raises(BoundsError):
                skel.arena_ptr(addr, node_t)
        with pytest.raises(BoundsError, match="NULL"):
            skel.arena_ptr(0, ctypes.c_uint64)
        with pytest.raises(TypeError):
            skel.arena_ptr(ctypes.c_uint64(lo), node_t)  # type: ignore[arg-type]
        with pytest.raises(BoundsError):
            mem.read_at(mem.size - 7, 8)
        with pytest.raises(BoundsError):
            mem.write_at(-1, b"x")


@requires_arena
def test_4gib_arena_edges(arena_mod: Any) -> None:
    with arena_mod.open() as skel:
        skel.maps.arena.max_entries = GIB4 // PAGE  # the largest arena: 4 GiB
        skel.load()
        mem = skel.arena_memory
        assert mem.size == GIB4 and len(mem) == GIB4
        # the kernel keeps an arena within one 4 GiB-aligned window
        assert mem.address >> 32 == (mem.address + GIB4 - 1) >> 32
        assert skel.progs.arena_run.test_run().retval == 0
        assert skel.arena.runs_addr == mem.address + mem.globals_offset
        # BPF allocates the highest page the globals leave free and marks its end
        top = (mem.globals_offset or GIB4) - PAGE
        skel.arena.edge_addr = mem.address + top
        assert skel.progs.arena_edge.test_run().retval == 0
        assert skel.arena.edge_got == mem.address + top
        end = top + PAGE
        assert int.from_bytes(mem.read_at(end - 8, 8), "little") == EDGE_MAGIC
        last = skel.arena_ptr(mem.address + end - 8, ctypes.c_uint64)
        assert last.value == EDGE_MAGIC
        # the very last byte of 4 GiB, and not one past it
        mem.write_at(GIB4 - 1, b"\x7f")
        assert mem.read_at(GIB4 - 1, 1) == b"\x7f"
        assert skel.arena_ptr(mem.address + GIB4 - 1, ctypes.c_uint8).value == 0x7F
        for offset, n in ((GIB4 - 8, 9), (GIB4, 1), (GIB4 - 1, 2)):
            with pytest.raises(BoundsError):
                mem.read_at(offset, n)
            with pytest.raises(BoundsError):
                skel.arena_ptr(mem.address + offset, ctypes.c_uint8 * n)


def test_globals_offset_per_libbpf_version() -> None:
    assert globals_offset((1, 4), 64 * PAGE, 120) == 0
    assert globals_offset((1, 6), GIB4, 120) == 0
    assert GLOBALS_AT_END_SINCE == (1, 7)
    assert globals_offset((1, 7), 64 * PAGE, 120) == 63 * PAGE
    assert globals_offset((1, 7), GIB4, PAGE + 1) == GIB4 - 2 * PAGE
    assert globals_offset((1, 8), GIB4, 0) == 0


@requires_arena
def test_destroy_closes_the_arena(arena_mod: Any) -> None:
    """Views raise ClosedError; what was taken from them reads zeros (in a
    fresh interpreter, so that a fault fails this test, not the run)."""
    out = run_isolated(arena_mod, """
        import ctypes, gc
        import bpfskel
        skel = skel_mod.open_and_load()
        assert skel.progs.arena_run.test_run().retval == 0
        arena, slot = skel.arena, skel.arena.slots[3]
        node = skel.arena_ptr(arena.head, skel_mod.types.node)
        words = skel.arena_ptr(arena.head, ctypes.c_uint64 * 2)  # an array type
        value = node.value
        mem = skel.arena_memory
        skel.destroy()
        skel.destroy()
        for use in (lambda: arena.runs, lambda: skel.arena.echo, lambda: node.value,
                    lambda: words[0], lambda: len(words),
                    lambda: skel.arena_ptr(1, skel_mod.types.node),
                    lambda: skel.arena_memory, lambda: mem.read_at(0, 8),
                    lambda: bytes(arena)):
            try:
                use()
            except bpfskel.ClosedError:
                continue
            raise AssertionError("no ClosedError")
        print(value, slot.hits, slot.id, bytes(slot) == bytes(16))
        del arena, slot, node
        gc.collect()
    """)
    assert out.split() == ["1000", "0", "0", "True"]


@requires_arena
def test_destroy_closes_views_whatever_their_class_is_named(tmp_path: Any) -> None:
    """A C struct named ``closed_*`` is no closed view: its arena_ptr views
    must raise ClosedError after destroy like any other."""
    src = (REPO_ROOT / "bpf" / "arena.bpf.c").read_text()
    src = src.replace("struct node", "struct closed_node")
    (tmp_path / "arena_closed.bpf.c").write_text(src)
    obj = compile_bpf(tmp_path / "arena_closed.bpf.c", tmp_path / "arena_closed.bpf.o")
    path = tmp_path / "arena_closed_skel.py"
    path.write_text(generate(obj.read_bytes(), str(obj), "arena_closed"))
    spec = importlib.util.spec_from_file_location("arena_closed_skel", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = run_isolated(mod, """
        import bpfskel
        skel = skel_mod.open_and_load()
        assert skel.progs.arena_run.test_run().retval == 0
        node = skel.arena_ptr(skel.arena.head, skel_mod.types.closed_node)
        print(node.value)
        skel.destroy()
        try:
            node.value
        except bpfskel.ClosedError:
            print("closed")
    """)
    assert out.split() == ["1000", "closed"]


@requires_arena
def test_unreferenced_skeleton_closes_views_kept_from_it(arena_mod: Any) -> None:
    out = run_isolated(arena_mod, """
        import gc
        import bpfskel
        skel = skel_mod.open_and_load()
        assert skel.progs.arena_run.test_run().retval == 0
        arena = skel.arena
        slots = arena.slots
        del skel
        gc.collect()      # the finalizer closes the object and unmaps the arena
        try:
            arena.runs
        except bpfskel.ClosedError:
            print("closed", slots[0].hits)
    """)
    assert out.split() == ["closed", "0"]


@requires_arena
def test_segv_on_fault_arena_refuses_unallocated_pages(segv_mod: Any) -> None:
    out = run_isolated(segv_mod, """
        import ctypes, mmap
        import bpfskel
        with skel_mod.open_and_load() as skel:
            assert skel.arena_memory.flags & (1 << 17)
            assert skel.progs.arena_alloc.test_run().retval == 0
            page = skel.bss.page
            print(hex(skel.arena_ptr(page, ctypes.c_uint64).value))
            for addr in (page + mmap.PAGESIZE, page + mmap.PAGESIZE - 4):
                try:
                    skel.arena_ptr(addr, ctypes.c_uint64)
                except bpfskel.BoundsError as e:
                    print("refused" if "not allocated" in str(e) else e)
    """)
    assert out.split() == ["0x5e6f", "refused", "refused"]


@requires_arena
@pytest.mark.skipif(_libbpf.version() >= GLOBALS_AT_END_SINCE,
                    reason="checked where libbpf writes __arena globals from user space")
def test_segv_on_fault_arena_with_globals_is_refused(arena_mod: Any, tmp_path: Any) -> None:
    """libbpf < 1.7 would crash at load writing the initial __arena values."""
    src = (REPO_ROOT / "bpf" / "arena.bpf.c").read_text()
    flags = "__uint(map_flags, BPF_F_MMAPABLE);"
    assert flags in src
    variant = tmp_path / "arena_segv_globals.bpf.c"
    variant.write_text(src.replace(flags, "__uint(map_flags, BPF_F_MMAPABLE | (1U << 17));"))
    obj = compile_bpf(variant, tmp_path / "arena_segv_globals.bpf.o")
    out = run_isolated(arena_mod, f"""
        import bpfskel
        try:
            skel_mod.open_and_load(object_path={str(obj)!r})
        except bpfskel.NotSupportedError as e:
            print("refused" if "BPF_F_SEGV_ON_FAULT" in str(e) else e)
    """)
    assert out.split() == ["refused"]


@requires_arena
def test_borrowed_memory_rules(arena_mod: Any) -> None:
    """BorrowedMemory over the arena: bounds, read-only, closed; never unmaps."""
    slot_t = arena_mod.types.slot
    with arena_mod.open_and_load() as skel:
        mem = skel.arena_memory
        base = mem.address + mem.globals_offset
        ro = BorrowedMemory(base, 120, readonly=True)
        rw = BorrowedMemory(base, 120)
        assert (ro.readonly, rw.readonly, len(rw), rw.size) == (True, False, 120, 120)
        rw.write_at(32, (77).to_bytes(8, "little"))      # slots[0].hits
        assert skel.arena.slots[0].hits == 77
        assert ro.read_at(32, 8) == (77).to_bytes(8, "little")
        with pytest.raises(ReadOnlyError):
            ro.write_at(0, b"x")
        frozen = ro.view(slot_t, 32)
        assert frozen.hits == 77
        with pytest.raises(ReadOnlyError):
            frozen.hits = 1
        assert rw.view(slot_t, 120 - 16).hits == 0        # ends on the last byte
        with pytest.raises(BoundsError):
            rw.view(slot_t, 120 - 15)
        live = rw.view(slot_t, 48)
        rw.close()
        rw.close()
        with pytest.raises(ClosedError):
            rw.read_at(0, 1)
        with pytest.raises(ClosedError):
            live.hits
        with pytest.raises(ClosedError):
            rw.address
        assert skel.arena.slots[0].hits == 77  # closing a borrow never unmaps
        for bad in ((0, 8), (base, 0), (base, -1), ((1 << 64) - 4, 8)):
            with pytest.raises(ValueError):
                BorrowedMemory(*bad)
        del live, frozen
        gc.collect()
