"""Programs on real hooks with real traffic: XDP, classic tc and tcx on the
loopback interface, cgroup_skb on a cgroup v2 directory made for the test, and
a software perf event (CPU clock) on this thread.

The packet programs count the UDP datagrams to one port (``bss.port``, the
port of a socket each test binds), so other traffic on ``lo`` does not disturb
the counts.  Every datagram sent is also received before the counts are read:
by then the kernel has run every ingress hook on it.  iproute2's ``tc`` is the
independent witness of what is on ``lo``'s clsact qdisc.

Source: bpf/attach.bpf.c.
"""

from __future__ import annotations

import ctypes
import errno
import gc
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterator, List

import pytest

import bpfskel
from bpfskel import _libbpf, _libc
from bpfskel.programs import TcLink

from bpfenv import module_fixture, requires_bpf

pytestmark = requires_bpf

mod = module_fixture("attach")
LO = socket.if_nametoindex("lo")
TC = shutil.which("tc")
HAVE_TCX = _libbpf.version() >= (1, 3)


@pytest.fixture
def skel(mod: Any) -> Iterator[Any]:
    s = mod.open()
    try:
        if not HAVE_TCX:  # libbpf 1.1 does not know SEC("tcx/..."): leave them out
            s.progs.tcx_ingress.autoload = False
            s.progs.tcx_egress.autoload = False
        s.load()
        yield s
    finally:
        s.destroy()


@pytest.fixture
def rx(skel: Any) -> Iterator[socket.socket]:
    """A UDP socket on 127.0.0.1 whose port the programs count."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(5.0)
        skel.bss.port = s.getsockname()[1]
        yield s


def roundtrip(rx: socket.socket, n: int) -> None:
    """Send ``n`` datagrams to ``rx`` over lo and receive them all."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for i in range(n):
            tx.sendto(b"bpfskel %d" % i, rx.getsockname())
    for _ in range(n):
        assert rx.recv(64).startswith(b"bpfskel ")


def _tc_json(*args: str) -> List[Any]:
    assert TC is not None
    out = subprocess.run([TC, "-j", *args], capture_output=True, text=True, check=True).stdout
    return json.loads(out) if out.strip() else []


def clsact_on_lo() -> bool:
    return any(q.get("kind") == "clsact" for q in _tc_json("qdisc", "show", "dev", "lo"))


def lo_filters(direction: str) -> List[Any]:
    """The bpf filters on lo's clsact ``ingress``/``egress`` (entries with options)."""
    if not clsact_on_lo():
        return []
    return [f for f in _tc_json("filter", "show", "dev", "lo", direction) if "options" in f]


@pytest.fixture
def lo_without_clsact() -> Iterator[None]:
    """lo has no clsact qdisc before the test, and none after it."""
    if TC is None:
        pytest.skip("iproute2's tc not found: nothing to check lo's qdiscs against")
    if clsact_on_lo():
        pytest.skip("lo already has a clsact qdisc (someone else's): not touching it")
    yield
    left = clsact_on_lo()
    if left:
        subprocess.run([TC, "qdisc", "del", "dev", "lo", "clsact"], check=False)
    assert not left, "the test left a clsact qdisc on lo"


# -- XDP ----------------------------------------------------------------------------


def test_xdp_on_lo_counts_datagrams_until_the_link_is_destroyed(skel: Any,
                                                                 rx: socket.socket) -> None:
    roundtrip(rx, 3)
    assert skel.bss.xdp_hits == 0  # not attached yet
    link = skel.progs.xdp_count.attach_xdp(LO)
    with link:
        assert link.fd >= 0 and "xdp ifindex" in repr(link)
        roundtrip(rx, 5)
        assert skel.bss.xdp_hits == 5
    assert link.destroyed
    link.destroy()  # idempotent
    roundtrip(rx, 4)
    assert skel.bss.xdp_hits == 5


# -- tcx (libbpf >= 1.3) ----------------------------------------------------------------


@pytest.mark.skipif(not HAVE_TCX, reason="libbpf %d.%d has no bpf_program__attach_tcx "
                    "(needs >= 1.3; set BPFSKEL_LIBBPF)" % _libbpf.version())
