"""Lifecycle and leaks on a real program (bpf/shared.bpf.c).

* 1,000 cycles of open -> load -> attach -> write a global -> destroy, with
  ``destroy()`` and with the ``with`` block: the fd count and the number of
  mappings stay flat (±2; BPF fds and BPF mappings exactly), and RSS grows by
  at most 4 MiB.
* After destroy: top-level views raise ClosedError, maps and programs kept
  from the skeleton raise ClosedError (libbpf has freed what they point at),
  sub-objects kept from views read zeros and never crash (in a separate
  interpreter, so a crash fails the test instead of the runner), and
  ``destroy()`` twice is fine.
* A skeleton nobody destroyed is cleaned up by its finalizer at garbage
  collection, even while one of its views is still referenced.
"""

from __future__ import annotations

import gc
import os
import threading
import weakref
from typing import Any, Dict

import pytest

from bpfenv import generated_module, requires_bpf
from skelenv import run_isolated

pytestmark = requires_bpf

CYCLES = 1000
RSS_GROWTH_LIMIT_KB = 4096


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generated_module("shared", tmp_path_factory)


def snapshot() -> Dict[str, int]:
    """fds and memory mappings (all, and BPF ones) and RSS of this process."""
    gc.collect()
    fds = os.listdir("/proc/self/fd")
    kinds = []
    for fd in fds:
        try:
            kinds.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass  # the directory listing's own fd, closed meanwhile
    with open("/proc/self/maps") as f:
        lines = f.readlines()
    rss = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return {"fds": len(fds), "bpf_fds": sum("bpf" in k for k in kinds),
            "mappings": len(lines), "bpf_mappings": sum("bpf-map" in ln for ln in lines),
            "rss_kb": rss}


def exercise(skel: Any, i: int) -> None:
    """load, attach, write globals, and check BPF ran once with them."""
    skel.rodata.writer_tgid = os.getpid()
    skel.load()
    skel.attach()
    skel.bss.writer_tid = threading.get_native_id()
    skel.data.stamp = i
    os.getppid()
    assert (skel.bss.hits, skel.bss.echo, skel.data.data_hits) == (1, i, 2)


def cycle(mod: Any, i: int, with_block: bool) -> None:
    if with_block:
        with mod.open() as skel:
            exercise(skel, i)
    else:
        skel = mod.open()
        exercise(skel, i)
        skel.destroy()


@pytest.fixture
def anchor(shared: Any) -> Any:
    # One skeleton attached to the same raw tracepoint for the whole run: the
    # kernel then does not enable and disable the tracepoint on every cycle
    # (jump-label patching, ~12 ms each here), a kernel cost that would
    # dominate the run; the cycles still do every step of their own.
    with shared.open() as skel:
        skel.load()
        skel.attach()
        yield skel


@pytest.mark.parametrize("with_block", [False, True], ids=["destroy", "with"])
def test_cycles_do_not_leak(shared: Any, anchor: Any, with_block: bool) -> None:
    for i in range(20):  # warm-up: caches, lazily loaded code, allocator pools
        cycle(shared, i, with_block)
    before = snapshot()
    for i in range(CYCLES):
        cycle(shared, i, with_block)
    after = snapshot()
    delta = {k: after[k] - before[k] for k in before}
    print(f"\n{CYCLES} cycles ({'with' if with_block else 'destroy'}): {delta}")
    assert abs(delta["fds"]) <= 2, delta
    assert delta["bpf_fds"] == 0 and delta["bpf_mappings"] == 0, delta
    assert abs(delta["mappings"]) <= 2, delta  # the allocator's arenas come and go
    assert delta["rss_kb"] <= RSS_GROWTH_LIMIT_KB, delta


