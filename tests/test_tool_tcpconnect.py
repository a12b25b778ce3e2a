"""tcpconnect, run for real: in a test network namespace a client connects
over loopback to a listener (IPv4, then IPv6) and once to a port nobody
listens on.  Every connect must show up once, with the workload's pid,
comm, uid, both addresses and ports (the source port the client saw), in
text and --json, through each hook: the tracepoint on this host, kprobe and
fentry in the kernel matrix (their markers skip them where the kernel
lacks the hook)."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from typing import Any, Dict, Iterator, List

import pytest

from bpfskel import features

import toolenv
from bpfenv import REPO_ROOT, requires_bpf
from toolenv import Tool, json_lines

pytestmark = [requires_bpf,
              pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 not installed")]

# prints, as JSON, each connect's (ip, source port) and the refused port
WORKLOAD = """
import json, os, socket, sys
port, closed = int(sys.argv[1]), int(sys.argv[2])
seen = []
for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    srv = socket.socket(family)
    srv.bind((host, port))
    srv.listen()
    cli = socket.create_connection((host, port))
    seen.append([4 if family == socket.AF_INET else 6, host, cli.getsockname()[1], port])
    cli.close()
    srv.close()
cli = socket.socket(socket.AF_INET)
try:
    cli.connect(("127.0.0.1", closed))
except ConnectionRefusedError:
    pass
seen.append([4, "127.0.0.1", None, closed])
print(json.dumps({"pid": os.getpid(), "connects": seen}))
"""


@pytest.fixture
def netns() -> Iterator[str]:
    with toolenv.netns("tcpconnect") as name:
        yield name


def connects_in(ns: str, port: int, closed: int) -> Dict[str, Any]:
    proc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-S", "-c", WORKLOAD,
                           str(port), str(closed)], check=True, capture_output=True, text=True)
    result: Dict[str, Any] = json.loads(proc.stdout)
    return result


def check_json(hook: str, ns: str) -> None:
    port = random.randint(20000, 40000)
    closed = port + 20000
    tool = Tool("tcpconnect", "--json", "--hook", hook, "-c", "python3")
    ran = connects_in(ns, port, closed)
    out, _ = tool.stop()
    mine = [r for r in json_lines(out)
            if r["type"] == "connect" and r["dport"] in (port, closed)]
    assert {(r["pid"], r["comm"], r["uid"], r["hook"]) for r in mine} == {
        (ran["pid"], "python3", 0, hook)}, mine
    got = sorted([r["ip"], r["daddr"], r["sport"], r["dport"]] for r in mine
                 if r["saddr"] == r["daddr"])
    want: List[List[Any]] = ran["connects"]
    refused = [r["sport"] for r in mine if r["dport"] == closed]
    assert len(refused) == 1 and refused[0] > 0, mine
    want[-1][2] = refused[0]  # the client never learnt its port
    assert got == sorted(want), (got, want)


@pytest.mark.tracepoint
def test_tcpconnect_tracepoint_json(netns: str) -> None:
    check_json("tracepoint", netns)


@pytest.mark.kprobe
def test_tcpconnect_kprobe_json(netns: str) -> None:
    check_json("kprobe", netns)


@pytest.mark.fentry
def test_tcpconnect_fentry_json(netns: str) -> None:
    check_json("fentry", netns)


@pytest.mark.tracepoint
def test_tcpconnect_text_filters(netns: str) -> None:
    port = random.randint(20000, 40000)
    tool = Tool("tcpconnect", "-6", "-P", str(port), "-U", "-L")
    ran = connects_in(netns, port, port + 20000)
    out, err = tool.stop()
    lines = out.splitlines()
    assert lines[0].split() == ["UID", "PID", "COMM", "IP", "SADDR", "LPORT", "DADDR", "DPORT"]
    (v6,) = [c for c in ran["connects"] if c[0] == 6]
    assert [line.split() for line in lines[1:]] == [
        ["0", str(ran["pid"]), "python3", "6", "::1", str(v6[2]), "::1", str(port)]], out
    assert "1 connects traced" in err


@pytest.mark.parametrize("hook,needs", [("kprobe", "kprobes"), ("fentry", "fentry/fexit")])
def test_tcpconnect_unavailable_hook_is_named(hook: str, needs: str) -> None:
    if features.kprobe_available() if hook == "kprobe" else features.fentry_available():
        pytest.skip(f"this kernel has {hook}: nothing to refuse")
    proc = subprocess.run([sys.executable, "-m", "bpfskel.tools", "tcpconnect", "--hook", hook],
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"tcpconnect: error: --hook {hook}: this kernel has no "
                                  f"working {needs}"), proc.stderr