def test_tcx_ingress_and_egress_on_lo(skel: Any, rx: socket.socket) -> None:
    ingress = skel.progs.tcx_ingress.attach_tcx(LO)
    egress = skel.progs.tcx_egress.attach_tcx(LO)
    with ingress, egress:
        roundtrip(rx, 6)
        assert (skel.bss.tcx_ingress_hits, skel.bss.tcx_egress_hits) == (6, 6)
        egress.destroy()
        roundtrip(rx, 2)
        assert (skel.bss.tcx_ingress_hits, skel.bss.tcx_egress_hits) == (8, 6)
    roundtrip(rx, 3)
    assert (skel.bss.tcx_ingress_hits, skel.bss.tcx_egress_hits) == (8, 6)


@pytest.mark.skipif(HAVE_TCX, reason="this libbpf has bpf_program__attach_tcx")
def test_tcx_on_old_libbpf_says_which_version_it_needs(skel: Any) -> None:
    with pytest.raises(bpfskel.NotSupportedError, match=r"needs libbpf >= 1\.3"):
        skel.progs.tc_ingress.attach_tcx(LO)


# -- classic tc (every libbpf) ---------------------------------------------------------------


def test_tc_ingress_and_egress_on_lo(skel: Any, rx: socket.socket,
                                     lo_without_clsact: None) -> None:
    ingress = skel.progs.tc_ingress.attach_tc(LO)
    egress = skel.progs.tc_egress.attach_tc(LO, ingress=False)
    assert isinstance(ingress, TcLink) and isinstance(ingress, bpfskel.programs.Link)
    assert ingress.created_hook and not egress.created_hook  # the first one made clsact
    assert clsact_on_lo()
    [f_in] = lo_filters("ingress")
    [f_out] = lo_filters("egress")
    assert (f_in["pref"], f_in["options"]["handle"]) == (ingress.priority,
                                                         f"0x{ingress.handle:x}")
    assert f_in["options"]["prog"]["id"] == ingress.prog_id
    assert f_in["options"]["bpf_name"].startswith("tc_ingress")
    assert f_out["options"]["prog"]["id"] == egress.prog_id
    roundtrip(rx, 5)
    assert (skel.bss.tc_ingress_hits, skel.bss.tc_egress_hits) == (5, 5)

    ingress.destroy()  # the qdisc's creator goes first: egress keeps working
    assert ingress.destroyed and lo_filters("ingress") == [] and clsact_on_lo()
    roundtrip(rx, 3)
    assert (skel.bss.tc_ingress_hits, skel.bss.tc_egress_hits) == (5, 8)

    egress.destroy()  # the last filter: the qdisc this process made goes too
    assert not clsact_on_lo()
    roundtrip(rx, 2)
    assert (skel.bss.tc_ingress_hits, skel.bss.tc_egress_hits) == (5, 8)
    ingress.destroy()
    egress.destroy()  # idempotent


def test_tc_link_is_a_context_manager_with_explicit_handle_and_priority(
        skel: Any, rx: socket.socket, lo_without_clsact: None) -> None:
    with skel.progs.tc_ingress.attach_tc(LO, priority=3, handle=7) as link:
        assert (link.handle, link.priority, link.ifindex, link.ingress) == (7, 3, LO, True)
        assert repr(link) == "<TcLink tc_ingress:tc ingress ifindex 1 handle 0x7 priority 3>"
        [f] = lo_filters("ingress")
        assert (f["pref"], f["options"]["handle"]) == (3, "0x7")
        with pytest.raises(bpfskel.NotSupportedError, match="no link fd"):
            link.fd
        # the same handle and priority on the same hook: the kernel refuses
        with pytest.raises(FileExistsError) as ei:
            skel.progs.tc_egress.attach_tc(LO, priority=3, handle=7)
        assert isinstance(ei.value, bpfskel.LibbpfError)
        assert "tc ingress ifindex 1" in str(ei.value)
        roundtrip(rx, 4)
        assert skel.bss.tc_ingress_hits == 4
    assert link.destroyed and repr(link).endswith(" destroyed>")
    with pytest.raises(bpfskel.ClosedError):
        link.fd
    assert not clsact_on_lo()
    roundtrip(rx, 1)
    assert skel.bss.tc_ingress_hits == 4
    with pytest.raises(ValueError, match="priority"):
        skel.progs.tc_ingress.attach_tc(LO, priority=1 << 16)


