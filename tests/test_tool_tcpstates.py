"""tcpstates, run for real: a client connects over loopback in a test
network namespace (IPv4, then IPv6) and closes; the tool's text and --json
output must show the client socket's state changes with the right addresses
and ports."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from typing import Iterator

import pytest

import toolenv
from bpfenv import requires_bpf
from toolenv import Tool, json_lines

pytestmark = [requires_bpf, pytest.mark.tracepoint,
              pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 not installed")]

WORKLOAD = """
import socket, sys
port = int(sys.argv[1])
for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    srv = socket.socket(family)
    srv.bind((host, port))
    srv.listen()
    cli = socket.create_connection((host, port))
    conn, _ = srv.accept()
    cli.close()
    conn.close()
    srv.close()
"""


@pytest.fixture
def netns() -> Iterator[str]:
    with toolenv.netns("tcpstates") as name:
        yield name


def connect_in(ns: str, port: int) -> None:
    subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-S", "-c", WORKLOAD, str(port)],
                   check=True)


def test_tcpstates_json_ipv4_and_ipv6(netns: str) -> None:
    port = random.randint(20000, 60000)
    tool = Tool("tcpstates", "--json", "--dport", str(port))
    connect_in(netns, port)
    out, _ = tool.stop()
    records = [r for r in json_lines(out) if r["type"] == "tcp_state"]
    assert {r["dport"] for r in records} == {port}
    for ip, addr in ((4, "127.0.0.1"), (6, "::1")):
        mine = [r for r in records if r["ip"] == ip]
        changes = [(r["oldstate"], r["newstate"]) for r in mine]
        assert changes[:2] == [("CLOSE", "SYN_SENT"), ("SYN_SENT", "ESTABLISHED")], changes
        assert changes[-1][1] == "CLOSE", changes
        assert {r["daddr"] for r in mine} == {addr} and len({r["skaddr"] for r in mine}) == 1
        assert mine[1]["saddr"] == addr and mine[1]["sport"] > 0


def test_tcpstates_text_ipv6_only(netns: str) -> None:
    port = random.randint(20000, 60000)
    tool = Tool("tcpstates", "-6", "--dport", str(port))
    connect_in(netns, port)
    out, err = tool.stop()
    rows = [line.split() for line in out.splitlines()[1:]]
    assert rows and all(r[3] == "6" and r[6] == "::1" and r[7] == str(port) for r in rows), out
    assert ["SYN_SENT", "->", "ESTABLISHED"] in [r[8:11] for r in rows], out
    assert "state changes traced" in err
