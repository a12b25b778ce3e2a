"""Raw BTF written byte by byte, for planner and emitter tests without clang.

The encoding is the kernel's BTF ABI (``include/uapi/linux/btf.h``,
Documentation/bpf/btf.rst), written here from that spec, not from bpfskel:

* a 24-byte header: ``u16 magic 0xeB9F, u8 version 1, u8 flags, u32 hdr_len,
  u32 type_off, u32 type_len, u32 str_off, u32 str_len`` (offsets count from
  the end of the header);
* the type section: one ``struct btf_type`` per type, ids from 1 in order:
  ``u32 name_off; u32 info`` (``vlen`` bits 0-15, ``kind`` bits 24-28,
  ``kind_flag`` bit 31) ``; u32 size_or_type``, then the kind's own records;
* the string section: NUL-terminated names, the first one empty.

What a test encodes (offsets, sizes, bit positions) is the ground truth its
generated classes are checked against.  The bytes go through the same path as
an object's BTF: libbpf parses them (``btf__parse`` of a raw BTF file, here
through :func:`bpfskel.gen.headertypes._read_btf`, the generator's reader of BTF
files), bpfskel's decoder reads every type, and :func:`bpfskel.gen.objfile.check_btf`
refuses a graph the planner could not walk.
"""

from __future__ import annotations

import importlib.util
import struct
import sys
from pathlib import Path
from types import ModuleType
from typing import Dict, List, Optional, Sequence, Tuple

from bpfskel.btf import Btf
from bpfskel.gen import codegen, layout, objfile
from bpfskel.gen.headertypes import _read_btf

MAGIC = 0xEB9F

# kinds, numbered as in <linux/btf.h>
INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT = range(1, 12)
FUNC, FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = range(12, 20)

# BTF_INT_ENCODING bits
SIGNED, CHAR, BOOL = 1, 2, 4

# a member: (name, type id, bit offset, bitfield bits; 0: not a bitfield)
Member = Tuple[str, int, int, int]


