"""struct_ops on a real kernel: a BPF tcp_congestion_ops (bpf/structops.bpf.c)
registered by attach(), selected by a loopback TCP connection in a network
namespace of its own, and gone after destroy(); plus the shadow types
(skel.struct_ops.<map>) on libbpf >= 1.3."""

from __future__ import annotations

import errno
import gc
import os
import random
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Iterator

import pytest

import bpfskel
from bpfskel import _libbpf
from bpfskel.links import Link

from bpfenv import build_obj, generated_module, module_fixture, requires_bpf

pytestmark = [requires_bpf,
              pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2's ip is missing")]

mod = module_fixture("structops")
PLACEHOLDER = b"bpfskel_ca_XXXX"  # the .name in the object: 15 characters and a NUL
AVAILABLE = "/proc/sys/net/ipv4/tcp_available_congestion_control"


def available() -> list[str]:
    with open(AVAILABLE) as f:
        return f.read().split()


def unique_name() -> str:
    """A name no other run (of this or a parallel suite) registers: same length."""
    while True:
        name = f"bpfskel_ca_{random.randrange(1 << 16):04x}"
        if name not in available():
            return name


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"bpfskel_so_{os.getpid()}_{random.randrange(1 << 20)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


TRANSFER = textwrap.dedent("""
    import socket, sys, threading
    algo, size = sys.argv[1].encode(), int(sys.argv[2])
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    got = []
    def serve():
        conn, _ = srv.accept()
        n = 0
        while True:
            chunk = conn.recv(1 << 16)
            if not chunk:
                break
            n += len(chunk)
        got.append(n)
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    cli = socket.socket()
    cli.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, algo)
    cli.connect(srv.getsockname())
    cli.sendall(b"x" * size)
    used = cli.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).rstrip(b"\\0")
    cli.close()
    t.join()
    print(used.decode(), got[0])
""")


def transfer(ns: str, algo: str, size: int = 8 << 20) -> tuple[str, int]:
    """Send ``size`` bytes over loopback TCP in ``ns`` with congestion control
    ``algo``; returns (the algorithm the socket used, bytes received)."""
    proc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", TRANSFER, algo,
                           str(size)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    used, n = proc.stdout.split()
    return used, int(n)


def named_object(tmp_path: Path, name: str) -> str:
    """The object with its algorithm renamed (works on every libbpf: the name
    is in the .struct_ops section's bytes)."""
    data = build_obj("structops").read_bytes()
    assert data.count(PLACEHOLDER) == 1
    path = tmp_path / "structops.bpf.o"
    path.write_bytes(data.replace(PLACEHOLDER, name.encode()))
    return str(path)


def opened(mod: Any, path: str) -> Any:
    skel = mod.open(object_path=path)
    # libbpf (before 1.5) loads every program, and refuses a struct_ops program
    # that no struct uses: pyca_cwnd_event is for the shadow-type test.
    skel.progs.pyca_cwnd_event.autoload = False
    return skel


def test_attach_registers_and_destroy_unregisters(mod: Any, netns: str, tmp_path: Path) -> None:
    name = unique_name()
    skel = opened(mod, named_object(tmp_path, name))
    try:
        skel.rodata.cwnd_clamp = 40
        skel.load()
        assert name not in available()  # loading registers nothing
        skel.attach()
        assert name in available()
        assert isinstance(skel.links.pyca, Link)
        used, n = transfer(netns, name)
        assert (used, n) == (name, 8 << 20)
        bss = skel.bss
        assert bss.init_calls >= 1
        assert bss.cong_avoid_calls > 0
        assert 10 < bss.max_cwnd_seen <= 40  # grew past the initial window, clamped
        assert bss.event_calls == 0  # cwnd_event is not in the struct
    finally:
        skel.destroy()
    assert name not in available()


def test_unregistered_algorithm_is_refused(netns: str) -> None:
    """The check above can fail: without the struct registered, the kernel
    refuses the name."""
    name = unique_name()
    proc = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", TRANSFER, name,
                           "1"], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "No such file or directory" in proc.stderr


