"""bpfskel.sym on files and live processes, without BPF: the ELF reader
against ``nm``/``readelf``, separate debug files (build-id and
``.gnu_debuglink``), ``[vdso]``, ``perf-PID.map``, deleted binaries and a
binary only another mount namespace has.

The addresses asked about come from ``nm`` and ``/proc/PID/maps``, never from
bpfskel; the names are checked against ``nm``.
"""

from __future__ import annotations

import functools
import mmap
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest
from symenv import NmTable, build_target, maps_entry, need_tools, readelf_loads, start_target

from bpfskel import sym
from bpfskel.sym.elf import read_elf

_loads = functools.lru_cache(maxsize=None)(readelf_loads)

requires_root = pytest.mark.skipif(os.geteuid() != 0,
                                   reason="not root: /proc/PID/map_files and mem need root")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_target(tmp_path_factory.mktemp("symelf"), pie=True)


# -- the ELF reader against nm / readelf --------------------------------------------------

def _check_against_nm(path: str) -> int:
    table = NmTable(path)
    image = read_elf(path)
    ours = {(s, e): n for n, s, e in image.symbols.symbols()}
    checked = 0
    for (start, end), names in table.ranges:
        hit = image.symbols.lookup(start)
        assert hit is not None and hit[0] in names and hit[1] == 0, (path, hex(start), names)
        last = image.symbols.lookup(end - 1)
        assert last is not None and last[0] in names, (path, hex(end - 1), names, last)
        assert (start, end) in ours
        checked += 1
    return checked


@pytest.mark.parametrize("which", ["prog", "libsymtest.so"])
def test_symbols_match_nm(built: Path, which: str) -> None:
    assert _check_against_nm(str(built.parent / which)) >= 2


def test_symbols_of_system_libraries_match_nm() -> None:
    need_tools("nm")
    libc = next((p for p in ("/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib64/libc.so.6")
                 if os.path.exists(p)), None)
    if libc is None:
        pytest.skip("no libc.so.6 at the Debian or Fedora path")
    assert _check_against_nm(libc) > 1000
    if os.path.exists("/usr/bin/python3.11"):  # non-PIE, .dynsym only
        assert _check_against_nm("/usr/bin/python3.11") > 1000


def test_segments_build_id_and_type_match_readelf(built: Path) -> None:
    for path in (str(built), str(built.parent / "libsymtest.so")):
        image = read_elf(path)
        assert [(s.offset, s.vaddr, s.filesz) for s in image.segments] == readelf_loads(path)
        notes = subprocess.run(["readelf", "-n", path], capture_output=True, text=True).stdout
        m = re.search(r"Build ID: ([0-9a-f]+)", notes)
        assert m and image.build_id == bytes.fromhex(m.group(1))
        assert image.type == 3  # ET_DYN: PIE and shared objects
        assert image.has_symtab


def test_not_elf_is_a_clean_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_bytes(b"#!/bin/sh\necho hi\n")
    with pytest.raises(sym.ElfError, match="not an ELF file"):
        read_elf(str(bad))
    short = tmp_path / "short"
    short.write_bytes(open(sys.executable, "rb").read(80))
    with pytest.raises(sym.ElfError):
        read_elf(str(short))


# -- live processes -----------------------------------------------------------------------

@pytest.fixture
def running(built: Path) -> Iterator["subprocess.Popen[str]"]:
    proc = start_target([str(built)])
    yield proc
    proc.kill()
    proc.wait()


def _runtime(pid: int, path: str, vaddrs: List[int]) -> List[int]:
    """Run-time addresses of ``vaddrs`` in ``path`` as mapped by ``pid`` (from
    readelf's LOAD headers and /proc/PID/maps)."""
    out = []
    with open(f"/proc/{pid}/maps") as f:
        lines = [ln.split(maxsplit=5) for ln in f]
    for v in vaddrs:
        for off, seg_vaddr, filesz in readelf_loads(path):
            if seg_vaddr <= v < seg_vaddr + filesz:
                file_off = v - seg_vaddr + off
                break
        else:
            raise AssertionError(hex(v))
        for p in lines:
            if len(p) > 5 and p[5].strip().endswith(os.path.basename(path)) and "x" in p[1]:
                lo, hi = (int(x, 16) for x in p[0].split("-"))
                if int(p[2], 16) <= file_off < int(p[2], 16) + hi - lo:
                    out.append(lo + file_off - int(p[2], 16))
                    break
        else:
            raise AssertionError(f"{path} offset {file_off:#x} is not mapped in {pid}")
    return out


