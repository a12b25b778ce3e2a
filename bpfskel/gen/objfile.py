"""Reading a BPF object file safely, for the generator and ``inspect``.

libbpf's ELF and BTF parsers are C code, and a corrupted object can crash
them.  So an object goes through three steps:

1. :func:`check_elf` checks it as an ELF file here (magic, 64-bit,
   little-endian, ``EM_BPF``, section headers inside the file, a ``.BTF``
   section), which turns the common mistakes into clear errors.
2. libbpf opens it in a *forked child process*, which sends back plain data
   (BTF types, maps, programs) through a pipe.  If the child dies from a
   signal, the parent reports a corrupted object (``libbpf crashed
   (SIGSEGV)``) instead of dying itself.  The child writes no core file and
   no faulthandler dump, so the error stays one line.  The cost is one fork,
   a few milliseconds.  This is not hypothetical: libbpf 1.1.2 (Debian 12)
   dies in ``strcmp(NULL)`` on an object with an extern whose BTF string
   section is shorter than the names in it; tests/test_fuzz.py feeds it that
   object and checks the one-line error.
3. :func:`check_btf` checks, in Python, what the generator relies on and old
   libbpf releases do not check: every type id refers to an existing type, no
   chain of references loops, no type contains itself; and no data section's
   BTF is larger than the map libbpf made for it.

Why a child rather than only validating before libbpf sees the bytes:
validation cannot know every path of a C parser of another project, across
every libbpf release a user may load; process isolation holds whatever the
bug.  Anything that passes is parsed again, in the app's own process, when a
generated module opens its embedded object; it is the same bytes and the same
parser, and the fuzz tests open every module they generate.
"""

from __future__ import annotations

import ctypes
import faulthandler
import os
import pickle
import resource
import signal
import struct
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from .. import _libbpf, elf
from .. import btf as btf_mod
from ..errors import Error
from ..names import Scope, item_idents, section_ident
from . import legacy_arena

__all__ = ["InputError", "MapDesc", "ProgDesc", "ObjectInfo", "check_elf", "check_btf",
           "read_object", "map_idents"]

EM_BPF = 247
_EM_NAMES = {3: "i386", 62: "x86-64", 40: "ARM", 183: "AArch64", 243: "RISC-V", 21: "PowerPC64"}


class InputError(Error, ValueError):
    """The input is not a usable BPF object; the message says why."""


@dataclass(frozen=True)
class MapDesc:
    name: str
    ident: str
    type: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int
    internal: bool
    key_type_id: int
    value_type_id: int
    section: str  # DATASEC name for internal (global data) maps, else ""
    inner_key_type_id: int = 0  # map-in-map: the declared inner map's key/value types
    inner_value_type_id: int = 0


@dataclass(frozen=True)
class ProgDesc:
    name: str
    ident: str
    section: str


@dataclass
class ObjectInfo:
    name: str
    btf: btf_mod.Btf
    maps: List[MapDesc]
    progs: List[ProgDesc]


def check_elf(data: bytes, source: str) -> None:
    """Reject what is plainly not a BPF object, with a message naming why."""
    if not data:
        raise InputError(f"{source}: empty file")
    if data[:4] != b"\x7fELF":
        raise InputError(f"{source}: not an ELF file")
    if len(data) < 64:
        raise InputError(f"{source}: truncated ELF header")
    if data[4] != 2 or data[5] != 1:
        raise InputError(f"{source}: not a 64-bit little-endian ELF file")
    (machine,) = struct.unpack_from("<H", data, 18)
    if machine != EM_BPF:
        arch = _EM_NAMES.get(machine, f"machine {machine}")
        raise InputError(f"{source}: a host ELF file ({arch}), not a BPF object "
                         "(compile with clang -target bpf)")
    (shoff,) = struct.unpack_from("<Q", data, 40)
    shentsize, shnum = struct.unpack_from("<HH", data, 58)
    if shoff == 0 or shoff + shentsize * shnum > len(data):
        raise InputError(f"{source}: truncated or corrupted (section headers past the end)")
    names = [sec.name for sec in elf.sections(data)]
    if names and ".BTF" not in names:
        raise InputError(f"{source}: has no BTF (.BTF section missing); "
                         "compile it with clang -g")


# Kinds whose ``ref`` is another type id, and the subset a declaration or a
# layout follows *by value* (a pointer ends that walk).
_REF_KINDS = frozenset({btf_mod.Kind.PTR, btf_mod.Kind.TYPEDEF, btf_mod.Kind.VOLATILE,
                        btf_mod.Kind.CONST, btf_mod.Kind.RESTRICT, btf_mod.Kind.TYPE_TAG,
                        btf_mod.Kind.ARRAY, btf_mod.Kind.FUNC, btf_mod.Kind.FUNC_PROTO,
                        btf_mod.Kind.VAR, btf_mod.Kind.DECL_TAG})
