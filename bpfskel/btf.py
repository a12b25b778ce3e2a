"""BTF as a read-only graph of Python objects.

The input is the BTF that libbpf holds for an opened object
(``bpf_object__btf``), *after* libbpf fixed it up at open time: clang leaves
every DATASEC size and variable offset at 0, and libbpf fills them in from the
ELF symbol table, marks hidden globals static and sorts variables by offset.
That fixed-up graph is the single source of truth for layout.

Types are read with ``btf__type_by_id``, which returns a pointer to a
``struct btf_type`` in the kernel's stable BTF ABI (``include/uapi/linux/btf.h``):
three u32 (``name_off``, ``info``, ``size``/``type``) followed by kind-specific
records.  This module decodes those bytes and nothing else; :mod:`.layout`
turns them into a plan.

Names are decoded with ``surrogateescape`` so arbitrary bytes survive a round
trip; they are data, never code (see :mod:`.names`).
"""

from __future__ import annotations

import ctypes
import struct
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

from . import _libbpf

__all__ = ["Kind", "Member", "Enumerator", "VarSecinfo", "Type", "Btf", "from_pointer",
           "layout_digests"]


class Kind:
    UNKN = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19

    NAMES = {0: "void", 1: "int", 2: "ptr", 3: "array", 4: "struct", 5: "union",
             6: "enum", 7: "fwd", 8: "typedef", 9: "volatile", 10: "const",
             11: "restrict", 12: "func", 13: "func_proto", 14: "var", 15: "datasec",
             16: "float", 17: "decl_tag", 18: "type_tag", 19: "enum64"}


# BTF_INT_ENCODING bits
INT_SIGNED = 1
INT_CHAR = 2
INT_BOOL = 4

# BTF_VAR linkage
VAR_STATIC = 0
VAR_GLOBAL_ALLOCATED = 1
VAR_GLOBAL_EXTERN = 2

_HDR = struct.Struct("<III")
_U32 = struct.Struct("<I")


# NamedTuples in the call form: the class form, under ``from __future__ import
# annotations``, compiles each field's annotation string at import (start-up cost).
Member = NamedTuple("Member", [("name", str), ("type_id", int), ("bit_offset", int),
                               ("bitfield_size", int)])  # bitfield_size 0: not a bitfield
Enumerator = NamedTuple("Enumerator", [("name", str), ("value", int)])
VarSecinfo = NamedTuple("VarSecinfo", [("type_id", int), ("offset", int), ("size", int)])


