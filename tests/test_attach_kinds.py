"""Attach kinds the host kernel has, each with a real program and data that
flowed: USDT on python3.11's ``function__entry``, a task iterator read from
Python, CPU-clock sampling on every online CPU through perf events bpfskel
opens itself, and uprobe_multi (libbpf >= 1.3).

Source: bpf/attach_user.bpf.c.
"""

from __future__ import annotations

import errno
import os
import subprocess
import threading
import time
from typing import Any, Iterator

import pytest

import bpfskel
from bpfskel import _libbpf, features
from bpfskel import perf_event as pe
from bpfskel.perf_event import LinkGroup

from bpfenv import module_fixture, requires_bpf

pytestmark = requires_bpf

mod = module_fixture("attach_user")
PY311 = "/usr/bin/python3.11"


@pytest.fixture
def skel(mod: Any) -> Iterator[Any]:
    with mod.open() as s:
        s.load()
        s.bss.target_tgid = os.getpid()
        yield s


def spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


# -- USDT ------------------------------------------------------------------------------

# CPython 3.11 fires function__entry only while a trace or profile function is
# set (its inlined calls skip the probe otherwise), hence the settrace.
CHILD = """\
import sys
def bpfskel_marker(x):
    return x
sys.stdin.readline()
sys.settrace(lambda *a: None)
for i in range(3):
    bpfskel_marker(i)
"""


@pytest.mark.skipif(not os.path.exists(PY311), reason=f"{PY311} (USDT notes) is not installed")
def test_usdt_python_function_entry(skel: Any) -> None:
    assert features.usdt_available()
    child = subprocess.Popen([PY311, "-c", CHILD], stdin=subprocess.PIPE, text=True)
    try:
        skel.bss.target_tgid = child.pid
        skel.bss.want_line = 2  # bpfskel_marker's line in CHILD
        with skel.progs.py_entry.attach_usdt(PY311, "python", "function__entry",
                                             pid=child.pid, cookie=0xC0FFEE) as link:
            assert link.fd >= 0
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.close()
            assert child.wait(timeout=300) == 0  # TCG VMs are slow
        # the three calls, plus the trace lambda's own entries
        assert skel.bss.usdt_hits >= 3
        assert skel.bss.usdt_cookie == 0xC0FFEE
        assert skel.bss.seen_func == b"bpfskel_marker"  # argument 2, read from user memory
        assert skel.bss.seen_line == 2  # argument 3
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_usdt_unknown_probe_names_the_error(skel: Any) -> None:
    if not os.path.exists(PY311):
        pytest.skip(f"{PY311} is not installed")
    with pytest.raises(bpfskel.LibbpfError) as ei:
        skel.progs.py_entry.attach_usdt(PY311, "python", "no_such_probe")
    assert "usdt" in str(ei.value) and "no_such_probe" in str(ei.value)
    assert ei.value.errno == errno.ENOENT


# -- iterators ------------------------------------------------------------------------


def test_task_iterator_lists_this_process(skel: Any) -> None:
    with skel.progs.dump_task.attach_iter() as link:
        text = link.read_text()
        lines = [line.split(" ", 2) for line in text.splitlines()]
        mine = [x for x in lines if int(x[0]) == os.getpid()]
        # every thread of this process, the main thread (pid == tgid) among them
        assert [str(os.getpid()), str(os.getpid())] in [x[:2] for x in mine]
        assert {int(x[1]) for x in mine} >= {threading.get_native_id()}
        with open("/proc/self/comm") as f:
            assert mine[0][2] == f.read().strip()
        assert any(x[:2] == ["2", "2"] and x[2] == "kthreadd" for x in lines)
        # each read is a fresh walk, handed out in chunks
        chunks = list(link.read(chunk_size=256))
        assert len(chunks) > 1 and all(len(c) <= 256 for c in chunks)
        assert str(os.getpid()).encode() in b"".join(chunks)
    with pytest.raises(bpfskel.ClosedError):
        link.read_text()


def test_task_iterator_for_one_pid(skel: Any) -> None:
    if "BPF_TASK_ITER_TGID" not in features._enum("bpf_iter_task_type"):
        pytest.skip("task iterator options need Linux 6.1")
    with skel.progs.dump_task.attach_iter(pid=os.getpid()) as link:
        tgids = {line.split()[0] for line in link.read_text().splitlines()}
    assert tgids == {str(os.getpid())}


