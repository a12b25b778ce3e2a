"""Minimal, dependency-free ELF64 little-endian reader used as test ground truth.

Only what the layout tests need: section headers (by index and by name),
section contents (``SHT_NOBITS`` sections such as ``.bss`` read as zero bytes
of ``sh_size``) and the symbol table.

    >>> elf = ElfFile("prog.bpf.o")
    >>> elf.section("data").size
    >>> symbols("prog.bpf.o")["my_global"]
    ('.data', 16, 4, 'GLOBAL', 'OBJECT')
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple, Union

__all__ = [
    "ElfError",
    "ElfFile",
    "embedded_object",
    "Section",
    "Symbol",
    "read_elf",
    "section_data",
    "sections",
    "symbols",
]

PathLike = Union[str, "os.PathLike[str]"]

# e_ident
_ELFMAG = b"\x7fELF"
_ELFCLASS64 = 2
_ELFDATA2LSB = 1

# section header types
SHT_NULL = 0
SHT_PROGBITS = 1
SHT_SYMTAB = 2
SHT_STRTAB = 3
SHT_RELA = 4
SHT_NOBITS = 8
SHT_REL = 9
SHT_DYNSYM = 11
SHT_SYMTAB_SHNDX = 18

# special section indices
SHN_UNDEF = 0
SHN_LORESERVE = 0xFF00
SHN_ABS = 0xFFF1
SHN_COMMON = 0xFFF2
SHN_XINDEX = 0xFFFF

_SHT_NAMES = {
    0: "NULL", 1: "PROGBITS", 2: "SYMTAB", 3: "STRTAB", 4: "RELA", 5: "HASH",
    6: "DYNAMIC", 7: "NOTE", 8: "NOBITS", 9: "REL", 10: "SHLIB", 11: "DYNSYM",
    14: "INIT_ARRAY", 15: "FINI_ARRAY", 16: "PREINIT_ARRAY", 17: "GROUP",
    18: "SYMTAB_SHNDX", 0x6FFF4C03: "LLVM_ADDRSIG",
}
_STB_NAMES = {0: "LOCAL", 1: "GLOBAL", 2: "WEAK", 10: "UNIQUE"}
_STT_NAMES = {0: "NOTYPE", 1: "OBJECT", 2: "FUNC", 3: "SECTION", 4: "FILE",
              5: "COMMON", 6: "TLS"}
_STV_NAMES = {0: "DEFAULT", 1: "INTERNAL", 2: "HIDDEN", 3: "PROTECTED"}

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_SYM = struct.Struct("<IBBHQQ")


class ElfError(ValueError):
    """The file is not an ELF64 little-endian object we can parse."""


@dataclass(frozen=True)
class Section:
    index: int
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int
    addralign: int
    entsize: int

    @property
    def type_name(self) -> str:
        return _SHT_NAMES.get(self.type, hex(self.type))

    @property
    def is_nobits(self) -> bool:
        return self.type == SHT_NOBITS


@dataclass(frozen=True)
class Symbol:
    index: int
    name: str
    value: int
    size: int
    binding: str        # LOCAL / GLOBAL / WEAK / ...
    type: str           # NOTYPE / OBJECT / FUNC / SECTION / FILE / ...
    visibility: str     # DEFAULT / HIDDEN / ...
    shndx: int          # resolved section index (SHN_XINDEX already resolved)
    section_name: str   # "" for UND, "*ABS*", "*COM*", else the section's name


def _binding_name(v: int) -> str:
    return _STB_NAMES.get(v, str(v))


def _type_name(v: int) -> str:
    return _STT_NAMES.get(v, str(v))


class ElfFile:
    """Parsed view of an ELF64 LE file held in memory."""

    def __init__(self, source: Union[PathLike, bytes, bytearray, memoryview]):
        if isinstance(source, (bytes, bytearray, memoryview)):
            self.path: Optional[str] = None
            self.data = bytes(source)
        else:
            self.path = os.fspath(source)
            with open(self.path, "rb") as f:
                self.data = f.read()
        self._parse_header()
        self.sections: List[Section] = self._parse_sections()
        self._by_name: Dict[str, Section] = {}
        for s in self.sections:
            self._by_name.setdefault(s.name, s)
        self._symbols: Optional[List[Symbol]] = None

    # -- header / sections ------------------------------------------------

    def _parse_header(self) -> None:
        d = self.data
        if len(d) < _EHDR.size or d[:4] != _ELFMAG:
            raise ElfError("not an ELF file")
        if d[4] != _ELFCLASS64:
            raise ElfError("not ELF64 (EI_CLASS=%d)" % d[4])
        if d[5] != _ELFDATA2LSB:
            raise ElfError("not little-endian (EI_DATA=%d)" % d[5])
        (_ident, self.e_type, self.e_machine, _ver, _entry, _phoff, self.e_shoff,
         _flags, _ehsize, _phentsize, _phnum, self.e_shentsize, self.e_shnum,
         self.e_shstrndx) = _EHDR.unpack_from(d, 0)
        if self.e_shoff and self.e_shentsize < _SHDR.size:
            raise ElfError("bad e_shentsize %d" % self.e_shentsize)

    def _raw_shdr(self, i: int) -> Tuple[int, ...]:
        off = self.e_shoff + i * self.e_shentsize
        if off + _SHDR.size > len(self.data):
            raise ElfError("section header %d out of bounds" % i)
        return _SHDR.unpack_from(self.data, off)

    def _parse_sections(self) -> List[Section]:
        if not self.e_shoff:
            return []
        shnum = self.e_shnum
        shstrndx = self.e_shstrndx
        if shnum == 0 or shstrndx == SHN_XINDEX:
            sh0 = self._raw_shdr(0)
            if shnum == 0:
                shnum = sh0[5]          # sh_size of section 0
            if shstrndx == SHN_XINDEX:
                shstrndx = sh0[6]       # sh_link of section 0
        raws = [self._raw_shdr(i) for i in range(shnum)]
        strtab = b""
        if 0 < shstrndx < shnum:
            r = raws[shstrndx]
            strtab = self.data[r[4]:r[4] + r[5]]
        out = []
        for i, r in enumerate(raws):
            (name_off, sh_type, flags, addr, offset, size, link, info, align,
             entsize) = r
            out.append(Section(i, _cstr(strtab, name_off), sh_type, flags, addr,
                               offset, size, link, info, align, entsize))
        return out

    def section(self, name: str) -> Section:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError("no section named %r" % name) from None

    def sections_by_name(self) -> Dict[str, Section]:
        return dict(self._by_name)

    def section_data(self, sec: Union[str, int, Section]) -> bytes:
        """Contents of a section; SHT_NOBITS yields sh_size zero bytes."""
        if isinstance(sec, str):
            sec = self.section(sec)
        elif isinstance(sec, int):
            sec = self.sections[sec]
        if sec.type == SHT_NOBITS:
            return bytes(sec.size)
        if sec.type == SHT_NULL:
            return b""
        end = sec.offset + sec.size
        if end > len(self.data):
            raise ElfError("section %r extends past end of file" % sec.name)
        return self.data[sec.offset:end]

    # -- symbols ----------------------------------------------------------

    def _section_name_for(self, shndx: int) -> str:
        if shndx == SHN_UNDEF:
            return ""
        if shndx == SHN_ABS:
            return "*ABS*"
        if shndx == SHN_COMMON:
            return "*COM*"
        if shndx < len(self.sections):
            return self.sections[shndx].name
        return "<bad %d>" % shndx

    def symbol_list(self) -> List[Symbol]:
        """All entries of .symtab (index 0, the null symbol, excluded)."""
        if self._symbols is not None:
            return self._symbols
        symtab = next((s for s in self.sections if s.type == SHT_SYMTAB), None)
        syms: List[Symbol] = []
        if symtab is None:
            self._symbols = syms
            return syms
        strtab = self.section_data(symtab.link) if symtab.link else b""
        xindex = None
        for s in self.sections:
            if s.type == SHT_SYMTAB_SHNDX and s.link == symtab.index:
                raw = self.section_data(s)
                xindex = struct.unpack("<%dI" % (len(raw) // 4), raw)
        entsize = symtab.entsize or _SYM.size
        raw = self.section_data(symtab)
        for i in range(1, len(raw) // entsize):
            name_off, info, other, shndx, value, size = _SYM.unpack_from(raw, i * entsize)
            if shndx == SHN_XINDEX and xindex is not None:
                shndx = xindex[i]
            syms.append(Symbol(
                index=i,
                name=_cstr(strtab, name_off),
                value=value,
                size=size,
                binding=_binding_name(info >> 4),
                type=_type_name(info & 0xF),
                visibility=_STV_NAMES.get(other & 3, str(other & 3)),
                shndx=shndx,
                section_name=self._section_name_for(shndx),
            ))
        self._symbols = syms
        return syms

    def symbols(self) -> Dict[str, Tuple[str, int, int, str, str]]:
        """name -> (section_name, st_value, st_size, binding, type).

        Only named symbols.  If a name occurs more than once, a non-LOCAL
        definition wins over a LOCAL one; otherwise the first one is kept.
        """
        out: Dict[str, Tuple[str, int, int, str, str]] = {}
        for s in self.symbol_list():
            if not s.name:
                continue
            prev = out.get(s.name)
            if prev is not None and not (prev[3] == "LOCAL" and s.binding != "LOCAL"):
                continue
            out[s.name] = (s.section_name, s.value, s.size, s.binding, s.type)
        return out

    def symbol_bytes(self, name: str) -> bytes:
        """Initial bytes of a data symbol (zeros for NOBITS sections)."""
        sec_name, value, size, _b, _t = self.symbols()[name]
        data = self.section_data(sec_name)
        return data[value:value + size]


def _cstr(table: bytes, off: int) -> str:
    if off >= len(table):
        return ""
    end = table.find(b"\0", off)
    if end < 0:
        end = len(table)
    return table[off:end].decode("utf-8", "replace")


# -- module-level convenience API --------------------------------------------

def read_elf(path: PathLike) -> ElfFile:
    return ElfFile(path)


def sections(path: PathLike) -> Dict[str, Section]:
    return ElfFile(path).sections_by_name()


def section_data(path: PathLike, name: str) -> bytes:
    return ElfFile(path).section_data(name)


def symbols(path: PathLike) -> Dict[str, Tuple[str, int, int, str, str]]:
    """name -> (section_name, st_value, st_size, binding, type) for all named symbols."""
    return ElfFile(path).symbols()


def embedded_object(module: Union[str, bytes]) -> bytes:
    """The object a generated module embeds (``_OBJECT``: zlib over base64,
    one string literal per line), decoded from the module's text here, not
    by bpfskel's own unpacking."""
    import base64
    import re
    import zlib

    text = module.decode() if isinstance(module, bytes) else module
    m = re.search(r"\n_OBJECT = \(\n(.*?)\n\)\n", text, re.S)
    if not m:
        raise ElfError("no single embedded _OBJECT in the module")
    return zlib.decompress(base64.b64decode("".join(re.findall(r"'([A-Za-z0-9+/=]*)'",
                                                                m.group(1)))))