_CHAIN_KINDS = frozenset({btf_mod.Kind.PTR, btf_mod.Kind.TYPEDEF, btf_mod.Kind.VOLATILE,
                          btf_mod.Kind.CONST, btf_mod.Kind.RESTRICT, btf_mod.Kind.TYPE_TAG,
                          btf_mod.Kind.ARRAY})


def _refs(t: btf_mod.Type) -> List[int]:
    """Every type id ``t`` names."""
    out = [t.ref] if t.kind in _REF_KINDS else []
    out.extend(m.type_id for m in t.members)
    out.extend(v.type_id for v in t.vars)
    out.extend(p[1] for p in t.params)
    return out


def _by_value(btf: btf_mod.Btf, type_id: int) -> List[int]:
    """The types whose bytes ``type_id`` contains (a pointer contains none)."""
    t = btf[type_id]
    if t.kind == btf_mod.Kind.PTR:
        return []
    if t.kind in (btf_mod.Kind.STRUCT, btf_mod.Kind.UNION):
        return [m.type_id for m in t.members]
    if t.kind == btf_mod.Kind.DATASEC:
        return [v.type_id for v in t.vars]
    return [t.ref] if t.kind in _CHAIN_KINDS or t.kind == btf_mod.Kind.VAR else []


def _ref_chain(btf: btf_mod.Btf, type_id: int) -> List[int]:
    """The next type of a modifier/typedef/pointer/array chain, if any."""
    t = btf[type_id]
    return [t.ref] if t.kind in _CHAIN_KINDS else []


def _cycle(btf: btf_mod.Btf, edges: Callable[[btf_mod.Btf, int], List[int]]) -> Optional[int]:
    """A type id on a cycle of ``edges``, or None (iterative depth-first search)."""
    state = bytearray(len(btf))  # 0: unseen, 1: on the current path, 2: done
    for root in range(1, len(btf)):
        if state[root]:
            continue
        state[root] = 1
        stack = [(root, iter(edges(btf, root)))]
        while stack:
            node, it = stack[-1]
            for nxt in it:
                if state[nxt] == 1:
                    return nxt
                if state[nxt] == 0:
                    state[nxt] = 1
                    stack.append((nxt, iter(edges(btf, nxt))))
                    break
            else:
                state[node] = 2
                stack.pop()
    return None


def check_btf(btf: btf_mod.Btf, source: str) -> None:
    """Refuse a BTF graph the generator could not walk safely.

    libbpf before 1.3 accepts type ids past the last type; no release rejects
    reference loops.  Either would send a naive walk out of range or round in
    circles, so both are reported here as a corrupted object: every referenced
    id must exist, a chain of modifiers, typedefs, pointers and arrays must
    end, and no type may contain itself by value.
    """
    count = len(btf)
    for t in btf:
        if t.kind not in btf_mod.Kind.NAMES:
            raise InputError(f"{source}: corrupted BTF: type [{t.id}] has unknown kind {t.kind}")
        for ref in _refs(t):
            if not 0 <= ref < count:
                raise InputError(f"{source}: corrupted BTF: type [{t.id}] refers to type "
                                 f"[{ref}], past the last one [{count - 1}]")
    for edges, what in ((_ref_chain, "a chain of references loops"),
                        (_by_value, "a type contains itself")):
        looped = _cycle(btf, edges)
        if looped is not None:
            raise InputError(f"{source}: corrupted BTF: {what} (through type [{looped}])")


def map_idents(maps: List[Tuple[str, str]]) -> Dict[Tuple[str, str], str]:
    """The identifier of each map, given as (name, DATASEC name or ""), unique
    within the object (``skel.maps``).  A global data map takes its section's
    bpftool identifier (``.data.x`` -> ``data_x``), in section order; every
    other map its name, by :func:`~bpfskel.names.item_idents`, around those.
    Assigned here once: the module records them and the runtime binds by them."""
    scope = Scope()
    out = {(name, section): scope.add(section_ident(section))
           for name, section in sorted(maps, key=lambda m: m[1]) if section}
    named = item_idents((name for name, section in maps if not section), scope.taken)
    out.update(((name, ""), named[name]) for name, section in maps if not section)
    return out


