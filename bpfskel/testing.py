"""Helpers for testing BPF code: kernel checks, packets for ``test_run``, netns.

Used by the pytest plugin (:mod:`bpfskel.pytest_plugin`) and usable without
pytest.  Nothing here is mocked: the checks ask the running kernel, the
packets are the bytes a wire would carry (with real checksums), and a
:class:`NetNs` is a real network namespace made with iproute2.

Not part of the runtime: a generated module never imports it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import ipaddress
import os
import shutil
import socket
import struct
import subprocess
from typing import Callable, Dict, Iterator, Optional, Sequence, Tuple

from . import _libbpf, _libc
from .errors import Error
from .uapi import CLONE_NEWNET, MapType

__all__ = [
    "HOOKS", "HOOK_ERRNOS", "NetNs", "XDP_VERDICTS", "TC_VERDICTS", "bpf_unavailable_reason",
    "ethernet", "hook_unavailable_reason", "ipv4", "ipv4_udp", "ipv4_tcp", "ipv6", "ipv6_udp",
    "kernel_btf_reason", "udp", "tcp", "verdict_name",
]

KERNEL_BTF = "/sys/kernel/btf/vmlinux"
_PMU = "/sys/bus/event_source/devices"
_TRACEFS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")

XDP_VERDICTS = {0: "XDP_ABORTED", 1: "XDP_DROP", 2: "XDP_PASS", 3: "XDP_TX", 4: "XDP_REDIRECT"}
TC_VERDICTS = {-1: "TC_ACT_UNSPEC", 0: "TC_ACT_OK", 1: "TC_ACT_RECLASSIFY", 2: "TC_ACT_SHOT",
               3: "TC_ACT_PIPE", 4: "TC_ACT_STOLEN", 7: "TC_ACT_REDIRECT"}

# A load or attach failing with one of these, in a test marked for the hook,
# means the kernel lacks the hook (or the right to use it): a skip, not a failure.
HOOK_ERRNOS = frozenset({errno.EPERM, errno.EACCES, errno.EOPNOTSUPP, errno.ENOENT,
                         errno.EINVAL, 524})  # 524: the kernel's ENOTSUPP


def verdict_name(retval: int, table: Dict[int, str] = XDP_VERDICTS) -> str:
    """``2`` -> ``"XDP_PASS"``, for assertion messages."""
    return table.get(retval, str(retval))


# -- what the kernel offers --------------------------------------------------------


@functools.lru_cache(maxsize=None)
def bpf_unavailable_reason() -> Optional[str]:
    """Why BPF cannot be used here (no libbpf, no CAP_BPF, no bpf()), or None.
    Asked the kernel by creating, then closing, a one-element array map."""
    try:
        lib = _libbpf.lib()
    except _libbpf.LibbpfNotFoundError as e:
        return f"libbpf cannot be loaded: {e}"
    fd = lib.bpf_map_create(MapType.ARRAY, b"bpfskel_probe", 4, 4, 1, None)
    if fd < 0:
        err = -fd
        why = "no CAP_BPF (run as root)" if err in (errno.EPERM, errno.EACCES) else \
            f"bpf() unavailable: {os.strerror(err)}"
        return f"cannot create a BPF map: {why} (errno {err})"
    os.close(fd)
    return None


def kernel_btf_reason() -> Optional[str]:
    if os.path.exists(KERNEL_BTF):
        return None
    return f"the kernel has no BTF ({KERNEL_BTF} missing: CONFIG_DEBUG_INFO_BTF off)"


def _pmu(name: str, what: str, config: str) -> Callable[[], Optional[str]]:
    def check() -> Optional[str]:
        if os.path.isdir(f"{_PMU}/{name}"):
            return None
        return f"{what}: the kernel has no {name} PMU ({config} off) on {os.uname().release}"
    return check


def _tracefs() -> Optional[str]:
    if any(os.path.isdir(f"{d}/events") for d in _TRACEFS):
        return None
    return "tracepoints: tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)"


def _lsm() -> Optional[str]:
    try:
        with open("/sys/kernel/security/lsm") as f:
            active = f.read().strip().split(",")
    except OSError:
        return "lsm: /sys/kernel/security/lsm unreadable (securityfs not mounted)"
    if "bpf" not in active:
        return f"lsm: the BPF LSM is not active (lsm={','.join(active)}; boot with lsm=...,bpf)"
    return kernel_btf_reason()


def _always() -> Optional[str]:
    return None


def _probed(what: str, static: Callable[[], Optional[str]], probe_name: str
            ) -> Callable[[], Optional[str]]:
    """A check that, once ``static`` passes, loads and attaches a minimal program
    through :mod:`bpfskel.features` (cached): some kernels have the BTF and the
    config yet refuse the hook (the EPERM of fentry on hardened kernels), and a
    test that runs the hook in another process (a tool) cannot rely on the
    ``bpf_skeleton`` fixture's refusal skip."""
    def check() -> Optional[str]:
        reason = static()
        if reason:
            return reason
        from . import features

        if getattr(features, probe_name)():
            return None
        return (f"{what}: this kernel refuses them (a minimal program failed to load or "
                f"attach: bpfskel.features.{probe_name}())")
    return check


