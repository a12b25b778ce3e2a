"""ELF64 little-endian images, read by hand for symbolization.

What a symbolizer needs from an executable, a shared library, a separate
debug file or the ``[vdso]`` image, and nothing more:

* the ``PT_LOAD`` program headers, which turn a file offset (what
  ``/proc/PID/maps`` and build-id stack frames give) into the virtual address
  the symbols are written in, for PIE, non-PIE and shared objects alike;
* the function symbols of ``.symtab`` and ``.dynsym``, sorted once so that
  each lookup is one ``bisect``;
* the GNU build-id note and the ``.gnu_debuglink`` section, which name the
  separate debug file.

The file is ``mmap``-ed while it is parsed and released right after: only the
sorted addresses and the string table are kept, and names are decoded on
first use, so opening a large binary costs one pass over its symbol table.
"""

from __future__ import annotations

import bisect
import mmap
import os
import struct
import zlib
from typing import List, NamedTuple, Optional, Tuple, Union

from ..errors import Error
from .dwarf import LineTable, decompress

__all__ = ["ElfError", "ElfImage", "Segment", "SymbolTable", "read_elf"]

PT_LOAD, PT_NOTE = 1, 4
SHT_SYMTAB, SHT_NOTE, SHT_DYNSYM, SHT_NOBITS = 2, 7, 11, 8
STT_FUNC, STT_GNU_IFUNC = 2, 10
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
NT_GNU_BUILD_ID = 3
ET_EXEC, ET_DYN = 2, 3
PF_X = 1

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_SYM = struct.Struct("<IBBHQQ")
# alias preference at one address: a global name over a weak one over a local
_BIND_RANK = {STB_GLOBAL: 0, STB_WEAK: 1, STB_LOCAL: 2}
_FUNC_TYPES = frozenset({STT_FUNC, STT_GNU_IFUNC})


class ElfError(Error, ValueError):
    """A file is not an ELF64 little-endian image, or its headers are broken."""


class Segment(NamedTuple):
    """A ``PT_LOAD`` program header."""

    offset: int
    vaddr: int
    filesz: int
    memsz: int
    flags: int


class _Section(NamedTuple):
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    entsize: int


class SymbolTable:
    """Function symbols sorted by address: ``lookup(vaddr) -> (name, offset)``.

    Each entry covers ``[value, value + size)``; a symbol of size 0 (hand-
    written assembly) covers up to the next symbol.  Aliases at one address
    keep one name, the global one first.  Names stay bytes offsets into the
    string table until they are asked for.
    """

    __slots__ = ("_starts", "_ends", "_names", "_strtabs", "_cache")

    def __init__(self, entries: List[Tuple[int, int, int, int, int]],
                 strtabs: List[bytes]) -> None:
        # entries: (start, rank, end, strtab index, name offset)
        entries.sort()
        starts: List[int] = []
        ends: List[int] = []
        names: List[int] = []
        prev = -1
        for start, _rank, end, tab, off in entries:
            if start == prev:
                if end > ends[-1]:
                    ends[-1] = end  # the preferred alias came first: keep its name
                continue
            prev = start
            starts.append(start)
            ends.append(end)
            names.append(tab << 32 | off)
        for i in range(len(starts)):
            if ends[i] == starts[i]:  # size 0: up to the next symbol
                ends[i] = starts[i + 1] if i + 1 < len(starts) else starts[i] + 1
        self._starts = starts
        self._ends = ends
        self._names = names
        self._strtabs = strtabs
        self._cache: List[Optional[str]] = [None] * len(starts)

    def __len__(self) -> int:
        return len(self._starts)

    def _name(self, i: int) -> str:
        name = self._cache[i]
        if name is None:
            ref = self._names[i]
            tab = self._strtabs[ref >> 32]
            off = ref & 0xFFFFFFFF
            end = tab.find(b"\0", off)
            name = tab[off:end if end >= 0 else len(tab)].decode("utf-8", "replace")
            self._cache[i] = name
        return name

    def lookup(self, vaddr: int) -> Optional[Tuple[str, int]]:
        """The function containing ``vaddr`` and the offset into it, or None."""
        starts = self._starts
        i = bisect.bisect_right(starts, vaddr) - 1
        if i >= 0 and vaddr < self._ends[i]:
            return self._name(i), vaddr - starts[i]
        # a nested or overlapping symbol may hide an enclosing one: look back a little
        for j in range(i - 1, max(i - 4, -1), -1):
            if vaddr < self._ends[j]:
                return self._name(j), vaddr - starts[j]
        return None

    def symbols(self) -> List[Tuple[str, int, int]]:
        """Every ``(name, start, end)``, sorted (for tests and tools)."""
        return [(self._name(i), self._starts[i], self._ends[i])
                for i in range(len(self._starts))]


