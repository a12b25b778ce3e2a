"""Source file and line from DWARF ``.debug_line`` (versions 2 to 5).

Only the line-number program is read: it maps every instruction address to
a file and a line, which is what ``addr2line`` prints for an address (the
last row at or before it, unless that row ends a sequence).  Inlined
functions' call sites (``.debug_info``) are not followed.  For DWARF 2-4,
a file whose directory is the compilation directory (index 0) has only its
relative path: that directory is recorded in ``.debug_info``, not here.

Sections compressed with ``SHF_COMPRESSED`` (zlib), as Debian ships its
debug files, are inflated with ``zlib``.
"""

from __future__ import annotations

import bisect
import struct
import zlib
from typing import Callable, Dict, List, Optional, Tuple

__all__ = ["LineTable", "decompress"]

SHF_COMPRESSED = 0x800
ELFCOMPRESS_ZLIB = 1

# DW_LNCT_* and the DW_FORM_* a line table header uses
_LNCT_PATH, _LNCT_DIRECTORY_INDEX = 1, 2
_FORM_BLOCK, _FORM_DATA1, _FORM_DATA2, _FORM_DATA4, _FORM_DATA8 = 0x09, 0x0b, 0x05, 0x06, 0x07
_FORM_STRING, _FORM_STRP, _FORM_UDATA, _FORM_LINE_STRP, _FORM_DATA16 = \
    0x08, 0x0e, 0x0f, 0x1f, 0x1e


