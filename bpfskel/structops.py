"""struct_ops maps: kernel extensions written in BPF (``tcp_congestion_ops``,
sched_ext's ``sched_ext_ops``, ...), registered from Python.

A ``SEC(".struct_ops")`` or ``SEC(".struct_ops.link")`` variable becomes a
``BPF_MAP_TYPE_STRUCT_OPS`` map whose value is the kernel struct, function
pointers pointing at the object's ``SEC("struct_ops/...")`` programs.  Loading
creates the map; nothing is registered until the map is *attached*
(``bpf_map__attach_struct_ops``).  The returned link unregisters on destroy:
for a ``.struct_ops.link`` map it is a real ``bpf_link``; for a plain
``.struct_ops`` map libbpf's link deletes the map's one element, which
unregisters it the same way.

Invariants:

* ``Skeleton.attach()`` registers every struct_ops map (as bpftool's C
  skeleton does), keeps the link in ``skel.links.<map>`` and in the skeleton,
  and ``destroy()`` unregisters.  An attach that fails raises; nothing is ever
  silently left unregistered.
* ``skel.struct_ops.<map>`` is the *shadow* of the struct (libbpf 1.3+'s
  ``bpf_map__initial_value`` on a struct_ops map): scalar fields are written
  before load, function-pointer members take a program of the same object
  (libbpf stores ``struct bpf_program *`` there and resolves it at load), and
  every write after load raises :class:`ReadOnlyError`: the kernel copied the
  struct at load, so a later write would silently do nothing.  A program a
  member now points at is loaded, and one no member points at any more is not
  (libbpf before 1.5 refuses to load a struct_ops program no struct uses).
"""

from __future__ import annotations

import ctypes
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

from . import _libbpf, elf
from . import btf as btf_mod
from .btf import Kind, Type
from .errors import ClosedError, Error, ReadOnlyError
from .links import Link
from .maps import Map
from .uapi import MapType

__all__ = ["StructOpsMap", "StructOpsView", "struct_ops_types",
           "attach_all", "shadow_namespace"]

_SECTIONS = (".struct_ops", ".struct_ops.link")
_MODS = frozenset({Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG})


def _skip(get: Callable[[int], Type], type_id: int) -> Type:
    t = get(type_id)
    while t.kind in _MODS:
        t = get(t.ref)
    return t


def struct_ops_types(get: Callable[[int], Type], count: int
                     ) -> Dict[str, Tuple[int, Tuple[str, ...]]]:
    """Map name -> (BTF id of its struct, its function-pointer members), read
    from the ``.struct_ops*`` DATASECs of an object's BTF.

    libbpf 1.1 reports no value type for a struct_ops map; the variable of the
    same name in those sections is the one source for the generator's typed
    value and for which members take programs.
    """
    out: Dict[str, Tuple[int, Tuple[str, ...]]] = {}
    for tid in range(count - 1, 0, -1):  # DATASECs come last
        sec = get(tid)
        if sec.kind != Kind.DATASEC or sec.name not in _SECTIONS:
            continue
        for vs in sec.vars:
            var = get(vs.type_id)
            if var.kind != Kind.VAR:
                continue
            st = _skip(get, var.ref)
            funcs = tuple(m.name for m in st.members if _is_func_ptr(get, m.type_id))
            out[var.name] = (st.id, funcs)
    return out


def _is_func_ptr(get: Callable[[int], Type], type_id: int) -> bool:
    t = _skip(get, type_id)
    return t.kind == Kind.PTR and _skip(get, t.ref).kind == Kind.FUNC_PROTO


def require_support(data: bytes, name: str) -> None:
    """Refuse, before libbpf opens it, an object that libbpf 1.1 would open
    without its ``SEC(".struct_ops.link")`` structs (they arrived in 1.2):
    attach() would then register nothing, silently."""
    if _libbpf.version() < (1, 2) and \
            any(sec.name == ".struct_ops.link" for sec in elf.sections(data)):
        _libbpf.require_libbpf((1, 2), f"BPF object {name!r}: SEC(\".struct_ops.link\") "
                               "structs (SEC(\".struct_ops\") works on every version)")


class StructOpsMap(Map[Any, Any]):
    """A ``BPF_MAP_TYPE_STRUCT_OPS`` map: its value is the kernel struct."""

    def attach_struct_ops(self) -> Link:
        """Register the struct with the kernel (``bpf_map__attach_struct_ops``).
        The skeleton keeps the link; ``Link.destroy()`` or ``skel.destroy()``
        unregisters."""
        self._skel._check_loaded(f"registering struct_ops {self.ident!r}")
        ptr = _libbpf.call_ptr(_libbpf.lib().bpf_map__attach_struct_ops,
                               f"registering struct_ops map {self.name!r}", self._ptr)
        link = Link(ptr, f"struct_ops {self.name}")
        links = self._skel._res.links
        links[:] = [x for x in links if not x.destroyed]
        links.append(link)
        return link


