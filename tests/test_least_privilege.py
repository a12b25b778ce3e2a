"""Least privilege, feature by feature, with capabilities really dropped
(setpriv) in child processes:

* a non-root user with only CAP_BPF and CAP_PERFMON as ambient capabilities
  loads and attaches a raw tracepoint program and reads its globals; a
  ``tp/`` program fails there with EACCES, because tracefs belongs to root;
* XDP needs CAP_NET_ADMIN on top of CAP_BPF, and CAP_PERFMON as well when
  the verifier must allow pointer arithmetic (in a network namespace of the
  test's own); it then decodes a real packet's source with ``labels.ipv4``;
* kernel symbol addresses (for the ksym decoder) need CAP_SYSLOG;
* no CAP_SYS_RESOURCE and an RLIMIT_MEMLOCK of 0 are fine on Linux >= 5.11,
  where BPF memory is charged to the memory cgroup.

(CAP_BPF and CAP_PERFMON alone, as uid 0, are in test_privileges.py and
test_deploy.py.)
"""

from __future__ import annotations

import bisect
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Tuple

import pytest

from bpfskel import labels

from bpfenv import REPO_ROOT, build_obj, requires_bpf

SETPRIV = shutil.which("setpriv")
pytestmark = [
    requires_bpf,
    pytest.mark.skipif(os.geteuid() != 0, reason="not root: nothing to drop"),
    pytest.mark.skipif(SETPRIV is None, reason="setpriv (util-linux) not found"),
]
NOBODY = 65534


def caps(*names: str) -> List[str]:
    """uid 0 keeping only ``names`` (setpriv's spelling: bpf, perfmon, ...)."""
    spec = ",".join(["-all"] + ["+" + n for n in names])
    return [str(SETPRIV), f"--bounding-set={spec}", f"--inh-caps={spec}"]


def as_user(uid: int, *names: str) -> List[str]:
    """uid ``uid`` holding ``names`` as ambient capabilities, as a systemd
    unit with User= and AmbientCapabilities= runs its service."""
    spec = ",".join(["-all"] + ["+" + n for n in names])
    return [str(SETPRIV), f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
            f"--inh-caps={spec}", f"--ambient-caps={spec}", f"--bounding-set={spec}"]


@pytest.fixture(scope="module")
def modules() -> Iterator[Path]:
    """Generated modules in a directory any user can read."""
    from bpfskel.gen.generate import generate

    d = Path(tempfile.mkdtemp(prefix="bpfskel-lp-"))
    try:
        for name in ("shared", "syslat", "xdp_filter"):
            obj = build_obj(name)
            (d / f"{name}_skel.py").write_text(generate(obj.read_bytes(), str(obj), name))
        os.chmod(d, 0o755)
        for f in d.iterdir():
            os.chmod(f, 0o644)
        yield d
    finally:
        shutil.rmtree(d)


def run(wrapper: List[str], modules: Path, code: str,
        prefix: Optional[List[str]] = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), PYTHONDONTWRITEBYTECODE="1")
    head = f"import sys; sys.path.insert(0, {str(modules)!r})\n"
    return subprocess.run((prefix or []) + wrapper + [sys.executable, "-c",
                                                      head + textwrap.dedent(code)],
                          capture_output=True, text=True, env=env, timeout=120, cwd="/")


RAW_TP = """
    import os, threading
    import shared_skel, syslat_skel
    skel = shared_skel.open()
    skel.rodata.writer_tgid = os.getpid()
    skel.load()
    skel.attach()                          # raw_tp: no tracefs involved
    skel.bss.writer_tid = threading.get_native_id()
    for _ in range(5):
        os.getppid()
    print(os.getuid(), skel.bss.hits)
    tp = syslat_skel.open()
    tp.load()
    try:
        tp.attach()                        # tp/: reads a tracefs id file
        print("tp attached")
    except PermissionError as e:
        print("tp", e.errno)
"""


def test_non_root_user_with_ambient_caps(modules: Path) -> None:
    probe = run(as_user(NOBODY), modules, "import bpfskel")
    if probe.returncode != 0:
        pytest.skip(f"uid {NOBODY} cannot import this checkout: {probe.stderr[-300:]}")
    proc = run(as_user(NOBODY, "bpf", "perfmon"), modules, RAW_TP)
    assert proc.returncode == 0, proc.stderr
    ran, tp = proc.stdout.splitlines()
    assert ran == f"{NOBODY} 5"
    assert tp == "tp 13", "tracefs is root's: a tp/ program needs uid 0 or tracefs access"
    # and without the ambient capabilities the same user cannot load at all
    bare = run(as_user(NOBODY), modules, RAW_TP)
    assert "PermissionError" in bare.stderr and "lacks CAP_BPF" in bare.stderr, bare.stderr