def test_use_after_destroy(shared: Any) -> None:
    out = run_isolated(shared, """
        import os, threading
        import bpfskel

        skel = skel_mod.open()
        skel.rodata.writer_tgid = os.getpid()
        magic_before_load = skel.rodata.magic
        skel.load()
        skel.attach()
        skel.bss.writer_tid = threading.get_native_id()
        os.getppid()
        bss, data, rodata = skel.bss, skel.data, skel.rodata
        pair, slots, dslots, magic = bss.pair, bss.slots, data.data_slots, rodata.magic
        assert pair.a == 1 and dslots[3] == 4
        slots[1] = 7
        the_map, the_prog, the_link = skel.maps.bss, skel.progs.on_getppid, \\
            skel.links.on_getppid
        skel.destroy()
        skel.destroy()

        def refused(what):
            try:
                what()
            except bpfskel.ClosedError:
                return True
            return False

        views = [(bss, "hits"), (data, "stamp"), (rodata, "writer_tgid"),
                 (skel.bss, "hits")]
        for view, name in views:
            assert refused(lambda: getattr(view, name)), name
            assert refused(lambda: setattr(view, name, 1)), name
        for what in (lambda: the_map.fd, lambda: the_map.value_size, lambda: the_prog.fd,
                     lambda: the_prog.name, lambda: the_prog.test_run(),
                     lambda: the_link.fd, skel.load, skel.attach,
                     lambda: skel.maps.data.get(0), lambda: skel.maps.data[0]):
            assert refused(what)
        print(repr(the_map), repr(the_prog), repr(bss))
        # sub-objects taken before destroy: read zeros, take writes, never crash
        print(pair.seq, pair.a, pair.b, list(slots), list(dslots), list(magic),
              list(magic_before_load))
        pair.a = 9
        slots[0] = 3
        dslots[2] = 5
        print(pair.a, slots[0], dslots[2])
        print("survived")
    """)
    lines = out.splitlines()
    assert lines[0] == "<Map bss (destroyed)> <Program on_getppid (destroyed)> " \
        "<closed bss view>", lines[0]
    assert lines[1] == "0 0 0 [0, 0, 0, 0] [0, 0, 0, 0] [0, 0] [0, 0]", lines[1]
    assert lines[2:] == ["9 3 5", "survived"], lines


def test_finalizer_cleans_up_what_nobody_destroyed(shared: Any) -> None:
    before = snapshot()

    def forget() -> "weakref.ref[Any]":
        skel = shared.open()
        exercise(skel, 1)
        assert snapshot()["bpf_fds"] > before["bpf_fds"]
        return weakref.ref(skel)

    gone = forget()
    gc.collect()
    assert gone() is None
    after = snapshot()
    for key in ("fds", "bpf_fds", "bpf_mappings"):
        assert after[key] == before[key], (key, before, after)
    assert abs(after["mappings"] - before["mappings"]) <= 2, (before, after)


def test_finalizer_with_a_view_still_referenced(shared: Any) -> None:
    out = run_isolated(shared, """
        import gc, os, threading, weakref
        import bpfskel

        def bpf_fds():
            n = 0
            for fd in os.listdir("/proc/self/fd"):
                try:
                    n += "bpf" in os.readlink(f"/proc/self/fd/{fd}")
                except OSError:  # the listing's own fd, closed by now
                    pass
            return n

        before = bpf_fds()
        skel = skel_mod.open()
        skel.rodata.writer_tgid = os.getpid()
        skel.load()
        skel.attach()
        skel.bss.writer_tid = threading.get_native_id()
        os.getppid()
        bss, pair = skel.bss, skel.bss.pair
        print(bss.hits, pair.a)
        gone = weakref.ref(skel)
        del skel
        gc.collect()
        print(gone() is None, bpf_fds() - before)
        try:
            bss.hits             # the view kept refuses, as after destroy()
        except bpfskel.ClosedError:
            # a sub-object keeps the map's memory alive: it still reads the
            # map, not zero pages (it used to read 0 here)
            print("closed", pair.a)
        os.getppid()
        print(pair.a)            # and BPF is detached: nothing counts any more
        pair.a = 7               # a plain ctypes write, still into the map's memory
        print(pair.a)
    """)
    assert out.splitlines() == ["1 1", "True 0", "closed 1", "1", "7"], out
