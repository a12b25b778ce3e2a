"""Programs in the kernel: uprobes on a shared library built here, XDP through
BPF_PROG_TEST_RUN, and load failures with the verifier's whole log.

Sources: bpf/uprobe.bpf.c, bpf/xdp_filter.bpf.c, bpf/rejected.bpf.c,
bpf/long_reject.bpf.c.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any, Tuple

import pytest

import bpfskel
from bpfskel import _libbpf, testing

import elfread
from bpfenv import generated_module, requires_bpf

pytestmark = requires_bpf

# -- uprobes -----------------------------------------------------------------------

LIB_NAME = "libbpfskel_uprobe.so"  # bpf/uprobe.bpf.c names it in SEC("uprobe/...")
LIB_SRC = """\
__attribute__((noinline)) int bpfskel_add(int a, int b) { return a + b; }
__attribute__((noinline)) int bpfskel_mul(int a, int b) { return a * b; }
"""


@pytest.fixture(scope="module")
def target_lib(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, Any]:
    """The shared library, built with gcc and loaded into this process."""
    cc = shutil.which(os.environ.get("CC", "gcc"))
    if cc is None:
        pytest.skip("gcc not found: cannot build the uprobe target library")
    d = tmp_path_factory.mktemp("uprobe")
    (d / "target.c").write_text(LIB_SRC)
    subprocess.run([cc, "-O1", "-shared", "-fPIC", "-o", str(d / LIB_NAME),
                    str(d / "target.c")], check=True)
    lib = ctypes.CDLL(str(d / LIB_NAME))
    return d / LIB_NAME, lib


@pytest.fixture(scope="module")
def uprobe_mod(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generated_module("uprobe", tmp_path_factory)


def _file_offset(path: Path, symbol: str) -> int:
    """Where ``symbol``'s code is in the file: what a uprobe offset means."""
    elf = elfread.read_elf(path)
    sec_name, value, _size, _bind, typ = elf.symbols()[symbol]
    assert typ == "FUNC"
    sec = elf.section(sec_name)
    return value - sec.addr + sec.offset