XDP = """
    import socket, sys
    import xdp_filter_skel
    from bpfskel import labels
    skel = xdp_filter_skel.open()
    try:
        skel.load()
    except PermissionError as e:
        print("load refused", e.errno)
        sys.exit(0)
    skel.progs.xdp_classify.attach_xdp(socket.if_nametoindex("lo"))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.3", 0))
    s.sendto(b"ping", ("127.0.0.7", skel.rodata.drop_port))
    print("attached", labels.ipv4(skel.bss.last_saddr), skel.bss.verdicts[1])
"""


@pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2's ip not found")
def test_xdp_needs_cap_net_admin(modules: Path) -> None:
    ns = f"bpfskel-lp-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        netns = ["ip", "netns", "exec", ns]
        without = run(caps("bpf", "perfmon"), modules, XDP, prefix=netns)
        assert without.returncode == 0, without.stderr
        assert without.stdout.strip() == "load refused 1"  # EPERM: a networking program
        # CAP_NET_ADMIN alone is not enough for this one: the verifier refuses
        # its map-value pointer arithmetic without CAP_PERFMON (EACCES)
        no_perfmon = run(caps("bpf", "net_admin"), modules, XDP, prefix=netns)
        assert no_perfmon.stdout.strip() == "load refused 13", no_perfmon.stderr
        with_it = run(caps("bpf", "perfmon", "net_admin"), modules, XDP, prefix=netns)
        assert with_it.returncode == 0, with_it.stderr
        assert with_it.stdout.strip() == "attached 127.0.0.3 1"  # one UDP packet dropped
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def kallsyms_resolver(text: str) -> Callable[[int], Optional[Tuple[str, int]]]:
    """A symbol resolver over /proc/kallsyms text: address -> (name, offset)."""
    rows = [line.split() for line in text.splitlines() if line.strip()]
    syms = sorted((int(r[0], 16), r[2]) for r in rows if int(r[0], 16))
    addrs = [a for a, _ in syms]

    def resolve(addr: int) -> Optional[Tuple[str, int]]:
        i = bisect.bisect_right(addrs, addr) - 1
        return None if i < 0 else (syms[i][1], addr - syms[i][0])

    return resolve


def test_kernel_symbols_need_cap_syslog(modules: Path) -> None:
    with open("/proc/sys/kernel/kptr_restrict") as f:
        restrict = int(f.read())
    with open("/proc/sys/kernel/perf_event_paranoid") as f:
        paranoid = int(f.read())
    if restrict == 0 and paranoid <= 1:
        pytest.skip("kptr_restrict=0 and perf_event_paranoid<=1: addresses are public here")
    if restrict >= 2:
        pytest.skip("kptr_restrict=2: addresses are hidden even with CAP_SYSLOG")
    read = "print(open('/proc/kallsyms').read())"
    hidden = run(caps("bpf", "perfmon"), modules, read)
    shown = run(caps("bpf", "perfmon", "syslog"), modules, read)
    assert hidden.returncode == 0 and shown.returncode == 0
    assert all(line.startswith("0000000000000000 ") for line in hidden.stdout.splitlines()
               if line.strip())
    resolve = kallsyms_resolver(shown.stdout)
    addrs = sorted({int(line.split()[0], 16) for line in shown.stdout.splitlines()
                    if line.strip()})
    # a symbol alone at its address, with room after it
    a = next(addrs[i] for i in range(1, len(addrs) - 1) if addrs[i + 1] - addrs[i] > 1)
    name = resolve(a)
    assert name is not None and name[1] == 0
    decode = labels.ksym(resolve)
    assert decode(a) == name[0] and decode(a + 1) == f"{name[0]}+0x1"


def test_no_memlock_rlimit_or_cap_sys_resource_needed(modules: Path) -> None:
    if shutil.which("prlimit") is None:
        pytest.skip("prlimit (util-linux) not found")
    release = tuple(int(x) for x in os.uname().release.split(".")[:2])
    if release < (5, 11):
        pytest.skip("before Linux 5.11 BPF memory counts against RLIMIT_MEMLOCK")
    code = """
        import os, threading, resource
        import shared_skel
        print(resource.getrlimit(resource.RLIMIT_MEMLOCK))
        with shared_skel.open() as skel:
            skel.rodata.writer_tgid = os.getpid()
            skel.load()
            skel.attach()
            skel.bss.writer_tid = threading.get_native_id()
            os.getppid()
            print(skel.bss.hits)
    """
    proc = run(caps("bpf", "perfmon"), modules, code, prefix=["prlimit", "--memlock=0:0"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["(0, 0)", "1"]
