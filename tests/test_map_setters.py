"""Map setters before load: ``type``, ``key_size``, ``max_entries``,
``autocreate``, ``pin_path``, ``reuse_fd`` and ``inner_map``, with the C
tools' ring buffer -> perf buffer fallback run both ways on this kernel.

Source: bpf/map_setters.bpf.c.
"""

from __future__ import annotations

import ctypes
import errno
import os
from typing import Any, List

import pytest

import bpfskel
from bpfskel import _libbpf, features
from bpfskel.uapi import MapType

from bpfenv import module_fixture, requires_bpf

pytestmark = requires_bpf

mod = module_fixture("map_setters")
BPF_MAP_TYPE_ARRAY = MapType.ARRAY


def _array_map(max_entries: int = 1) -> int:
    opts = _libbpf.opts(_libbpf.MapCreateOpts)
    fd = _libbpf.call(_libbpf.lib().bpf_map_create, "creating an inner map",
                      BPF_MAP_TYPE_ARRAY, b"inner", 4, 8, max_entries, ctypes.byref(opts))
    return int(fd)


def _configure(skel: Any, ringbuf: bool, inner_fd: int) -> None:
    """What a tool does before load (libbpf-tools' compat.c, in Python)."""
    skel.rodata.use_ringbuf = int(ringbuf)
    if ringbuf:
        ev = skel.maps.events
        ev.type = MapType.RINGBUF
        ev.key_size = 0
        ev.value_size = 0
        ev.max_entries = 1 << 16
        skel.maps.heap.autocreate = False
    skel.maps.outer.inner_map = inner_fd


@pytest.mark.parametrize("ringbuf", [True, False], ids=["ringbuf", "perfbuf"])
def test_ringbuf_perfbuf_fallback(mod: Any, ringbuf: bool) -> None:
    if ringbuf and not features.ringbuf_available():
        pytest.skip("this kernel has no ring buffers (Linux 5.8)")
    inner = _array_map()
    try:
        with mod.open() as skel:
            _configure(skel, ringbuf, inner)
            assert skel.maps.heap.autocreate is not ringbuf
            skel.load()
            ev = skel.maps.events
            assert ev.type == (MapType.RINGBUF if ringbuf else MapType.PERF_EVENT_ARRAY)
            if ringbuf:  # never created (libbpf >= 1.4 holds a placeholder fd)
                fd = skel.maps.heap.fd
                assert fd < 0 or os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:bpf-map"
            else:
                assert os.readlink(f"/proc/self/fd/{skel.maps.heap.fd}") == "anon_inode:bpf-map"
            skel.maps.outer[0] = inner
            skel.bss.target_tgid = os.getpid()
            got: List[Any] = []
            if ringbuf:
                reader = ev.ring_buffer(got.append, mod.types.event)
            else:
                reader = ev.perf_buffer(lambda cpu, e: got.append(e), mod.types.event)
            with reader, skel.progs.on_getpid.attach():
                for _ in range(3):
                    os.getpid()
                while len(got) < 3 and reader.poll(timeout_ms=1000):
                    pass
            assert [(e.tgid, e.seq) for e in got] == [(os.getpid(), i) for i in range(3)]
            assert skel.maps.shared[0] == 3
            # the inner map is the one we created: BPF counted into it
            value = ctypes.c_uint64()
            key = ctypes.c_uint32(0)
            assert _libbpf.lib().bpf_map_lookup_elem(inner, ctypes.byref(key),
                                                     ctypes.byref(value)) == 0
            assert value.value == 3
    finally:
        os.close(inner)


def test_inner_map_is_required_and_write_only(mod: Any) -> None:
    with mod.open() as skel:
        skel.maps.heap.autocreate = True
        assert skel.maps.outer.inner_map is None  # none declared, none set
        with pytest.raises(bpfskel.LibbpfError):
            skel.load()  # an ARRAY_OF_MAPS without an inner map


def test_pin_path_and_reuse_fd_share_one_map(mod: Any) -> None:
    if not os.path.ismount("/sys/fs/bpf"):
        pytest.skip("bpffs is not mounted at /sys/fs/bpf")
    pin = f"/sys/fs/bpf/bpfskel-test-setters-{os.getpid()}"
    inner = _array_map()
    try:
        with mod.open() as a:
            _configure(a, False, inner)
            a.maps.shared.pin_path = pin
            assert a.maps.shared.pin_path == pin
            a.load()
            assert os.path.exists(pin)
            a.maps.shared[7] = 70
            with mod.open() as b:  # a second copy reuses the pinned map
                _configure(b, False, inner)
                b.maps.shared.pin_path = pin
                b.load()
                assert b.maps.shared[7] == 70
                b.maps.shared[8] = 80
                assert a.maps.shared[8] == 80
            with mod.open() as c:  # and one takes a's map by fd
                _configure(c, False, inner)
                c.maps.shared.reuse_fd(a.maps.shared.fd)
                c.load()
                assert c.maps.shared[7] == 70
                c.maps.shared[9] = 90
                assert a.maps.shared[9] == 90
                assert c.maps.shared.fd != a.maps.shared.fd  # libbpf dup'ed it
            a.maps.shared.unpin()
    finally:
        os.close(inner)
        if os.path.exists(pin):
            os.unlink(pin)


def test_setters_refuse_after_load(mod: Any) -> None:
    inner = _array_map()
    try:
        with mod.open() as skel:
            _configure(skel, False, inner)
            skel.load()
            for name, value in [("type", MapType.HASH), ("key_size", 8),
                                ("autocreate", False), ("pin_path", "/sys/fs/bpf/x")]:
                with pytest.raises(bpfskel.LibbpfError) as ei:
                    setattr(skel.maps.shared, name, value)
                assert ei.value.errno == errno.EBUSY, name
            with pytest.raises(bpfskel.LibbpfError) as ei:
                skel.maps.shared.reuse_fd(inner)
            assert ei.value.errno == errno.EBUSY
    finally:
        os.close(inner)
