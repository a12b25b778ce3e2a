"""``--types-from prog.h``: classes for C types the object's BTF does not carry.

clang emits BTF only for types a program uses by value or by name; an event
struct that is only ever ``sizeof(*e)`` behind ``bpf_ringbuf_reserve`` is not
there.  Instead of guessing its layout, the header is compiled by clang, for
the BPF target, into BTF:

1. a probe translation unit includes the header and, for every requested
   name, tries ``struct N``, ``union N``, ``enum N`` and the typedef ``N``
   (each a complete type on its own line), with ``-fsyntax-only``: the lines
   clang rejects say which of them the name is;
2. an anchor unit declares one pointer per kind found, so clang puts each
   type, and every type it reaches, into the object's BTF;
3. those types are appended to the program's BTF (:func:`merge`), reusing a
   program type of the same kind and name, so the one planner lays every class
   out from clang's numbers and the import-time checks cover them too.

Without ``--type``, every struct, union and enum the header itself defines
with a name (``struct N {``) is taken.  Build time only.
"""

from __future__ import annotations

import ctypes
import os
import re
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

from .. import _libbpf
from .. import btf as btf_mod
from ..btf import Btf, Kind, Type
from ..errors import Error
from .toolchain import Clang, ClangError, bpf_flags

__all__ = ["HeaderTypesError", "declared_names", "header_btf", "merge", "types_from"]

_KINDS = (("struct", Kind.STRUCT), ("union", Kind.UNION), ("enum", Kind.ENUM),
          ("", Kind.TYPEDEF))
_TAG_DEF = re.compile(r"\b(struct|union|enum)\s+([A-Za-z_]\w*)\s*"
                      r"(?:__attribute__\s*\(\(.*?\)\)\s*)?\{")
_TYPEDEF_ANON = re.compile(r"\btypedef\s+(?:struct|union|enum)\s*"
                           r"(?:__attribute__\s*\(\(.*?\)\)\s*)?\{")
_IDENT = re.compile(r"[A-Za-z_]\w*\Z")


class HeaderTypesError(Error, ValueError):
    """A requested type is not in the header, or clashes with the program's."""


def declared_names(text: str) -> List[str]:
    """Names of the structs, unions and enums a header defines (``struct N {``),
    and the typedef names of anonymous ones (``typedef struct { ... } N;``)."""
    text = re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)
    seen: Dict[str, None] = {}
    for m in _TAG_DEF.finditer(text):
        seen.setdefault(m.group(2))
    for m in _TYPEDEF_ANON.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        name = re.match(r"\s*(?:__attribute__\s*\(\(.*?\)\)\s*)?([A-Za-z_]\w*)\s*;",
                        text[i:], re.S)
        if name:
            seen.setdefault(name.group(1))
    return list(seen)


def _unit(headers: Sequence[str], lines: Sequence[str]) -> str:
    """One ``#include`` line per header, then ``lines``: line ``len(headers) + i + 1``
    is ``lines[i]``."""
    return "".join(f'#include "{os.path.abspath(h)}"\n' for h in headers) + \
        "".join(f"{line}\n" for line in lines)


