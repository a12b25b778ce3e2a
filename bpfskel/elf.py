"""The section header table of an ELF64 little-endian file, read by hand.

Two places need section names before (or instead of) libbpf: the input
checks of :mod:`bpfskel.gen.objfile`, and :mod:`bpfskel.gen.legacy_arena`, which renames the
arena section for libbpf releases that cannot parse it.  Reading a header
table needs no library, and doing it here means a corrupted table is a
clean "cannot read" (an empty list), never an exception from deep inside.
"""

from __future__ import annotations

import struct
from typing import List, NamedTuple

__all__ = ["Section", "sections"]


# name_offset: file offset of the name in the section-name table; offset: file
# offset of the section's contents.  (The call form: the class form compiles each
# annotation string at import under ``from __future__ import annotations``.)
Section = NamedTuple("Section", [("name", str), ("name_offset", int), ("offset", int),
                                 ("size", int)])


def sections(data: bytes) -> List[Section]:
    """Every section of the ELF64 ``data``; [] if the table cannot be read."""
    try:
        (shoff,) = struct.unpack_from("<Q", data, 40)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 58)
        if shentsize < 64 or shstrndx >= shnum:
            return []
        str_off, str_size = struct.unpack_from("<QQ", data,
                                               shoff + shstrndx * shentsize + 24)
        table = data[str_off:str_off + str_size]
        out = []
        for i in range(shnum):
            hdr = shoff + i * shentsize
            (name_off,) = struct.unpack_from("<I", data, hdr)
            offset, size = struct.unpack_from("<QQ", data, hdr + 24)
            end = table.find(b"\0", name_off)
            name = table[name_off:end if end >= 0 else len(table)].decode("latin-1")
            out.append(Section(name, str_off + name_off, offset, size))
        return out
    except struct.error:
        return []