# marker name -> (what it needs, a check of the kernel).  fentry and LSM checks
# load a probe program (see _probed); the others read the kernel's files, and
# passing does not promise the hook works: the plugin turns a HOOK_ERRNOS failure of a
# marked test's load or attach into a skip naming the kernel's error.
HOOKS: Dict[str, Tuple[str, Callable[[], Optional[str]]]] = {
    "kprobe": ("kprobes and kretprobes", _pmu("kprobe", "kprobes", "CONFIG_KPROBES")),
    "kprobe_multi": ("kprobe.multi links (fprobe)",
                     _pmu("kprobe", "kprobe.multi", "CONFIG_KPROBES")),
    "uprobe": ("uprobes and USDT", _pmu("uprobe", "uprobes", "CONFIG_UPROBE_EVENTS")),
    "tracepoint": ("tracepoints (tracefs)", _tracefs),
    "fentry": ("fentry/fexit (BPF trampolines, kernel BTF)",
               _probed("fentry/fexit", kernel_btf_reason, "fentry_available")),
    "lsm": ("BPF LSM programs", _probed("BPF LSM programs", _lsm, "lsm_available")),
    "xdp": ("XDP programs", _always),
    "tc": ("tc/tcx programs", _always),
}


def hook_unavailable_reason(marker: str) -> Optional[str]:
    """Why a test that needs ``marker``'s hook cannot run here, or None."""
    reason = bpf_unavailable_reason()
    if reason:
        return f"{marker}: {reason}"
    return HOOKS[marker][1]()


# -- packets (for Program.test_run) ----------------------------------------------


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ethernet(payload: bytes, *, ethertype: int = 0x0800, src: str = "02:00:00:00:00:01",
             dst: str = "02:00:00:00:00:02") -> bytes:
    mac = [bytes.fromhex(m.replace(":", "")) for m in (dst, src)]
    return mac[0] + mac[1] + struct.pack("!H", ethertype) + payload


def ipv4(payload: bytes, *, proto: int, src: str = "192.0.2.1", dst: str = "192.0.2.2",
         ttl: int = 64, ident: int = 1) -> bytes:
    """An IPv4 header (no options, correct checksum) and ``payload``."""
    s, d = ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0, ttl, proto, 0,
                      s, d)
    return hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:] + payload


def ipv6(payload: bytes, *, next_header: int, src: str = "2001:db8::1",
         dst: str = "2001:db8::2", hop_limit: int = 64) -> bytes:
    s, d = ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), next_header, hop_limit, s, d) \
        + payload


def _l4(segment: bytes, proto: int, src: str, dst: str, csum_at: int) -> bytes:
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if a.version == 4:
        pseudo = a.packed + b.packed + struct.pack("!BBH", 0, proto, len(segment))
    else:
        pseudo = a.packed + b.packed + struct.pack("!I3xB", len(segment), proto)
    c = _csum(pseudo + segment) or 0xFFFF
    return segment[:csum_at] + struct.pack("!H", c) + segment[csum_at + 2:]


def udp(payload: bytes, *, sport: int, dport: int, src: str, dst: str) -> bytes:
    """A UDP header with the checksum over the pseudo-header of ``src``/``dst``."""
    seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return _l4(seg, socket.IPPROTO_UDP, src, dst, 6)


