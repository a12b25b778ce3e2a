"""Plan in, module source out: pure text, no I/O.

The generated module is laid out for a reader:

1. a header (generator version, source file name, SHA-256 of the object);
2. ``class types``: every struct/union as an empty class with annotations,
   every enum as a :class:`~bpfskel.structs.CEnum`, typedef aliases, then the
   ``_fields_`` of each class in dependency order, each line commented with the
   C declaration it mirrors;
3. ``class sections``: one view class per global data section;
4. the ``Skeleton`` subclass and the ``open``/``open_and_load`` functions;
5. import-time layout checks and the embedded object.

Only identifiers that passed :mod:`.names` appear as code; every other string
from the object is written with ``ascii()`` (``repr()`` with every non-ASCII
character escaped, so the module is pure ASCII and no look-alike or bidi
character from the object shows up in it), and comments and docstrings are
built from sanitized names only.  Output depends on nothing but the inputs, so
identical objects give byte-identical modules.
"""

from __future__ import annotations

import re
from typing import Dict, List, Mapping, Match, Optional, Sequence, Set, Tuple

from ..embed import pack_object
from ..names import ARENA_SECTION, FROZEN_PREFIXES, c_text
from .layout import Arr, ClassPlan, CType, EnumPlan, Plan, Prim, Ref, elem_annotation

__all__ = ["MapInfo", "ProgInfo", "render"]

MapInfo = Tuple[str, str, str, str]   # (ident, exact map name, key expr, value expr)
ProgInfo = Tuple[str, str, str]       # (ident, exact program name, section name)

# Skeleton.open's keywords, spelt out so that IDEs and mypy see them.
_OPEN_PARAMS = ("\n    *, object_path: str | None = None, object_name: str | None = None,\n"
                "    btf_custom_path: str | None = None, kconfig: str | dict[str, _Any] | None"
                " = None,\n    pin_root_path: str | None = None,\n")
_OPEN_ARGS = ("\n        object_path=object_path, object_name=object_name,\n"
              "        btf_custom_path=btf_custom_path, kconfig=kconfig, "
              "pin_root_path=pin_root_path)")
_WRAP = 76      # characters of the embedded object per line
_WIDTH = 99     # the longest line we wrap to (long C names can still exceed it)

# Module-level names of a generated module (an annotation alias must avoid them).
MODULE_NAMES = frozenset({"annotations", "_c", "_Any", "_rt", "NAME", "OBJECT_SHA256", "types",
                          "sections", "Skeleton", "open", "open_and_load", "_OBJECT", "_OBJECTS",
                          "Maps", "Programs", "Links"})
# The names an annotation starts with: its head and every subscript's head.
_HEAD = re.compile(r"(?:^|(?<=\[))([A-Za-z_]\w*)")


def _size(n: int) -> str:
    return f"{n} byte" if n == 1 else f"{n} bytes"


class Aliases:
    """Module-level aliases for annotations that a class's own members shadow.

    Type checkers and ``typing.get_type_hints`` look a name in a class body's
    annotations up in the class first.  So in a struct with members ``bytes``
    and ``char name[8]``, ``name: bytes`` would mean the member; the same goes
    for a global named ``types`` in a view.  Such an annotation is written with
    an alias instead (``name: _bytes`` with ``_bytes = bytes`` at module level).
    """

    def __init__(self) -> None:
        self.defs: Dict[str, str] = {}  # alias -> the name it stands for

    def rewrite(self, cp: ClassPlan) -> List[Tuple[str, str]]:
        members = {name for name, _ in cp.annotations}

        def sub(m: Match[str]) -> str:
            head = m.group(1)
            return self._alias(head, members) if head in members else head

        return [(name, _HEAD.sub(sub, ann)) for name, ann in cp.annotations]

    def _alias(self, head: str, members: Set[str]) -> str:
        alias = head + "_" if head.startswith("_") else "_" + head
        while alias in members or alias in MODULE_NAMES or self.defs.get(alias, head) != head:
            alias += "_"
        self.defs[alias] = head
        return alias

    def lines(self) -> List[str]:
        if not self.defs:
            return []
        return ["", "# Some C members share a name with a type that annotations in their class",
                "# use; there the annotation names the type through one of these aliases."] + \
            [f"{alias} = {head}" for alias, head in sorted(self.defs.items())]


