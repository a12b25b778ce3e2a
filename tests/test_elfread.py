"""tests/elfread.py, the independent ELF reader the ground-truth tests use,
checked against binutils' readelf on every corpus object."""

from __future__ import annotations

import math
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

import elfread
import groundtruth as gt

CASES = gt.corpus_cases()


def _readelf() -> Optional[str]:
    return shutil.which("llvm-readelf-19") or shutil.which("readelf")


def _parse_readelf_sections(text: str) -> Dict[int, Tuple[str, str, int, int]]:
    out = {}
    for m in re.finditer(r"^\s*\[\s*(\d+)\]\s+(\S*)\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)"
                         r"\s+([0-9a-f]+)", text, re.M):
        idx, name, typ, _addr, off, size = m.groups()
        out[int(idx)] = (name, typ, int(off, 16), int(size, 16))
    return out


def _parse_readelf_symbols(text: str) -> List[Tuple[int, int, int, str, str, str, str]]:
    out = []
    for m in re.finditer(r"^\s*(\d+):\s+([0-9a-f]+)\s+(0x[0-9a-f]+|\d+)\s+(\S+)\s+(\S+)\s+(\S+)"
                         r"\s+(\S+)\s*(\S*)\s*$", text, re.M):
        num, value, size, typ, bind, _vis, ndx, name = m.groups()
        out.append((int(num), int(value, 16), int(size, 0), typ, bind, ndx, name))
    return out


@pytest.fixture(scope="module")
def readelf() -> str:
    tool = _readelf()
    if tool is None:
        pytest.skip("neither llvm-readelf-19 nor readelf found")
    return tool


@pytest.mark.parametrize("case", CASES)
def test_elfread_sections_match_readelf(case: str, corpus_objects: Dict[str, Path],
                                        readelf: str) -> None:
    obj = corpus_objects[case]
    ref = _parse_readelf_sections(subprocess.run([readelf, "-SW", str(obj)], capture_output=True,
                                                 text=True, check=True).stdout)
    elf = elfread.ElfFile(obj)
    assert len(ref) == len(elf.sections)
    for s in elf.sections:
        name, typ, off, size = ref[s.index]
        if s.index == 0:
            continue
        assert (s.name, s.offset, s.size) == (name, off, size)
        if s.type in (elfread.SHT_PROGBITS, elfread.SHT_NOBITS, elfread.SHT_SYMTAB,
                      elfread.SHT_STRTAB, elfread.SHT_REL):
            assert s.type_name == typ


@pytest.mark.parametrize("case", CASES)
def test_elfread_symbols_match_readelf(case: str, corpus_objects: Dict[str, Path],
                                       readelf: str) -> None:
    obj = corpus_objects[case]
    ref = _parse_readelf_symbols(subprocess.run([readelf, "-sW", str(obj)], capture_output=True,
                                                text=True, check=True).stdout)
    elf = elfread.ElfFile(obj)
    mine = elf.symbol_list()
    assert [r[0] for r in ref if r[0] != 0] == [s.index for s in mine]
    by_index = {s.index: s for s in mine}
    special = {"UND": elfread.SHN_UNDEF, "ABS": elfread.SHN_ABS, "COM": elfread.SHN_COMMON}
    for num, value, size, typ, bind, ndx, name in ref:
        if num == 0:
            continue
        s = by_index[num]
        assert (s.value, s.size, s.type, s.binding) == (value, size, typ, bind), name
        assert s.shndx == (special[ndx] if ndx in special else int(ndx)), name
        if s.type == "SECTION":
            # readelf prints the section's name for (unnamed) section symbols
            assert name in ("", s.section_name)
        elif name:
            assert s.name == name
    syms = elfread.symbols(obj)
    objects = {n: v for n, v in syms.items() if v[4] == "OBJECT"}
    assert objects, "corpus objects must define data symbols"
    for n, (sec, value, size, _bind, _typ) in objects.items():
        if sec.startswith("."):
            assert value + size <= elf.section(sec).size, n


def test_elfread_nobits_and_values(corpus_objects: Dict[str, Path]) -> None:
    big = elfread.ElfFile(corpus_objects["bigbss"])
    bss = big.section(".bss")
    assert bss.is_nobits and bss.size >= 16 << 20
    data = big.section_data(".bss")
    assert len(data) == bss.size and not any(data[:: 4096]) and data.count(0) == len(data)
    assert big.symbols()["big"][:3] == (".bss", big.symbols()["big"][1], 16 << 20)

    sc = elfread.ElfFile(corpus_objects["scalars"])
    assert sc.symbol_bytes("g_uint") == struct.pack("<I", 0xDEADBEEF)
    assert sc.symbol_bytes("g_int") == struct.pack("<i", -123456789)
    assert sc.symbol_bytes("g_ulong") == struct.pack("<Q", 0xFEDCBA9876543210)
    assert struct.unpack("<d", sc.symbol_bytes("g_double"))[0] == -2.25e10
    assert math.isclose(struct.unpack("<f", sc.symbol_bytes("g_float"))[0], 3.5)
    assert sc.symbol_bytes("g_str") == b"hello, bpf!" + bytes(5)
    assert int.from_bytes(sc.symbol_bytes("g_s128"), "little", signed=True) == \
        -((0x0123456789ABCDEF << 64) | 0x1122334455667788)
    assert sc.symbols()["ro_magic"][0] == ".rodata"
    assert sc.symbols()["bss_u32"][0] == ".bss"
    assert sc.symbol_bytes("bss_wide") == bytes(64)

    se = elfread.ElfFile(corpus_objects["sections"])
    syms = se.symbols()
    assert syms["rm_a"][0] == ".data.read_mostly"
    assert se.symbol_bytes("rm_a") == struct.pack("<I", 0xAAAA5555)
    assert syms["cfg_limit"][0] == ".rodata.cfg"
    assert syms["dash_v"][0] == ".data.has-dash"
    assert se.symbol_bytes("dash_v") == struct.pack("<H", 0xD45)
    assert syms["hidden"][3] == "LOCAL" and syms["hidden"][0] == ".data"
    assert se.symbol_bytes("hidden") == struct.pack("<i", 5)

    bc = elfread.ElfFile(corpus_objects["bss_custom"])
    assert bc.section(".bss.extra").is_nobits
    assert bc.symbols()["extra_b"][0] == ".bss.extra"
    assert bc.symbol_bytes("extra_b") == bytes(bc.symbols()["extra_b"][2])


def test_elfread_rejects_non_elf(tmp_path: Path) -> None:
    p = tmp_path / "x"
    p.write_bytes(b"not an elf file at all, definitely not" * 4)
    with pytest.raises(elfread.ElfError):
        elfread.ElfFile(p)
    # 32-bit ELF header
    with pytest.raises(elfread.ElfError):
        elfread.ElfFile(b"\x7fELF\x01\x01\x01" + bytes(57))
