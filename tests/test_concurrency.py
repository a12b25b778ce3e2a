"""Python threads and a BPF program on the same global data, at once.

Four Python threads read and write ``.bss`` and ``.data`` and read
``.rodata`` of one loaded skeleton (bpf/shared.bpf.c) while a fifth thread
calls getppid() in a loop, so that BPF writes the same sections from a raw
tracepoint on another CPU.  The memory-coherence rules of bpfskel.memory are
what the threads check:

* single aligned values are never torn: counters only go up, a value copied by
  BPF (``echo``) never runs ahead of its source (``stamp``);
* a larger value needs care: the (a, b) pair BPF publishes under a sequence
  counter is always consistent when read with the counter;
* a thread's own slot reads back what it wrote.

The run lasts BPFSKEL_STRESS_SECONDS (3 by default); at the end no thread has
raised, BPF counted every trigger exactly once, its counter advanced during
the second half of the run, and the view and a bpf() lookup of the map agree.

Also here: parsing an object (a forked child) while another thread is in the
middle of formatting a libbpf message must not deadlock the child.
"""

from __future__ import annotations

import os
import platform
import signal
import struct
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, List

import pytest

from bpfenv import REPO_ROOT, build_obj, generated_module, lookup, requires_bpf
from elfread import SHT_REL, ElfFile

DURATION = float(os.environ.get("BPFSKEL_STRESS_SECONDS", "3"))
MAGIC = (0x0123456789ABCDEF, 0xFEDCBA9876543210)
MASK = (1 << 64) - 1
THREADS = 4
TSO = platform.machine() in ("x86_64", "AMD64", "i686")


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generated_module("shared", tmp_path_factory)


def _worker(skel: Any, k: int, stop: threading.Event, ops: List[int], mine: List[int]) -> None:
    bss, data, rodata = skel.bss, skel.data, skel.rodata
    pair, slots, dslots = bss.pair, bss.slots, data.data_slots
    pid = os.getpid()
    last_hits = last_echo = 0
    n = 0
    while not stop.is_set():
        n += 1
        slots[k] = n                      # .bss, next to what BPF writes
        dslots[k] = n * 3                 # .data
        if k == 0:
            data.stamp = n                # the one writer of stamp; BPF copies it
        hits, echo = bss.hits, bss.echo
        assert hits >= last_hits and echo >= last_echo, (hits, last_hits, echo, last_echo)
        last_hits, last_echo = hits, echo
        if k == 0:
            assert echo <= n, (echo, n)
        assert rodata.writer_tgid == pid and tuple(rodata.magic) == MAGIC
        while True:                       # the pair, under its sequence counter
            seq = pair.seq
            a, b = pair.a, pair.b
            if seq % 2 == 0 and pair.seq == seq:
                break
        # x86-64 keeps loads in order; on weakly ordered CPUs this reader would
        # need barriers that Python cannot issue
        assert seq == 0 or b == ~a & MASK or not TSO, (seq, a, b)
        assert slots[k] == n and dslots[k] == n * 3
        ops[k] += 1
    mine[k] = n


@requires_bpf
def test_threads_and_bpf_share_sections(shared: Any) -> None:
    stop = threading.Event()
    ops, mine, calls, errors = [0] * THREADS, [0] * THREADS, [0], []
    with shared.open() as skel:
        skel.rodata.writer_tgid = os.getpid()
        skel.rodata.magic[0], skel.rodata.magic[1] = MAGIC
        skel.load()
        skel.attach()

        def trigger() -> None:
            skel.bss.writer_tid = threading.get_native_id()
            n = 0
            while not stop.is_set():
                os.getppid()
                n += 1
            calls[0] = n

        def guarded(fn: Any, *args: Any) -> None:
            try:
                fn(*args)
            except BaseException:
                errors.append(traceback.format_exc())
                stop.set()

        threads = [threading.Thread(target=guarded, args=(trigger,))] + [
            threading.Thread(target=guarded, args=(_worker, skel, k, stop, ops, mine))
            for k in range(THREADS)]
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-4)  # switch threads often: more interleavings
        try:
            for t in threads:
                t.start()
            time.sleep(DURATION / 2)
            halfway = skel.bss.hits
            time.sleep(DURATION / 2)
        finally:
            stop.set()
            for t in threads:
                t.join()
            sys.setswitchinterval(interval)
        assert not errors, errors[0]
        bss, data = skel.bss, skel.data
        print(f"\n{DURATION:g} s: {calls[0]} triggers, BPF hits {bss.hits}, "
              f"thread ops {ops} (total {sum(ops)})")
        assert 0 < halfway < bss.hits == calls[0]   # still advancing, none lost
        assert data.data_hits == calls[0] + 1
        assert (bss.pair.a, bss.pair.b, bss.pair.seq) == (calls[0], ~calls[0] & MASK,
                                                          2 * calls[0])
        assert bss.echo <= data.stamp == mine[0]
        assert list(bss.slots) == mine and list(data.data_slots) == [3 * n for n in mine]
        assert min(ops) > 0
        # the views are the maps: a bpf() lookup sees the same bytes
        assert lookup(skel.maps.bss.fd, 0, skel.maps.bss.value_size) == bytes(bss)
        assert lookup(skel.maps.data.fd, 0, skel.maps.data.value_size) == bytes(data)


# -- fork while another thread formats a libbpf message --------------------------------


def _bad_relocation(data: bytes) -> bytes:
    """The object with a program relocation naming a symbol that does not
    exist: libbpf refuses it, and logs why (the parse child formats a line)."""
    out = bytearray(data)
    for s in ElfFile(data).sections:
        if s.type == SHT_REL and s.size and not s.name.startswith((".rel.BTF", ".rel.debug")):
            struct.pack_into("<I", out, s.offset + 12, 0x7FFFFFFF)  # r_info's symbol
            return bytes(out)
    raise AssertionError("no program relocation in the object")


_FORK_WHILE_FORMATTING = """
import sys, threading
from bpfskel import _libc
from bpfskel.gen.objfile import InputError, read_object

held, release = threading.Event(), threading.Event()

def formatting():  # another thread, in the middle of formatting a libbpf line
    with _libc._fmt_lock:  # the va_list renderer's lock
        held.set()
        release.wait()

t = threading.Thread(target=formatting)
t.start()
held.wait()
try:
    read_object(open(sys.argv[1], "rb").read(), "bad.bpf.o", "bad")
except InputError as e:
    print(e)
release.set()
t.join()
"""


def test_parse_while_another_thread_formats_a_libbpf_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bpf.o"
    bad.write_bytes(_bad_relocation(build_obj("minimal").read_bytes()))
    proc = subprocess.Popen([sys.executable, "-c", _FORK_WHILE_FORMATTING, str(bad)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO_ROOT, start_new_session=True)
    try:  # a hang is the failure; the limit only turns it into one
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the parse child too
        proc.communicate()
        pytest.fail("the parse child deadlocked on a lock held by another thread at fork")
    assert proc.returncode == 0, err
    assert "symbol #2147483647 not found" in out, out