def test_tc_attach_failure_removes_the_qdisc_it_made(skel: Any,
                                                      lo_without_clsact: None) -> None:
    with pytest.raises(bpfskel.LibbpfError) as ei:
        skel.progs.xdp_count.attach_tc(LO)  # not a SEC("tc") program
    assert ei.value.errno == errno.EINVAL
    assert not clsact_on_lo()


def test_tc_links_are_destroyed_with_the_skeleton(mod: Any, lo_without_clsact: None) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5.0)
        with mod.open() as skel:
            skel.progs.tcx_ingress.autoload = skel.progs.tcx_egress.autoload = HAVE_TCX
            skel.load()
            skel.bss.port = rx.getsockname()[1]
            kept = skel.progs.tc_ingress.attach_tc(LO)
            skel.progs.tc_egress.attach_tc(LO, ingress=False)  # not kept by the app
            gc.collect()
            skel.detach()  # only what attach() made: tc links stay
            roundtrip(rx, 2)
            assert (skel.bss.tc_ingress_hits, skel.bss.tc_egress_hits) == (2, 2)
            assert not kept.destroyed
        assert kept.destroyed
        assert lo_filters("ingress") == [] and lo_filters("egress") == []
        assert not clsact_on_lo()


def test_tc_keeps_a_clsact_qdisc_that_was_there(skel: Any, rx: socket.socket,
                                                 lo_without_clsact: None) -> None:
    assert TC is not None
    subprocess.run([TC, "qdisc", "add", "dev", "lo", "clsact"], check=True)
    try:
        with skel.progs.tc_egress.attach_tc(LO, ingress=False) as link:
            assert not link.created_hook  # EEXIST from bpf_tc_hook_create
            roundtrip(rx, 3)
            assert skel.bss.tc_egress_hits == 3
        assert lo_filters("egress") == []
        assert clsact_on_lo()  # not ours: left in place
    finally:
        subprocess.run([TC, "qdisc", "del", "dev", "lo", "clsact"], check=False)


def test_tc_keeps_its_qdisc_while_a_foreign_filter_uses_it(skel: Any, rx: socket.socket,
                                                            lo_without_clsact: None) -> None:
    """A filter attach_tc does not know of (here straight through libbpf) keeps
    the qdisc attach_tc created alive when the TcLink goes."""
    lib = _libbpf.lib()
    hook = _libbpf.opts(_libbpf.TcHook, ifindex=LO, attach_point=1)  # BPF_TC_INGRESS
    foreign = _libbpf.opts(_libbpf.TcOpts, handle=1, priority=9)
    try:
        with skel.progs.tc_egress.attach_tc(LO, ingress=False) as link:
            assert link.created_hook
            attach = _libbpf.opts(_libbpf.TcOpts, prog_fd=skel.progs.tc_ingress.fd,
                                  handle=1, priority=9)
            _libbpf.call(lib.bpf_tc_attach, "foreign attach", ctypes.byref(hook),
                         ctypes.byref(attach))
        assert clsact_on_lo() and len(lo_filters("ingress")) == 1
        roundtrip(rx, 2)
        assert (skel.bss.tc_ingress_hits, skel.bss.tc_egress_hits) == (2, 0)
    finally:
        lib.bpf_tc_detach(ctypes.byref(hook), ctypes.byref(foreign))
        if TC is not None:
            subprocess.run([TC, "qdisc", "del", "dev", "lo", "clsact"], check=False)


def test_tc_destroy_after_someone_deleted_the_qdisc_is_quiet(
        skel: Any, lo_without_clsact: None, caplog: pytest.LogCaptureFixture) -> None:
    assert TC is not None
    link = skel.progs.tc_ingress.attach_tc(LO)
    subprocess.run([TC, "qdisc", "del", "dev", "lo", "clsact"], check=True)
    with caplog.at_level("WARNING", logger="bpfskel"):
        link.destroy()  # the filter went with the qdisc: nothing to do, nothing to say
    assert link.destroyed
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == []


