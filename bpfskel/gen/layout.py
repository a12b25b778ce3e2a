"""The layout planner: BTF in, a pure plan of Python classes out.

No kernel, no libbpf and no ctypes objects are involved: the input is a
:class:`~bpfskel.btf.Btf` and the output is plain data that :mod:`.codegen`
turns into text.  That makes every layout rule testable on its own.

Layout rules
    BTF records offsets and sizes, not alignment.  So every class is emitted
    with ``_pack_ = 1`` and *explicit* padding for every gap, plus tail padding
    up to the BTF size; ctypes' own alignment rules never decide an offset.
    Bitfields are never ctypes bitfields (CPython before 3.14 lays them out
    unlike GCC/clang): their bytes become one opaque storage field per run of
    adjacent bitfields, read and written through generated accessors.  The
    same accessors carry ``__int128`` values, which ctypes lacks.

Naming
    Named structs, unions and enums keep their C names; an anonymous type is
    named after where it is first met (``parent__member``, ``parent__anonN``,
    ``section__var``, ``map__key``).  Names are assigned in a fixed order
    (sorted by name, then kind, then BTF id), so output is stable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import AbstractSet, Dict, List, Optional, Set, Tuple, Union

from ..btf import INT_BOOL, INT_CHAR, INT_SIGNED, VAR_STATIC, Btf, Kind, Type
from ..errors import Error
from ..names import ARENA_SECTION, CLASS_RESERVED, Scope, c_text, identifier, section_ident

__all__ = ["Prim", "Ref", "Arr", "Opaque", "Field", "Accessor", "ClassPlan", "EnumPlan",
           "AliasPlan", "SectionPlan", "Plan", "LayoutError", "plan", "view_section"]


class LayoutError(Error, ValueError):
    """The BTF describes something no consistent layout can express."""


# -- ctypes type expressions as data -------------------------------------------


@dataclass(frozen=True)
class Prim:
    """A ctypes scalar, e.g. ``c_uint32``; ``enum`` names the generated enum
    class an enum-typed scalar reads as."""
    name: str
    size: int
    annotation: str
    enum: str = ""


@dataclass(frozen=True)
class Ref:
    """A generated class (struct, union, or int128 element)."""
    name: str
    size: int
    builtin: bool = False  # a class from the runtime (``_rt.int128``), not ``types``

    @property
    def annotation(self) -> str:
        return f"_rt.{self.name}" if self.builtin else f"types.{self.name}"


@dataclass(frozen=True)
class Arr:
    elem: "CType"
    length: int

    @property
    def size(self) -> int:
        return self.elem.size * self.length

    @property
    def chars(self) -> bool:
        """A C ``char[N]``: a runtime ``CharArray`` (see :mod:`bpfskel.chars`)."""
        return isinstance(self.elem, Prim) and self.elem.name == "c_char"

    @property
    def annotation(self) -> str:
        # a char[N] member reads as the array and takes bytes: a descriptor type
        return "_rt.CharField" if self.chars else elem_annotation(self)


@dataclass(frozen=True)
class Opaque:
    """Raw bytes: padding, accessor storage, floats ctypes has no type for."""
    size: int
    annotation: str = "_c.Array[_c.c_ubyte]"


CType = Union[Prim, Ref, Arr, Opaque]


def elem_annotation(t: CType) -> str:
    """The annotation of ``t`` as an array element: what indexing returns is
    a ctypes object for nested arrays (``char[4][16]`` gives char arrays)."""
    if isinstance(t, Prim):
        return f"_c.{t.name}"
    if isinstance(t, Ref):
        return t.annotation
    if isinstance(t, Arr):
        if t.chars:
            return "_rt.CharArray"
        if isinstance(t.elem, Prim) and t.elem.enum:  # bpfskel.members.enum_array
            return f"_rt.EnumArray[types.{t.elem.enum}]"
        if isinstance(t.elem, Prim) and t.elem.name == "c_bool":
            return "_rt.BoolArray"
        return f"_c.Array[{elem_annotation(t.elem)}]"
    return "_c.Array[_c.c_ubyte]"


_INTS = {(1, True): "c_int8", (1, False): "c_uint8", (2, True): "c_int16",
         (2, False): "c_uint16", (4, True): "c_int32", (4, False): "c_uint32",
         (8, True): "c_int64", (8, False): "c_uint64"}
U64 = Prim("c_uint64", 8, "int")


def int_prim(size: int, signed: bool) -> Prim:
    name = _INTS.get((size, signed))
    if name is None:
        raise LayoutError(f"no {size}-byte integer type")
    return Prim(name, size, "int")


# -- the plan --------------------------------------------------------------------


# What a field that is no C member holds (``Field.role``).
PADDING = "padding"
BITFIELD_STORAGE = "bitfield storage"
INT128_STORAGE = "__int128 storage"
UNION_SIZE = "union size"


@dataclass(frozen=True)
class Field:
    name: str          # Python attribute name
    ctype: CType
    offset: int        # bytes from the start of the class
    decl: str          # the C declaration it mirrors (sanitized), "" for padding
    anonymous: bool = False
    role: str = ""     # "" for a C member, else what the storage is (PADDING, ...)


@dataclass(frozen=True)
class Accessor:
    """A property over raw bytes: a bitfield, or a 128-bit integer."""
    name: str
    offset: int        # byte offset of the storage within the class
    nbytes: int        # bytes read/written
    shift: int         # bit position within those bytes (little-endian)
    bits: int
    signed: bool
    decl: str


@dataclass
class ClassPlan:
    name: str
    kind: str                      # "struct", "union" or "section"
    size: int
    decl: str                      # "struct foo", "union {...}", ".bss"
    fields: List[Field] = field(default_factory=list)
    accessors: List[Accessor] = field(default_factory=list)
    # every attribute a user can reach and its annotation, incl. promoted ones,
    # in C member order
    annotations: List[Tuple[str, str]] = field(default_factory=list)
    deps: Set[str] = field(default_factory=set)

    @property
    def members(self) -> List[str]:
        """The C members a user sees, in order, promoted ones in place: the
        generated class's ``_members_`` (what ``repr``, ``==``, positional
        arguments and resizing go by, never a name prefix)."""
        return list(dict.fromkeys(name for name, _ in self.annotations))

    @property
    def anonymous(self) -> List[str]:
        return [f.name for f in self.fields if f.anonymous]


@dataclass
class EnumPlan:
    name: str
    size: int
    signed: bool
    decl: str
    values: List[Tuple[str, int]]


@dataclass
class AliasPlan:
    name: str
    target: CType
    decl: str


@dataclass
class SectionPlan:
    section: str      # exact ELF section name (emitted with repr)
    ident: str        # bpftool identifier, e.g. data_read_mostly
    view: ClassPlan
    variables: List[Tuple[str, str, int, int]]  # (attr, C name, offset, size)


@dataclass
class Plan:
    classes: List[ClassPlan]       # in an order where every dep comes first
    enums: List[EnumPlan]
    aliases: List[AliasPlan]
    sections: List[SectionPlan]
    type_refs: Dict[int, CType]    # BTF id -> expr, for map key/value types


# Names a section view or struct must not use for members.
STRUCT_RESERVED = CLASS_RESERVED
ENUM_RESERVED = frozenset({"mro", "name", "value", "_missing_", "_generate_next_value_"})
# Names of the generated module the ``types`` class body must not shadow.
TYPES_RESERVED = frozenset({"_c", "_rt", "types", "sections"})


def view_section(name: str) -> bool:
    """Does this DATASEC get a view?  Global data maps libbpf creates, minus
    the string/constant pools clang emits for literals."""
    if name in (".data", ".rodata", ".bss", ".kconfig", ARENA_SECTION):
        return True
    if name.startswith((".rodata.str", ".rodata.cst")):
        return False
    return name.startswith((".data.", ".rodata.", ".bss."))


class _Planner:
    def __init__(self, btf: Btf) -> None:
        self.btf = btf
        self.type_names: Dict[int, str] = {}   # struct/union/enum id -> class name
        self.scope = Scope(TYPES_RESERVED)
        self.classes: Dict[str, ClassPlan] = {}
        self.enums: Dict[int, EnumPlan] = {}
        self.refs: Dict[int, CType] = {}

    # -- naming -----------------------------------------------------------------

    def name_named_types(self) -> None:
        named = [t for t in self.btf if t.name and t.kind in
                 (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64)]
        named.sort(key=lambda t: (t.name, t.kind, t.id))
        for t in named:
            self.type_names[t.id] = self.scope.add(t.name)
        # an anonymous struct/union/enum behind a typedef takes the typedef's name
        tds = sorted((t for t in self.btf if t.kind == Kind.TYPEDEF and t.name),
                     key=lambda t: (t.name, t.id))
        for td in tds:
            target = self.btf.skip_mods(td.ref)
            if (not target.name and target.id not in self.type_names
                    and target.kind in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64)):
                self.type_names[target.id] = self.scope.add(td.name)

    def class_name(self, t: Type, hint: str) -> str:
        got = self.type_names.get(t.id)
        if got is None:
            got = self.type_names[t.id] = self.scope.add(hint)
        return got

    # -- type expressions ----------------------------------------------------------

    def expr(self, type_id: int, hint: str) -> Optional[CType]:
        """The ctypes expression for a BTF type, planning classes it needs."""
        t = self.btf.resolve(type_id)
        if t.kind == Kind.INT:
            if t.encoding & INT_BOOL and t.size == 1:
                return Prim("c_bool", 1, "bool")
            if t.size == 16:
                return Ref("int128" if t.signed else "uint128", 16, builtin=True)
            return int_prim(t.size, bool(t.encoding & INT_SIGNED))
        if t.kind == Kind.PTR:
            return U64
        if t.kind == Kind.FLOAT:
            if t.size == 4:
                return Prim("c_float", 4, "float")
            if t.size == 8:
                return Prim("c_double", 8, "float")
            return Opaque(t.size)  # long double: raw bytes
        if t.kind in (Kind.ENUM, Kind.ENUM64):
            self.plan_enum(t, hint)
            prim = int_prim(t.size, t.signed)
            enum = self.enums[t.id].name
            return Prim(prim.name, prim.size, f"_rt.EnumField[types.{enum}]", enum)
        if t.kind == Kind.ARRAY:
            elem = self.btf.resolve(t.ref)
            if elem.kind == Kind.INT and elem.size == 1 and not elem.encoding & INT_BOOL \
                    and (elem.name == "char" or elem.encoding & INT_CHAR):
                return Arr(Prim("c_char", 1, "int"), t.nelems)
            inner = self.expr(t.ref, hint)
            if inner is None:
                return None
            return Arr(inner, t.nelems)
        if t.kind in (Kind.STRUCT, Kind.UNION):
            name = self.class_name(t, hint)
            if name not in self.classes:
                self.plan_class(t, name)
            return Ref(name, t.size)
        return None  # void, fwd, func_proto: only reachable through pointers

    def decl(self, type_id: int, name: str) -> str:
        """A C declaration for a comment, built from sanitized names only."""
        t = self.btf[type_id]
        suffix = ""
        while True:
            if t.kind in (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG):
                t = self.btf[t.ref]
            elif t.kind == Kind.ARRAY:
                suffix += f"[{t.nelems}]"
                t = self.btf[t.ref]
            elif t.kind == Kind.PTR:
                name = "*" + name
                t = self.btf[t.ref]
            else:
                break
        base = self.type_text(t)
        return f"{base} {name}{suffix}".strip()

    def type_text(self, t: Type) -> str:
        if t.kind in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FWD):
            tag = {Kind.STRUCT: "struct", Kind.UNION: "union", Kind.FWD: "struct"}.get(
                t.kind, "enum")
            if t.kind == Kind.FWD and t.kflag:
                tag = "union"
            return f"{tag} {c_text(t.name)}" if t.name else f"{tag} {{...}}"
        if t.kind == Kind.FUNC_PROTO:
            return "fn"
        if t.kind == Kind.UNKN:
            return "void"
        return c_text(t.name)

    # -- enums ----------------------------------------------------------------------

    def plan_enum(self, t: Type, hint: str) -> None:
        if t.id in self.enums:
            return
        name = self.class_name(t, hint)
        scope = Scope(ENUM_RESERVED)
        values = []
        for e in t.enumerators:
            ident = identifier(e.name)
            if ident.startswith("_") and (ident.endswith("_") or ident.startswith("__")):
                ident = "E" + ident  # enum would not make private/sunder names members
            values.append((scope.add(ident), e.value))
        self.enums[t.id] = EnumPlan(name, t.size, t.signed, self.type_text(t), values)

    # -- structs and unions ---------------------------------------------------------

    def plan_class(self, t: Type, name: str) -> ClassPlan:
        kind = "union" if t.kind == Kind.UNION else "struct"
        cp = ClassPlan(name, kind, t.size, self.type_text(t))
        self.classes[name] = cp  # registered first: by-value cycles are impossible
        members = [(m.name, m.type_id, m.bit_offset, m.bitfield_size) for m in t.members]
        self.fill(cp, members, union=(kind == "union"))
        return cp

    def fill(self, cp: ClassPlan, members: List[Tuple[str, int, int, int]],
             union: bool) -> None:
        """Lay out members (name, type id, bit offset, bitfield bits) into ``cp``."""
        scope = Scope(STRUCT_RESERVED)
        # user-visible names first, in member order, so internal names yield to them
        # names valid as they are keep them; only changed names yield to others
        exact = {m[0] for m in members if m[0] and identifier(m[0], STRUCT_RESERVED) == m[0]}
        scope.taken.update(exact)
        plain: List[Tuple[str, int, int, int, str]] = []
        for m_name, m_type, bit_off, bf in members:
            if m_name in exact:
                exact.discard(m_name)  # a name given twice (corrupted BTF) keeps it once
                attr = m_name
            else:
                attr = scope.add(m_name) if m_name else ""
            plain.append((m_name, m_type, bit_off, bf, attr))
        # ctypes promotes *every* field of an anonymous member, padding included,
        # so all of those names are taken in this class before we pick ours.
        anon_index = 0
        visible = {p[4] for p in plain if p[4]}  # C names, to catch one declared twice
        for m_name, m_type, _off, _bf in members:
            if not m_name:
                ct = self.expr(m_type, f"{cp.name}__anon{anon_index}")
                anon_index += 1
                if isinstance(ct, Ref) and not ct.builtin:
                    inner = self.classes[ct.name]
                    clash = sorted(visible & {name for name, _ in inner.annotations})
                    if clash:  # C forbids it too; ctypes would let one hide the other
                        raise LayoutError(f"{cp.decl}: member {c_text(clash[0])} is declared "
                                          "twice (once through an anonymous member)")
                    visible.update(name for name, _ in inner.annotations)
                    scope.taken.update(self._all_names(inner))

        cur = 0
        anon_index = 0
        storage: Optional[List[int]] = None  # [start, end) of the open bitfield run

        def pad_to(offset: int) -> None:
            nonlocal cur
            if offset > cur:
                cp.fields.append(Field(scope.claim(f"_pad_{cur}"), Opaque(offset - cur),
                                       cur, "", role=PADDING))
                cur = offset

        def close_storage() -> None:
            nonlocal storage, cur
            if storage is not None:
                start, end = storage
                cp.fields.append(Field(scope.claim(f"_bits_{start}"), Opaque(end - start),
                                       start, "", role=BITFIELD_STORAGE))
                cur = end
                storage = None

        for m_name, m_type, bit_off, bf, attr in plain:
            if bf and not attr:
                continue  # an unnamed bitfield is padding, as in C
            rt = self.btf.resolve(m_type)
            is_int = rt.kind in (Kind.INT, Kind.ENUM, Kind.ENUM64)
            if is_int and not bf and rt.kind == Kind.INT and (
                    rt.bits != rt.size * 8 or rt.bit_offset):
                bf, bit_off = rt.bits, bit_off + rt.bit_offset  # pre-kflag encoding
            if bf or (bit_off % 8 and is_int):
                if not bf:
                    bf = rt.size * 8
                start, end = bit_off // 8, (bit_off + bf + 7) // 8
                decl = f"{self.decl(m_type, c_text(m_name))}:{bf}"
                if union:
                    store = scope.claim(f"_bits_{attr}")
                    cp.fields.append(Field(store, Opaque(end), 0, "", role=BITFIELD_STORAGE))
                    cp.accessors.append(Accessor(attr, 0, end, bit_off, bf,
                                                 rt.signed, decl))
                else:
                    if storage is not None and start < storage[1]:
                        storage[1] = max(storage[1], end)
                    else:
                        close_storage()
                        if start < cur:
                            raise LayoutError(f"{cp.decl}: bitfield {c_text(m_name)} "
                                              f"overlaps the previous member")
                        pad_to(start)
                        storage = [start, end]
                    cp.accessors.append(Accessor(attr, start, end - start,
                                                 bit_off - 8 * start, bf, rt.signed, decl))
                cp.annotations.append((attr, "int"))
                continue
            close_storage()
            offset = bit_off // 8
            hint = f"{cp.name}__{attr or 'anon%d' % anon_index}"
            ctype = self.expr(m_type, hint)
            if ctype is None:
                raise LayoutError(f"{cp.decl}: member {c_text(m_name)} has no storable type")
            if not union:
                if offset < cur and ctype.size:
                    raise LayoutError(f"{cp.decl}: member {c_text(m_name)} at offset {offset} "
                                      f"overlaps the previous one (ends at {cur})")
                pad_to(offset)
            elif offset:
                raise LayoutError(f"{cp.decl}: union member {c_text(m_name)} at offset {offset}")
            if isinstance(ctype, Ref):
                cp.deps.add(ctype.name)
            if isinstance(ctype, Arr):
                cp.deps.update(_refs(ctype))
            if not attr:
                fname = scope.claim(f"_anon{anon_index}")
                anon_index += 1
                cp.fields.append(Field(fname, ctype, offset, "", anonymous=True))
                if not isinstance(ctype, Ref) or ctype.builtin:
                    raise LayoutError(f"{cp.decl}: a member without a name that is not "
                                      "a struct or union")
                inner = self.classes[ctype.name]
                cp.annotations.extend(inner.annotations)
                cp.accessors.extend(Accessor(a.name, a.offset + offset, a.nbytes, a.shift,
                                             a.bits, a.signed, a.decl) for a in inner.accessors)
            elif isinstance(ctype, Ref) and ctype.builtin:  # __int128: an accessor
                store = scope.claim(f"_int128_{offset}")
                cp.fields.append(Field(store, Opaque(16), offset, "", role=INT128_STORAGE))
                cp.accessors.append(Accessor(attr, offset, 16, 0, 128, ctype.name == "int128",
                                             self.decl(m_type, c_text(m_name))))
                cp.annotations.append((attr, "int"))
            else:
                cp.fields.append(Field(attr, ctype, offset, self.decl(m_type, c_text(m_name))))
                cp.annotations.append((attr, ctype.annotation))
            if not union:
                cur = max(cur, offset + ctype.size)
        close_storage()
        if union:
            widest = max((f.ctype.size for f in cp.fields), default=0)
            if widest > cp.size:
                raise LayoutError(f"{cp.decl}: a member of {widest} bytes is wider than "
                                  f"the union ({cp.size})")
            cp.fields.append(Field(scope.claim("_size"), Opaque(cp.size), 0, "", role=UNION_SIZE))
        else:
            if cur > cp.size:
                raise LayoutError(f"{cp.decl}: members end at {cur}, past its size {cp.size}")
            pad_to(cp.size)

    def _all_names(self, cp: ClassPlan) -> Set[str]:
        """Every attribute ctypes defines on ``cp``, promoted ones included."""
        names = {a.name for a in cp.accessors}
        for f in cp.fields:
            names.add(f.name)
            if f.anonymous and isinstance(f.ctype, Ref):
                names |= self._all_names(self.classes[f.ctype.name])
        return names

    # -- sections -------------------------------------------------------------------

    def plan_section(self, sec: Type, scope: Scope) -> SectionPlan:
        ident = scope.add(section_ident(sec.name))
        cp = ClassPlan(ident, "section", sec.size, c_text(sec.name))
        members = []
        variables = []
        for vs in sorted(sec.vars, key=lambda v: (v.offset, v.type_id)):
            var = self.btf[vs.type_id]
            if var.kind != Kind.VAR or var.linkage == VAR_STATIC:
                continue  # statics stay padding: they are not part of the interface
            members.append((var.name, var.ref, vs.offset * 8, 0))
        self.fill(cp, members, union=False)  # variables are members at byte offsets
        for f in cp.fields:
            if f.decl:
                variables.append((f.name, f.decl, f.offset, f.ctype.size))
        for a in cp.accessors:
            variables.append((a.name, a.decl, a.offset, a.nbytes))
        return SectionPlan(sec.name, ident, cp, sorted(variables, key=lambda v: v[2]))


def _refs(t: CType) -> Set[str]:
    if isinstance(t, Ref) and not t.builtin:
        return {t.name}
    if isinstance(t, Arr):
        return _refs(t.elem)
    return set()


def _order(classes: Dict[str, ClassPlan]) -> List[ClassPlan]:
    """Classes sorted by name, then moved so that every dependency comes first."""
    done: Set[str] = set()
    out: List[ClassPlan] = []

    def visit(name: str) -> None:
        if name in done:
            return
        done.add(name)
        for dep in sorted(classes[name].deps):
            if dep in classes:
                visit(dep)
        out.append(classes[name])

    for name in sorted(classes):
        visit(name)
    return out


def plan(btf: Btf, map_types: Optional[Dict[str, Tuple[int, int]]] = None,
         mapped: Optional[AbstractSet[str]] = None) -> Plan:
    """Plan every class the module needs.

    ``map_types`` maps a map identifier to its BTF key and value type ids (0 when
    absent); anonymous key/value types are named ``<map>__key``/``<map>__value``.
    ``mapped`` is the set of DATASEC names the running libbpf made an mmapable
    global data map for: only those get a view (``None``: every one that
    :func:`view_section` accepts).  That is how ``.bss.X`` gets a view exactly
    where libbpf accepts it.
    """
    p = _Planner(btf)
    p.name_named_types()
    for t in sorted((t for t in btf if t.id in p.type_names), key=lambda t: t.id):
        if t.kind in (Kind.STRUCT, Kind.UNION):
            p.expr(t.id, t.name)
        else:
            p.plan_enum(t, t.name)
    sections = []
    sec_scope = Scope()
    for sec in sorted((t for t in btf.datasecs() if view_section(t.name)
                       and (mapped is None or t.name in mapped)), key=lambda t: t.name):
        sections.append(p.plan_section(sec, sec_scope))
    for ident, (key_id, value_id) in sorted((map_types or {}).items()):
        for type_id, what in ((key_id, "key"), (value_id, "value")):
            if type_id:
                ct = p.expr(type_id, f"{ident}__{what}")
                if ct is not None:
                    p.refs[type_id] = ct
    aliases = []
    for td in sorted((t for t in btf if t.kind == Kind.TYPEDEF and t.name),
                     key=lambda t: (t.name, t.id)):
        target = btf.resolve(td.ref)
        if target.kind in (Kind.UNKN, Kind.FUNC_PROTO, Kind.FWD):
            continue
        if p.type_names.get(target.id) == identifier(td.name, TYPES_RESERVED):
            continue  # typedef struct foo foo; and typedef-named anonymous types
        ct = p.expr(td.ref, td.name)
        if ct is None:
            continue
        aliases.append(AliasPlan(p.scope.add(td.name), ct,
                                  "typedef " + p.decl(td.ref, c_text(td.name))))
    enums = sorted(p.enums.values(), key=lambda e: e.name)
    return Plan(_order(p.classes), enums, aliases, sections, p.refs)