def test_uprobe_auto_attach_from_section_name(uprobe_mod: Any, target_lib: Tuple[Path, Any],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path, lib = target_lib
    monkeypatch.setenv("LD_LIBRARY_PATH", str(path.parent))  # how libbpf finds the .so
    with uprobe_mod.open() as skel:
        skel.rodata.target_tgid = os.getpid()
        skel.load()
        skel.attach()  # the bare SEC("uprobe")/SEC("uretprobe") are skipped, not errors
        assert {k for k in vars(skel.links) if k != "_kind"} == {"on_mul"}
        assert lib.bpfskel_mul(6, -7) == -42
        assert lib.bpfskel_add(1, 2) == 3
        bss = skel.bss
        assert (bss.mul_calls, bss.mul_a, bss.mul_b) == (1, 6, -7)
        assert bss.add_calls == 0 and bss.add_returns == 0  # not attached
        skel.detach()
        lib.bpfskel_mul(2, 2)
        assert bss.mul_calls == 1


def test_uprobe_and_uretprobe_by_symbol(uprobe_mod: Any, target_lib: Tuple[Path, Any]) -> None:
    path, lib = target_lib
    with uprobe_mod.open() as skel:
        skel.rodata.target_tgid = os.getpid()
        skel.load()
        entry = skel.progs.on_add.attach_uprobe(str(path), symbol="bpfskel_add",
                                                pid=os.getpid())
        with entry, skel.progs.on_add_return.attach_uprobe(
                str(path), symbol="bpfskel_add", retprobe=True) as ret:
            assert entry.fd >= 0 and ret.fd >= 0
            assert "uretprobe" in repr(ret)
            for a, b in ((3, -10), (100, 23)):
                assert lib.bpfskel_add(a, b) == a + b
            bss = skel.bss
            assert (bss.add_calls, bss.add_a, bss.add_b) == (2, 100, 23)
            assert (bss.add_returns, bss.add_ret) == (2, 123)
        assert entry.destroyed and ret.destroyed
        lib.bpfskel_add(5, 5)
        assert (skel.bss.add_calls, skel.bss.add_returns) == (2, 2)


def test_uprobe_by_offset(uprobe_mod: Any, target_lib: Tuple[Path, Any]) -> None:
    path, lib = target_lib
    offset = _file_offset(path, "bpfskel_add")
    with uprobe_mod.open() as skel:
        skel.rodata.target_tgid = os.getpid()
        skel.load()
        with skel.progs.on_add.attach_uprobe(str(path), offset, pid=os.getpid()):
            lib.bpfskel_add(-4, 9)
            lib.bpfskel_mul(-4, 9)  # another function: not probed
        assert (skel.bss.add_calls, skel.bss.add_a, skel.bss.add_b) == (1, -4, 9)


def test_uprobe_on_a_missing_symbol_raises(uprobe_mod: Any,
                                           target_lib: Tuple[Path, Any]) -> None:
    path, _lib = target_lib
    with uprobe_mod.open_and_load() as skel:
        with pytest.raises(bpfskel.LibbpfError) as ei:
            skel.progs.on_add.attach_uprobe(str(path), symbol="no_such_function")
        assert ei.value.errno == errno.ENOENT
        assert "no_such_function" in str(ei.value)


# -- XDP through test_run -------------------------------------------------------------

XDP_DROP, XDP_PASS, XDP_TX = 1, 2, 3


def packet(*, ethertype: int = 0x0800, proto: int = 17, dport: int = 53,
           payload: bytes = b"hello") -> bytes:
    """Ethernet + IPv4 + UDP or TCP, from the plugin's builders (bpfskel.testing)."""
    if proto == 6:
        return testing.ipv4_tcp(payload, dport=dport)
    frame = testing.ipv4_udp(payload, dport=dport)
    return frame[:12] + struct.pack("!H", ethertype) + frame[14:]


@pytest.fixture(scope="module")
def xdp_mod(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generated_module("xdp_filter", tmp_path_factory)


@pytest.mark.xdp
def test_xdp_test_run_verdicts_and_data(xdp_mod: Any, bpf_skeleton: Any) -> None:
    skel = bpf_skeleton(xdp_mod, rodata={"drop_port": 5353})  # configured before load
    prog = skel.progs.xdp_classify
    cases = [
        (packet(dport=53), XDP_PASS),
        (packet(dport=5353), XDP_DROP),
        (packet(dport=9), XDP_PASS),        # the compiled-in default no longer drops
        (packet(proto=6), XDP_PASS),        # TCP
        (packet(ethertype=0x0806), XDP_PASS),  # not IPv4
        (packet()[:14 + 12], XDP_DROP),     # truncated IPv4 header
        (packet(payload=b"PING"), XDP_TX),
    ]
    for data, verdict in cases:
        res = prog.test_run(data)
        assert res.retval == verdict, data.hex()
        assert isinstance(res.duration_ns, int)  # its value is timing: not asserted
        if verdict == XDP_TX:               # bounced: MAC addresses swapped
            assert res.data_out == data[6:12] + data[:6] + data[12:]
        else:
            assert res.data_out == data
    assert skel.bss.last_saddr == int.from_bytes(bytes([192, 0, 2, 1]), "little")
    assert list(skel.bss.verdicts) == [0, 2, 4, 1, 0]
    res = prog.test_run(packet(dport=5353), repeat=100)
    assert res.retval == XDP_DROP
    assert list(skel.bss.verdicts) == [0, 102, 4, 1, 0]  # ran 100 times in the kernel


# -- load failures -------------------------------------------------------------------------


def test_load_failure_is_an_oserror_with_errno_and_verifier_log(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    mod = generated_module("rejected", tmp_path_factory)
    with mod.open() as skel:
        with pytest.raises(OSError) as ei:
            skel.load()
        e = ei.value
        assert isinstance(e, bpfskel.VerifierError) and not isinstance(e, PermissionError)
        assert e.program == "missing_null_check"
        assert e.errno == errno.EACCES
        assert e.operation == "loading BPF object 'rejected'"
        assert "invalid mem access 'map_value_or_null'" in e.log
        assert "invalid mem access 'map_value_or_null'" in str(e)
        assert not skel.loaded
    with pytest.raises(bpfskel.LibbpfError):
        mod.open_and_load()


def test_load_failure_keeps_the_whole_verifier_log(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    mod = generated_module("long_reject", tmp_path_factory)
    with mod.open() as skel, pytest.raises(bpfskel.LibbpfError) as ei:
        skel.load()
    e = ei.value
    lines = e.log.splitlines()
    assert len(lines) > 2 * _libbpf.LOG_TAIL_LINES  # longer than what the message quotes
    begin = next(i for i, line in enumerate(lines) if "BEGIN PROG LOAD LOG" in line)
    assert any(line.startswith("0: ") for line in lines[begin:begin + 5])  # the first insn
    assert any("END PROG LOAD LOG" in line for line in lines)
    assert "R0 invalid mem access 'map_value_or_null'" in e.log
    # the message stays short: the operation, the errno, the end of the log
    message = str(e).splitlines()
    assert message[0] == ("loading BPF object 'long_reject': the verifier rejected program "
                          f"'{e.program}' (EACCES, errno 13)")
    assert len(message) <= _libbpf.LOG_TAIL_LINES + 2