def test_tc_destroy_leaves_a_foreign_filter_with_the_same_handle(
        skel: Any, rx: socket.socket, lo_without_clsact: None) -> None:
    """Our filter went with its qdisc, and someone's filter took the same
    handle and priority: destroy() must not remove theirs."""
    assert TC is not None
    link = skel.progs.tc_ingress.attach_tc(LO, handle=1, priority=1)
    subprocess.run([TC, "qdisc", "del", "dev", "lo", "clsact"], check=True)
    lib = _libbpf.lib()
    hook = _libbpf.opts(_libbpf.TcHook, ifindex=LO, attach_point=1)  # BPF_TC_INGRESS
    try:
        _libbpf.call(lib.bpf_tc_hook_create, "foreign qdisc", ctypes.byref(hook))
        theirs = _libbpf.opts(_libbpf.TcOpts, prog_fd=skel.progs.tc_egress.fd, handle=1,
                              priority=1)  # another program, in the same place
        _libbpf.call(lib.bpf_tc_attach, "foreign attach", ctypes.byref(hook),
                     ctypes.byref(theirs))
        link.destroy()
        [f] = lo_filters("ingress")
        assert f["options"]["prog"]["id"] == theirs.prog_id != link.prog_id
        roundtrip(rx, 2)
        assert (skel.bss.tc_ingress_hits, skel.bss.tc_egress_hits) == (0, 2)
    finally:
        subprocess.run([TC, "qdisc", "del", "dev", "lo", "clsact"], check=False)


EXITING = """\
import importlib.util, sys
spec = importlib.util.spec_from_file_location("attach_skel", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
skel = mod.open()
skel.progs.tcx_ingress.autoload = skel.progs.tcx_egress.autoload = False
skel.load()
link = skel.progs.tc_ingress.attach_tc(1)
print(link.prog_id, flush=True)
"""


def test_tc_filter_is_detached_when_the_process_exits(mod: Any,
                                                      lo_without_clsact: None) -> None:
    """Nobody calls destroy(): the skeleton's finalizer does, at exit."""
    proc = subprocess.run([sys.executable, "-c", EXITING, mod.__file__], capture_output=True,
                          text=True, timeout=60, check=True)
    assert int(proc.stdout) > 0 and proc.stderr == ""
    assert lo_filters("ingress") == []
    assert not clsact_on_lo()


def test_tc_link_in_a_forked_child_does_not_detach(skel: Any, rx: socket.socket,
                                                   lo_without_clsact: None) -> None:
    with skel.progs.tc_ingress.attach_tc(LO) as link:
        pid = os.fork()
        if pid == 0:  # the child: its copy must leave the parent's filter alone
            try:
                link.destroy()
            finally:
                os._exit(0)
        assert os.waitpid(pid, 0)[1] == 0
        assert len(lo_filters("ingress")) == 1
        roundtrip(rx, 2)
        assert skel.bss.tc_ingress_hits == 2
    assert not clsact_on_lo()


# -- cgroup_skb -------------------------------------------------------------------------------


def _cgroup2_root() -> str:
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 2 and fields[2] == "cgroup2":
                return fields[1]
    pytest.skip("no cgroup v2 hierarchy mounted (see /proc/self/mounts)")


@pytest.fixture
def cgroup() -> Iterator[Path]:
    """A new, empty cgroup v2 directory, removed after the test."""
    path = Path(_cgroup2_root()) / f"bpfskel-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        path.mkdir()
    except OSError as e:
        pytest.skip(f"cannot create a cgroup under {path.parent}: {e}")
    try:
        yield path
    finally:
        for _ in range(100):  # an exited member may take a moment to leave
            try:
                path.rmdir()
                break
            except OSError as e:
                if e.errno != errno.EBUSY:
                    raise
                time.sleep(0.01)
        else:
            pytest.fail(f"could not remove {path}")


