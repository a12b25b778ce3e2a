"""Skeleton runtime on a real program: configure, load, attach, live globals,
read-only after load, destroy.  (bpf/minimal.bpf.c)"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

import bpfskel

from bpfenv import build_obj, generated_module, lookup, needs_tracefs, requires_bpf

pytestmark = requires_bpf


@pytest.fixture(scope="module")
def minimal(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generated_module("minimal", tmp_path_factory)




@needs_tracefs
def test_globals_round_trip(minimal: Any) -> None:
    with minimal.open() as skel:
        skel.rodata.target_tgid = os.getpid()     # before load: seen by BPF
        skel.load()
        skel.attach()
        assert "count_getpid" in {p.name for p in skel.progs}
        for _ in range(50):
            os.getpid()
        assert skel.bss.calls == 50               # BPF write seen by Python
        assert skel.bss.last_pid_tgid >> 32 == os.getpid()
        skel.bss.calls = 1000                     # Python write seen by BPF
        os.getpid()
        assert skel.bss.calls == 1001
        # the view is the map: a syscall lookup agrees with the mapped read
        raw = lookup(skel.maps.bss.fd, 0, skel.maps.bss.value_size)
        assert int.from_bytes(raw[:8], "little") == 1001
        # another process is filtered out by the .rodata configuration
        subprocess.run([sys.executable, "-c", "import os; [os.getpid() for _ in range(20)]"],
                       check=True)
        assert skel.bss.calls == 1001


def test_rodata_is_readonly_after_load(minimal: Any) -> None:
    with minimal.open() as skel:
        skel.rodata.target_tgid = 77
        captured = skel.rodata
        skel.load()
        assert skel.rodata.target_tgid == 77 and captured.target_tgid == 77
        for view in (skel.rodata, captured):
            with pytest.raises(bpfskel.ReadOnlyError):
                view.target_tgid = 1
        assert skel.rodata.target_tgid == 77


def test_destroy_closes_views(minimal: Any) -> None:
    skel = minimal.open_and_load()
    bss = skel.bss
    skel.destroy()
    skel.destroy()  # idempotent
    with pytest.raises(bpfskel.ClosedError):
        bss.calls
    with pytest.raises(bpfskel.ClosedError):
        skel.bss.calls = 1
    with minimal.open() as again:  # context manager destroys
        rodata = again.rodata
    with pytest.raises(bpfskel.ClosedError):
        rodata.target_tgid


def test_load_twice_and_attach_before_load_raise(minimal: Any) -> None:
    """State errors are StateError: both a bpfskel.Error and a RuntimeError."""
    with minimal.open() as skel:
        with pytest.raises(bpfskel.StateError, match="cannot attach before load"):
            skel.attach()
        skel.load()
        with pytest.raises(RuntimeError, match="already loaded") as ei:
            skel.load()
        assert isinstance(ei.value, bpfskel.StateError) and isinstance(ei.value, bpfskel.Error)
    with pytest.raises(bpfskel.StateError, match="destroyed") as closed:
        skel.load()
    assert isinstance(closed.value, bpfskel.ClosedError)  # a ValueError too, as for files
    assert isinstance(closed.value, ValueError) and isinstance(closed.value, RuntimeError)


def test_object_path_mismatch_is_refused(minimal: Any) -> None:
    other = build_obj("rejected")
    with pytest.raises(bpfskel.Error, match="match"):
        minimal.open(object_path=str(other))


def test_maps_and_programs_attributes(minimal: Any) -> None:
    with minimal.open_and_load() as skel:
        m = skel.maps.per_tid
        assert (m.name, m.key_size, m.value_size, m.max_entries) == ("per_tid", 4, 8, 64)
        assert m.fd >= 0 and m.type == 1  # BPF_MAP_TYPE_HASH
        p = skel.progs.count_getpid
        assert p.section == "tp/syscalls/sys_enter_getpid" and p.fd >= 0


def test_kconfig_after_load_matches_what_bpf_saw(tmp_path_factory: pytest.TempPathFactory
                                                 ) -> None:
    mod = generated_module("kconfig", tmp_path_factory)
    with mod.open() as skel:
        assert skel.kconfig is None  # before load
        skel.load()
        assert skel.progs.read_kconfig.test_run().retval == 0
        release = os.uname().release.split("-")[0].split(".")
        major, minor = int(release[0]), int(release[1])
        assert skel.kconfig.LINUX_KERNEL_VERSION >> 8 == (major << 8) | minor
        assert skel.bss.seen_version == skel.kconfig.LINUX_KERNEL_VERSION
        assert skel.bss.seen_hz == skel.kconfig.CONFIG_HZ
        with pytest.raises(bpfskel.ReadOnlyError):
            skel.kconfig.CONFIG_HZ = 1


def test_misspelt_global_raises(minimal: Any) -> None:
    """A writable view has no instance __dict__: a typo is an error, not a new attribute."""
    with minimal.open() as skel:
        with pytest.raises(AttributeError):
            skel.bss.callz = 1
        skel.load()
        with pytest.raises(AttributeError):
            skel.bss.callz = 1
        skel.bss.calls = 5          # the real global still writes
        assert skel.bss.calls == 5


@needs_tracefs
def test_a_dropped_explicit_link_stays_attached(minimal: Any) -> None:
    """The skeleton keeps every link until destroy, as a C skeleton and BCC
    do; dropping the returned Link does not detach it."""
    import gc

    with minimal.open() as skel:
        skel.rodata.target_tgid = os.getpid()
        skel.load()
        skel.progs.count_getpid.attach_tracepoint("syscalls", "sys_enter_getpid")
        gc.collect()
        for _ in range(5):
            os.getpid()
        assert skel.bss.calls == 5
        skel.detach()                    # detach() is for attach()'s links only
        os.getpid()
        assert skel.bss.calls == 6
        links = list(skel._res.links)
    assert links and all(link.destroyed for link in links)  # destroy() detached it