FUNCS = [("prog", "main"), ("prog", "exported_spin"), ("prog", "static_spin"),
         ("libsymtest.so", "lib_spin"), ("libsymtest.so", "lib_static_spin")]


def _check_funcs(pid: int, d: Path, s: sym.Symbolizer, nm_dir: Path) -> None:
    for fname, func in FUNCS:
        start = NmTable(str(nm_dir / fname)).address_of(func)
        addrs = _runtime(pid, str(d / fname), [start, start + 5])
        frames = s.symbolize(pid, addrs)
        assert [(f.name, f.offset) if f else None for f in frames] == [(func, 0), (func, 5)]
        assert frames[0] and frames[0].module.endswith(fname)


@requires_root
@pytest.mark.parametrize("pie", [True, False], ids=["pie", "nonpie"])
def test_process_functions_resolve(tmp_path: Path, pie: bool) -> None:
    prog = build_target(tmp_path, pie=pie)
    proc = start_target([str(prog)])
    try:
        _check_funcs(proc.pid, tmp_path, sym.Symbolizer(), tmp_path)
    finally:
        proc.kill()
        proc.wait()


@requires_root
def test_deleted_binary_resolves_through_map_files(tmp_path: Path) -> None:
    prog = build_target(tmp_path / "b", pie=True)
    keep = tmp_path / "orig"
    shutil.copytree(prog.parent, keep)
    proc = start_target([str(prog)])
    try:
        os.unlink(prog)
        os.unlink(prog.parent / "libsymtest.so")
        e = next(x for x in _exec_maps(proc.pid) if "/prog" in x[3])
        assert e[3].endswith(" (deleted)")
        start = NmTable(str(keep / "prog")).address_of("static_spin")
        addr = e[0] + _offset_of(keep / "prog", start) - e[2]
        frames = sym.Symbolizer().symbolize(proc.pid, [addr])
        assert [(f.name, f.module) if f else None for f in frames] == [
            ("static_spin", str(prog))]
    finally:
        proc.kill()
        proc.wait()


def _offset_of(path: Path, vaddr: int) -> int:
    for off, seg_vaddr, filesz in _loads(str(path)):
        if seg_vaddr <= vaddr < seg_vaddr + filesz:
            return vaddr - seg_vaddr + off
    raise AssertionError(hex(vaddr))


@requires_root
def test_binary_in_another_mount_namespace(tmp_path: Path) -> None:
    """The process runs ``shown/prog`` which, in its own mount namespace, is a
    bind mount of the real build; on the host, ``shown/prog`` is a decoy
    whose functions have other names.  Reading the host path would give the
    decoy's names."""
    need_tools("unshare", "mount")
    real = build_target(tmp_path / "real", pie=True).parent
    shown = tmp_path / "shown"
    build_target(shown, pie=True, extra=("-Dstatic_spin=decoy_a", "-Dexported_spin=decoy_b",
                                         "-Dlib_spin=decoy_c", "-Dlib_static_spin=decoy_d"))
    script = f"mount --bind {real} {shown} && exec {shown}/prog"
    proc = start_target(["unshare", "-m", "--propagation", "private", "sh", "-c", script])
    try:
        with open(f"/proc/{proc.pid}/maps") as f:
            assert f"{shown}/prog" in f.read()
        _check_funcs(proc.pid, shown, sym.Symbolizer(), real)
    finally:
        proc.kill()
        proc.wait()


@requires_root
def test_vdso_functions_resolve(running: "subprocess.Popen[str]", tmp_path: Path) -> None:
    with open(f"/proc/{running.pid}/maps") as f:
        line = next(ln for ln in f if ln.rstrip().endswith("[vdso]"))
    lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
    with open(f"/proc/{running.pid}/mem", "rb") as mem:
        mem.seek(lo)
        (tmp_path / "vdso.so").write_bytes(mem.read(hi - lo))
    table = NmTable(str(tmp_path / "vdso.so"))
    assert table.ranges, "nm found no functions in the dumped vDSO"
    vbase = readelf_loads(str(tmp_path / "vdso.so"))[0][1]
    s = sym.Symbolizer()
    for (start, end), names in table.ranges:
        frames = s.symbolize(running.pid, [lo + start - vbase, lo + end - 1 - vbase])
        assert frames[0] and frames[0].name in names and frames[0].offset == 0
        assert frames[0].module == "[vdso]"
        assert frames[1] and frames[1].name in names