def decompress(data: bytes, flags: int) -> bytes:
    """A section's contents, inflated if ``SHF_COMPRESSED``."""
    if not flags & SHF_COMPRESSED:
        return data
    ch_type, _, size, _ = struct.unpack_from("<IIQQ", data, 0)
    if ch_type != ELFCOMPRESS_ZLIB:
        raise ValueError(f"unsupported ELF compression type {ch_type}")
    return zlib.decompress(data[24:])[:size]


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int) -> None:
        self.data = data
        self.pos = pos

    def u(self, fmt: str) -> int:
        (v,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return int(v)

    def uleb(self) -> int:
        result = shift = 0
        data = self.data
        while True:
            b = data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result
            shift += 7

    def sleb(self) -> int:
        result = shift = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return result - (1 << shift) if b & 0x40 else result

    def cstr(self) -> bytes:
        end = self.data.index(b"\0", self.pos)
        s = self.data[self.pos:end]
        self.pos = end + 1
        return s


def _cstr_at(table: bytes, off: int) -> bytes:
    end = table.find(b"\0", off)
    return table[off:end if end >= 0 else len(table)]


class LineTable:
    """Addresses to ``(file, line)`` for one ELF file (see the module doc).

    Built from the ``.debug_line``, ``.debug_line_str`` and ``.debug_str``
    contents; ``lookup(vaddr)`` is one ``bisect``.
    """

    def __init__(self, debug_line: bytes, line_str: bytes = b"", debug_str: bytes = b"") -> None:
        self._files: List[str] = []
        self._file_ids: Dict[str, int] = {}
        rows: List[Tuple[int, int, int]] = []  # (address, file id, line); line 0 ends a run
        pos = 0
        while pos + 4 <= len(debug_line):
            pos = self._unit(debug_line, pos, line_str, debug_str, rows)
        rows.sort(key=lambda row: row[0])  # stable: a sequence keeps its order
        self._addrs = [r[0] for r in rows]
        self._rows = rows

    def _file_id(self, path: str) -> int:
        fid = self._file_ids.get(path)
        if fid is None:
            fid = self._file_ids[path] = len(self._files)
            self._files.append(path)
        return fid

    def _unit(self, data: bytes, pos: int, line_str: bytes, debug_str: bytes,
              rows: List[Tuple[int, int, int]]) -> int:
        r = _Reader(data, pos)
        length = r.u("<I")
        off64 = length == 0xFFFFFFFF
        if off64:
            length = r.u("<Q")
        end = r.pos + length
        version = r.u("<H")
        if version < 2 or version > 5:
            return end  # not a line table we know: skip the unit
        if version >= 5:
            r.pos += 2  # address_size, segment_selector_size
        header_length = r.u("<Q" if off64 else "<I")
        program = r.pos + header_length
        min_inst = r.u("<B")
        if version >= 4:
            r.pos += 1  # maximum_operations_per_instruction (VLIW only)
        r.pos += 1  # default_is_stmt: every row counts, as for addr2line
        line_base = r.u("<b")
        line_range = r.u("<B")
        opcode_base = r.u("<B")
        arg_counts = [r.u("<B") for _ in range(opcode_base - 1)]
        if version >= 5:
            dirs = [str(e.get(_LNCT_PATH, ""))
                    for e in self._entries(r, off64, line_str, debug_str)]
            # directories are relative to the compilation directory, entry 0
            dirs = dirs[:1] + [_join(dirs[0], d) for d in dirs[1:]]
            files = []
            for e in self._entries(r, off64, line_str, debug_str):
                d = e.get(_LNCT_DIRECTORY_INDEX, 0)
                files.append(_join(dirs[d] if isinstance(d, int) and d < len(dirs) else "",
                                   str(e.get(_LNCT_PATH, ""))))
        else:
            dirs = [""]
            while True:
                d = r.cstr()
                if not d:
                    break
                dirs.append(d.decode("utf-8", "replace"))
            files = [""]  # DWARF < 5 numbers files from 1
            while True:
                name = r.cstr()
                if not name:
                    break
                d = r.uleb()
                r.uleb()
                r.uleb()
                files.append(_join(dirs[d] if d < len(dirs) else "",
                                   name.decode("utf-8", "replace")))
        ids = [self._file_id(f) for f in files]
        r.pos = program
        self._run(r, end, min_inst, line_base, line_range, opcode_base, arg_counts, ids, rows,
                  version)
        return end

    @staticmethod
    def _entries(r: _Reader, off64: bool, line_str: bytes,
                 debug_str: bytes) -> List[Dict[int, object]]:
        """A DWARF 5 directory or file name table."""
        formats = [(r.uleb(), r.uleb()) for _ in range(r.u("<B"))]
        out: List[Dict[int, object]] = []
        for _ in range(r.uleb()):
            entry: Dict[int, object] = {}
            for content, form in formats:
                value: object
                if form == _FORM_STRING:
                    value = r.cstr().decode("utf-8", "replace")
                elif form in (_FORM_LINE_STRP, _FORM_STRP):
                    off = r.u("<Q" if off64 else "<I")
                    table = line_str if form == _FORM_LINE_STRP else debug_str
                    value = _cstr_at(table, off).decode("utf-8", "replace")
                elif form == _FORM_UDATA:
                    value = r.uleb()
                elif form in _FIXED:
                    value = r.u(_FIXED[form])
                elif form == _FORM_DATA16:
                    r.pos += 16
                    value = None
                elif form == _FORM_BLOCK:
                    r.pos += r.uleb()
                    value = None
                else:
                    raise ValueError(f"DW_FORM {form:#x} in a line table header")
                entry[content] = value
            out.append(entry)
        return out

    @staticmethod
    def _run(r: _Reader, end: int, min_inst: int, line_base: int, line_range: int,
             opcode_base: int, arg_counts: List[int], ids: List[int],
             rows: List[Tuple[int, int, int]], version: int) -> None:
        """The line-number state machine (DWARF 5, section 6.2)."""
        first_file = 0 if version >= 5 else 1
        data = r.data
        emit: Callable[[Tuple[int, int, int]], None] = rows.append
        addr, file, line = 0, 1, 1
        nfiles = len(ids)

        def fid(f: int) -> int:
            return ids[f] if 0 <= f < nfiles else ids[first_file] if nfiles > first_file else 0
        while r.pos < end:
            op = data[r.pos]
            r.pos += 1
            if op >= opcode_base:  # special opcode: advance both, emit a row
                adj = op - opcode_base
                addr += (adj // line_range) * min_inst
                line += line_base + adj % line_range
                emit((addr, fid(file), line))
            elif op == 0:  # extended
                size = r.uleb()
                nxt = r.pos + size
                sub = data[r.pos] if size else 0
                r.pos += 1
                if sub == 1:  # end_sequence
                    emit((addr, 0, 0))
                    addr, file, line = 0, 1, 1
                elif sub == 2:  # set_address
                    addr = int.from_bytes(data[r.pos:nxt], "little")
                r.pos = nxt
            elif op == 1:  # copy
                emit((addr, fid(file), line))
            elif op == 2:
                addr += r.uleb() * min_inst
            elif op == 3:
                line += r.sleb()
            elif op == 4:
                file = r.uleb()
            elif op == 8:  # const_add_pc
                addr += ((255 - opcode_base) // line_range) * min_inst
            elif op == 9:
                addr += r.u("<H")
            else:  # set_column, negate_stmt, ... : skip their operands
                for _ in range(arg_counts[op - 1] if op - 1 < len(arg_counts) else 0):
                    r.uleb()

    def lookup(self, vaddr: int) -> Optional[Tuple[str, int]]:
        """``(file, line)`` of the instruction at ``vaddr``, or None."""
        i = bisect.bisect_right(self._addrs, vaddr) - 1
        if i < 0:
            return None
        _, fid, line = self._rows[i]
        if line == 0:  # past the end of a sequence
            return None
        return self._files[fid], line


_FIXED = {_FORM_DATA1: "<B", _FORM_DATA2: "<H", _FORM_DATA4: "<I", _FORM_DATA8: "<Q"}


def _join(directory: str, name: str) -> str:
    if not directory or name.startswith("/"):
        return name
    return directory.rstrip("/") + "/" + name
