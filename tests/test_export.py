"""bpfskel.export, bpfskel.labels and bpfskel.jsonl without a kernel: bucket
arithmetic, the exposition text prometheus_client renders from our
collectors (parsed back with its own parser), decoders against the C
library's own conversions, and the syslat tool's --prometheus and --json."""

from __future__ import annotations

import ctypes
import errno
import io
import json
import math
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any, Dict, List

import pytest

from bpfskel import jsonl, labels

from bpfenv import BUILD_DIR, REPO_ROOT, build_obj, requires_bpf
from promenv import free_port

prometheus_client = pytest.importorskip("prometheus_client",
                                        reason="the prometheus extra is not installed")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from bpfskel import export  # noqa: E402


def scrape(*collectors: Any) -> Dict[str, Any]:
    reg = prometheus_client.CollectorRegistry(auto_describe=False)
    for c in collectors:
        reg.register(c)
    text = prometheus_client.generate_latest(reg).decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


# -- buckets -------------------------------------------------------------------------------

def test_log2_buckets_every_slot_and_clamped_last() -> None:
    # slot 0: {0, 1}; slot 1: [2, 4); slot 2: [4, 8); slot 3 (last, clamped): >= 8
    buckets, estimate = export.convert([1, 2, 0, 3], export.Log2())
    assert buckets == [(2, 1), (4, 3), (8, 3), (math.inf, 6)]
    assert estimate == 1 * 1 + 2 * 3 + 0 * 6 + 3 * 8


def test_log2_unclamped_scaled() -> None:
    buckets, estimate = export.convert([0, 4], export.Log2(scale=1e-6, clamped=False))
    assert buckets == [(2e-6, 0), (4e-6, 4), (math.inf, 4)]
    assert math.isclose(estimate, 4 * 3e-6)


def test_linear_and_fixed() -> None:
    assert export.convert([1, 1, 1], export.Linear(10, start=100))[0] == [
        (110, 1), (120, 2), (math.inf, 3)]
    assert export.convert([5, 0, 2], export.Fixed([1, 10]))[0] == [
        (1, 5), (10, 5), (math.inf, 7)]
    assert export.convert([5, 2], export.Fixed([1, 10]))[0] == [(1, 5), (10, 7), (math.inf, 7)]
    with pytest.raises(ValueError, match="describe 2 or 3 slots, not 4"):
        export.convert([0] * 4, export.Fixed([1, 10]))
    with pytest.raises(ValueError, match="must increase"):
        export.Fixed([1, 1])


def test_collectors_render_a_valid_exposition() -> None:
    hist = (ctypes.c_uint64 * 4)(1, 2, 0, 3)
    per_tid = {1: [2, 3], 2: [1, 1], 3: [10, 0]}  # per-CPU values are added
    comm_of = {1: b"nginx\0\0", 2: b"nginx\0", 3: b"sshd\0"}
    exp = (export.Exporter()
           .counter("t_calls", "calls", lambda: 7)
           .gauge("t_array", "an array", lambda: [4, 5], labels={"cpu": export.key()})
           .counter("t_by_comm", "per command", lambda: per_tid,
                    labels={"comm": lambda k, v: labels.comm(comm_of[k])})
           .histogram("t_lat_seconds", "latency", lambda: hist, export.Log2(scale=1e-6))
           .histogram("t_exact_seconds", "with a sum", lambda: hist, export.Log2(scale=1e-6),
                      sum=lambda: 42.0))
    fams = scrape(exp)
    assert [s.value for s in fams["t_calls"].samples] == [7]
    assert {s.labels["cpu"]: s.value for s in fams["t_array"].samples} == {"0": 4, "1": 5}
    assert {s.labels["comm"]: s.value for s in fams["t_by_comm"].samples} == {
        "nginx": 7, "sshd": 10}
    samples = {(s.name, s.labels.get("le")): s.value for s in fams["t_lat_seconds"].samples}
    assert [k[1] for k in samples if k[0] == "t_lat_seconds_bucket"] == [
        "2e-06", "4e-06", "8e-06", "+Inf"]
    assert samples[("t_lat_seconds_count", None)] == 6
    assert math.isclose(samples[("t_lat_seconds_sum", None)], 31e-6)
    exact = {s.name: s.value for s in fams["t_exact_seconds"].samples}
    assert exact["t_exact_seconds_sum"] == 42.0


def test_labels_on_a_number_is_an_error_and_names_are_unique() -> None:
    exp = export.Exporter().counter("x", "x", lambda: 1, labels={"a": export.key()})
    with pytest.raises(ValueError, match="single number"):
        scrape(exp)
    with pytest.raises(ValueError, match="defined twice"):
        export.Exporter().counter("y", "y", lambda: 1).gauge("y", "y", lambda: 1)


def test_parse_listen() -> None:
    assert export.parse_listen(":9435") == ("", 9435)
    assert export.parse_listen("127.0.0.1:9435") == ("127.0.0.1", 9435)
    assert export.parse_listen("[::1]:9435") == ("::1", 9435)
    assert export.parse_listen("9435") == ("", 9435)
    for bad in ("host:", "1.2.3.4:http", ":70000"):
        with pytest.raises(ValueError, match="HOST"):
            export.parse_listen(bad)


def test_serve_on_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 in this Python")
    exp = export.Exporter().counter("six", "six", lambda: 6)
    try:
        server = export.serve(0, None, exp, addr="::1")
    except OSError as e:
        pytest.skip(f"cannot bind [::1]: {e}")
    with server:
        text = urllib.request.urlopen(server.url, timeout=10).read().decode()
    assert "six_total 6.0" in text