class BtfBuilder:
    """Append types, get their ids; :meth:`raw` is the BTF blob."""

    def __init__(self) -> None:
        self.types: List[bytes] = []
        self.strings = bytearray(b"\0")
        self._offsets: Dict[str, int] = {"": 0}

    def name(self, text: str) -> int:
        """The string section offset of ``text``, added once."""
        off = self._offsets.get(text)
        if off is None:
            off = self._offsets[text] = len(self.strings)
            self.strings += text.encode("utf-8", "surrogateescape") + b"\0"
        return off

    def add(self, kind: int, name: str = "", *, vlen: int = 0, kflag: bool = False,
            size_or_type: int = 0, body: bytes = b"") -> int:
        """One ``struct btf_type`` and its records; returns the new id."""
        info = (int(kflag) << 31) | (kind << 24) | vlen
        self.types.append(struct.pack("<III", self.name(name), info, size_or_type) + body)
        return len(self.types)

    # -- kinds --------------------------------------------------------------------

    def integer(self, name: str, size: int, *, encoding: int = 0, bits: Optional[int] = None,
            offset: int = 0) -> int:
        word = (encoding << 24) | (offset << 16) | (size * 8 if bits is None else bits)
        return self.add(INT, name, size_or_type=size, body=struct.pack("<I", word))

    def ptr(self, target: int) -> int:
        return self.add(PTR, size_or_type=target)

    def array(self, elem: int, nelems: int, index: int) -> int:
        return self.add(ARRAY, body=struct.pack("<III", elem, index, nelems))

    def composite(self, kind: int, name: str, size: int, members: Sequence[Member], *,
                  kflag: Optional[bool] = None) -> int:
        """A struct or union.  ``kflag`` (default: any member is a bitfield)
        packs ``bits << 24 | bit_offset`` into each member's offset."""
        if kflag is None:
            kflag = any(m[3] for m in members)
        body = b"".join(
            struct.pack("<III", self.name(n), t, (bits << 24 | off) if kflag else off)
            for n, t, off, bits in members)
        return self.add(kind, name, vlen=len(members), kflag=kflag, size_or_type=size,
                        body=body)

    def struct(self, name: str, size: int, members: Sequence[Member],
               kflag: Optional[bool] = None) -> int:
        return self.composite(STRUCT, name, size, members, kflag=kflag)

    def union(self, name: str, size: int, members: Sequence[Member],
              kflag: Optional[bool] = None) -> int:
        return self.composite(UNION, name, size, members, kflag=kflag)

    def enum(self, name: str, size: int, values: Sequence[Tuple[str, int]],
             signed: bool = False) -> int:
        body = b"".join(struct.pack("<Ii" if signed else "<II", self.name(n), v)
                        for n, v in values)
        return self.add(ENUM, name, vlen=len(values), kflag=signed, size_or_type=size,
                        body=body)

    def enum64(self, name: str, size: int, values: Sequence[Tuple[str, int]],
               signed: bool = False) -> int:
        body = b"".join(struct.pack("<III", self.name(n), v & 0xFFFFFFFF, (v >> 32) & 0xFFFFFFFF)
                        for n, v in values)
        return self.add(ENUM64, name, vlen=len(values), kflag=signed, size_or_type=size,
                        body=body)

    def fwd(self, name: str, union: bool = False) -> int:
        return self.add(FWD, name, kflag=union)

    def typedef(self, name: str, target: int) -> int:
        return self.add(TYPEDEF, name, size_or_type=target)

    def modifier(self, kind: int, target: int) -> int:
        """VOLATILE, CONST or RESTRICT."""
        return self.add(kind, size_or_type=target)

    def type_tag(self, tag: str, target: int) -> int:
        return self.add(TYPE_TAG, tag, size_or_type=target)

    def decl_tag(self, tag: str, target: int, component: int = -1) -> int:
        return self.add(DECL_TAG, tag, size_or_type=target, body=struct.pack("<i", component))

    def func_proto(self, ret: int, params: Sequence[Tuple[str, int]]) -> int:
        body = b"".join(struct.pack("<II", self.name(n), t) for n, t in params)
        return self.add(FUNC_PROTO, vlen=len(params), size_or_type=ret, body=body)

    def func(self, name: str, proto: int, linkage: int = 1) -> int:
        return self.add(FUNC, name, vlen=linkage, size_or_type=proto)

    def var(self, name: str, target: int, linkage: int = 1) -> int:
        return self.add(VAR, name, size_or_type=target, body=struct.pack("<I", linkage))

    def datasec(self, name: str, size: int, vars: Sequence[Tuple[int, int, int]]) -> int:
        """``vars``: (VAR id, byte offset, size)."""
        body = b"".join(struct.pack("<III", *v) for v in vars)
        return self.add(DATASEC, name, vlen=len(vars), size_or_type=size, body=body)

    def floating(self, name: str, size: int) -> int:
        return self.add(FLOAT, name, size_or_type=size)

    # -- the blob -------------------------------------------------------------------

    def raw(self) -> bytes:
        types = b"".join(self.types)
        header = struct.pack("<HBBIIIII", MAGIC, 1, 0, 24, 0, len(types), len(types),
                             len(self.strings))
        return header + types + bytes(self.strings)


def decode(raw: bytes, tmp: Path) -> Btf:
    """``raw`` as the generator sees an object's BTF: parsed by libbpf, decoded
    by bpfskel, checked by ``objfile.check_btf``."""
    path = tmp / "types.btf"
    path.write_bytes(raw)
    btf = _read_btf(str(path))
    objfile.check_btf(btf, str(path))
    return btf


def emit(btf: Btf) -> str:
    """The module text the generator writes for ``btf`` (no maps, no programs)."""
    return codegen.render(layout.plan(btf), name="synthetic", source="synthetic.bpf.o",
                          sha256="0" * 64, version="test", obj=b"", maps=(), progs=())


def load(b: BtfBuilder, tmp: Path) -> ModuleType:
    """Build, parse, plan, emit and import: the generated module of ``b``'s BTF
    (its import runs the module's own layout check)."""
    path = tmp / "synthetic_skel.py"
    path.write_text(emit(decode(b.raw(), tmp)))
    spec = importlib.util.spec_from_file_location(f"synthetic_{id(b):x}", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # pickling and dataclass-like lookups need it
    spec.loader.exec_module(mod)
    return mod