def ctype_expr(t: CType, scope: str) -> str:
    """The ctypes expression for ``t``; ``scope`` prefixes generated classes."""
    if isinstance(t, Prim):
        return f"_c.{t.name}"
    if isinstance(t, Ref):
        return f"_rt.{t.name}" if t.builtin else f"{scope}{t.name}"
    if isinstance(t, Arr):
        if t.chars:
            return f"_rt.char_array({t.length})"
        if isinstance(t.elem, Prim) and t.elem.enum:  # elements read as the enum
            return f"_rt.enum_array(_c.{t.elem.name}, {scope}{t.elem.enum}, {t.length})"
        if isinstance(t.elem, Prim) and t.elem.name == "c_bool":  # elements take ints
            return f"_rt.bool_array({t.length})"
        inner = ctype_expr(t.elem, scope)
        if isinstance(t.elem, Arr):
            inner = f"({inner})"
        return f"{inner} * {t.length}"
    return f"_c.c_ubyte * {t.size}"


def _class_head(cp: ClassPlan, indent: str, aliases: Aliases) -> List[str]:
    base = {"struct": "_rt.Struct", "union": "_rt.Union", "section": "_rt.SectionView"}[cp.kind]
    doc = f"{cp.decl}: {_size(cp.size)}" if cp.kind != "section" else \
        f"The {cp.decl} section: {_size(cp.size)}"
    lines = [f"{indent}class {cp.name}({base}):", f'{indent}    """{doc}."""']
    if cp.kind == "section" and not cp.decl.startswith(FROZEN_PREFIXES + (ARENA_SECTION,)):
        lines.append(f"{indent}    __slots__ = ()  # no stray attributes: a typo raises")
    for name, annotation in aliases.rewrite(cp):
        lines.append(f"{indent}    {name}: {annotation}")
    lines.append("")
    return lines


def _fields(cp: ClassPlan, owner: str, scope: str, indent: str,
            decls: Dict[str, str]) -> List[str]:
    """``_fields_`` (and accessors) of ``cp``; ``decls`` gives the C text of
    each generated class, for the comment on an anonymous member."""
    lines = []
    enums = [(f.name, f.ctype.enum) for f in cp.fields
             if isinstance(f.ctype, Prim) and f.ctype.enum]
    if enums:  # read as the generated enum (bpfskel.members.EnumField)
        lines.append(f"{indent}{owner}._enums_ = {{" + ", ".join(
            f"{name!r}: {scope}{enum}" for name, enum in enums) + "}")
    if cp.anonymous:
        lines.append(f"{indent}{owner}._anonymous_ = {tuple(cp.anonymous)!r}")
    # the C members, in order: what repr, ==, asdict and resizing go by
    lines.extend(_wrapped_tuple(f"{indent}{owner}._members_ = ", cp.members))
    if not cp.fields:
        return lines + [f"{indent}{owner}._fields_ = []"]
    lines.append(f"{indent}{owner}._fields_ = [")
    for f in cp.fields:
        entry = f"({f.name!r}, {ctype_expr(f.ctype, scope)}),"
        anon = decls.get(f.ctype.name, "") if isinstance(f.ctype, Ref) else ""
        what = f.decl or (f"{anon} (anonymous member)".lstrip() if f.anonymous else f.role)
        lines.append(f"{indent}    {entry:<44} # {f.offset:>5}: {what}")
    lines.append(f"{indent}]")
    if cp.accessors:
        lines.append(f"{indent}_rt.add_accessors({owner}, [  "
                     "# (name, offset, bytes, bit shift, bits, signed)")
        for a in cp.accessors:
            entry = f"({a.name!r}, {a.offset}, {a.nbytes}, {a.shift}, {a.bits}, {a.signed}),"
            lines.append(f"{indent}    {entry:<44} # {a.decl}")
        lines.append(f"{indent}])")
    return lines


def _wrapped_tuple(head: str, names: Sequence[str]) -> List[str]:
    """``head`` followed by the tuple of ``names``, wrapped at ``_WIDTH``."""
    line = f"{head}{tuple(names)!r}"
    if len(line) <= _WIDTH:
        return [line]
    lines, row = [head + "("], ""
    for item in (f"{name!r}," for name in names):
        if row and len(row) + 1 + len(item) > _WIDTH:
            lines.append(row)
            row = ""
        row = f"{row} {item}" if row else f"    {item}"
    return lines + [row, ")"]