class Type:
    """One BTF type.  Fields not meaningful for a kind keep their defaults.

    A plain slotted class, not a dataclass: the runtime decodes types too
    (:class:`TypeReader`), and ``dataclasses`` (with ``inspect``) would cost
    every generated module's import several milliseconds.
    """

    __slots__ = ("id", "kind", "name", "size", "ref", "kflag", "encoding", "bits",
                 "bit_offset", "nelems", "members", "enumerators", "linkage", "vars",
                 "params")
    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __init__(self, id: int, kind: int, name: str = "",
                 size: int = 0,           # INT, STRUCT, UNION, ENUM, ENUM64, DATASEC, FLOAT
                 ref: int = 0,            # PTR, TYPEDEF, modifiers, FUNC, VAR, DECL_TAG, ARRAY
                 kflag: bool = False,
                 encoding: int = 0, bits: int = 0, bit_offset: int = 0,  # INT
                 nelems: int = 0,                                        # ARRAY
                 members: Tuple[Member, ...] = (),                       # STRUCT / UNION
                 enumerators: Tuple[Enumerator, ...] = (),               # ENUM / ENUM64
                 linkage: int = 0,                                       # VAR, FUNC
                 vars: Tuple[VarSecinfo, ...] = (),                      # DATASEC
                 params: Tuple[Tuple[str, int], ...] = ()) -> None:      # FUNC_PROTO
        self.id = id
        self.kind = kind
        self.name = name
        self.size = size
        self.ref = ref
        self.kflag = kflag
        self.encoding = encoding
        self.bits = bits
        self.bit_offset = bit_offset
        self.nelems = nelems
        self.members = members
        self.enumerators = enumerators
        self.linkage = linkage
        self.vars = vars
        self.params = params

    def _values(self) -> Tuple[Any, ...]:
        return tuple(getattr(self, f) for f in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={getattr(self, f)!r}" for f in self.__slots__)
        return f"Type({fields})"

    def replace(self, **changes: Any) -> "Type":
        """A copy with ``changes`` applied (as ``dataclasses.replace``)."""
        values = {f: getattr(self, f) for f in self.__slots__}
        values.update(changes)
        return Type(**values)

    @property
    def kind_name(self) -> str:
        return Kind.NAMES.get(self.kind, f"kind{self.kind}")

    @property
    def signed(self) -> bool:
        if self.kind == Kind.INT:
            return bool(self.encoding & INT_SIGNED)
        if self.kind in (Kind.ENUM, Kind.ENUM64):
            return self.kflag
        return False


VOID = Type(id=0, kind=Kind.UNKN, name="void")


class Btf:
    """All types of one BTF blob, indexed by id (0 is ``void``)."""

    def __init__(self, types: List[Type]) -> None:
        self.types = types

    def __getitem__(self, type_id: int) -> Type:
        return self.types[type_id]

    def __len__(self) -> int:
        return len(self.types)

    def __iter__(self) -> Iterator[Type]:
        return iter(self.types[1:])

    def skip_mods(self, type_id: int) -> Type:
        """Follow const/volatile/restrict/type_tag (not typedefs)."""
        t = self.types[type_id]
        while t.kind in (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG):
            t = self.types[t.ref]
        return t

    def resolve(self, type_id: int) -> Type:
        """Follow modifiers and typedefs to the underlying type."""
        t = self.types[type_id]
        while t.kind in (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG,
                         Kind.TYPEDEF):
            t = self.types[t.ref]
        return t

    def sizeof(self, type_id: int) -> int:
        t = self.resolve(type_id)
        if t.kind == Kind.ARRAY:
            return t.nelems * self.sizeof(t.ref)
        if t.kind == Kind.PTR:
            return 8  # BPF pointers are 64-bit whatever the host
        if t.kind in (Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64,
                      Kind.FLOAT, Kind.DATASEC):
            return t.size
        if t.kind == Kind.VAR:
            return self.sizeof(t.ref)
        return 0

    def datasecs(self) -> List[Type]:
        return [t for t in self if t.kind == Kind.DATASEC]

    def by_name(self, name: str, kind: Optional[int] = None) -> Optional[Type]:
        for t in self:
            if t.name == name and (kind is None or t.kind == kind):
                return t
        return None


def _decode(raw: Optional[bytes]) -> str:
    return "" if not raw else raw.decode("utf-8", "surrogateescape")


class TypeReader:
    """Decodes ``struct btf_type`` records one id at a time, through libbpf's
    accessors.

    Public because the runtime reads a handful of types (struct_ops values,
    kernel enums, the arena's DATASEC) without decoding the whole BTF, as
    :func:`from_pointer` does for the generator.
    """

    def __init__(self, btf_ptr: int) -> None:
        self.lib = _libbpf.lib()
        self.ptr = btf_ptr
        self._names: Dict[int, str] = {}

    def name(self, off: int) -> str:
        got = self._names.get(off)
        if got is None:
            got = self._names[off] = _decode(self.lib.btf__name_by_offset(self.ptr, off))
        return got

    def read(self, type_id: int) -> Type:
        addr = self.lib.btf__type_by_id(self.ptr, type_id)
        if not addr:
            raise ValueError(f"BTF type id {type_id} is missing")
        name_off, info, size_or_type = _HDR.unpack(ctypes.string_at(addr, 12))
        kind = (info >> 24) & 0x1F
        vlen = info & 0xFFFF
        kflag = bool(info >> 31)
        body = addr + 12
        t = Type(id=type_id, kind=kind, name=self.name(name_off), kflag=kflag)
        if kind in (Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64,
                    Kind.DATASEC, Kind.FLOAT):
            t.size = size_or_type
        else:
            t.ref = size_or_type
        if kind == Kind.INT:
            (enc,) = _U32.unpack(ctypes.string_at(body, 4))
            t.encoding = (enc >> 24) & 0x0F
            t.bit_offset = (enc >> 16) & 0xFF
            t.bits = enc & 0xFF
        elif kind == Kind.ARRAY:
            elem, _index, nelems = _HDR.unpack(ctypes.string_at(body, 12))
            t.ref, t.nelems = elem, nelems
        elif kind in (Kind.STRUCT, Kind.UNION):
            raw = ctypes.string_at(body, 12 * vlen)
            members = []
            for i in range(vlen):
                m_name, m_type, m_off = _HDR.unpack_from(raw, 12 * i)
                if kflag:
                    members.append(Member(self.name(m_name), m_type, m_off & 0xFFFFFF, m_off >> 24))
                else:
                    members.append(Member(self.name(m_name), m_type, m_off, 0))
            t.members = tuple(members)
        elif kind == Kind.ENUM:
            raw = ctypes.string_at(body, 8 * vlen)
            fmt = "<Ii" if kflag else "<II"
            t.enumerators = tuple(
                Enumerator(self.name(n), v)
                for n, v in (struct.unpack_from(fmt, raw, 8 * i) for i in range(vlen)))
        elif kind == Kind.ENUM64:
            raw = ctypes.string_at(body, 12 * vlen)
            items = []
            for i in range(vlen):
                n, lo, hi = _HDR.unpack_from(raw, 12 * i)
                v = (hi << 32) | lo
                if kflag and v >= 1 << 63:
                    v -= 1 << 64
                items.append(Enumerator(self.name(n), v))
            t.enumerators = tuple(items)
        elif kind == Kind.FUNC_PROTO:
            raw = ctypes.string_at(body, 8 * vlen)
            t.params = tuple((self.name(n), ty) for n, ty in
                             (struct.unpack_from("<II", raw, 8 * i) for i in range(vlen)))
        elif kind == Kind.VAR:
            (t.linkage,) = _U32.unpack(ctypes.string_at(body, 4))
        elif kind == Kind.DATASEC:
            raw = ctypes.string_at(body, 12 * vlen)
            t.vars = tuple(VarSecinfo(*_HDR.unpack_from(raw, 12 * i)) for i in range(vlen))
        elif kind == Kind.FUNC:
            t.linkage = vlen
        return t


def from_pointer(btf_ptr: int) -> Btf:
    """Decode every type of the libbpf ``struct btf *`` at ``btf_ptr``."""
    reader = TypeReader(btf_ptr)
    count = reader.lib.btf__type_cnt(btf_ptr)
    return Btf([VOID] + [reader.read(i) for i in range(1, count)])

VAR_EXTERN_NAME = {VAR_STATIC: " /* static */", VAR_GLOBAL_EXTERN: " /* extern */"}


# -- layout digests: does an object still match the module made from another? ----------

_MODS = frozenset({Kind.TYPEDEF, Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG})


def layout_digests(read: Callable[[int], Type], sections: Dict[str, int],
                   maps: Dict[str, Tuple[int, int]]) -> Tuple[Tuple[str, str], ...]:
    """One digest per root of a generated module: each data section
    (``sections``: name -> DATASEC id) and each map key and value (``maps``:
    identifier -> (key id, value id), 0 for none).

    A digest covers everything a generated class encodes, by value, in depth:
    names, kinds, sizes, offsets, bitfields, integer encodings, array lengths
    and enumerators (typedefs and modifiers are transparent, pointers end the
    walk).  The generator records them and ``open(object_path=...)``
    recomputes them from the object, so two objects with the same digests
    give the same module.  Each type's digest is a hash over its members'
    digests, so shared types are hashed once.
    """
    from hashlib import sha256  # loads OpenSSL: only when a digest is needed

    memo: Dict[int, str] = {}

    def digest(type_id: int) -> str:
        got = memo.get(type_id)
        if got is not None:
            return got
        t = read(type_id) if type_id else VOID
        k = t.kind
        if k in _MODS:
            text = digest(t.ref)
        elif k == Kind.PTR:
            text = "ptr"
        elif k == Kind.ARRAY:
            text = f"[{t.nelems}]{digest(t.ref)}"
        elif k in (Kind.STRUCT, Kind.UNION):
            text = f"{t.kind_name} {t.name!r} {t.size} " + ",".join(
                f"{m.name!r}@{m.bit_offset}:{m.bitfield_size}={digest(m.type_id)}"
                for m in t.members)
        elif k in (Kind.ENUM, Kind.ENUM64):
            text = f"enum {t.name!r} {t.size} {t.signed} " + ",".join(
                f"{e.name!r}={e.value}" for e in t.enumerators)
        elif k == Kind.DATASEC:
            parts = []
            for vs in t.vars:
                var = read(vs.type_id)
                if var.kind == Kind.VAR and var.linkage != VAR_STATIC:
                    parts.append(f"{var.name!r}@{vs.offset}={digest(var.ref)}")
            text = f"datasec {t.name!r} {t.size} " + ",".join(parts)
        else:  # int, float, void, fwd, func_proto
            text = f"{t.kind_name} {t.size} {t.encoding} {t.bits} {t.bit_offset}"
        got = memo[type_id] = sha256(text.encode("utf-8", "surrogateescape")
                                             ).hexdigest()[:16]
        return got

    roots = [(f"section {name}", digest(tid)) for name, tid in sorted(sections.items())]
    for ident, (key, value) in sorted(maps.items()):
        roots += [(f"key of map {ident}", digest(key)), (f"value of map {ident}", digest(value))]
    return tuple(roots)
