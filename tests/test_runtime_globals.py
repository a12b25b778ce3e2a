"""Live globals through real programs: the round trip in both directions
through BPF_PROG_TEST_RUN and a raw tracepoint, the raw bytes of a view,
Kconfig externs, a 16 MiB .bss, and resizing sections before load.

Sources: bpf/globals.bpf.c, bpf/large.bpf.c, bpf/resize.bpf.c.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
from typing import Any

import pytest

import bpfskel
from bpfskel import _libbpf
from bpfskel.gen.generate import generate

import elfread
from bpfenv import build_obj, compile_bpf, generated_module, lookup, requires_bpf, update

pytestmark = requires_bpf


@pytest.fixture(scope="module")
def glob(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generated_module("globals", tmp_path_factory)


def _configure(skel: Any) -> None:
    """Write every shape of .rodata/.data/.bss global before load."""
    cfg = skel.rodata.cfg
    cfg.threshold = 1234
    cfg.origin.y = -77
    cfg.nest.inner.x = 31
    cfg.mode.bias = -300
    cfg.mode.level = 15
    cfg.ports[3] = 9090
    cfg.corners[1].y = 88
    cfg.tag = b"configured"
    skel.rodata.limit = 2**40 + 3
    skel.data.data_value = 21
    skel.data.data_point.y = -8
    skel.bss.counter = 500


def test_round_trip_through_test_run(glob: Any) -> None:
    with glob.open() as skel:
        _configure(skel)
        hist = skel.bss.stats.hist      # captured before load: follows the map
        skel.load()
        snapshot = skel.progs.snapshot
        assert snapshot.test_run().retval == 0

        # written before load, seen by BPF
        bss = skel.bss
        seen = bss.seen_cfg
        assert (seen.threshold, seen.origin.x, seen.origin.y) == (1234, 1, -77)
        assert (seen.nest.inner.x, seen.nest.inner.y, seen.nest.depth) == (31, 3, 4)
        assert (seen.mode.level, seen.mode.verbose, seen.mode.bias, seen.mode.tail) == (
            15, 1, -300, 9)
        assert list(seen.ports) == [22, 80, 443, 9090]
        assert [(c.x, c.y) for c in seen.corners] == [(5, 6), (7, 88)]
        assert seen.tag == b"configured"
        assert bytes(seen) == bytes(skel.rodata.cfg)  # every byte, padding included
        assert bss.seen_limit == 2**40 + 3
        assert bss.seen_data_value == 21
        assert (bss.seen_data_point.x, bss.seen_data_point.y) == (7, -8)
        assert bss.seen_counter == 500

        # written by BPF, seen by Python
        assert bss.counter == 501
        assert skel.data.data_value == 42
        assert bss.stats.runs == 1
        assert (bss.stats.last.x, bss.stats.last.y) == (101, -1)
        assert hist[3] == 7 and bss.stats.hist[3] == 7

        # written by Python after load, seen by BPF at the next run
        bss.counter = 10**12
        skel.data.data_value = 3
        skel.data.data_point.x = -5
        hist[3] = 100
        snapshot.test_run()
        assert bss.seen_counter == 10**12 and bss.counter == 10**12 + 1
        assert bss.seen_data_value == 3 and skel.data.data_value == 6
        assert bss.seen_data_point.x == -5
        assert bss.stats.hist[3] == 107 and bss.stats.runs == 2


def test_round_trip_through_raw_tracepoint(glob: Any) -> None:
    with glob.open() as skel:
        skel.rodata.target_tgid = os.getpid()   # before load: BPF filters on it
        skel.load()
        skel.attach()                           # raw_tp/sys_enter; SEC("syscall") is skipped
        assert {k for k in vars(skel.links) if k != "_kind"} == {"on_sys_enter"}
        skel.bss.marker = 0x5eed_1234_abcd      # after load: BPF copies it out
        os.getppid()
        assert skel.bss.seen_marker == 0x5eed_1234_abcd  # written by BPF
        assert skel.bss.tp_hits >= 1
        skel.detach()
        skel.bss.marker = 1
        os.getppid()
        assert skel.bss.seen_marker == 0x5eed_1234_abcd  # detached: nothing runs


def test_bytes_of_a_view_are_the_section_bytes(glob: Any) -> None:
    elf = elfread.read_elf(build_obj("globals"))
    with glob.open() as skel:
        assert bytes(skel.data) == elf.section_data(".data")
        assert bytes(skel.rodata) == elf.section_data(".rodata")[:ctypes.sizeof(skel.rodata)]
        assert bytes(skel.bss) == bytes(ctypes.sizeof(skel.bss))
        skel.rodata.limit = 0x0102030405060708
        assert bytes(skel.rodata)[72:80] == bytes(range(8, 0, -1))
        skel.load()
        skel.progs.snapshot.test_run()
        for ident in ("bss", "data", "rodata", "kconfig"):
            m = getattr(skel.maps, ident)
            raw = bytes(getattr(skel, ident))
            assert len(raw) == m.value_size
            assert raw == lookup(m.fd, 0, m.value_size), ident  # what the kernel holds
            assert skel.section_bytes(ident) == raw
        # a write through the syscall path shows in the mapped bytes at once
        m = skel.maps.bss
        update(m.fd, 0, bytes(range(256))[:m.value_size])
        assert bytes(skel.bss) == bytes(range(256))[:m.value_size]
        bss = skel.bss
    with pytest.raises(bpfskel.ClosedError):
        bytes(bss)


def test_kconfig_externs_and_overrides(glob: Any) -> None:
    with glob.open(kconfig={"CONFIG_BPFSKEL_TAG": '"tagged"'}) as skel:
        assert skel.kconfig is None
        skel.load()
        skel.progs.snapshot.test_run()
        k = skel.kconfig
        assert k.CONFIG_BPFSKEL_TAG == b"tagged"
        assert skel.bss.seen_tag == b"tagged"
        assert skel.bss.seen_kversion == k.LINUX_KERNEL_VERSION
        major, minor = (int(x) for x in os.uname().release.split(".")[:2])
        assert k.LINUX_KERNEL_VERSION >> 8 == (major << 8) | minor
        assert skel.bss.seen_hz == k.CONFIG_HZ


# -- a 16 MiB .bss -----------------------------------------------------------------

LARGE = 16 << 20
FLIP = 0xfeedfacecafebeef


def test_16_mib_bss_last_element_both_ways(tmp_path_factory: pytest.TempPathFactory) -> None:
    mod = generated_module("large", tmp_path_factory)
    with mod.open() as skel:
        slots = skel.bss.slots
        n = len(slots)
        assert n * 8 == LARGE
        slots[n - 1] = 0x1111                   # before load
        skel.load()
        assert skel.maps.bss.value_size >= LARGE
        touch = skel.progs.touch_last
        touch.test_run()
        assert skel.bss.seen_last == 0x1111     # BPF read what Python wrote before load
        assert slots[n - 1] == 0x1111 ^ FLIP    # BPF's write, read through the mapping
        assert skel.bss.slots[-1] == 0x1111 ^ FLIP
        slots[n - 1] = 0x0123456789abcdef       # after load
        touch.test_run()
        assert skel.bss.seen_last == 0x0123456789abcdef
        assert slots[n - 1] == 0x0123456789abcdef ^ FLIP
        assert slots[0] == 0 and slots[n - 2] == 0
        # the kernel's copy agrees: the very last 8 bytes of the value
        raw = lookup(skel.maps.bss.fd, 0, skel.maps.bss.value_size)
        assert int.from_bytes(raw[LARGE - 8:LARGE], "little") == 0x0123456789abcdef ^ FLIP


# -- resizing before load --------------------------------------------------------------


def _can_resize() -> bool:
    try:
        return _libbpf.version() >= (1, 3)
    except _libbpf.LibbpfNotFoundError:
        return False


can_resize = _can_resize()


@pytest.fixture(scope="module")
def resize(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generated_module("resize", tmp_path_factory)


@pytest.mark.skipif(not can_resize, reason="resizing a section needs libbpf >= 1.3")
def test_resize_rebuilds_views_and_bpf_sees_the_new_size(resize: Any) -> None:
    n = 1000
    with resize.open() as skel:
        old = skel.data_values
        old.values[0] = 5
        skel.maps.data_values.value_size = 8 * n
        skel.maps.rodata_weights.value_size = 4 * n
        values, weights = skel.data_values, skel.rodata_weights
        assert values is not old
        with pytest.raises(bpfskel.ClosedError) as ei:
            old.values
        # the skeleton is alive: the message says why this view went (it said
        # "destroyed")
        assert str(ei.value) == ("this .data.values view was replaced when the section "
                                 "was resized: use skel.data_values again")
        assert len(values.values) == n and ctypes.sizeof(values) == 8 * n
        assert len(weights.weights) == n and weights.weights[0] == 1
        assert values.values[0] == 5            # written before the resize: kept
        for i in range(1, n):
            values.values[i] = i
            weights.weights[i] = 3
        skel.rodata.len = n
        skel.load()
        assert skel.maps.data_values.value_size == 8 * n
        assert bytes(weights) == lookup(skel.maps.rodata_weights.fd, 0, 4 * n)
        with pytest.raises(bpfskel.ReadOnlyError):
            weights.weights[n - 1] = 0
        skel.progs.weigh.test_run()
        expected = 5 + 3 * sum(range(1, n))
        assert skel.bss.sum == expected         # BPF read all n elements
        assert values.values[n - 1] == expected  # and wrote the last one
        values.values[n - 1] = 0                 # Python writes past the old size...
        values.values[n - 2] = 1
        skel.progs.weigh.test_run()
        assert skel.bss.sum == 5 + 3 * (sum(range(1, n - 2)) + 1)  # ...seen by BPF


@pytest.mark.skipif(not can_resize, reason="resizing a section needs libbpf >= 1.3")
def test_resize_refuses_what_the_view_cannot_follow(resize: Any) -> None:
    with resize.open() as skel:
        view = skel.data_values
        with pytest.raises(bpfskel.Error, match="no room"):
            skel.maps.data_values.value_size = 4
        with pytest.raises(bpfskel.Error, match="not an array"):
            skel.maps.bss.value_size = 64       # .bss ends with a scalar
        assert skel.data_values is view and skel.maps.data_values.value_size == 8
        skel.load()
        with pytest.raises(bpfskel.Error):
            skel.maps.data_values.value_size = 80
        assert skel.maps.data_values.value_size == 8


INT128_SRC = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
__int128 big SEC(".data.tab") = 7;
__u64 tab[1] SEC(".data.tab");
__u64 out;
SEC("syscall")
int run(void *ctx) { __u64 *t = tab; barrier_var(t); out = (__u64)big + t[1]; return 0; }
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.mark.skipif(not can_resize, reason="resizing a section needs libbpf >= 1.3")
def test_resize_keeps_int128_globals(tmp_path: Any) -> None:
    """A resized view is a new class: the __int128 property before the final
    array must survive, reading and writing the same bytes BPF uses."""
    (tmp_path / "int128tab.bpf.c").write_text(INT128_SRC)
    obj = compile_bpf(tmp_path / "int128tab.bpf.c", tmp_path / "int128tab.bpf.o")
    path = tmp_path / "int128tab_skel.py"
    path.write_text(generate(obj.read_bytes(), str(obj), "int128tab"))
    spec = importlib.util.spec_from_file_location("int128tab_skel", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with mod.open() as skel:
        skel.maps.data_tab.value_size = 32
        view = skel.data_tab
        assert view.big == 7 and len(view.tab) == 2
        view.big = 2**100 + 5
        view.tab[1] = 10
        skel.load()
        assert skel.progs.run.test_run().retval == 0
        assert skel.bss.out == 15 and view.big == 2**100 + 5


@pytest.mark.skipif(can_resize, reason="libbpf >= 1.3 resizes sections")
def test_resize_on_old_libbpf_is_not_supported(resize: Any) -> None:
    with resize.open() as skel:
        view = skel.data_values
        with pytest.raises(bpfskel.NotSupportedError, match="libbpf >= 1.3") as ei:
            skel.maps.data_values.value_size = 8 * 10
        assert isinstance(ei.value, OSError) and ei.value.errno == 95  # EOPNOTSUPP
        assert skel.data_values is view and len(view.values) == 1
        assert skel.maps.data_values.value_size == 8
        skel.load()                              # the object still loads as it was
        skel.progs.weigh.test_run()
