"""bpfskel.arch: the architecture facts, the refusal of an unknown one, and
the ring readers' explicit-ordering path, run for real on this machine.

The seam is ``bpfskel.arch.MACHINE`` (read at every call); the ordering
tests replace this machine's entry of ``ARCHES`` with one that is not TSO,
so the acquire/release path runs with this machine's real system call
numbers.  Nothing in libbpf or the kernel is mocked.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator, List

import pytest

import bpfskel
from bpfskel import arch
from bpfskel.perf_event import PERF_COUNT_SW_CPU_CLOCK, PERF_TYPE_SOFTWARE, perf_event_open
from bpfskel.perfbuf import online_cpus

from bpfenv import REPO_ROOT, module_fixture, needs_tracefs, requires_bpf
from mapsenv import traced

UNISTD = {  # where the kernel's UAPI headers, as Debian installs them, number the calls
    "x86_64": Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    "aarch64": Path("/usr/include/asm-generic/unistd.h"),
}


@pytest.mark.parametrize("machine", sorted(arch.ARCHES))
def test_syscall_numbers_match_the_uapi_headers(machine: str) -> None:
    header = UNISTD[machine]
    if not header.exists():
        pytest.skip(f"{header} is not installed (linux-libc-dev)")
    text = header.read_text()
    for name, nr in arch.ARCHES[machine].syscalls.items():
        found = re.search(rf"#define __NR_{name}\s+(\d+)\b", text)
        assert found, f"__NR_{name} not in {header}"
        assert int(found.group(1)) == nr, (machine, name)


def test_this_machine_is_known_and_x86_64_is_tso() -> None:
    assert arch.MACHINE == os.uname().machine
    facts = arch.current()
    assert facts.name == arch.MACHINE
    if arch.MACHINE == "x86_64":
        assert facts.tso and facts.va_list_by_pointer
        assert arch.syscall_number("perf_event_open") == 298


@pytest.fixture
def unknown_machine(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(arch, "MACHINE", "sparc64")
    return "sparc64"


def test_unknown_architecture_is_refused(unknown_machine: str) -> None:
    with pytest.raises(bpfskel.NotSupportedError, match="'sparc64' architecture") as ei:
        arch.current()
    assert "x86_64" in str(ei.value) and "aarch64" in str(ei.value)
    with pytest.raises(bpfskel.NotSupportedError, match="sparc64"):
        arch.syscall_number("perf_event_open")
    assert not arch.va_list_by_pointer()
    # perf_event_open refuses before any system call is made on a guessed number
    with pytest.raises(bpfskel.NotSupportedError, match="sparc64"):
        perf_event_open(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, cpu=0)
    with pytest.raises(bpfskel.NotSupportedError):
        bpfskel._libbpf.format_va(b"%d", 0)


mod = module_fixture("maps")
kinds = module_fixture("mapkinds")  # has the user ring buffer


@requires_bpf
@needs_tracefs
def test_ring_readers_refuse_an_unknown_architecture(mod: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with traced(mod) as skel:
        before = sorted(os.listdir("/proc/self/fd"))
        monkeypatch.setattr(arch, "MACHINE", "sparc64")
        with pytest.raises(bpfskel.NotSupportedError, match="sparc64"):
            skel.maps.events.ring_buffer(print)
        with pytest.raises(bpfskel.NotSupportedError, match="sparc64"):
            skel.maps.perf_events.perf_buffer(print)
        assert sorted(os.listdir("/proc/self/fd")) == before  # nothing left open


@requires_bpf
def test_user_ring_buffer_refuses_an_unknown_architecture(
        kinds: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with kinds.open_and_load() as skel:
        monkeypatch.setattr(arch, "MACHINE", "sparc64")
        with pytest.raises(bpfskel.NotSupportedError, match="sparc64"):
            skel.maps.requests.user_ring_buffer()


def test_unknown_architecture_keeps_libbpfs_own_printer(tmp_path: Path) -> None:
    """Where passing the va_list on is not known to be valid, libbpf's own
    printer stays: its message reaches stderr, and the error still names the
    operation and the errno."""
    code = (
        "import logging, bpfskel.arch as a\n"
        "a.MACHINE = 'sparc64'\n"
        "seen = []\n"
        "class H(logging.Handler):\n"
        "    def emit(self, r): seen.append(r)\n"
        "logging.getLogger('bpfskel.libbpf').addHandler(H())\n"
        "logging.getLogger('bpfskel.libbpf').setLevel(logging.DEBUG)\n"
        "import ctypes\n"
        "from bpfskel import _libbpf, LibbpfError\n"
        "lib = _libbpf.lib()\n"
        "data = b'not an ELF object'\n"
        "o = _libbpf.opts(_libbpf.ObjectOpenOpts, object_name=b'bogus')\n"
        "try:\n"
        "    _libbpf.call_ptr(lib.bpf_object__open_mem, 'opening bogus', data, len(data),"
        " ctypes.byref(o))\n"
        "except LibbpfError as e:\n"
        "    print('errno', e.errno, 'log', repr(e.log), 'logged', len(seen))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(r"errno \d+ log '' logged 0\n", proc.stdout), proc.stdout
    assert proc.stderr.startswith("libbpf: "), proc.stderr  # libbpf's default printer


# -- the explicit-ordering path, on this machine ----------------------------------


@pytest.fixture
def not_tso(monkeypatch: pytest.MonkeyPatch) -> Iterator[List[str]]:
    """This machine's facts with ``tso=False``, and a record of the ordered
    accesses the readers make (through the real libatomic functions)."""
    calls: List[str] = []
    load, store = arch.load_acquire, arch.store_release

    def counted_load(address: int, width: int = 8) -> int:
        calls.append(f"load{width}")
        return load(address, width)

    def counted_store(address: int, value: int, width: int = 8) -> None:
        calls.append(f"store{width}")
        store(address, value, width)

    here = arch.current()
    monkeypatch.setitem(arch.ARCHES, here.name, here._replace(tso=False))
    monkeypatch.setattr(arch, "load_acquire", counted_load)
    monkeypatch.setattr(arch, "store_release", counted_store)
    yield calls


def test_acquire_and_release_on_real_memory() -> None:
    import ctypes

    word = ctypes.c_uint64(0)
    arch.store_release(ctypes.addressof(word), 0x1122334455667788)
    assert word.value == 0x1122334455667788
    assert arch.load_acquire(ctypes.addressof(word)) == 0x1122334455667788
    assert arch.load_acquire(ctypes.addressof(word), 4) == 0x55667788


@requires_bpf
@needs_tracefs
def test_ring_buffer_with_explicit_ordering(mod: Any, not_tso: List[str]) -> None:
    with traced(mod) as skel:
        got: List[Any] = []
        with skel.maps.events.ring_buffer(got.append, mod.types.event) as rb:
            for _ in range(30):
                os.getppid()
            assert rb.poll(1000) == 30
            for _ in range(7):
                os.getppid()
            arr = rb.read_array()
        assert [e.seq for e in got] == list(range(30))
        seqs = [int(s) for s in arr["seq"]] if hasattr(arr, "dtype") else [e.seq for e in arr]
        assert seqs == list(range(30, 37))
        # one acquire load per record header (no unordered runs), and the consumer
        # position released once per batch: at least once per drain, never per event
        assert not_tso.count("load4") == 37 and 2 <= not_tso.count("store8") < 30


@requires_bpf
@needs_tracefs
def test_perf_buffer_with_explicit_ordering(mod: Any, not_tso: List[str]) -> None:
    with traced(mod) as skel:
        got: List[Any] = []
        with skel.maps.perf_events.perf_buffer(lambda cpu, e: got.append(e),
                                               mod.types.event) as pb:
            for _ in range(20):
                os.getppid()
            while len(got) < 20:
                assert pb.poll(1000) > 0
        assert sorted(e.seq for e in got) == list(range(20))
        assert not_tso.count("load8") >= len(online_cpus())  # data_head, per ring
        assert not_tso.count("store8") >= len(online_cpus())  # data_tail, per ring


@requires_bpf
def test_user_ring_buffer_with_explicit_ordering(kinds: Any, not_tso: List[str]) -> None:
    with kinds.open_and_load() as skel:
        rec = kinds.types.urec
        with skel.maps.requests.user_ring_buffer(rec) as urb:
            assert urb.submit_many([rec(seq=i, weight=1) for i in range(5)]) == 5
            assert skel.progs.drain.test_run().retval == 5
            assert urb.free == skel.maps.requests.max_entries
        assert skel.bss.drained == 5
        assert "store8" in not_tso and "load8" in not_tso