def tcp(payload: bytes, *, sport: int, dport: int, src: str, dst: str, flags: int = 0x02,
        seq: int = 1, ack: int = 0, window: int = 65535) -> bytes:
    """A TCP header (no options; SYN by default) with its checksum."""
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, window, 0, 0) \
        + payload
    return _l4(seg, socket.IPPROTO_TCP, src, dst, 16)


def ipv4_udp(payload: bytes = b"", *, sport: int = 40000, dport: int = 53,
             src: str = "192.0.2.1", dst: str = "192.0.2.2") -> bytes:
    """Ethernet + IPv4 + UDP, as ``test_run`` of an XDP or tc program wants them."""
    return ethernet(ipv4(udp(payload, sport=sport, dport=dport, src=src, dst=dst),
                         proto=socket.IPPROTO_UDP, src=src, dst=dst))


def ipv4_tcp(payload: bytes = b"", *, sport: int = 40000, dport: int = 80, flags: int = 0x02,
             src: str = "192.0.2.1", dst: str = "192.0.2.2") -> bytes:
    return ethernet(ipv4(tcp(payload, sport=sport, dport=dport, src=src, dst=dst, flags=flags),
                         proto=socket.IPPROTO_TCP, src=src, dst=dst))


def ipv6_udp(payload: bytes = b"", *, sport: int = 40000, dport: int = 53,
             src: str = "2001:db8::1", dst: str = "2001:db8::2") -> bytes:
    return ethernet(ipv6(udp(payload, sport=sport, dport=dport, src=src, dst=dst),
                         next_header=socket.IPPROTO_UDP, src=src, dst=dst),
                    ethertype=0x86DD)


# -- network namespaces ------------------------------------------------------------


class NetNsError(Error, OSError):
    """A namespace could not be made, entered or left."""


class NetNs:
    """A named network namespace (``ip netns add``), deleted by :meth:`close`.

    :meth:`enter` moves the *calling thread* into it (``setns``), so that
    ``socket.if_nametoindex``, sockets and libbpf's netlink calls (XDP and tc
    attach) all see its interfaces; leaving restores the thread's previous
    namespace.  Nothing touches the host's interfaces, ``lo`` included.
    """

    def __init__(self, name: Optional[str] = None) -> None:
        ip = shutil.which("ip")
        if ip is None:
            raise NetNsError(errno.ENOENT, "iproute2's ip not found (apt-get install iproute2)")
        self.ip = ip
        self.name = name or f"bpfskel-{os.getpid()}-{id(self) & 0xFFFFFF:x}"
        self._run("netns", "add", self.name)
        self.closed = False
        self.exec("ip", "link", "set", "lo", "up")

    def _run(self, *args: str) -> str:
        proc = subprocess.run([self.ip, *args], capture_output=True, text=True)
        if proc.returncode != 0:
            raise NetNsError(errno.EIO, f"ip {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def exec(self, *cmd: str) -> str:
        """Run ``cmd`` inside the namespace (``ip netns exec``); its stdout."""
        return self._run("netns", "exec", self.name, *cmd)

    def add_veth(self, a: str = "veth0", b: str = "veth1",
                 addrs: Sequence[str] = ("10.200.0.1/24", "10.200.0.2/24")) -> Tuple[str, str]:
        """A veth pair inside the namespace, both ends up, addressed."""
        self.exec("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        for dev, addr in zip((a, b), addrs):
            self.exec("ip", "addr", "add", addr, "dev", dev)
            self.exec("ip", "link", "set", dev, "up")
        return a, b

    def ifindex(self, dev: str) -> int:
        out = self.exec("cat", f"/sys/class/net/{dev}/ifindex")
        return int(out)

    @contextlib.contextmanager
    def enter(self) -> Iterator["NetNs"]:
        libc = _libc.libc()
        old = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        new = os.open(f"/var/run/netns/{self.name}", os.O_RDONLY)
        try:
            if libc.setns(new, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise NetNsError(err, f"setns into {self.name}: {os.strerror(err)}")
            try:
                yield self
            finally:
                if libc.setns(old, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise NetNsError(err, f"setns back from {self.name}: {os.strerror(err)}")
        finally:
            os.close(new)
            os.close(old)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._run("netns", "delete", self.name)

    def __enter__(self) -> "NetNs":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<NetNs {self.name}{' (deleted)' if self.closed else ''}>"