def _enum(e: EnumPlan, indent: str) -> List[str]:
    sign = "signed" if e.signed else "unsigned"
    lines = [f"{indent}class {e.name}(_rt.CEnum):",
             f'{indent}    """{e.decl}: {_size(e.size)}, {sign}."""']
    for name, value in e.values:
        lines.append(f"{indent}    {name} = {value}")
    lines.append("")
    return lines


def _layout_table(plan: Plan) -> List[str]:
    rows: List[Tuple[str, ClassPlan]] = [(f"types.{c.name}", c) for c in plan.classes]
    rows += [(f"sections.{s.ident}", s.view) for s in plan.sections]
    lines = ["_rt.check_layouts(("]
    for owner, cp in rows:
        offsets = tuple((f.name, f.offset) for f in cp.fields if not f.anonymous)
        line = f"    ({owner}, {cp.size}, {offsets!r}),"
        if len(line) <= _WIDTH:
            lines.append(line)
            continue
        lines.append(f"    ({owner}, {cp.size}, (")
        items = [f"({name!r}, {offset})," for name, offset in offsets]
        row = ""
        for item in items:
            if row and len(row) + 1 + len(item) > _WIDTH:
                lines.append(row)
                row = ""
            row = f"{row} {item}" if row else f"        {item}"
        lines.append(row)
        lines.append("    )),")
    lines.append("))")
    return lines


def _tuple(attr: str, rows: List[str]) -> List[str]:
    """A class attribute holding a tuple, one row a line."""
    if not rows:
        return [f"    {attr} = ()"]
    return [f"    {attr} = ("] + [f"        {row}," for row in rows] + ["    )"]


def _wrapped(text: str) -> List[str]:
    return [f"    {text[i:i + _WRAP]!r}" for i in range(0, len(text), _WRAP)] or ["    ''"]


