"""The pytest plugin (bpfskel.pytest_plugin) and its helpers (bpfskel.testing).

* Packets: the kernel is the witness.  A frame from ``ipv4_udp`` is sent
  through a veth pair inside the ``netns`` fixture's namespace; the kernel
  delivers it to a UDP socket only if the IPv4 and UDP checksums are right, and
  the XDP program attached to the receiving end counts it.
* Markers and the ``bpf_skeleton`` fixture: a pytest run in a subprocess on a
  test file using them, where the outcome of each test is checked against
  what the kernel offers (this host has no kprobes and refuses fentry; a VM
  may have both).
* The entry point: in a fresh venv with bpfskel's wheel and pytest installed,
  pytest knows the markers without any conftest.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pytest

from bpfskel import testing

import bpfcc
from bpfenv import REPO_ROOT, generated_module

XDP_PASS, XDP_DROP = 2, 1


@pytest.fixture(scope="module")
def xdp_mod(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generated_module("xdp_filter", tmp_path_factory)


@pytest.mark.xdp
@pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2's ip not found")
def test_packets_cross_a_veth_in_the_netns_and_xdp_sees_them(
        netns: testing.NetNs, bpf_skeleton: Any, xdp_mod: Any) -> None:
    a, b = netns.add_veth(addrs=("10.200.0.1/24", "10.200.0.2/24"))
    # this thread is inside the namespace: the host has no such interfaces
    ifindex = socket.if_nametoindex(b)
    assert ifindex == netns.ifindex(b)
    skel = bpf_skeleton(xdp_mod, rodata={"drop_port": 5353})
    link = skel.progs.xdp_classify.attach_xdp(ifindex)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    try:
        rx.bind(("10.200.0.2", 53))
        rx.settimeout(5)
        tx.bind((a, 0))
        mac = netns.exec("cat", f"/sys/class/net/{b}/address").strip()
        # src is not a local address, so the kernel does not drop it as a martian
        frame = testing.ipv4_udp(b"hello", sport=40000, dport=53, src="10.200.0.99",
                                 dst="10.200.0.2")
        frame = bytes.fromhex(mac.replace(":", "")) + frame[6:]
        tx.send(frame)
        data, peer = rx.recvfrom(100)
        assert (data, peer) == (b"hello", ("10.200.0.99", 40000))
        dropped = testing.ipv4_udp(b"x", dport=5353, src="10.200.0.99", dst="10.200.0.2")
        tx.send(bytes.fromhex(mac.replace(":", "")) + dropped[6:])
        assert skel.bss.last_saddr == int.from_bytes(bytes([10, 200, 0, 99]), "little")
    finally:
        rx.close()
        tx.close()
        link.destroy()
    verdicts = list(skel.bss.verdicts)
    assert verdicts[XDP_PASS] >= 1 and verdicts[XDP_DROP] == 1, verdicts


def test_packets_test_run_verdicts(bpf_skeleton: Any, xdp_mod: Any) -> None:
    if testing.bpf_unavailable_reason():
        pytest.skip(testing.bpf_unavailable_reason())
    skel = bpf_skeleton(xdp_mod, rodata={"drop_port": 5353})
    prog = skel.progs.xdp_classify
    for frame, verdict in ((testing.ipv4_udp(dport=53), XDP_PASS),
                           (testing.ipv4_udp(dport=5353), XDP_DROP),
                           (testing.ipv4_tcp(dport=5353), XDP_PASS),
                           (testing.ipv6_udp(dport=5353), XDP_PASS)):
        res = prog.test_run(frame)
        assert res.retval == verdict, testing.verdict_name(res.retval)


def test_ipv4_checksum_is_the_kernels() -> None:
    # the checksum of a header carrying its own checksum folds to zero
    hdr = testing.ipv4(b"", proto=17)[:20]
    assert testing._csum(hdr) == 0
    assert testing.verdict_name(2) == "XDP_PASS" and testing.verdict_name(99) == "99"


FENTRY_SRC = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
__u64 hits;
SEC("fentry/bpf_fentry_test1")   /* called by BPF_PROG_TEST_RUN of a tracing program */
int on_test1(void *ctx) { __sync_fetch_and_add(&hits, 1); return 0; }
char LICENSE[] SEC("license") = "GPL";
"""

