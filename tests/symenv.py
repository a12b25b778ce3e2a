"""Ground truth for the ``bpfskel.sym`` tests: a C program built here with gcc,
and what ``nm``, ``readelf`` and ``/proc`` say about its addresses.

The target program spins in a call chain that crosses an executable and a
shared library: ``main -> exported_spin -> static_spin -> lib_spin ->
lib_static_spin``.  It is built with frame pointers (the kernel's user stack
walker follows them), as PIE or non-PIE.  Nothing here uses bpfskel: names
come from ``nm``, load addresses from ``readelf -lW`` and ``/proc/PID/maps``.
"""

from __future__ import annotations

import bisect
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Set, Tuple

import pytest

__all__ = ["PROG_SRC", "LIB_SRC", "CHAIN", "build_target", "start_target", "NmTable",
           "file_vaddr", "maps_entry", "expected_names", "need_tools", "readelf_loads",
           "wait_for", "installed_debug_file"]

LIB_SRC = r"""
volatile unsigned long lib_sink;
__attribute__((noinline)) static void lib_static_spin(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		lib_sink += i;
}
__attribute__((noinline)) void lib_spin(unsigned long n)
{
	lib_static_spin(n);
	lib_sink++;
}
"""

PROG_SRC = r"""
#include <stdio.h>
#include <unistd.h>
void lib_spin(unsigned long n);
volatile unsigned long sink;
__attribute__((noinline)) static void static_spin(unsigned long n)
{
	for (unsigned long i = 0; i < n / 4; i++)
		sink += i;
	lib_spin(n);
}
__attribute__((noinline)) void exported_spin(unsigned long n)
{
	static_spin(n);
	sink++;
}
int main(void)
{
	printf("ready %d\n", getpid());
	fflush(stdout);
	for (;;)
		exported_spin(1000000);
}
"""

CHAIN = ["lib_static_spin", "lib_spin", "static_spin", "exported_spin", "main"]


def need_tools(*tools: str) -> None:
    for t in tools:
        if shutil.which(t) is None:
            pytest.skip(f"{t} not found (binutils/gcc: make sysdeps installs them)")


# A busy loop whose hot function is known: profilers must find it on top.
BUSY_SRC = r"""
#include <stdio.h>
volatile unsigned long sink;
__attribute__((noinline)) static void hot_spin_here(void)
{
	for (unsigned long i = 0; i < 100000000UL; i++)
		sink += i;
}
__attribute__((noinline)) static void cold_setup(void) { sink = 1; }
int main(void)
{
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		cold_setup();
		hot_spin_here();
	}
}
"""


def compile_c(d: Path, name: str, src: str) -> Path:
    """``d/name`` from C source, with frame pointers (user stack walks need them)."""
    need_tools("gcc")
    (d / f"{name}.c").write_text(src)
    subprocess.run(["gcc", "-O0", "-fno-omit-frame-pointer", "-o", str(d / name),
                    str(d / f"{name}.c")], check=True)
    return d / name


def build_target(d: Path, pie: bool, extra: Tuple[str, ...] = ()) -> Path:
    """Build ``d/libsymtest.so`` and ``d/prog`` (PIE or not); returns prog."""
    need_tools("gcc", "nm", "readelf")
    d.mkdir(parents=True, exist_ok=True)
    (d / "lib.c").write_text(LIB_SRC)
    (d / "prog.c").write_text(PROG_SRC)
    flags = ["-O0", "-g", "-fno-omit-frame-pointer", *extra]
    subprocess.run(["gcc", *flags, "-shared", "-fPIC", "-o", str(d / "libsymtest.so"),
                    str(d / "lib.c")], check=True)
    pie_flags = ["-fPIE", "-pie"] if pie else ["-fno-pie", "-no-pie"]
    subprocess.run(["gcc", *flags, *pie_flags, "-o", str(d / "prog"), str(d / "prog.c"),
                    f"-L{d}", "-lsymtest", f"-Wl,-rpath,{d}"], check=True)
    return d / "prog"


