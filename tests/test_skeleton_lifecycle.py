"""attach() semantics, autoattach, destroyed links, map pins and the
single-element map path, on a real object (bpf/lifecycle.bpf.c)."""

from __future__ import annotations

import os
import sys
from typing import Any, Iterator, List

import pytest

import bpfskel
from bpfskel import Memory

from bpfenv import module_fixture, requires_bpf

pytestmark = [requires_bpf]

mod = module_fixture("lifecycle")
BPFFS = "/sys/fs/bpf"


@pytest.fixture
def skel(mod: Any) -> Iterator[Any]:
    with mod.open() as s:
        s.rodata.target_tgid = os.getpid()
        s.load()
        yield s


def links(skel: Any) -> List[str]:
    return sorted(k for k in skel.links.__dict__ if k != "_kind")


def counts(skel: Any) -> List[int]:
    """getppid() once; which programs counted it."""
    before = skel.bss.first_hits, skel.bss.second_hits
    os.getppid()
    return [skel.bss.first_hits - before[0], skel.bss.second_hits - before[1]]


# -- attach() and autoattach (item 10) ---------------------------------------------------


def test_attach_failure_names_the_program(skel: Any) -> None:
    with pytest.raises(bpfskel.LibbpfError) as ei:
        skel.attach()
    first = str(ei.value).splitlines()[0]
    assert first.startswith("attaching program 'missing_tp' (tp/bpfskel_none/nothing): ")
    assert "tracepoint 'bpfskel_none/nothing' does not exist" in first


def test_autoattach_off_lets_attach_do_the_rest(skel: Any) -> None:
    prog = skel.progs.missing_tp
    assert prog.autoattach is True
    prog.autoattach = False  # the app attaches this one itself (or not at all)
    assert prog.autoattach is False
    skel.attach()
    # as libbpf's C skeleton: no-target sections (xdp, bare uprobe) are skipped
    assert links(skel) == ["first", "second"]
    assert counts(skel) == [1, 1]
    prog.autoattach = True
    with pytest.raises(bpfskel.LibbpfError, match="missing_tp"):
        skel.attach()  # the others are attached: only this one is tried, and fails


def test_autoattach_off_before_load(mod: Any) -> None:
    with mod.open() as s:
        s.rodata.target_tgid = os.getpid()
        s.progs.missing_tp.autoattach = False
        s.progs.second.autoattach = False
        s.load()
        s.attach()
        assert links(s) == ["first"]
        assert counts(s) == [1, 0]


# -- links destroyed and attach() again (item 4) -----------------------------------------


def test_attach_again_after_a_link_was_destroyed(skel: Any) -> None:
    skel.progs.missing_tp.autoattach = False
    skel.attach()
    second = skel.links.second
    skel.links.first.destroy()
    assert links(skel) == ["second"]  # a destroyed link leaves skel.links
    assert skel.links.first is None  # as before attach(): Links members are Link | None
    assert counts(skel) == [0, 1]
    skel.attach()  # re-attaches just what is not attached
    assert links(skel) == ["first", "second"]
    assert skel.links.second is second and not skel.links.first.destroyed
    assert counts(skel) == [1, 1]
    skel.detach()
    assert links(skel) == [] and counts(skel) == [0, 0]


# -- pins (item 5) ------------------------------------------------------------------------


@pytest.mark.skipif(not os.path.ismount(BPFFS), reason=f"no bpffs mounted at {BPFFS}")
def test_a_failed_pin_leaves_no_state(skel: Any, tmp_path: Any) -> None:
    table = skel.maps.table
    with pytest.raises(bpfskel.LibbpfError):
        table.pin(str(tmp_path / "not-on-bpffs"))  # not a bpffs
    path = f"{BPFFS}/bpfskel_i14_pin_{os.getpid()}"
    try:
        table.pin(path)  # used to fail: "already has pin path"
        assert os.path.exists(path)
        table.unpin()  # used to fail too: it unlinked the failed path
        assert not os.path.exists(path)
        table.pin(path + "_b")  # a map unpinned can be pinned elsewhere
        assert os.path.exists(path + "_b")
        table.unpin()
        assert not os.path.exists(path + "_b")
    finally:
        for p in (path, path + "_b"):
            if os.path.exists(p):
                os.unlink(p)


# -- wording (item 11) --------------------------------------------------------------------


def test_before_load_messages(mod: Any) -> None:
    with mod.open() as s:
        with pytest.raises(bpfskel.StateError) as ei:
            s.progs.first.attach_raw_tracepoint("sys_enter")
        assert str(ei.value) == "cannot attach 'first' before load()"
        with pytest.raises(bpfskel.StateError) as ei:
            s.progs.no_target.test_run(bytes(64))
        assert str(ei.value) == "cannot test-run 'no_target' before load()"


def test_memory_on_a_map_that_cannot_be_mapped(skel: Any) -> None:
    with pytest.raises(bpfskel.SyscallError) as ei:
        Memory(skel.maps.table.fd, 4096)
    assert not isinstance(ei.value, bpfskel.LibbpfError)
    assert ei.value.errno == 524
    assert "Unknown error" not in str(ei.value)
    assert "ENOTSUPP" in str(ei.value) and "BPF_F_MMAPABLE" in str(ei.value)


# -- the single-element path (item 12) ----------------------------------------------------


def test_element_operations_read_no_metadata_after_load(skel: Any) -> None:
    """After load, m[k], m[k] = v, k in m and del m[k] are a syscall each and
    call none of the libbpf metadata getters (each used to run five, and
    build an error message even on success)."""
    table = skel.maps.table
    table[1] = 10
    called: List[str] = []
    maps_py = sys.modules["bpfskel.maps"].__file__

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code.co_filename == maps_py:
            called.append(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        for k in range(2, 12):
            table[k] = k * 10
            assert table[k] == k * 10 and k in table
            del table[k]
    finally:
        sys.setprofile(None)
    assert table[1] == 10
    metadata = {"type", "fd", "name", "max_entries", "key_size", "value_size", "_what",
                "_ptr", "_live_fd", "_setup", "percpu"}
    assert sorted(set(called) & metadata) == []
    skel.destroy()
    with pytest.raises(bpfskel.ClosedError):
        table[1]  # nothing cached survives destroy