USER_TESTS = r"""
import pytest
import fentry_skel

@pytest.mark.fentry
def test_marked_fentry(bpf_skeleton):
    skel = bpf_skeleton(fentry_skel, attach=True)
    skel.progs.on_test1.test_run()
    assert skel.bss.hits >= 1

def test_unmarked_fentry(bpf_skeleton):
    skel = bpf_skeleton(fentry_skel, attach=True)
    skel.progs.on_test1.test_run()
    assert skel.bss.hits >= 1

@pytest.mark.kprobe
def test_marked_kprobe():
    pass

@pytest.mark.bpf
def test_bpf(bpf_skeleton):
    pass

def test_plain():
    pass
"""


def outcomes(out: str) -> Dict[str, str]:
    """test name -> PASSED/FAILED/ERROR from ``-rA``; "skips": the skip reasons."""
    res: Dict[str, str] = {}
    for line in out.splitlines():
        m = re.match(r"(PASSED|FAILED|ERROR) \S+::(test_\w+)", line)
        if m:
            res[m.group(2)] = m.group(1)
        m = re.match(r"SKIPPED \[\d+\] \S+:\d+: (.*)", line)
        if m:
            res.setdefault("skips", "")
            res["skips"] += m.group(1) + "\n"
    return res


@pytest.mark.skipif(bpfcc.missing_reason() is not None, reason=str(bpfcc.missing_reason()))
def test_markers_and_fixture_in_a_user_session(tmp_path: Path) -> None:
    (tmp_path / "fentry.bpf.c").write_text(FENTRY_SRC)
    env = dict(os.environ, BPFSKEL_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=f"{REPO_ROOT}{os.pathsep}{tmp_path}")
    subprocess.run([sys.executable, "-m", "bpfskel", "build", "fentry.bpf.c"], cwd=tmp_path,
                   env=env, check=True)
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "bpfskel.pytest_plugin",
                           "-rA", "-q", "-p", "no:cacheprovider", "test_user.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    got = outcomes(proc.stdout)
    assert got.get("test_plain") == "PASSED", proc.stdout
    skips = got.get("skips", "")
    bpf_reason = testing.bpf_unavailable_reason()
    if bpf_reason:
        assert "test_bpf" not in got and bpf_reason in skips, proc.stdout
        return
    assert got.get("test_bpf") == "PASSED", proc.stdout
    if os.path.isdir("/sys/bus/event_source/devices/kprobe"):
        assert got.get("test_marked_kprobe") == "PASSED", proc.stdout
    else:
        assert "kprobes: the kernel has no kprobe PMU" in skips, proc.stdout
    if got.get("test_marked_fentry") == "PASSED":  # a kernel with BPF trampolines
        assert got.get("test_unmarked_fentry") == "PASSED", proc.stdout
    else:   # this host: the kernel refuses fentry; marked skips (the marker's probe
        # or the fixture's refusal, whichever sees it first), unmarked fails
        assert "fentry/fexit: this kernel refuses them" in skips \
            or "fentry: the kernel refused the load" in skips, proc.stdout
        assert got.get("test_unmarked_fentry") in ("FAILED", "ERROR"), proc.stdout


@pytest.mark.skipif(os.environ.get("BPFSKEL_SKIP_VENV_TESTS") == "1",
                    reason="BPFSKEL_SKIP_VENV_TESTS=1")
def test_entry_point_in_a_fresh_venv(tmp_path: Path) -> None:
    from venvenv import bpfskel_wheelhouse, fresh_venv, sh

    wh = bpfskel_wheelhouse(tmp_path)
    venv = fresh_venv(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BPFSKEL_DEBUG")}
    sh([str(venv / "pip"), "install", "-q", "--find-links", str(wh), "bpfskel", "pytest"],
       env, tmp_path)
    markers = sh([str(venv / "python"), "-m", "pytest", "--markers"], env, tmp_path)
    assert "@pytest.mark.bpf:" in markers and "@pytest.mark.fentry:" in markers
    (tmp_path / "test_x.py").write_text(
        "import pytest\n@pytest.mark.kprobe\ndef test_k(bpf_skeleton, netns):\n    pass\n"
        "def test_plain():\n    pass\n")
    proc = subprocess.run([str(venv / "python"), "-m", "pytest", "-rA", "-q", "test_x.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASSED test_x.py::test_plain" in proc.stdout
    assert ("PASSED test_x.py::test_k" in proc.stdout) == (
        testing.hook_unavailable_reason("kprobe") is None), proc.stdout