def describe(obj_ptr: int) -> ObjectInfo:
    """Collect BTF, maps and programs of an opened ``struct bpf_object *``."""
    lib = _libbpf.lib()
    cstr = _libbpf.cstr
    btf_ptr = lib.bpf_object__btf(obj_ptr)
    if not btf_ptr:
        raise InputError("the object has no BTF (compile it with clang -g)")
    btf = btf_mod.from_pointer(btf_ptr)
    found = []
    for m in _libbpf.object_maps(obj_ptr):
        name = cstr(lib.bpf_map__name(m))
        internal = bool(lib.bpf_map__is_internal(m))
        vt = lib.bpf_map__btf_value_type_id(m)
        section = btf[vt].name if internal and 0 < vt < len(btf) and \
            btf[vt].kind == btf_mod.Kind.DATASEC else ""
        inner = lib.bpf_map__inner_map(m)
        found.append((name, internal, section, m, inner))
    idents = map_idents([(name, section) for name, _i, section, _m, _n in found])
    maps = [MapDesc(name, idents[name, section], lib.bpf_map__type(m), lib.bpf_map__key_size(m),
                    lib.bpf_map__value_size(m), lib.bpf_map__max_entries(m),
                    lib.bpf_map__map_flags(m), internal, lib.bpf_map__btf_key_type_id(m),
                    lib.bpf_map__btf_value_type_id(m), section,
                    lib.bpf_map__btf_key_type_id(inner) if inner else 0,
                    lib.bpf_map__btf_value_type_id(inner) if inner else 0)
            for name, internal, section, m, inner in found]
    named = [(cstr(lib.bpf_program__name(p)), cstr(lib.bpf_program__section_name(p)))
             for p in _libbpf.object_programs(obj_ptr)]
    prog_idents = item_idents(name for name, _ in named)
    progs = [ProgDesc(name, prog_idents[name], section) for name, section in named]
    return ObjectInfo(cstr(lib.bpf_object__name(obj_ptr)), btf, maps, progs)


def _open_and_describe(data: bytes, name: str) -> ObjectInfo:
    lib = _libbpf.lib()
    legacy = legacy_arena.legacy_object(data)  # __arena globals, libbpf < 1.4
    if legacy:
        data = legacy[0]
    buf = ctypes.create_string_buffer(data, len(data))
    o = _libbpf.opts(_libbpf.ObjectOpenOpts, object_name=name.encode())
    obj = _libbpf.call_ptr(lib.bpf_object__open_mem, f"opening BPF object {name!r}",
                           buf, len(data), ctypes.byref(o))
    try:
        info = describe(obj)
        return legacy_arena.legacy_restore(info, legacy[1]) if legacy else info
    finally:
        lib.bpf_object__close(obj)


def _die_quietly() -> None:
    """In the parsing child: should libbpf crash, die without a core file or
    a faulthandler dump on stderr; the parent reports it in one line."""
    faulthandler.disable()
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (OSError, ValueError):
        pass


def read_object(data: bytes, source: str, name: str) -> ObjectInfo:
    """Validate and parse an object; never lets a libbpf crash kill us."""
    check_elf(data, source)
    _libbpf.lib()  # load (and fail cleanly) in the parent
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: parse, send (ok, payload), exit without cleanup
        code = 0
        try:
            os.close(rfd)
            _die_quietly()
            try:
                payload: Tuple[bool, object] = (True, _open_and_describe(data, name))
            except Error as e:
                payload = (False, str(e))
            except Exception as e:  # noqa: BLE001 - reported, never raised in the child
                payload = (False, f"{type(e).__name__}: {e}")
            blob = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(wfd, "wb") as f:
                f.write(blob)
        except BaseException:
            code = 1
        os._exit(code)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as f:
        blob = f.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        num = os.WTERMSIG(status)
        try:
            sig = signal.Signals(num).name
        except ValueError:  # a real-time signal has no name
            sig = f"signal {num}"
        raise InputError(f"{source}: corrupted object: libbpf crashed ({sig}) while parsing it")
    if not blob:
        raise InputError(f"{source}: could not be parsed (parser exited with status "
                         f"{os.WEXITSTATUS(status)})")
    ok, payload = pickle.loads(blob)
    if not ok:
        msg = str(payload)
        first: Optional[str] = msg.splitlines()[0] if msg else "failed"
        detail = [ln.strip() for ln in msg.splitlines()[1:] if ln.strip()]
        if detail:
            first = f"{first} ({detail[-1]})"
        raise InputError(f"{source}: {first}")
    assert isinstance(payload, ObjectInfo)
    check_btf(payload.btf, source)
    for m in payload.maps:
        size = payload.btf[m.value_type_id].size if m.section else 0
        if size > m.value_size:  # the view would reach past the map
            raise InputError(f"{source}: corrupted object: BTF gives {m.section} {size} "
                             f"bytes, its ELF section has {m.value_size}")
    return payload
