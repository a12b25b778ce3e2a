"""bpfskel.sym.KernelSymbols against ``/proc/kallsyms`` read and parsed here,
and the re-read that BPF programs loaded after the read need (a real program,
its ``bpf_prog_<tag>_<name>`` address taken from the file, its tag from the
program fd's fdinfo).  Source: bpf/symtest.bpf.c.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any, Dict, List, Set, Tuple

import pytest

from bpfskel import sym
from bpfskel.sym.kernel import (
    KALLSYMS_REFRESH,
    LAST_SYMBOL_SPAN,
    _parse_lines,
    _sort_tail,
    parse_kallsyms,
)

from bpfenv import generated_module, requires_bpf

Entry = Tuple[int, str, str]  # address, name, module


def kallsyms_text_symbols() -> List[Entry]:
    """Every text symbol of /proc/kallsyms, ``nm``-style: a line at a time."""
    out = []
    with open("/proc/kallsyms") as f:
        for line in f:
            parts = line.split()
            if parts[1] in ("t", "T", "w", "W"):
                mod = parts[3].strip("[]") if len(parts) > 3 else "vmlinux"
                out.append((int(parts[0], 16), parts[2], mod))
    return out


def stable(entries: List[Entry]) -> List[Entry]:
    """The kernel's and loaded modules' symbols: BPF programs and trampolines
    come and go while other tests run."""
    mods = {"vmlinux"}
    try:
        with open("/proc/modules") as f:
            mods |= {line.split()[0] for line in f}
    except FileNotFoundError:  # a kernel without modules
        pass
    return [e for e in entries if e[2] in mods]


def test_every_symbol_resolves_to_its_kallsyms_name_and_module() -> None:
    ks = sym.KernelSymbols()
    entries = stable(kallsyms_text_symbols())
    names: Dict[int, Set[str]] = {}
    for addr, name, _ in entries:
        names.setdefault(addr, set()).add(name)
    assert len(entries) > 1000
    frames = ks.resolve_many([a for a, _, _ in entries])
    for (addr, _, mod), frame in zip(entries, frames):
        assert frame is not None and frame.name in names[addr], (hex(addr), names[addr], frame)
        assert (frame.offset, frame.module, frame.file, frame.line) == (0, mod, None, None)
        assert type(frame) is sym.Frame
    # the last byte before the next symbol of the same module is the previous one's
    starts = sorted({(a, m) for a, _, m in entries})
    pairs = [(a, b) for (a, m), (b, n) in zip(starts, starts[1:]) if m == n]
    frames = ks.resolve_many([b - 1 for _, b in pairs])
    for (a, b), frame in zip(pairs, frames):
        assert frame is not None and frame.name in names[a] and frame.offset == b - 1 - a
    assert ks.address_of("do_syscall_64") == min(a for a, n, _ in entries if n == "do_syscall_64")


def test_bulk_parse_equals_the_line_parser() -> None:
    with open("/proc/kallsyms", "rb") as f:
        text = f.read().decode()
    bulk = parse_kallsyms(text)
    assert bulk == _parse_lines(text)
    assert len(bulk[0]) > 1000
    # a layout the column split cannot take (a blank line) goes line by line
    odd = "ffffffff81000000 T _stext\n\nffffffff81000100 t do_thing\tx\n"
    assert parse_kallsyms(odd) == ([0xffffffff81000000, 0xffffffff81000100],
                                   ["_stext", "do_thing"], ["vmlinux", "x"])


def test_tail_sort_equals_a_stable_sort_of_everything() -> None:
    """Sorting only the tail gives what one stable sort of all the lines gives."""
    rng = random.Random(18)
    for _ in range(2000):
        n = rng.randrange(30)
        addrs = sorted(rng.randrange(50) for _ in range(rng.randrange(n + 1)))
        addrs += [rng.randrange(60) for _ in range(n - len(addrs))]
        names, mods = [f"n{i}" for i in range(n)], [f"m{i}" for i in range(n)]
        order = sorted(range(n), key=addrs.__getitem__)
        want = ([addrs[i] for i in order], [names[i] for i in order], [mods[i] for i in order])
        _sort_tail(addrs, names, mods)
        assert (addrs, names, mods) == want


KALLSYMS = """\
ffffffff81000000 T _stext
ffffffff81000100 t do_thing
ffffffff81000300 T last_core
ffffffffa0000000 t bpf_prog_0123456789abcdef_first\t[bpf]
ffffffffa0000800 t bpf_prog_1111111111111111_second\t[bpf]
"""


def test_symbolizer_rereads_for_programs_loaded_after_the_read(tmp_path: Path) -> None:
    path = tmp_path / "kallsyms"
    path.write_text(KALLSYMS)
    s = sym.Symbolizer(kallsyms=str(path))
    second = 0xffffffffa0000800
    assert s.symbolize_kernel([second + 0x10]) == [
        sym.Frame("bpf_prog_1111111111111111_second", 0x10, "bpf")]
    ks = s.kernel
    # "second" unloaded, "third" loaded in its place, "fourth" after it, "late" past the gap
    path.write_text(KALLSYMS.replace("1111111111111111_second", "2222222222222222_third")
                    + "ffffffffa0000900 t bpf_prog_3333333333333333_fourth\t[bpf]\n"
                    + f"{second + LAST_SYMBOL_SPAN + 0x100:x} t bpf_prog_4_late\t[bpf]\n")
    # the first read answered +0x10 and confirmed it; the kernel's text never changes
    read = ks.loaded_at
    ks.loaded_at -= KALLSYMS_REFRESH
    assert s.symbolize_kernel([second + 8, 0xffffffff81000104]) == [
        sym.Frame("bpf_prog_1111111111111111_second", 8, "bpf"),
        sym.Frame("do_thing", 4, "vmlinux")]
    assert ks.loaded_at == read - KALLSYMS_REFRESH  # not re-read
    # beyond what was confirmed: re-read, and the new programs resolve
    assert s.symbolize_kernel([second + 0x104, second + LAST_SYMBOL_SPAN + 0x104]) == [
        sym.Frame("bpf_prog_3333333333333333_fourth", 4, "bpf"),
        sym.Frame("bpf_prog_4_late", 4, "bpf")]
    assert ks.loaded_at > read
    # at most one read per KALLSYMS_REFRESH: a doubtful answer right after one is the read's
    read = ks.loaded_at
    path.write_text(KALLSYMS)
    assert s.symbolize_kernel([second + 0x20]) == [
        sym.Frame("bpf_prog_2222222222222222_third", 0x20, "bpf")]
    assert ks.loaded_at == read
    # the read confirmed the new programs: no re-read for them
    ks.loaded_at -= KALLSYMS_REFRESH
    assert ks.lookup([second + 0x104, second + LAST_SYMBOL_SPAN + 0x104])[1] == []
    # nothing there, even after a re-read: None
    assert s.symbolize_kernel([0xffffffffc0000000]) == [None]
    assert ks.loaded_at > read


def prog_tag(fd: int) -> str:
    with open(f"/proc/self/fdinfo/{fd}") as f:
        info = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    return info["prog_tag"]


@requires_bpf
def test_bpf_program_loaded_after_the_read_resolves(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    mod: Any = generated_module("symtest", tmp_path_factory)
    s = sym.Symbolizer()
    ks = s.kernel  # the read, before the program exists
    with mod.open() as skel:
        skel.load()
        name = f"bpf_prog_{prog_tag(skel.progs.on_getppid.fd)}_on_getppid"
        # identical programs loaded by other processes share the name: all must resolve
        addrs = [a for a, n, m in kallsyms_text_symbols() if n == name and m == "bpf"]
        assert addrs, f"{name} is not in /proc/kallsyms"
        probe = [a + 4 for a in addrs]
        assert ks.lookup(probe)[1] == list(range(len(probe)))  # the old read cannot vouch
        time.sleep(max(0.0, ks.loaded_at + KALLSYMS_REFRESH - time.monotonic()) + 0.01)
        assert s.symbolize_kernel(probe) == [sym.Frame(name, 4, "bpf")] * len(probe)
        assert ks.lookup(probe)[1] == []  # confirmed by the new read