# -- separate debug files ----------------------------------------------------------------

def _split_debug(prog: Path, debug: Path) -> None:
    need_tools("objcopy", "strip")
    subprocess.run(["objcopy", "--only-keep-debug", str(prog), str(debug)], check=True)
    subprocess.run(["strip", "--strip-all", str(prog)], check=True)


@requires_root
@pytest.mark.parametrize("how", ["build-id", "debuglink"])
def test_stripped_binary_uses_its_debug_file(tmp_path: Path, how: str) -> None:
    d = tmp_path / "b"
    extra = ("-Wl,--build-id=none",) if how == "debuglink" else ()
    prog = build_target(d, pie=True, extra=extra)
    orig = tmp_path / "orig"
    shutil.copy(prog, orig)
    debug_root = tmp_path / "debug"
    if how == "build-id":
        bid = read_elf(str(prog)).build_id
        assert bid
        dst = debug_root / ".build-id" / bid[:1].hex() / (bid[1:].hex() + ".debug")
        dst.parent.mkdir(parents=True)
        _split_debug(prog, dst)
    else:  # gdb's places: next to the binary, in .debug/ there, under the debug dirs
        _split_debug(prog, d / "prog.debug")
        subprocess.run(["objcopy", f"--add-gnu-debuglink={d / 'prog.debug'}", str(prog)],
                       check=True, cwd=d)
        assert read_elf(str(prog)).build_id is None
        (d / ".debug").mkdir()
        os.rename(d / "prog.debug", d / ".debug" / "prog.debug")
    assert not read_elf(str(prog)).has_symtab
    proc = start_target([str(prog)])
    try:
        start = NmTable(str(orig)).address_of("static_spin")
        e = next(x for x in _exec_maps(proc.pid) if x[3].endswith("/prog"))
        addr = e[0] + _offset_of(orig, start) - e[2]
        away = tmp_path / "away"
        hidden = debug_root if how == "build-id" else d / ".debug"
        os.rename(hidden, away)
        assert sym.Symbolizer(debug_dirs=[str(debug_root)]).symbolize(
            proc.pid, [addr]) == [None]  # static_spin is not in .dynsym
        os.rename(away, hidden)
        frames = sym.Symbolizer(debug_dirs=[str(debug_root)]).symbolize(proc.pid, [addr + 3])
        assert [(f.name, f.offset) if f else None for f in frames] == [("static_spin", 3)]
    finally:
        proc.kill()
        proc.wait()


def _exec_maps(pid: int) -> List[Tuple[int, int, int, str]]:
    out = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            p = line.split(maxsplit=5)
            if "x" in p[1] and len(p) > 5:
                lo, hi = (int(x, 16) for x in p[0].split("-"))
                out.append((lo, hi, int(p[2], 16), p[5].strip()))
    return out


# -- perf-PID.map ---------------------------------------------------------------------------

PERF_MAP_CHILD = r"""
import mmap, os, sys
m = mmap.mmap(-1, 8192, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
              prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
import ctypes
base = ctypes.addressof(ctypes.c_char.from_buffer(m))
with open(f"/tmp/perf-{os.getpid()}.map", "w") as f:
    f.write(f"{base:x} 100 jit_first\n{base + 0x100:x} 80 py::second:app.py\n")
print(f"ready {base}", flush=True)
sys.stdin.read()
"""


