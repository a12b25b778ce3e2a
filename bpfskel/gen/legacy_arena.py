"""BPF objects with ``__arena`` globals, made readable for libbpf < 1.4.

Build time only: ``bpfskel gen`` reads such an object through a copy whose
arena section has a name old libbpf accepts, so that the generated module is
the one libbpf 1.4 would give.  The runtime side (mapping arenas, refusing
them on old libbpf) is :mod:`bpfskel.arena`.
"""

from __future__ import annotations

import struct
from typing import Any, Optional, Tuple

from .. import _libbpf, elf
from ..arena import MIN_LIBBPF
from ..btf import Kind
from ..names import ARENA_SECTION

__all__ = ["legacy_object", "legacy_restore"]


def legacy_object(data: bytes) -> Optional[Tuple[bytes, str]]:
    """The object as a libbpf older than 1.4 can parse it, and the stand-in name.

    libbpf 1.1 refuses ``.addr_space.1`` (its relocations point nowhere it
    knows), so ``bpfskel gen`` could not read the object's BTF, maps and
    programs.  This copy gives that section, in the ELF and BTF string tables,
    a ``.data.*`` name of the same length; libbpf then reads it like any data
    section, lays out its variables the same way, and :func:`legacy_restore`
    turns the result back.  Only the generator uses it: the module is the one
    libbpf 1.4 would give.  ``None`` when not needed.
    """
    if _libbpf.version() >= MIN_LIBBPF:
        return None
    sections = elf.sections(data)
    if not any(sec.name == ARENA_SECTION for sec in sections):
        return None
    buf = bytearray(data)
    strings = b""
    str_start = 0
    for name, _name_at, offset, size in sections:
        if name == ".BTF" and size >= 24:
            hdr_len, _t_off, _t_len, s_off, s_len = struct.unpack_from("<5I", data, offset + 4)
            str_start = offset + hdr_len + s_off
            strings = data[str_start:str_start + s_len]
    taken = {name for name, *_ in sections}
    old = ARENA_SECTION.encode()
    stand_in = next(cand for cand in (f".data.arena{c:>02}" for c in range(100))
                    if cand not in taken and b"\0" + cand.encode() + b"\0" not in strings)
    new = stand_in.encode()
    assert len(new) == len(old)
    for name, name_at, _offset, _size in sections:
        if name.endswith(ARENA_SECTION):  # .addr_space.1 and .rel.addr_space.1
            at = name_at + len(name) - len(old)
            buf[at:at + len(new)] = new
    at = strings.find(b"\0" + old + b"\0")
    while at >= 0:
        buf[str_start + at + 1:str_start + at + 1 + len(new)] = new
        at = strings.find(b"\0" + old + b"\0", at + 1)
    return bytes(buf), stand_in


def legacy_restore(info: Any, stand_in: str) -> Any:
    """Undo :func:`legacy_object` in an :class:`~bpfskel.gen.objfile.ObjectInfo`."""
    for t in info.btf:
        if t.kind == Kind.DATASEC and t.name == stand_in:
            t.name = ARENA_SECTION
    info.maps = [m for m in info.maps if not (m.internal and m.section == stand_in)]
    return info