def header_btf(clang: Clang, headers: Sequence[str], names: Optional[Sequence[str]],
               cflags: Sequence[str] = (), arch: Optional[str] = None,
               prelude: Sequence[str] = (), included: Sequence[str] = ()
               ) -> Tuple[Btf, List[Tuple[str, int]]]:
    """The BTF of the headers' named types, and ``(name, kind)`` of each root.

    ``prelude`` files are included first: ``build`` passes the program's
    source, so a header that relies on what the program included before it
    (``vmlinux.h``, ``linux/types.h``) compiles as it does there.  A header in
    ``included`` (the files the prelude already read) is not included again:
    a header without an include guard would define its types twice."""
    header = ", ".join(headers)
    wanted: List[str] = list(names or ())
    for h in headers:
        try:
            with open(h, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError as e:
            raise HeaderTypesError(f"{h}: {e.strerror or e}") from None
        if not names:
            wanted += [n for n in declared_names(text) if n not in wanted]
    if not wanted:
        raise HeaderTypesError(f"{header}: defines no named struct, union or enum; "
                               "name the types with --type")
    for n in wanted:
        if not _IDENT.match(n):
            raise HeaderTypesError(f"--type {n!r}: not a C identifier")
    flags = [*bpf_flags(arch), *(f"-I{os.path.dirname(os.path.abspath(h))}" for h in headers),
             *cflags]
    seen = {os.path.abspath(p) for p in included}
    units = [*prelude, *(h for h in headers if os.path.abspath(h) not in seen)]
    candidates = [(n, tag, kind) for n in wanted for tag, kind in _KINDS]
    probe = [f"typedef {tag} {n} __bpfskel_p{i}; "
             f"_Static_assert(sizeof(__bpfskel_p{i}) > 0, \"\");"
             for i, (n, tag, _) in enumerate(candidates)]
    with tempfile.TemporaryDirectory(prefix="bpfskel-types-") as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w", encoding="utf-8") as f:
            f.write(_unit(units, probe))
        try:
            clang.run([*flags, "-fsyntax-only", "-ferror-limit=0", "-w", src], header)
            bad: set[int] = set()
        except ClangError as e:
            mine = re.findall(re.escape(src) + r":(\d+):\d+: error:", e.diagnostics)
            bad = {int(line) for line in mine}
            # an error elsewhere (in a header) is the header's own: show it as is
            if len(mine) != len(re.findall(r": error:", e.diagnostics)) or \
                    not bad or min(bad) <= len(units):
                raise
        first = len(units) + 1
        found = [(n, kind) for i, (n, _, kind) in enumerate(candidates)
                 if i + first not in bad]
        missing = [n for n in wanted if not any(f[0] == n for f in found)]
        if missing:
            raise HeaderTypesError(f"{header}: no complete struct, union, enum or typedef "
                                   f"named {', '.join(missing)}")
        tags = {kind: tag for tag, kind in _KINDS}
        anchors = [f"{tags[kind]} {n} *__bpfskel_a{i};" for i, (n, kind) in enumerate(found)]
        with open(src, "w", encoding="utf-8") as f:
            f.write(_unit(units, anchors))
        obj = os.path.join(tmp, "types.o")
        clang.run([*flags, "-w", "-c", src, "-o", obj], header)
        return _read_btf(obj), found


def _read_btf(path: str) -> Btf:
    lib = _libbpf.lib()
    ctypes.set_errno(0)
    ptr = lib.btf__parse(path.encode(), None)
    if not ptr:
        raise HeaderTypesError(f"{path}: no BTF ({os.strerror(ctypes.get_errno())})")
    try:
        return btf_mod.from_pointer(ptr)
    finally:
        lib.btf__free(ptr)


def _refs(t: Type) -> List[int]:
    out = [m.type_id for m in t.members] + [p[1] for p in t.params]
    if t.kind in (Kind.PTR, Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT,
                  Kind.TYPE_TAG, Kind.ARRAY, Kind.FUNC_PROTO):
        out.append(t.ref)
    return [r for r in out if r]


_SHARED_BY_NAME = (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.TYPEDEF, Kind.INT,
                   Kind.FLOAT)


def merge(prog: Btf, extra: Btf, roots: Sequence[Tuple[str, int]], source: str) -> Btf:
    """``prog`` plus the types of ``extra`` reachable from ``roots``.

    A named type the program already has (same kind and name) is the
    program's: the module gets one class for it.  If the two disagree on the
    size, the header and the object do not match, which is an error.
    """
    index = {(t.kind, t.name): t for t in prog if t.name and t.kind in _SHARED_BY_NAME}
    order: List[int] = []
    seen: set[int] = set()
    stack = []
    for name, kind in roots:
        t = extra.by_name(name, kind)
        if t is None:
            raise HeaderTypesError(f"{source}: {name} is not in the header's BTF")
        stack.append(t.id)
    while stack:
        tid = stack.pop()
        if tid in seen:
            continue
        seen.add(tid)
        order.append(tid)
        t = extra[tid]
        if t.name and (t.kind, t.name) in index:
            continue  # the program's own type, and what it reaches
        stack.extend(_refs(t))
    remap: Dict[int, int] = {0: 0}
    new: List[int] = []
    for tid in sorted(order):
        t = extra[tid]
        mine = index.get((t.kind, t.name)) if t.name else None
        if mine is not None:
            if t.kind in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64) and \
                    mine.size != t.size:
                raise HeaderTypesError(
                    f"{source}: {t.kind_name} {t.name} is {t.size} bytes in the header "
                    f"but {mine.size} in the object: they were built from different sources")
            remap[tid] = mine.id
        else:
            remap[tid] = len(prog) + len(new)
            new.append(tid)
    types = list(prog.types)
    for tid in new:
        t = extra[tid]
        types.append(t.replace(
            id=remap[tid], ref=remap.get(t.ref, 0) if t.ref else 0,
            members=tuple(m._replace(type_id=remap[m.type_id]) for m in t.members),
            params=tuple((n, remap.get(p, 0)) for n, p in t.params)))
    return Btf(types)


def types_from(prog: Btf, clang: Clang, headers: Sequence[str], names: Sequence[str],
               cflags: Sequence[str] = (), arch: Optional[str] = None,
               prelude: Sequence[str] = (), included: Sequence[str] = ()) -> Btf:
    """``prog`` with the types named (or, with no names, defined) in ``headers``."""
    extra, roots = header_btf(clang, headers, names or None, cflags, arch, prelude, included)
    return merge(prog, extra, roots, ", ".join(headers))
