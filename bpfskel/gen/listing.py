"""``bpfskel inspect``: sections, variables and types with their layout.

Like pahole for one object: every data section with each variable's offset,
size and C type (statics included and marked), the maps and programs, and the
struct/union/enum types available to ``event_type=`` and friends.
"""

from __future__ import annotations

from typing import List

from ..btf import VAR_EXTERN_NAME, Kind
from ..names import c_text
from . import layout
from .generate import mapped_sections
from .objfile import ObjectInfo

__all__ = ["render"]


def render(info: ObjectInfo) -> str:
    btf = info.btf
    planner = layout._Planner(btf)
    out: List[str] = [f"object {c_text(info.name)!s}: {len(btf) - 1} BTF types", ""]
    mapped = mapped_sections(info)
    for sec in sorted(btf.datasecs(), key=lambda t: t.name):
        view = "" if layout.view_section(sec.name) and sec.name in mapped else "  (no view)"
        out.append(f"section {sec.name!r} size={sec.size}{view}")
        for vs in sorted(sec.vars, key=lambda v: v.offset):
            var = btf[vs.type_id]
            if var.kind != Kind.VAR:
                out.append(f"  {vs.offset:>8} {vs.size:>8}  {planner.type_text(var)}")
                continue
            linkage = VAR_EXTERN_NAME.get(var.linkage, "")
            decl = planner.decl(var.ref, c_text(var.name))
            out.append(f"  {vs.offset:>8} {vs.size:>8}  {decl};{linkage}")
        out.append("")
    out.append("maps:")
    for m in sorted(info.maps, key=lambda m: m.ident):
        key = planner.type_text(btf.resolve(m.key_type_id)) if m.key_type_id else "-"
        value = planner.type_text(btf.resolve(m.value_type_id)) if m.value_type_id else "-"
        out.append(f"  {m.ident:<24} type={m.type:<3} key={m.key_size}:{key} "
                   f"value={m.value_size}:{value} max_entries={m.max_entries}")
    out.append("")
    out.append("programs:")
    for p in sorted(info.progs, key=lambda p: p.ident):
        out.append(f"  {p.ident:<24} SEC({p.section!r})")
    out.append("")
    out.append("types (struct/union/enum, usable as event types):")
    for t in sorted((t for t in btf if t.name and t.kind in
                     (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64)),
                    key=lambda t: (t.name, t.id)):
        out.append(f"  {planner.type_text(t):<40} size={t.size}")
    return "\n".join(out) + "\n"
