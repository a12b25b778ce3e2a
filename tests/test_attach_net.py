"""Network attach kinds beyond XDP and tc, each with real traffic in a network
namespace of its own (``ip netns add``, a unique name): sk_lookup steering a
datagram to a socket bound elsewhere, a netfilter hook counting datagrams,
an sk_msg program on a sockhash, and freplace of a global function.

The namespace is entered by a worker thread only (``setns`` is per thread),
so the rest of the test process keeps the host's network.

Source: bpf/attach_net.bpf.c.
"""

from __future__ import annotations

import errno
import os
import queue
import shutil
import socket
import subprocess
import threading
from typing import Any, Callable, Iterator, TypeVar

import pytest

import bpfskel
from bpfskel import _libbpf, _libc, features
from bpfskel.attach_net import BPF_SK_MSG_VERDICT
from bpfskel.uapi import CLONE_NEWNET

from bpfenv import module_fixture, requires_bpf

pytestmark = [requires_bpf,
              pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2's ip is missing")]

mod = module_fixture("attach_net")
NFPROTO_IPV4, NF_INET_LOCAL_IN = 2, 1
T = TypeVar("T")
HAVE_NETFILTER_SEC = _libbpf.version() >= (1, 3)


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"bpfskel-{os.getpid()}-{threading.get_native_id()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def in_netns(name: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a thread that joined the namespace ``name``."""
    out: "queue.Queue[Any]" = queue.Queue()

    def body() -> None:
        try:
            fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
            try:
                if _libc.libc().setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(__import__("ctypes").get_errno(), "setns")
            finally:
                os.close(fd)
            out.put((True, fn()))
        except BaseException as e:  # handed to the test thread
            out.put((False, e))

    t = threading.Thread(target=body)
    t.start()
    t.join(60)
    ok, value = out.get(timeout=1)
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


@pytest.fixture
def skel(mod: Any) -> Iterator[Any]:
    with mod.open() as s:
        s.progs.new_verdict.autoload = False  # needs its target: test_freplace
        if not (HAVE_NETFILTER_SEC and features.prog_type("netfilter")):
            s.progs.nf_count.autoload = False  # libbpf < 1.3, or Linux < 6.4
        s.load()
        yield s


def test_sk_lookup_steers_to_another_socket(skel: Any, netns: str) -> None:
    def body() -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            rx.bind(("127.0.0.1", 0))
            rx.settimeout(5)
            skel.maps.lookup_socks[0] = rx.fileno()
            # a port nobody bound: without the program, the datagram is dropped
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.bind(("127.0.0.1", 0))
                free_port = probe.getsockname()[1]
            skel.bss.lookup_port = free_port
            nsfd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
            try:
                link = skel.progs.steer.attach_sk_lookup(nsfd)
            finally:
                os.close(nsfd)  # the link holds the namespace
            with link:
                tx.sendto(b"steered", ("127.0.0.1", free_port))
                data = rx.recv(64)
                assert data == b"steered"
            return int(skel.bss.lookup_hits)

    assert in_netns(netns, body) == 1


@pytest.mark.skipif(not HAVE_NETFILTER_SEC, reason="SEC(\"netfilter\") needs libbpf >= 1.3")
def test_netfilter_hook_counts_datagrams(skel: Any, netns: str) -> None:
    if not features.prog_type("netfilter"):
        with pytest.raises(bpfskel.LibbpfError):  # the program was not loaded
            skel.progs.nf_count.attach_netfilter(NFPROTO_IPV4, NF_INET_LOCAL_IN, priority=0)
        pytest.skip("this kernel has no netfilter programs (Linux 6.4)")

    def body() -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            rx.bind(("127.0.0.1", 0))
            rx.settimeout(5)
            skel.bss.nf_port = rx.getsockname()[1]
            with skel.progs.nf_count.attach_netfilter(NFPROTO_IPV4, NF_INET_LOCAL_IN,
                                                      priority=-128):
                for _ in range(4):
                    tx.sendto(b"x", rx.getsockname())
                    rx.recv(8)
            tx.sendto(b"x", rx.getsockname())  # detached: not counted
            rx.recv(8)
            return int(skel.bss.nf_hits)

    assert in_netns(netns, body) == 4


def test_netfilter_needs_libbpf_1_3(skel: Any) -> None:
    if HAVE_NETFILTER_SEC:
        pytest.skip("this libbpf has bpf_program__attach_netfilter")
    with pytest.raises(bpfskel.NotSupportedError, match="libbpf >= 1.3"):
        skel.progs.classify.attach_netfilter(NFPROTO_IPV4, NF_INET_LOCAL_IN, priority=0)


def test_sk_msg_on_a_sockhash(skel: Any, netns: str) -> None:
    def body() -> tuple[int, int]:
        with socket.socket() as srv:
            srv.bind(("127.0.0.1", 0))
            srv.listen(1)
            with socket.create_connection(srv.getsockname(), timeout=5) as cli:
                peer, _ = srv.accept()
                with peer:
                    link = skel.progs.msg_count.attach_sockmap(skel.maps.msg_socks,
                                                               BPF_SK_MSG_VERDICT)
                    with link:
                        skel.maps.msg_socks[1] = cli.fileno()
                        for chunk in (b"abc", b"defgh"):
                            cli.sendall(chunk)
                        got = b""
                        while len(got) < 8:
                            got += peer.recv(64)
                        assert got == b"abcdefgh"
                    assert link.destroyed
            return int(skel.bss.msg_hits), int(skel.bss.msg_bytes)

    assert in_netns(netns, body) == (2, 8)


def test_sockmap_detach_lets_attach_again(skel: Any) -> None:
    prog, m = skel.progs.msg_count, skel.maps.msg_socks
    with prog.attach_sockmap(m, BPF_SK_MSG_VERDICT):
        pass
    assert prog.expected_attach_type == BPF_SK_MSG_VERDICT  # from SEC("sk_msg")
    prog.attach_sockmap(m.fd).destroy()
    with pytest.raises(bpfskel.LibbpfError):
        prog.attach_sockmap(skel.maps.bss.fd, BPF_SK_MSG_VERDICT)  # not a sockmap


@pytest.mark.kernel
def test_freplace_replaces_a_global_function(mod: Any, skel: Any) -> None:
    target = skel.progs.classify
    packet = bytes(64)
    assert target.test_run(packet).retval == 0
    with mod.open() as ext:
        for prog in ext.progs:
            prog.autoload = prog.name == "new_verdict"
        ext.progs.new_verdict.set_attach_target("verdict", target_prog=target)
        try:
            ext.load()
        except bpfskel.LibbpfError as e:
            if features.fentry_available():
                raise
            pytest.skip("this kernel refuses BPF trampolines, freplace too: "
                        f"{errno.errorcode.get(e.errno or 0, e.errno)}")
        with ext.progs.new_verdict.attach_freplace(target, "verdict"):
            assert target.test_run(packet).retval == 42
        assert target.test_run(packet).retval == 0