def start_target(argv: List[str], **kw: object) -> "subprocess.Popen[str]":
    """Start the spinning program and wait until it is in main's loop."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, **kw)  # type: ignore
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("ready"):
        proc.kill()
        proc.wait()
        pytest.fail(f"the target did not start: {line!r}")
    return proc


class NmTable:
    """Function symbols of a file per ``nm -S`` (``.symtab``) and ``nm -D -S``:
    ``names_at(vaddr)`` is every name whose [value, value + size) holds it."""

    def __init__(self, path: str) -> None:
        ranges: Dict[Tuple[int, int], Set[str]] = {}
        for args in (["nm", "-S", "--defined-only"], ["nm", "-D", "-S", "--defined-only"]):
            out = subprocess.run(args + [path], capture_output=True, text=True).stdout
            for line in out.splitlines():
                m = re.match(r"^([0-9a-f]+) ([0-9a-f]+) ([TtWwi]) (\S+)$", line)
                if m and int(m.group(2), 16):
                    start = int(m.group(1), 16)
                    ranges.setdefault((start, start + int(m.group(2), 16)), set()).add(
                        m.group(4).split("@")[0])
        self.ranges = sorted(ranges.items())
        self._starts = [r[0][0] for r in self.ranges]

    def names_at(self, vaddr: int) -> Set[str]:
        out: Set[str] = set()
        i = bisect.bisect_right(self._starts, vaddr)
        for (start, end), names in self.ranges[max(0, i - 8):i]:
            if start <= vaddr < end:
                out |= names
        return out

    def address_of(self, name: str) -> int:
        for (start, _end), names in self.ranges:
            if name in names:
                return start
        raise KeyError(name)


def readelf_loads(path: str) -> List[Tuple[int, int, int]]:
    """(offset, vaddr, filesz) of each LOAD header, from ``readelf -lW``."""
    out = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True,
                         check=True).stdout
    loads = []
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] == "LOAD":
            loads.append((int(parts[1], 16), int(parts[2], 16), int(parts[4], 16)))
    return loads


class MapsEntry(NamedTuple):
    start: int
    end: int
    offset: int
    path: str


def maps_entry(pid: int, addr: int) -> Optional[MapsEntry]:
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split(maxsplit=5)
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if lo <= addr < hi:
                path = parts[5].strip() if len(parts) > 5 else ""
                return MapsEntry(lo, hi, int(parts[2], 16), path)
    return None


def file_vaddr(path: str, file_offset: int) -> int:
    for off, vaddr, filesz in readelf_loads(path):
        if off <= file_offset < off + filesz:
            return file_offset - off + vaddr
    raise AssertionError(f"offset {file_offset:#x} is in no LOAD segment of {path}")


_NM_CACHE: Dict[str, List[NmTable]] = {}


def expected_names(pid: int, addr: int, host_path: Optional[str] = None) -> Tuple[str, Set[str]]:
    """(the maps path, the names nm gives) for user address ``addr`` of ``pid``.

    ``host_path`` overrides where the mapped file is read (a file only the
    process's mount namespace has)."""
    e = maps_entry(pid, addr)
    assert e is not None, f"{addr:#x} is in no mapping of {pid}"
    path = host_path or e.path
    tables = _NM_CACHE.get(path)
    if tables is None:
        tables = _NM_CACHE[path] = [NmTable(path)]
        debug = installed_debug_file(path)
        if debug:
            tables.append(NmTable(debug))
    vaddr = file_vaddr(path, addr - e.start + e.offset)
    return e.path, set().union(*(t.names_at(vaddr) for t in tables))


def installed_debug_file(path: str) -> Optional[str]:
    """The distribution's debug file of ``path`` (``/usr/lib/debug/.build-id/``,
    named from ``readelf -n``), if installed (e.g. libc6-dbg)."""
    notes = subprocess.run(["readelf", "-n", path], capture_output=True, text=True).stdout
    m = re.search(r"Build ID: ([0-9a-f]+)", notes)
    if not m:
        return None
    cand = f"/usr/lib/debug/.build-id/{m.group(1)[:2]}/{m.group(1)[2:]}.debug"
    return cand if os.path.exists(cand) else None


def wait_for(cond: "object", timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False