def test_perf_map_names_jit_code() -> None:
    proc = subprocess.Popen([sys.executable, "-c", PERF_MAP_CHILD], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base = int(proc.stdout.readline().split()[1])
        e = maps_entry(proc.pid, base)
        assert e is not None and e.path == ""  # anonymous memory
        frames = sym.Symbolizer().symbolize(proc.pid, [base + 4, base + 0x17f, base + 0x180])
        assert [(f.name, f.offset, f.module) if f else None for f in frames] == [
            ("jit_first", 4, f"perf-{proc.pid}.map"),
            ("py::second:app.py", 0x7f, f"perf-{proc.pid}.map"), None]
    finally:
        proc.kill()
        proc.wait()
        try:
            os.unlink(f"/tmp/perf-{proc.pid}.map")
        except OSError:
            pass


# -- folded -----------------------------------------------------------------------------------

def test_folded_is_root_first_merged_and_sorted() -> None:
    a = sym.Frame("leaf", 3, "m")
    b = sym.Frame("main", 0, "m")
    text = sym.folded([([a, b], 2), ([a, None, b], 1), ([a, b], 5), (["x;y"], 1)])
    assert text == "main;[unknown];leaf 1\nmain;leaf 7\nx:y 1\n"
    assert sym.folded([]) == ""


def test_mmap_is_released(built: Path) -> None:
    before = sum(1 for _ in open("/proc/self/maps"))
    for _ in range(20):
        read_elf(str(built))
    assert sum(1 for _ in open("/proc/self/maps")) <= before + 1
    assert mmap.PAGESIZE  # the reader maps files read-only and unmaps them


@requires_root
def test_snapshot_resolves_after_exit_and_delete(tmp_path: Path) -> None:
    """``snapshot(pid)`` parses every mapped file: a process that exits, whose
    binary is deleted, still resolves; without the snapshot it would not."""
    prog = build_target(tmp_path / "b", pie=True)
    keep = tmp_path / "orig"
    shutil.copytree(prog.parent, keep)
    proc = start_target([str(prog)])
    e = next(x for x in _exec_maps(proc.pid) if x[3].endswith("/prog"))
    addr = e[0] + _offset_of(keep / "prog", NmTable(str(keep / "prog")).address_of(
        "exported_spin")) - e[2]
    s = sym.Symbolizer()
    s.snapshot(proc.pid)
    late = sym.Symbolizer()
    late.symbolize(proc.pid, [])  # maps seen, files not opened
    proc.kill()
    proc.wait()
    os.unlink(prog)
    frames = s.symbolize(proc.pid, [addr + 2])
    assert [(f.name, f.offset) if f else None for f in frames] == [("exported_spin", 2)]
    assert late.symbolize(proc.pid, [addr + 2]) == [None]
    with pytest.raises(ProcessLookupError):
        sym.Symbolizer().symbolize(proc.pid, [addr])


@requires_root
def test_source_lines_match_addr2line(tmp_path: Path) -> None:
    need_tools("addr2line")
    prog = build_target(tmp_path, pie=True)  # built with -g (DWARF 5 from gcc 12)
    proc = start_target([str(prog)])
    try:
        s = sym.Symbolizer(source_lines=True)
        plain = sym.Symbolizer()
        for fname in ("prog", "libsymtest.so"):
            path = str(tmp_path / fname)
            e = next(x for x in _exec_maps(proc.pid) if x[3].endswith("/" + fname))
            vaddrs = [a for (start, end), _ in NmTable(path).ranges
                      for a in range(start, end) if e[2] <= _offset_of(Path(path), a)]
            out = subprocess.run(["addr2line", "-e", path] + [hex(v) for v in vaddrs],
                                 capture_output=True, text=True, check=True).stdout.splitlines()
            addrs = [e[0] + _offset_of(Path(path), v) - e[2] for v in vaddrs]
            frames = s.symbolize(proc.pid, addrs)
            for v, want, f in zip(vaddrs, out, frames):
                want = want.split(" (discriminator")[0]
                got = f"{f.file}:{f.line}" if f and f.file else "??:0"
                assert got == want or (want.endswith(":?") and f and f.file is None), \
                    (fname, hex(v), got, want)
            assert sum(1 for f in frames if f and f.line) > 50
            assert all(f is None or f.file is None for f in plain.symbolize(proc.pid, addrs))
    finally:
        proc.kill()
        proc.wait()


@requires_root
def test_caches_are_bounded_and_evictions_reparse(tmp_path: Path) -> None:
    prog = build_target(tmp_path, pie=True)
    procs = [start_target([str(prog)]) for _ in range(2)]
    try:
        s = sym.Symbolizer(max_files=1, max_processes=1)
        for _ in range(2):
            for p in procs:
                _check_funcs(p.pid, tmp_path, s, tmp_path)  # two files, two processes
                assert len(s._files) <= 1 and len(s._procs) <= 1
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_own_vdso_from_auxv_is_the_mapped_image() -> None:
    from bpfskel.sym.process import own_vdso_image

    with open("/proc/self/maps") as f:
        line = next((ln for ln in f if ln.rstrip().endswith("[vdso]")), None)
    if line is None:
        pytest.skip("this process has no [vdso] mapping")
    lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
    image = own_vdso_image()
    assert image is not None and 0 < len(image) <= hi - lo
    with open("/proc/self/mem", "rb") as mem:
        mem.seek(lo)
        assert mem.read(len(image)) == image
    names = {n for n, _, _ in sym.elf.ElfImage(image).symbols.symbols()}
    assert {"__vdso_clock_gettime", "__vdso_gettimeofday"} <= names