# -- decoders --------------------------------------------------------------------------------

class In6(ctypes.Structure):
    _fields_ = [("s6_addr", ctypes.c_uint8 * 16)]


def test_decoders() -> None:
    assert labels.comm(b"bash\0garbage") == "bash"
    assert labels.comm((ctypes.c_char * 16)(*b"0123456789abcdef")) == "0123456789abcdef"
    assert labels.errno_name(-errno.ENOENT) == "ENOENT" == labels.errno_name(errno.ENOENT)
    assert labels.errno_name(4242) == "4242"
    # __be32 as BPF stores it: the bytes in network order, read as a host u32
    be32 = ctypes.c_uint32.from_buffer_copy(socket.inet_aton("192.0.2.7")).value
    assert labels.ipv4(be32) == "192.0.2.7" == labels.ip(socket.inet_aton("192.0.2.7"))
    addr = In6.from_buffer_copy(socket.inet_pton(socket.AF_INET6, "2001:db8::1"))
    assert labels.ipv6(addr) == "2001:db8::1" == labels.ip(bytes(addr))
    proto = labels.static({6: "tcp", 17: "udp"})
    assert (proto(6), proto(1)) == ("tcp", "1")
    table = {0xffffffff81000000: "start_kernel"}
    sym = labels.ksym(lambda a: table.get(a))
    assert sym(0xffffffff81000000) == "start_kernel" and sym(16) == "0x10"
    assert labels.ksym(lambda a: ("tcp_sendmsg", 4))(1) == "tcp_sendmsg+0x4"


def test_cgroup_path_of_a_new_cgroup(tmp_path: Any) -> None:
    import os

    root = labels.cgroup2_root()
    if not os.path.exists(f"{root}/cgroup.controllers"):
        pytest.skip("no cgroup v2 hierarchy mounted")
    path = f"{root}/bpfskel-labels-{os.getpid()}"
    try:
        os.mkdir(path)
    except OSError as e:
        pytest.skip(f"cannot create a cgroup: {e}")
    try:
        paths = labels.CgroupPaths(rescan_seconds=0)
        assert paths(os.stat(path).st_ino) == f"/bpfskel-labels-{os.getpid()}"
        assert paths(os.stat(root).st_ino) == "/"
        assert paths(1 << 62) == str(1 << 62)  # no such cgroup: its number
    finally:
        os.rmdir(path)


# -- JSON lines -----------------------------------------------------------------------------

class Event(ctypes.Structure):
    # as a generated class does, it says which fields are C members: padding is
    # left out by this list, never by its name
    _members_ = ("pid", "ret", "comm", "hist")
    _fields_ = [("pid", ctypes.c_uint32), ("_pad_0", ctypes.c_uint32),
                ("ret", ctypes.c_int64), ("comm", ctypes.c_char * 8),
                ("hist", ctypes.c_uint32 * 2)]


def test_json_lines() -> None:
    buf = io.StringIO()
    out = jsonl.JsonLines(buf, decoders={"ret": labels.errno_name})
    e = Event(pid=7, ret=-errno.EAGAIN, comm=b"nginx", hist=(ctypes.c_uint32 * 2)(1, 2))
    out.write(e, type="event")
    out.write(type="interval", traced=3)
    lines = buf.getvalue().splitlines()
    first, second = (json.loads(x) for x in lines)
    assert list(first) == ["ts", "type", "pid", "ret", "comm", "hist"]
    assert first["type"] == "event" and first["ret"] == "EAGAIN" and first["comm"] == "nginx"
    assert first["hist"] == [1, 2] and first["pid"] == 7
    assert second["traced"] == 3 and abs(second["ts"] - time.time()) < 3600


# -- the demo tool ---------------------------------------------------------------------------

def _scrape_text(url: str, deadline: float) -> str:
    while True:
        try:
            text = urllib.request.urlopen(url, timeout=5).read().decode()
            if "syslat_calls_total" in text and "syslat_calls_total 0.0" not in text:
                return text
        except OSError:
            pass
        assert time.monotonic() < deadline, "syslat never served its metrics"
        time.sleep(0.3)


@requires_bpf
def test_syslat_prometheus_and_json() -> None:
    obj = build_obj("syslat")
    subprocess.run([sys.executable, "-m", "bpfskel", "gen", str(obj), "-o",
                    str(BUILD_DIR / "syslat_skel.py")], check=True)
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(REPO_ROOT / "examples" / "syslat.py"),
                             "--workload", "--duration", "6", "--interval", "1",
                             "--slow-us", "1", "--json", "--prometheus", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        text = _scrape_text(f"http://127.0.0.1:{port}/metrics", time.monotonic() + 60)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    buckets = [s for s in fams["syslat_latency_seconds"].samples
               if s.name.endswith("_bucket")]
    assert len(buckets) == 32 and buckets[-1].labels["le"] == "+Inf"
    counts: List[float] = [s.value for s in buckets]
    assert counts == sorted(counts) and counts[-1] > 0
    records = [json.loads(line) for line in out.splitlines()]
    kinds = {r["type"] for r in records}
    assert {"workload", "interval", "slow_call"} <= kinds, kinds
    load = next(r for r in records if r["type"] == "workload")
    tops = [row for r in records if r["type"] == "interval" for row in r["top"]]
    assert any(row["pid"] == load["pid"] and row["comm"] == "syslat-load" for row in tops)
    slow = next(r for r in records if r["type"] == "slow_call")
    assert isinstance(slow["comm"], str) and slow["latency_ns"] >= 1000 and slow["syscall"]