def render(plan: Plan, *, name: str, source: str, sha256: str, version: str,
           obj: bytes, maps: Sequence[MapInfo], progs: Sequence[ProgInfo],
           digests: Sequence[Tuple[str, str]] = (),
           map_types: Optional[Dict[str, str]] = None,
           map_classes: Optional[Dict[str, str]] = None,
           struct_ops: Sequence[str] = (),
           inner_maps: Sequence[Tuple[str, str, str]] = (),
           arch_objects: Optional[Mapping[str, bytes]] = None) -> str:
    """The module source.  ``map_types`` gives each map's ``Map[K, V]``
    parameters; ``map_classes`` names the runtime class of each map that is not
    a plain ``Map`` (bpfskel.mapkinds); ``struct_ops`` lists the struct_ops
    maps, which get a link and a shadow view; ``inner_maps`` gives (outer map,
    inner key type, inner value type) of each map-in-map.  ``arch_objects``
    (``platform.machine()`` -> object) embeds one object per architecture
    instead of ``obj``, for a source whose objects differ by
    ``__TARGET_ARCH_*``; the module picks its machine's at open time."""
    out: List[str] = []
    emit = out.extend
    aliases = Aliases()
    doc_name = repr(c_text(name))  # docstrings are code: no quote may get in
    emit([
        f"# Generated by bpfskel {version} from {source!a}. DO NOT EDIT.",
        f"# sha256: {sha256}",
        f'"""Python skeleton for the BPF object {doc_name} (generated by bpfskel).',
        "",
        "    with open() as skel:          # or open_and_load()",
        "        skel.load()",
        "        skel.attach()",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "import ctypes as _c",
        "from typing import Any as _Any",
        "",
        "from bpfskel import runtime as _rt",
        "",
        f"NAME = {name!a}",
        f"OBJECT_SHA256 = {sha256!r}",
        "",
        "",
        "class types:",
        '    """C types of the object, by C name (anonymous ones by where they are used)."""',
        "",
    ])
    for cp in plan.classes:
        emit(_class_head(cp, "    ", aliases))
    for e in plan.enums:
        emit(_enum(e, "    "))
    # An array of a generated class is only made once the class has its
    # _fields_: ctypes caches array types, and one made earlier is 0 bytes.
    early = [a for a in plan.aliases if not (isinstance(a.target, Arr) and _class_refs(a.target))]
    late = [a for a in plan.aliases if a not in early]
    for a in early:
        emit([f"    {a.name} = {ctype_expr(a.target, '')}  # {a.decl}"])
    for a in late:
        emit([f"    {a.name}: type[{elem_annotation(a.target)}]  # set below"])
    if plan.aliases:
        emit([""])
    emit(["", "class sections:", '    """One view class per global data section."""', ""])
    for s in plan.sections:
        emit(_class_head(s.view, "    ", aliases))
    emit(aliases.lines())
    mangled = [n for n in [c.name for c in plan.classes] + [e.name for e in plan.enums]
               + [a.name for a in early] if _mangled(n)]
    if mangled:
        emit(["", "# Python mangles '__name' inside a class body: expose the C names as written.",
              f"_rt.unmangle(types, {tuple(sorted(mangled))!r})"])
    emit([""])
    decls = {cp.name: cp.decl for cp in plan.classes}
    for cp in plan.classes:
        emit(_fields(cp, f"types.{cp.name}", "types.", "", decls))
        emit([""])
    for a in late:  # outside the class body: no name mangling to undo
        emit([f"types.{a.name} = {ctype_expr(a.target, 'types.')}  # {a.decl}"])
    if late:
        emit([""])
    for s in plan.sections:
        emit([f"sections.{s.ident}._section_ = {s.section!a}"])
        emit(_fields(s.view, f"sections.{s.ident}", "types.", "", decls))
        emit([""])
    emit(_namespace("Maps", "The object's maps (``skel.maps``), by bpftool's identifiers.",
                    "Map", [m[0] for m in maps], map_types or {}, map_classes or {}))
    emit(_namespace("Programs", "The object's programs (``skel.progs``).", "Program",
                    [p[0] for p in progs]))
    emit(_namespace("Links", "Links ``Skeleton.attach()`` made (``skel.links``), by program"
                    + (" and struct_ops map." if struct_ops else "."),
                    "Link", [p[0] for p in progs] + list(struct_ops)))
    emit(["", "class Skeleton(_rt.Skeleton):",
          f'    """Skeleton of {doc_name}: maps, programs, links and one view per section."""',
          ""])
    for s in plan.sections:  # .kconfig and the arena exist from load on
        late_view = s.section == ARENA_SECTION or s.section.startswith(".kconfig")
        emit([f"    {s.ident}: sections.{s.ident}{' | None' if late_view else ''}"])
    emit(["    maps: Maps", "    progs: Programs", "    links: Links", ""])
    emit([f"    _name_ = {name!a}", "    _namespaces_ = (Maps, Programs, Links)"])
    emit(_tuple("_sections_", [f"({s.section!a}, {s.ident!r}, sections.{s.ident})"
                               for s in plan.sections if s.section != ARENA_SECTION]))
    emit([f"    _arena_ = ({s.section!a}, {s.ident!r}, sections.{s.ident})"  # bpfskel.arena
          for s in plan.sections if s.section == ARENA_SECTION])
    emit(_tuple("_maps_", [f"({ident!r}, {map_name!a}, {key}, {value})"
                           for ident, map_name, key, value in maps]))
    emit(_tuple("_progs_", [f"({ident!r}, {prog_name!a}, {section!a})"
                            for ident, prog_name, section in progs]))
    # what open(object_path=...) compares the object's types against (btf.layout_digests)
    emit(_tuple("_layout_", [f"({root!a}, {digest!r})" for root, digest in digests]))
    if inner_maps:  # bpfskel.mapinmap: how inner maps read back
        emit(_tuple("_inner_maps_", [f"({ident!r}, {key}, {value})"
                                     for ident, key, value in inner_maps]))
    emit(["",
          "    @classmethod",
          "    def _object_bytes(cls) -> bytes:",
          "        return _rt.object_for_machine(_OBJECTS)" if arch_objects else
          "        return _rt.unpack_object(_OBJECT)",
          "",
          "",
          f"def open({_OPEN_PARAMS}) -> Skeleton:",
          '    """Open the embedded object (see bpfskel.Skeleton.open for options)."""',
          f"    return Skeleton.open({_OPEN_ARGS}",
          "",
          "",
          f"def open_and_load({_OPEN_PARAMS}) -> Skeleton:",
          '    """Open and load the embedded object."""',
          f"    return Skeleton.open_and_load({_OPEN_ARGS}",
          "",
          ""])
    emit(_layout_table(plan))
    if arch_objects:
        emit(["", "_OBJECTS = {"])
        for machine in sorted(arch_objects):
            emit([f"    {machine!a}: ("])
            emit(f"    {line}" for line in _wrapped(pack_object(arch_objects[machine])))
            emit(["    ),"])
        emit(["}", ""])
    else:
        emit(["", "_OBJECT = ("])
        emit(_wrapped(pack_object(obj)))
        emit([")", ""])
    return "\n".join(out)