iter_mod = module_fixture("iter_map")


def test_map_elem_iterator_walks_the_given_map(iter_mod: Any) -> None:
    with iter_mod.open() as skel:
        try:
            skel.load()
        except PermissionError as e:  # this host refuses it, as it refuses fentry
            pytest.skip("this kernel refuses map_elem iterator programs: "
                        f"{errno.errorcode.get(e.errno or 0, e.errno)}")
        want = {k: k * 1000 + 7 for k in (1, 5, 42, 63)}
        skel.maps.counts.update(want.items())
        with skel.progs.dump_elem.attach_iter(map=skel.maps.counts) as link:
            got = dict(tuple(map(int, line.split())) for line in link.read_text().splitlines())
            assert got == want
            del skel.maps.counts[5]
            got = dict(tuple(map(int, line.split())) for line in link.read_text().splitlines())
            assert got == {k: v for k, v in want.items() if k != 5}
        with pytest.raises(bpfskel.LibbpfError):  # a map_elem iterator needs its map
            skel.progs.dump_elem.attach_iter()


def test_iter_options_are_exclusive(skel: Any) -> None:
    with pytest.raises(ValueError, match="one of"):
        skel.progs.dump_task.attach_iter(map=3, pid=1)


# -- perf events ------------------------------------------------------------------------


def test_perf_event_samples_cpu_clock_on_every_cpu(skel: Any) -> None:
    cpus = pe.online_cpus()
    link = skel.progs.on_clock.attach_perf_event(
        type=pe.PERF_TYPE_SOFTWARE, config=pe.PERF_COUNT_SW_CPU_CLOCK, sample_freq=999)
    assert isinstance(link, LinkGroup) and len(link) == len(cpus)
    with link:
        deadline = time.monotonic() + 10
        while (skel.bss.target_samples < 20
               or not all(skel.bss.cpu_samples[c] for c in cpus)) \
                and time.monotonic() < deadline:
            spin(0.05)
        # profile-like: every online CPU sampled, this process among the samples
        counts = [skel.bss.cpu_samples[c] for c in cpus]
        assert all(n > 0 for n in counts), counts
        assert skel.bss.target_samples >= 20
    assert link.destroyed
    before = list(skel.bss.cpu_samples)
    spin(0.1)
    assert list(skel.bss.cpu_samples) == before


def test_perf_event_one_cpu_and_one_task(skel: Any) -> None:
    with skel.progs.on_clock.attach_perf_event(
            type=pe.PERF_TYPE_SOFTWARE, config=pe.PERF_COUNT_SW_CPU_CLOCK,
            sample_period=100_000, cpu=0) as link:
        assert len(link) == 1
        deadline = time.monotonic() + 10
        while skel.bss.cpu_samples[0] < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert skel.bss.cpu_samples[0] >= 5
        assert not any(skel.bss.cpu_samples[1:])
    skel.bss.target_samples = 0
    # pid=this process, any CPU: one event that follows the task
    with skel.progs.on_clock.attach_perf_event(
            type=pe.PERF_TYPE_SOFTWARE, config=pe.PERF_COUNT_SW_TASK_CLOCK,
            sample_period=100_000, pid=os.getpid()) as link:
        assert len(link) == 1
        deadline = time.monotonic() + 10
        while skel.bss.target_samples < 5 and time.monotonic() < deadline:
            spin(0.02)
        assert skel.bss.target_samples >= 5