class ElfImage:
    """The parts of one ELF file a symbolizer uses (see the module docstring).

    ``build_id`` (bytes or None), ``debuglink`` (file name, CRC32) or None,
    ``segments`` (the ``PT_LOAD`` headers; for a debug-only file, as they are
    in the binary: see :func:`_original_layout`), ``code_stripped`` (this is
    such a debug-only file), ``has_symtab`` (a full ``.symtab``,
    not only ``.dynsym``), ``symbols`` (a :class:`SymbolTable`).
    """

    def __init__(self, data: Union[bytes, mmap.mmap], what: str = "ELF image",
                 lines: bool = False) -> None:
        self.what = what
        self.lines: Optional[LineTable] = None
        try:
            self._parse(data, lines)
        except (struct.error, IndexError) as e:
            raise ElfError(f"{what}: truncated or corrupt ELF headers ({e})") from None

    def _parse(self, data: Union[bytes, mmap.mmap], lines: bool) -> None:
        if len(data) < _EHDR.size or data[:4] != b"\x7fELF":
            raise ElfError(f"{self.what}: not an ELF file")
        ident = data[:16]
        if ident[4] != 2 or ident[5] != 1:
            raise ElfError(f"{self.what}: not a 64-bit little-endian ELF file")
        (_, etype, _, _, _, phoff, shoff, _, _, phentsize, phnum, shentsize, shnum,
         shstrndx) = _EHDR.unpack_from(data, 0)
        self.type = etype
        self.segments: List[Segment] = []
        aligns: List[int] = []
        notes: List[Tuple[int, int]] = []
        for i in range(phnum if phentsize >= _PHDR.size else 0):
            ptype, flags, off, vaddr, _, filesz, memsz, align = _PHDR.unpack_from(
                data, phoff + i * phentsize)
            if ptype == PT_LOAD:
                self.segments.append(Segment(off, vaddr, filesz, memsz, flags))
                aligns.append(align)
            elif ptype == PT_NOTE:
                notes.append((off, filesz))
        self.code_stripped = any(seg.flags & PF_X and seg.memsz and not seg.filesz
                                 for seg in self.segments)
        if self.code_stripped:
            self.segments = _original_layout(self.segments, aligns)
        sections: List[_Section] = []
        if shoff and shentsize >= _SHDR.size and shnum and shstrndx < shnum:
            raw = [_SHDR.unpack_from(data, shoff + i * shentsize) for i in range(shnum)]
            strs = raw[shstrndx]
            shstr = bytes(data[strs[4]:strs[4] + strs[5]]) if strs[1] != SHT_NOBITS else b""
            for s in raw:
                end = shstr.find(b"\0", s[0])
                name = shstr[s[0]:end if end >= 0 else len(shstr)].decode("latin-1")
                sections.append(_Section(name, s[1], s[2], s[3], s[4], s[5], s[6], s[9]))
        self.build_id = self._find_build_id(data, notes, sections)
        self.debuglink: Optional[Tuple[str, int]] = None
        for s in sections:
            if s.name == ".gnu_debuglink" and s.type != SHT_NOBITS:
                blob = bytes(data[s.offset:s.offset + s.size])
                link = blob.split(b"\0", 1)[0]
                crc_at = (len(link) + 4) & ~3
                if link and crc_at + 4 <= len(blob):
                    (crc,) = struct.unpack_from("<I", blob, crc_at)
                    self.debuglink = (os.fsdecode(link), crc)
        self.has_symtab = any(s.type == SHT_SYMTAB for s in sections)
        self.symbols = self._read_symbols(data, sections)
        if lines:
            self.lines = self._read_lines(data, sections)

    def _read_lines(self, data: Union[bytes, mmap.mmap],
                    sections: List[_Section]) -> Optional[LineTable]:
        found = {s.name: s for s in sections if s.type != SHT_NOBITS
                 and s.name in (".debug_line", ".debug_line_str", ".debug_str")}
        if ".debug_line" not in found:
            return None

        def contents(name: str) -> bytes:
            s = found.get(name)
            return decompress(bytes(data[s.offset:s.offset + s.size]), s.flags) if s else b""
        try:
            return LineTable(contents(".debug_line"), contents(".debug_line_str"),
                             contents(".debug_str"))
        except (ValueError, IndexError, struct.error, zlib.error) as e:
            raise ElfError(f"{self.what}: unreadable .debug_line ({e})") from None

    @staticmethod
    def _find_build_id(data: Union[bytes, mmap.mmap], notes: List[Tuple[int, int]],
                       sections: List[_Section]) -> Optional[bytes]:
        # PT_NOTE in a loaded image; SHT_NOTE in a separate debug file, whose
        # PT_NOTE offsets may point at nothing
        spans = notes + [(s.offset, s.size) for s in sections
                         if s.type == SHT_NOTE]
        for off, size in spans:
            pos, end = off, min(off + size, len(data))
            while pos + 12 <= end:
                namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
                name_at = pos + 12
                desc_at = name_at + ((namesz + 3) & ~3)
                if ntype == NT_GNU_BUILD_ID and data[name_at:name_at + namesz] == b"GNU\0":
                    return bytes(data[desc_at:desc_at + descsz])
                pos = desc_at + ((descsz + 3) & ~3)
        return None

    @staticmethod
    def _read_symbols(data: Union[bytes, mmap.mmap], sections: List[_Section]) -> SymbolTable:
        entries: List[Tuple[int, int, int, int, int]] = []
        strtabs: List[bytes] = []
        for s in sections:
            if s.type not in (SHT_SYMTAB, SHT_DYNSYM) or s.entsize != _SYM.size:
                continue
            if s.link >= len(sections) or s.type == SHT_NOBITS:
                continue
            st = sections[s.link]
            if st.type == SHT_NOBITS:
                continue
            tab = len(strtabs)
            strtabs.append(bytes(data[st.offset:st.offset + st.size]))
            blob = data[s.offset:s.offset + s.size - s.size % _SYM.size]
            rank = _BIND_RANK.get
            entries.extend((value, rank(info >> 4, 3), value + size, tab, name)
                           for name, info, _other, shndx, value, size in _SYM.iter_unpack(blob)
                           if info & 0xF in _FUNC_TYPES and shndx and name and value)
        return SymbolTable(entries, strtabs)

    def vaddr_of_offset(self, offset: int) -> Optional[int]:
        """The virtual address at file offset ``offset`` (from ``PT_LOAD``), or None."""
        for seg in self.segments:
            if seg.offset <= offset < seg.offset + max(seg.filesz, 1):
                return offset - seg.offset + seg.vaddr
        return None


