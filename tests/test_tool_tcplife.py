"""tcplife, run for real: in a test network namespace a client connects over
loopback (IPv4, then IPv6), sends a known number of bytes, the server answers
with another known number, the client closes, then the server.  Each session
must show up once per end, with the workload's pid, both addresses and ports,
and exactly the bytes each end sent and received (the kernel's counters)."""

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

UP, DOWN = 10000, 30000  # bytes the client sends, bytes the server answers
WORKLOAD = f"""
import socket, sys
port = int(sys.argv[1])
def recv_exactly(s, n):
    got = 0
    while got < n:
        chunk = s.recv(n - got)
        assert chunk
        got += len(chunk)
for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    srv = socket.socket(family)
    srv.bind((host, port))
    srv.listen()
    cli = socket.create_connection((host, port))
    conn, _ = srv.accept()
    cli.sendall(b"u" * {UP})
    recv_exactly(conn, {UP})
    conn.sendall(b"d" * {DOWN})
    recv_exactly(cli, {DOWN})
    cli.close()
    assert conn.recv(1) == b""
    conn.close()
    srv.close()
print(__import__("os").getpid())
"""


@pytest.fixture
def netns() -> Iterator[str]:
    with toolenv.netns("tcplife") as name:
        yield name


def sessions_in(ns: str, port: int) -> int:
    """Run the workload; its pid."""
    proc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-S", "-c", WORKLOAD,
                           str(port)], check=True, capture_output=True, text=True)
    return int(proc.stdout)


def test_tcplife_json_ipv4_and_ipv6(netns: str) -> None:
    port = random.randint(20000, 60000)
    tool = Tool("tcplife", "--json", "-L", str(port))   # the server ends
    tool2 = Tool("tcplife", "--json", "-D", str(port))  # the client ends
    pid = sessions_in(netns, port)
    servers = [r for r in json_lines(tool.stop()[0]) if r["type"] == "tcp_life"]
    clients = [r for r in json_lines(tool2.stop()[0]) if r["type"] == "tcp_life"]
    for ip, addr in ((4, "127.0.0.1"), (6, "::1")):
        (cli,) = [r for r in clients if r["ip"] == ip]
        (srv,) = [r for r in servers if r["ip"] == ip]
        assert (cli["pid"], cli["comm"], srv["pid"], srv["comm"]) == (
            pid, "python3", pid, "python3")
        assert (cli["saddr"], cli["daddr"], cli["dport"]) == (addr, addr, port), cli
        assert (srv["saddr"], srv["daddr"], srv["sport"], srv["dport"]) == (
            addr, addr, port, cli["sport"]), srv
        # the kernel's counters advance with sequence numbers, so SYN and FIN
        # count one each: the client's SYN and FIN acked, the peer's FIN
        # received (the server's socket is born after its SYN-ACK)
        assert (cli["tx_bytes"], cli["rx_bytes"]) == (UP + 2, DOWN + 1), cli
        assert (srv["tx_bytes"], srv["rx_bytes"]) == (DOWN + 1, UP + 1), srv
        assert cli["span_us"] >= 0 and srv["span_us"] >= 0


def test_tcplife_text_ipv6_only(netns: str) -> None:
    port = random.randint(20000, 60000)
    tool = Tool("tcplife", "-6", "-D", str(port))
    pid = sessions_in(netns, port)
    out, err = tool.stop()
    lines = out.splitlines()
    assert lines[0].split() == ["PID", "COMM", "IP", "LADDR", "LPORT", "RADDR", "RPORT",
                                "TX_KB", "RX_KB", "MS"]
    (row,) = [line.split() for line in lines[1:]]
    assert row[:3] == [str(pid), "python3", "6"] and row[5:7] == ["::1", str(port)], out
    assert row[7:9] == [str(UP // 1024), str(DOWN // 1024)], out
    assert "1 sessions traced" in err