def test_explicit_attach_struct_ops(mod: Any, tmp_path: Path) -> None:
    name = unique_name()
    skel = opened(mod, named_object(tmp_path, name))
    with skel:
        with pytest.raises(bpfskel.Error, match="before load"):
            skel.maps.pyca.attach_struct_ops()
        skel.load()
        link = skel.maps.pyca.attach_struct_ops()
        assert isinstance(link, Link)
        assert name in available()
        link.destroy()
        assert name not in available()
        # The kernel registers a struct_ops map once: after unregistering it is spent
        with pytest.raises(bpfskel.LibbpfError) as exc:
            skel.maps.pyca.attach_struct_ops()
        assert exc.value.errno == errno.EBUSY


def test_skeleton_keeps_a_dropped_link(mod: Any, tmp_path: Path) -> None:
    name = unique_name()
    with opened(mod, named_object(tmp_path, name)) as skel:
        skel.load()
        skel.maps.pyca.attach_struct_ops()  # not kept by the app
        gc.collect()
        assert name in available()
    assert name not in available()


needs_shadow = pytest.mark.skipif(_libbpf.version() < (1, 3),
                                  reason="struct_ops shadow types need libbpf >= 1.3")


@needs_shadow
def test_shadow_types_configure_the_struct(mod: Any, netns: str) -> None:
    name = unique_name()
    with mod.open() as skel:
        ops = skel.struct_ops.pyca
        assert ops.name == PLACEHOLDER
        assert ops.ssthresh is skel.progs.pyca_ssthresh
        assert ops.cwnd_event is None
        ops.name = name.encode()  # a scalar member, before load
        ops.cwnd_event = skel.progs.pyca_cwnd_event  # a program the struct did not use
        ops.init = None  # and pyca_init is no longer used: it is not loaded
        assert not skel.progs.pyca_init.autoload and skel.progs.pyca_cwnd_event.autoload
        with pytest.raises(TypeError, match="program of this skeleton"):
            ops.cong_avoid = 1234
        with pytest.raises(AttributeError):
            ops.no_such_member = 1
        skel.load()
        with pytest.raises(bpfskel.ReadOnlyError):
            ops.name = b"other"
        with pytest.raises(bpfskel.ReadOnlyError):
            ops.cwnd_event = None
        assert ops.name == name.encode()
        skel.attach()
        assert name in available()
        used, _ = transfer(netns, name, 1 << 20)
        assert used == name
        assert skel.bss.event_calls > 0  # the callback Python plugged in ran
        assert skel.bss.init_calls == 0 and skel.bss.cong_avoid_calls > 0
        assert skel.progs.pyca_init.fd < 0
    assert name not in available()
    with pytest.raises(bpfskel.ClosedError):
        ops.name


@pytest.mark.skipif(_libbpf.version() >= (1, 3), reason="libbpf >= 1.3 has shadow types")
def test_shadow_types_refused_on_old_libbpf(mod: Any) -> None:
    with mod.open() as skel:
        with pytest.raises(bpfskel.NotSupportedError, match="1.3"):
            skel.struct_ops.pyca




@pytest.fixture(scope="module")
def link_mod(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generated_module("structops_link", tmp_path_factory)


def link_object(tmp_path: Path, name: str) -> str:
    data = build_obj("structops_link").read_bytes()
    assert data.count(PLACEHOLDER) == 1
    path = tmp_path / "structops_link.bpf.o"
    path.write_bytes(data.replace(PLACEHOLDER, name.encode()))
    return str(path)


@pytest.mark.skipif(_libbpf.version() < (1, 2), reason="SEC(\".struct_ops.link\") needs "
                    "libbpf >= 1.2")
def test_struct_ops_link_registers_again_after_detach(link_mod: Any, tmp_path: Path) -> None:
    """A .struct_ops.link struct is registered through a real bpf_link: detach
    unregisters, and attach registers it again."""
    name = unique_name()
    with opened(link_mod, link_object(tmp_path, name)) as skel:
        skel.load()
        skel.attach()
        assert name in available()
        skel.detach()
        assert name not in available()
        skel.attach()
        assert name in available()
    assert name not in available()


@pytest.mark.skipif(_libbpf.version() >= (1, 2), reason="libbpf >= 1.2 has .struct_ops.link")
def test_struct_ops_link_refused_on_libbpf_1_1(link_mod: Any, tmp_path: Path) -> None:
    """libbpf 1.1 would open the object without the struct (and so register
    nothing): refused with a clear error instead."""
    with pytest.raises(bpfskel.NotSupportedError, match=r"struct_ops.link.*1\.2"):
        link_mod.open(object_path=link_object(tmp_path, unique_name()))