def _original_layout(segments: List[Segment], aligns: List[int]) -> List[Segment]:
    """File offsets of the ``PT_LOAD`` segments of the binary a debug-only file
    was split from (``objcopy --only-keep-debug`` zeroes them, with the code).

    The linkers (GNU ld, gold, lld) place each segment at the lowest file
    offset past the previous one that is congruent to its address modulo its
    alignment, as the ELF spec requires; the first starts at 0.  That is
    recomputed here, so that the file offsets of build-id stack frames can
    be resolved with the debug file alone.  Sizes in the file are taken as
    the sizes in memory (only a trailing ``.bss`` differs, and holds no code).
    """
    out: List[Segment] = []
    cur = 0
    for seg, align in sorted(zip(segments, aligns), key=lambda x: x[0].vaddr):
        align = max(align, 1)
        off = cur + (seg.vaddr - cur) % align if out else seg.offset
        size = seg.memsz  # filesz of a debug file counts only what it kept
        out.append(Segment(off, seg.vaddr, size, seg.memsz, seg.flags))
        cur = off + size
    return out


def read_elf(path: Union[str, int], what: Optional[str] = None, lines: bool = False) -> ElfImage:
    """Parse the ELF file at ``path`` (or an open fd) through a read-only mmap;
    with ``lines``, its DWARF line table too (``ElfImage.lines``)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC) if isinstance(path, str) else path
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            raise ElfError(f"{what or path}: empty file")
        with mmap.mmap(fd, size, prot=mmap.PROT_READ) as mm:
            return ElfImage(mm, what or str(path), lines)
    finally:
        if isinstance(path, str):
            os.close(fd)