def test_perf_event_bad_arguments(skel: Any) -> None:
    prog = skel.progs.on_clock
    with pytest.raises(ValueError, match="sample_period or sample_freq"):
        prog.attach_perf_event(type=pe.PERF_TYPE_SOFTWARE, config=0)
    with pytest.raises(ValueError, match="not both"):
        prog.attach_perf_event(type=pe.PERF_TYPE_SOFTWARE, config=0, sample_period=1,
                               sample_freq=1)
    with pytest.raises(ValueError):
        prog.attach_perf_event()
    nfds = len(os.listdir("/proc/self/fd"))
    with pytest.raises(bpfskel.SyscallError) as ei:  # a CPU that does not exist
        prog.attach_perf_event(type=pe.PERF_TYPE_SOFTWARE, config=0, sample_period=1000,
                               cpu=4096)
    assert ei.value.errno in (errno.EINVAL, errno.ENODEV, errno.ENXIO)
    # perf_event_open is our own system call: an OSError, not a LibbpfError
    assert isinstance(ei.value, OSError) and not isinstance(ei.value, bpfskel.LibbpfError)
    assert ei.value.operation.startswith("perf_event_open(type=1, config=0, pid=-1, cpu=4096")
    assert len(os.listdir("/proc/self/fd")) == nfds  # nothing left open


# -- uprobe_multi ---------------------------------------------------------------------


TARGET_C = r"""
#include <stdio.h>
#include <stdlib.h>
__attribute__((noinline)) int bpfskel_a(int x) { __asm__ volatile(""); return x + 1; }
__attribute__((noinline)) int bpfskel_b(int x) { __asm__ volatile(""); return x + 2; }
int main(int argc, char **argv)
{
	int s = 0;
	getchar();	/* wait until the test attached */
	for (int i = 0; i < atoi(argv[1]); i++)
		s += bpfskel_a(i);
	s += bpfskel_b(s);
	return s < 0;
}
"""


def _target(tmp_path: Any) -> str:
    src, exe = tmp_path / "target.c", tmp_path / "target"
    src.write_text(TARGET_C)
    subprocess.run(["gcc", "-O1", "-o", str(exe), str(src)], check=True)
    return str(exe)


def _run_target(skel: Any, exe: str, calls: int) -> None:
    child = subprocess.Popen([exe, str(calls)], stdin=subprocess.PIPE)
    try:
        skel.bss.target_tgid = child.pid
        assert child.stdin is not None
        child.stdin.write(b"\n")
        child.stdin.close()
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_uprobe_multi_counts_calls(mod: Any, tmp_path: Any) -> None:
    exe = _target(tmp_path)
    with mod.open() as skel:
        prog = skel.progs.on_umulti
        if _libbpf.lib().bpf_program__attach_uprobe_multi is None:
            skel.load()
            with pytest.raises(bpfskel.NotSupportedError, match="libbpf >= 1.3"):
                prog.attach_uprobe_multi(exe, "bpfskel_*")
            return
        if not features.uprobe_multi_available():
            pytest.skip("this kernel has no uprobe_multi links (Linux 6.6)")
        prog.expected_attach_type = features.enum_value("bpf_attach_type",
                                                        "trace_uprobe_multi")
        skel.load()
        # by symbol, each with its cookie
        with prog.attach_uprobe_multi(exe, syms=["bpfskel_a", "bpfskel_b"], cookies=[1, 100]):
            _run_target(skel, exe, 5)
        assert skel.bss.umulti_hits == 6
        assert skel.bss.umulti_cookies == 5 * 1 + 100
        # by glob pattern
        skel.bss.umulti_hits = 0
        with prog.attach_uprobe_multi(exe, "bpfskel_*"):
            _run_target(skel, exe, 3)
        assert skel.bss.umulti_hits == 4
        _run_target(skel, exe, 3)  # detached
        assert skel.bss.umulti_hits == 4
        with pytest.raises(ValueError, match="same length"):
            prog.attach_uprobe_multi(exe, syms=["bpfskel_a"], cookies=[1, 2])


def test_setters_refuse_after_load(skel: Any) -> None:
    with pytest.raises(bpfskel.LibbpfError) as ei:
        skel.progs.on_clock.type = 1
    assert ei.value.errno == errno.EBUSY
    with pytest.raises(bpfskel.LibbpfError):
        skel.progs.on_clock.set_attach_target("vfs_read")


def test_readme_lists_every_attach_method() -> None:
    """The README's Programs table has one row per attach method, and no other."""
    import re
    from pathlib import Path

    from bpfskel.programs import Program

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    listed = set(re.findall(r"^\| `(attach_\w+)\(", readme, re.M))
    listed |= set(re.findall(r"= `(attach_\w+)\(", readme))
    methods = {m for m in dir(Program) if m.startswith("attach_")}
    assert listed == methods