def _class_refs(t: CType) -> bool:
    """Does ``t`` contain a generated class (not a runtime one)?"""
    if isinstance(t, Arr):
        return _class_refs(t.elem)
    return isinstance(t, Ref) and not t.builtin or isinstance(t, Prim) and bool(t.enum)


def _namespace(cls: str, doc: str, item: str, idents: Sequence[str],
               params: Optional[Dict[str, str]] = None,
               classes: Optional[Dict[str, str]] = None) -> List[str]:
    """A ``_rt.Namespace`` subclass annotating each item, so IDEs and mypy know
    ``skel.maps.<name>`` is a ``Map[K, V]`` (a mangled ``__x`` is left to
    ``__getattr__``).  A map kind with a class of its own (``classes``) is
    annotated with that class, unparameterised."""
    lines = ["", f"class {cls}(_rt.Namespace):", f'    """{doc}"""', ""]
    # a program's link exists once attach() made it: None until then
    absent = " | None" if item == "Link" else ""
    params, classes = params or {}, classes or {}

    def annotation(ident: str) -> str:
        kind = classes.get(ident, item)
        if kind == item and ident in params:
            return f"{item}[{params[ident]}]"
        return kind

    lines += [f"    {ident}: _rt.{annotation(ident)}{absent}"
              for ident in sorted(set(idents)) if not _mangled(ident)]
    return lines + [""]


def _mangled(name: str) -> bool:
    """Would Python mangle ``name`` inside a class body?"""
    return name.startswith("__") and not name.endswith("__")


_TYPES_REF = re.compile(r"\btypes\.(\w+)")


def _decoded(t: "CType | None") -> str:
    """The annotation of what a map side decodes to (see bpfskel.codec)."""
    if t is None:
        return "_Any"  # without BTF: int for 1, 2, 4 or 8 bytes, else bytes
    if isinstance(t, Prim):
        return f"types.{t.enum}" if t.enum else t.annotation
    if isinstance(t, Ref):
        return "int" if t.builtin else t.annotation
    if isinstance(t, Arr):
        return "bytes" if t.chars else elem_annotation(t)
    return "bytes"


def map_annotation(plan: Plan, key_id: int, value_id: int, percpu: bool) -> str:
    """``K, V`` of ``_rt.Map[K, V]`` for a map with these BTF key/value ids."""
    key = _decoded(plan.type_refs.get(key_id) if key_id else None)
    value = _decoded(plan.type_refs.get(value_id) if value_id else None)
    return f"{key}, list[{value}]" if percpu else f"{key}, {value}"


def map_exprs(plan: Plan, key_id: int, value_id: int) -> Tuple[str, str]:
    """Expressions for a map's key/value types (``None`` when it has no BTF).
    They are written inside ``class Skeleton``, where ``types.__x`` would be
    mangled, so such a class is named through ``getattr``."""
    def one(type_id: int) -> str:
        t = plan.type_refs.get(type_id) if type_id else None
        if t is None:
            return "None"
        expr = ctype_expr(t, "types.")
        if isinstance(t, Prim) and t.enum:  # decodes to the generated enum
            expr = f"_rt.enum_ctype({expr}, types.{t.enum})"
        return _TYPES_REF.sub(lambda m: f"getattr(types, {m.group(1)!r})"
                              if _mangled(m.group(1)) else m.group(0), expr)
    return one(key_id), one(value_id)