CHILD = """\
import os, socket, sys
with open(os.path.join(sys.argv[1], "cgroup.procs"), "w") as f:
    f.write(str(os.getpid()))
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # created inside the cgroup
rx.bind(("127.0.0.1", 0))
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print(rx.getsockname()[1], flush=True)
for line in sys.stdin:  # "send N": send N datagrams to rx; then receive N
    cmd, n = line.split()
    for i in range(int(n)):
        if cmd == "send":
            tx.sendto(b"child %d" % i, rx.getsockname())
        rx.recv(64)
    print("done", flush=True)
"""


def test_cgroup_skb_counts_the_traffic_of_the_cgroup_only(skel: Any, cgroup: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(cgroup)], text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    cin, cout = child.stdin, child.stdout
    assert cin is not None and cout is not None

    def child_does(cmd: str, n: int) -> None:
        cin.write(f"{cmd} {n}\n")
        cin.flush()
        assert cout.readline() == "done\n"

    try:
        port = int(cout.readline())
        assert str(child.pid) in (cgroup / "cgroup.procs").read_text().split()
        skel.bss.port = port
        fd = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY)
        try:
            egress = skel.progs.cg_egress.attach_cgroup(fd)
            ingress = skel.progs.cg_ingress.attach_cgroup(fd)
        finally:
            os.close(fd)  # the links keep the attachment
        with egress, ingress:
            child_does("send", 4)
            assert (skel.bss.cg_egress_hits, skel.bss.cg_ingress_hits) == (4, 4)
            # this process is not in the cgroup: what it sends is not counted,
            # but its delivery to the child's socket (which is) is
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
                for _ in range(3):
                    tx.sendto(b"parent", ("127.0.0.1", port))
            child_does("recv", 3)
            assert (skel.bss.cg_egress_hits, skel.bss.cg_ingress_hits) == (4, 7)
        assert egress.destroyed and ingress.destroyed
        child_does("send", 2)
        assert (skel.bss.cg_egress_hits, skel.bss.cg_ingress_hits) == (4, 7)
    finally:
        cin.close()
        try:
            child.wait(timeout=10)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()


# -- perf event -------------------------------------------------------------------------------

SYS_perf_event_open = 298  # x86-64
PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK = 1, 0
PERF_FLAG_FD_CLOEXEC = 1 << 3
PERIOD_NS = 100_000


def open_cpu_clock(sample_period: int) -> int:
    """A disabled CPU-clock event sampling this thread every ``sample_period`` ns."""
    attr = ctypes.create_string_buffer(128)  # PERF_ATTR_SIZE_VER7
    struct.pack_into("<IIQQ", attr, 0, PERF_TYPE_SOFTWARE, 128, PERF_COUNT_SW_CPU_CLOCK,
                     sample_period)
    struct.pack_into("<Q", attr, 40, 1)  # flags: disabled (libbpf enables it on attach)
    ctypes.set_errno(0)
    fd = _libc.libc().syscall(ctypes.c_long(SYS_perf_event_open), attr, ctypes.c_long(0),
                                ctypes.c_long(-1), ctypes.c_long(-1),
                                ctypes.c_long(PERF_FLAG_FD_CLOEXEC))
    if fd < 0:
        err = ctypes.get_errno()
        pytest.skip(f"perf_event_open(CPU clock) failed: {os.strerror(err)} (errno {err})")
    return int(fd)


def spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_perf_event_program_runs_on_samples(skel: Any) -> None:
    pfd = open_cpu_clock(PERIOD_NS)
    try:
        link = skel.progs.on_sample.attach_perf_event(pfd)
    except BaseException:
        os.close(pfd)  # still ours when attach fails
        raise
    with link:
        deadline = time.monotonic() + 5
        while skel.bss.perf_hits < 10 and time.monotonic() < deadline:
            spin(0.02)
        assert skel.bss.perf_hits >= 10
        assert skel.bss.perf_period == PERIOD_NS
    with pytest.raises(OSError) as ei:
        os.fstat(pfd)  # the link owned the perf event fd and closed it
    assert ei.value.errno == errno.EBADF
    hits = skel.bss.perf_hits
    spin(0.1)
    assert skel.bss.perf_hits == hits