def attach_all(skel: Any) -> None:
    """``Skeleton.attach()``'s part: register every struct_ops map not yet
    registered through it, as ``skel.links.<map ident>``."""
    links = skel.links.__dict__
    for m in skel.maps:
        if m.type != MapType.STRUCT_OPS:
            continue
        link = links.get(m.ident)
        if link is None or link.destroyed:  # a destroyed link is re-registered
            links[m.ident] = m.attach_struct_ops()


# -- shadow types ---------------------------------------------------------------


class StructOpsView:
    """The typed shadow of one struct_ops map (``skel.struct_ops.<map>``).

    Reads and writes go to libbpf's copy of the struct, which it hands to the
    kernel at load.  A function-pointer member reads as the
    :class:`~bpfskel.Program` it points at (``None`` when unset) and is set
    with a program of the same skeleton (or ``None``).
    """

    __slots__ = ("_skel", "_map", "_struct", "_funcs")

    def __init__(self, skel: Any, m: Any, struct: Any, funcs: Tuple[str, ...]) -> None:
        object.__setattr__(self, "_skel", skel)
        object.__setattr__(self, "_map", m)
        object.__setattr__(self, "_struct", struct)
        object.__setattr__(self, "_funcs", frozenset(funcs))

    def _live(self) -> Any:
        if self._skel.destroyed:
            raise ClosedError(f"struct_ops {self._map.ident!r}: the skeleton was destroyed")
        return self._struct

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._live(), name)
        if name in self._funcs:
            return _program_at(self._skel, int(value))
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        struct = self._live()
        if self._skel.loaded:
            raise ReadOnlyError(f"struct_ops {self._map.ident!r}: the kernel copied it at "
                                f"load; {name} can only be set before load()")
        if not hasattr(struct, name):
            raise AttributeError(f"struct_ops {self._map.ident!r} has no member {name!r}")
        if name in self._funcs:
            old = _program_at(self._skel, int(getattr(struct, name)))
            setattr(struct, name, _program_ptr(self._skel, name, value))
            if old is not None and not _referenced(self._skel, old):
                old.autoload = False  # libbpf < 1.5 refuses an unused struct_ops program
            return
        if hasattr(value, "_raw_ptr"):
            raise TypeError(f"{name} is not a function pointer: it takes no program")
        setattr(struct, name, value)

    def __dir__(self) -> Iterator[str]:
        return iter(dir(self._struct))

    def __repr__(self) -> str:
        return f"<struct_ops {self._map.ident} ({type(self._struct).__name__})>"


def _program_at(skel: Any, ptr: int) -> Optional[Any]:
    if not ptr:
        return None
    for prog in skel.progs:
        if int(prog._raw_ptr) == ptr:
            return prog
    raise Error(f"struct_ops member points at {ptr:#x}, which is no program of this object")


def _referenced(skel: Any, prog: Any) -> bool:
    """Does a function-pointer member of any struct_ops shadow point at ``prog``?"""
    ptr = int(prog._raw_ptr)
    return any(int(getattr(view._struct, f)) == ptr
               for view in skel.struct_ops for f in view._funcs)


def _program_ptr(skel: Any, name: str, value: Any) -> int:
    if value is None:
        return 0
    if getattr(value, "_skel", None) is not skel or not hasattr(value, "_raw_ptr"):
        raise TypeError(f"{name}: expected a program of this skeleton (skel.progs.x) or None, "
                        f"got {type(value).__name__}")
    value.autoload = True  # libbpf 1.4 loads only the struct_ops programs a member uses
    return int(value._raw_ptr)


def shadow_namespace(skel: Any, obj: int) -> Dict[str, Any]:
    """The views of ``skel.struct_ops``, one per struct_ops map with a typed value."""
    lib = _libbpf.lib()
    out: Dict[str, Any] = {}
    maps = [m for m in skel.maps
            if m.type == MapType.STRUCT_OPS and m.value_type is not None]
    if not maps:
        return out
    _libbpf.require_libbpf((1, 3), "struct_ops shadow types (libbpf exposes the struct "
                           "before load)")
    btf_ptr = lib.bpf_object__btf(obj)
    reader = btf_mod.TypeReader(btf_ptr)
    funcs_by_map = {name: funcs for name, (_tid, funcs) in
                    struct_ops_types(reader.read, int(lib.btf__type_cnt(btf_ptr))).items()}
    for m in maps:
        size = ctypes.c_size_t()
        ptr = lib.bpf_map__initial_value(m._ptr, ctypes.byref(size))
        if not ptr or size.value < ctypes.sizeof(m.value_type):
            raise Error(f"struct_ops {m.ident!r}: libbpf holds {size.value} bytes, the "
                        f"generated {m.value_type.__name__} is {ctypes.sizeof(m.value_type)}")
        struct = m.value_type.from_address(ptr)
        out[m.ident] = StructOpsView(skel, m, struct, funcs_by_map.get(m.name, ()))
    return out
