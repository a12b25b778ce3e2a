"""The skeleton base class generated modules subclass.

Life of a skeleton: ``open`` (libbpf parses the object; views show the
initial values and are writable, ``.rodata`` included) -> ``load`` (maps are
created, programs verified; views go live) -> ``attach`` -> ``destroy``.

How a view stays one object through that life
    Each data section gets one :class:`~bpfskel.Memory`, private anonymous
    memory at open holding a copy of libbpf's initial value, and the view is a
    ctypes structure over it.  Just before load the bytes are copied back into
    libbpf's initial-value buffer (so the program is configured by whatever the
    app wrote).  After load, a writable section's Memory is remapped *in place*
    onto the map (``MAP_FIXED``), as libbpf's C skeleton does, so the same view,
    and every sub-object taken from it, now reads and writes the live map.  A
    frozen section (``.rodata``, ``.rodata.X``, ``.kconfig``) cannot be mapped
    writable; its bytes are refreshed from a read-only mapping of the map, and
    the :class:`~bpfskel.views.Freeze` its view (of a read-only class from open
    on) shares with every sub-object taken from it is switched on.  This works
    the same on libbpf 1.1 through 1.4, which never remap the initial-value
    buffer, and on 1.5+.
"""

from __future__ import annotations

import ctypes
import weakref
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Dict,
    FrozenSet,
    Iterator,
    List,
    Optional,
    Tuple,
    Type,
    TypeVar,
)

from . import _libbpf
from .arena import ArenaSupport
from .errors import ClosedError, Error, ObjectMismatchError, StateError
from .memory import Memory
from .names import FROZEN_PREFIXES
from .structs import add_accessors, fields_of
from .views import Freeze, closed_class, readonly_class, set_freeze

# What only open() and later need (maps, programs, BTF, struct_ops) is imported
# there, not here: importing a generated module builds its classes and needs
# none of it (issue 20, start-up: ``import bpfskel.runtime`` pays only for that).
if TYPE_CHECKING:
    from .maps import Map
    from .programs import Link, Program

__all__ = ["Skeleton", "Namespace", "ObjectMismatchError"]

S = TypeVar("S", bound="Skeleton")


class Namespace:
    """Attribute access to named items (``skel.maps.events``), iterable.

    The instance ``__dict__`` holds the items and nothing else, so reading
    one is a plain attribute read.  The namespace's own fields are slots with
    dunder names, which no item identifier can take (bpfskel.names renames
    ``__x__``), so a map or program named ``_kind`` is just an item."""

    __slots__ = ("__dict__", "__kind__", "__absent__")

    def __init__(self, kind: str, items: Dict[str, Any],
                 absent: FrozenSet[str] = frozenset()) -> None:
        self.__dict__.update(items)
        self.__kind__ = kind
        self.__absent__ = absent  # Links: programs whose link attach() has not made (yet)

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self.__dict__.values()))

    def __len__(self) -> int:
        return len(self.__dict__)

    if not TYPE_CHECKING:  # so that mypy flags a misspelt name instead of typing it Any
        def __getattr__(self, name: str) -> Any:
            if name in self.__absent__:
                return None  # a link attach() has not made (yet)
            raise AttributeError(f"no {self.__kind__} named {name!r}")

    def __repr__(self) -> str:
        return f"<{self.__kind__}s: {', '.join(self.__dict__)}>"


class _Resources:
    """Everything native a skeleton owns; closed by destroy or the finalizer.

    Kept apart from the skeleton so that ``weakref.finalize`` can clean up an
    object nobody destroyed without keeping it alive.  :meth:`close` runs
    once: the first caller takes ``_owner`` (a single, atomic ``list.pop``),
    so a destroy racing another thread, the finalizer or a signal handler
    never closes the object, a link or a mapping twice.
    """

    def __init__(self) -> None:
        self.obj: Optional[int] = None
        self.buf: Any = None
        self.links: List[Link] = []
        self.mems: List[Memory] = []
        self.views: Dict[str, Any] = {}  # section -> the view the app sees
        self.arena: Any = None  # the ArenaMemory, from load on
        self.readers: "weakref.WeakSet[Any]" = weakref.WeakSet()  # ring/perf readers
        self._owner = [True]

    def close(self, collected: bool = False) -> None:
        """``collected``: the skeleton was garbage-collected, not destroyed.
        Mappings something still points into then stay mapped (a sub-object
        kept from a view keeps reading the map, which the mapping keeps alive)
        instead of being replaced by zero pages."""
        try:
            self._owner.pop()
        except IndexError:
            return
        # Readers first: a poll in progress stops, a waiting one raises
        # ClosedError, and async iterations end, before the maps go.
        for reader in list(self.readers):
            reader.close()
        # Views next, so that one the app kept raises ClosedError whether the
        # skeleton was destroyed or only garbage-collected.
        for view in self.views.values():
            object.__setattr__(view, "__class__", closed_class(type(view)))
        for link in self.links:
            link.destroy()
        self.links.clear()
        for mem in self.mems:
            mem.close(keep_exported=collected)  # before the object: maps must not stay mapped
        self.mems.clear()
        obj, self.obj = self.obj, None
        arena, self.arena = self.arena, None
        if arena is not None:
            arena.close()  # its views raise ClosedError; libbpf unmaps the arena
        if obj:
            _libbpf.lib().bpf_object__close(obj)
        if arena is not None:
            arena.cover()  # zero pages where objects kept from its views point


class Skeleton(ArenaSupport):
    """open -> configure -> load -> attach -> destroy, for one BPF object."""

    _name_: ClassVar[str] = ""
    _sections_: ClassVar[Tuple[Tuple[str, str, type], ...]] = ()
    _maps_: ClassVar[Tuple[Tuple[str, str, Any, Any], ...]] = ()
    _progs_: ClassVar[Tuple[Tuple[str, str, str], ...]] = ()
    # The generated module's Namespace subclasses, which annotate every item.
    _namespaces_: ClassVar[Tuple[Type[Namespace], Type[Namespace], Type[Namespace]]] = (
        Namespace, Namespace, Namespace)

    maps: Namespace
    progs: Namespace
    links: Namespace
    _res: _Resources
    _finalizer: weakref.finalize  # type: ignore[type-arg]
    _kconfig_text: Optional[str]
    _loaded: bool

    @classmethod
    def _object_bytes(cls) -> bytes:
        raise NotImplementedError

    # -- open --------------------------------------------------------------------

    @classmethod
    def open(cls: Type[S], *, object_path: Optional[str] = None,
             object_name: Optional[str] = None, btf_custom_path: Optional[str] = None,
             kconfig: Any = None, pin_root_path: Optional[str] = None) -> S:
        """Open the embedded object (or ``object_path``) with libbpf.

        ``kconfig`` is extra Kconfig text (``"CONFIG_X=y\\n..."``) or a dict;
        ``btf_custom_path`` is a BTF file for CO-RE instead of the kernel's.
        """
        if object_path is not None:
            with open(object_path, "rb") as f:
                data = f.read()
        else:
            data = cls._object_bytes()
        self = cls.__new__(cls)
        # An ordinary dict from the start: ``skel.bss`` is on every hot path, and
        # CPython 3.11 cannot specialise attribute reads from the split dict an
        # instance gets once its __dict__ is touched (3x slower).
        self.__dict__ = {}
        res = self._res = _Resources()
        self._finalizer = weakref.finalize(self, res.close, True)
        self._loaded = False
        self._kconfig_text = _kconfig_text(kconfig)
        name = object_name or cls._name_
        res.buf = ctypes.create_string_buffer(data, len(data))
        keep = [x.encode() if x else None for x in (name, btf_custom_path, pin_root_path,
                                                    self._kconfig_text)]
        o = _libbpf.opts(_libbpf.ObjectOpenOpts, object_name=keep[0], btf_custom_path=keep[1],
                         pin_root_path=keep[2], kconfig=keep[3])
        from . import structops

        lib = _libbpf.lib()
        cls._arena_require(data, name)
        structops.require_support(data, name)
        res.obj = _libbpf.call_ptr(lib.bpf_object__open_mem, f"opening BPF object {name!r}",
                                   res.buf, len(data), ctypes.byref(o))
        try:
            self._discover(object_path)
        except BaseException:
            self.destroy()
            raise
        return self

    @classmethod
    def open_and_load(cls: Type[S], **opts: Any) -> S:
        self = cls.open(**opts)
        try:
            self.load()
        except BaseException:
            self.destroy()
            raise
        return self

    def _discover(self, object_path: Optional[str]) -> None:
        from . import btf as btf_mod
        from . import mapkinds
        from .btf import Kind
        from .programs import Program

        lib = _libbpf.lib()
        obj = self._require_open("open")
        btf_ptr = lib.bpf_object__btf(obj)
        reader = btf_mod.TypeReader(btf_ptr) if btf_ptr else None
        # Items are bound by the identifiers the module recorded (bpfskel.gen.objfile
        # assigned each once), by exact name: a global data map by its section,
        # since libbpf names it after the object.
        map_rows = {name: (ident, key, value) for ident, name, key, value in self._maps_}
        maps: Dict[str, "Map[Any, Any]"] = {}
        self._section_maps: Dict[str, int] = {}
        type_ids: Dict[str, Tuple[int, int]] = {}  # map -> BTF key, value ids
        for m in _libbpf.object_maps(obj):
            name = _libbpf.cstr(lib.bpf_map__name(m))
            section = ""
            if lib.bpf_map__is_internal(m) and reader is not None:
                vt = lib.bpf_map__btf_value_type_id(m)
                t = reader.read(vt) if vt else None
                if t is not None and t.kind == Kind.DATASEC:
                    section = t.name
                    self._section_maps[section] = m
            row = map_rows.get(section or name)
            if row is not None:
                ident, key, value = row
                if not lib.bpf_map__is_internal(m):
                    type_ids[ident] = (lib.bpf_map__btf_key_type_id(m),
                                       lib.bpf_map__btf_value_type_id(m))
                maps[ident] = mapkinds.map_class(lib.bpf_map__type(m))(
                    self, m, ident, key, value, section)
            elif not lib.bpf_map__is_internal(m):  # internal maps without a row have no view
                raise _unknown_item(object_path or self._name_, "map", name, self._name_)
        prog_rows: Dict[str, str] = {name: ident for ident, name, _sec in self._progs_}
        progs: Dict[str, Program] = {}
        for p in _libbpf.object_programs(obj):
            name = _libbpf.cstr(lib.bpf_program__name(p))
            if name not in prog_rows:
                raise _unknown_item(object_path or self._name_, "program", name, self._name_)
            progs[prog_rows[name]] = Program(self, p, prog_rows[name])
        maps_ns, progs_ns, links_ns = self._namespaces_
        self.maps = maps_ns("map", maps)
        self.progs = progs_ns("program", progs)
        self.links = links_ns("link", {}, absent=frozenset(progs))
        if object_path is not None:
            self._verify_layout(reader, object_path)
            self._verify_types(reader, object_path, type_ids)
        self._mems: Dict[str, Memory] = {}
        self._views = self._res.views
        self._freezes: Dict[str, Freeze] = {}
        for section, ident, cls in self._sections_:
            if section.startswith(".kconfig"):
                self.__dict__[ident] = None
                continue
            self._open_view(section, ident, cls)
        self._arena_opened()

    def _verify_layout(self, reader: Any, path: str) -> None:
        """Refuse an object whose sections differ in size from the generated views."""
        if reader is None:
            raise ObjectMismatchError(f"{path}: has no BTF; it does not match this module")
        lib = _libbpf.lib()
        for section, _ident, cls in self._sections_:
            m = self._section_maps.get(section)
            if m is None:
                raise ObjectMismatchError(f"{path}: has no {section} section; it does not "
                                          f"match the generated module {self._name_!r}")
            sec = reader.read(lib.bpf_map__btf_value_type_id(m))
            if sec.size != ctypes.sizeof(cls):
                raise ObjectMismatchError(f"{path}: {section} is {sec.size} bytes, the "
                                          f"generated view expects {ctypes.sizeof(cls)}")
            # each variable's name, offset and type: _verify_types, in depth

    _layout_: Tuple[Tuple[str, str], ...] = ()

    def _verify_types(self, reader: Any, path: str,
                      type_ids: Dict[str, Tuple[int, int]]) -> None:
        """Refuse an object whose types differ, in depth, from those the module
        was generated from (same offsets are not enough: ``{u32 lo, hi}`` vs
        ``{u32 hi, lo}``, or ``__u64`` vs ``double``)."""
        lib = _libbpf.lib()
        sections = {section: lib.bpf_map__btf_value_type_id(self._section_maps[section])
                    for section, _ident, _cls in self._sections_}
        from . import btf as btf_mod

        got = dict(btf_mod.layout_digests(reader.read, sections, type_ids))
        for root, digest in self._layout_:
            if got.get(root) != digest:
                raise ObjectMismatchError(
                    f"{path}: the types of {root} differ from those the module "
                    f"{self._name_!r} was generated from (names, kinds, sizes, offsets "
                    "or bitfields); regenerate it with bpfskel gen")

    def _open_view(self, section: str, ident: str, cls: type) -> None:
        m = self._section_maps.get(section)
        if m is None:
            raise ObjectMismatchError(f"libbpf created no map for section {section!r}")
        size = ctypes.c_size_t()
        ptr = _libbpf.lib().bpf_map__initial_value(m, ctypes.byref(size))
        if not ptr or size.value < ctypes.sizeof(cls):
            raise ObjectMismatchError(f"section {section!r}: {size.value} bytes of initial "
                                      f"value, the view needs {ctypes.sizeof(cls)}")
        mem = Memory.anonymous(size.value)
        ctypes.memmove(mem.address, ptr, size.value)
        self._res.mems.append(mem)
        self._mems[section] = mem
        self._install_view(section, ident, cls, mem)

    def _install_view(self, section: str, ident: str, cls: Any, mem: Memory) -> None:
        if section.startswith(FROZEN_PREFIXES):  # read-only class, switched on at load
            view: Any = readonly_class(cls).from_buffer(mem)  # type: ignore[attr-defined]
            switch = self._freezes.setdefault(section, Freeze())
            set_freeze(view, switch)
        else:
            view = cls.from_buffer(mem)
        self._views[section] = view
        self.__dict__[ident] = view

    def _check_resize(self, section: str, size: int) -> None:
        """Refuse, before libbpf is asked, a size the section's view cannot take."""
        if self._loaded:
            raise StateError(f"cannot resize {section} after load")
        for sec, _ident, cls in self._sections_:
            if sec == section:
                _resized_class(cls, size)

    def _section_resized(self, section: str) -> None:
        """libbpf resized the section: rebuild its view over new memory.  The
        old view is closed; what was written to it is kept, up to the new size."""
        for sec, ident, cls in self._sections_:
            if sec == section and section in self._views:
                old_view = self._views.pop(section)
                why = (f"this {section} view was replaced when the section was resized: "
                       f"use skel.{ident} again")
                object.__setattr__(old_view, "__class__", closed_class(type(old_view), why))
                old = self._mems.pop(section)
                keep = old.read_at(0, old.size)
                self._res.mems.remove(old)
                old.close()
                self._open_view(section, ident, _resized_class(cls, self._section_size(sec)))
                new = self._mems[section]
                new.write_at(0, keep[:new.size])

    def _section_size(self, section: str) -> int:
        return int(_libbpf.lib().bpf_map__value_size(self._section_maps[section]))

    # -- load ------------------------------------------------------------------------

    def load(self) -> None:
        """Create maps, load programs (errors carry the verifier log), and turn
        every view live."""
        obj = self._require_open("load")
        if self._loaded:
            raise StateError("the skeleton is already loaded")
        lib = _libbpf.lib()
        for section, mem in self._mems.items():
            size = ctypes.c_size_t()
            ptr = lib.bpf_map__initial_value(self._section_maps[section], ctypes.byref(size))
            ctypes.memmove(ptr, mem.address, min(size.value, mem.size))
        _libbpf.call(lib.bpf_object__load, f"loading BPF object {self._name_!r}", obj)
        self._loaded = True
        for section, ident, cls in self._sections_:
            m = self._section_maps[section]
            fd = lib.bpf_map__fd(m)
            if section.startswith(FROZEN_PREFIXES):
                self._freeze_view(section, ident, cls, fd)
            else:
                self._mems[section].remap(fd)
        self._arena_loaded()

    def _freeze_view(self, section: str, ident: str, cls: type, fd: int) -> None:
        size = self._section_size(section)
        with Memory(fd, size) as live:
            mem = self._mems.get(section)
            if mem is None:  # .kconfig: no view before load
                mem = self._mems[section] = Memory.anonymous(size)
                self._res.mems.append(mem)
                self._install_view(section, ident, cls, mem)
            mem.write_at(0, live.read_at(0, min(size, mem.size)))
        self._freezes[section].frozen = True

    # -- attach ----------------------------------------------------------------------

    def attach(self) -> None:
        """Auto-attach, as libbpf's C skeleton does (``bpf_object__attach_skeleton``,
        called for one program at a time so that a failure names it).

        A program is skipped when it is not loaded (``autoload``), when its
        ``autoattach`` is off, when ``skel.links`` holds a live link for it,
        or when its ``SEC()`` gives no target to attach to (``SEC("xdp")``, a
        bare ``SEC("uprobe")``).  Every other program is attached, and its link
        goes into ``skel.links``.  The first failure raises, naming the
        program; the programs attached before it stay attached (``detach()``
        or ``destroy()`` undoes them).  A link destroyed since leaves
        ``skel.links``, so calling ``attach()`` again re-attaches just what is
        not attached.
        """
        self._check_loaded("attach")
        links = self.links.__dict__
        for ident, prog in list(self.progs.__dict__.items()):
            if not prog.autoload:
                continue
            link = links.get(ident)
            if link is not None:
                if not link.destroyed:
                    continue
                del links[ident]
            if not prog.autoattach:
                continue
            link = _attach_auto(prog)
            if link is not None:
                links[ident] = prog._keep(link)
                link._on_destroy.append(_forget_link(links, ident))
        from . import structops

        structops.attach_all(self)  # struct_ops maps register on attach, as in C

    def detach(self) -> None:
        """Destroy the links ``attach`` made."""
        for ident in list(self.links.__dict__):
            self.links.__dict__.pop(ident).destroy()
        # links from the explicit attach_* calls stay: destroy() detaches them
        self._res.links[:] = [link for link in self._res.links if not link.destroyed]

    # -- destroy -------------------------------------------------------------------

    def destroy(self) -> None:
        """Close the ring and perf buffer readers made from the maps, detach,
        unmap and close everything, exactly once (idempotent, and safe against
        other threads, the finalizer and signal handlers).  Afterwards views
        the app kept, maps, programs and readers raise ClosedError (a waiting
        ``poll()`` too, and ``async for`` ends); sub-objects read zeros.

        A skeleton nobody destroyed is closed the same way by its finalizer,
        except that sub-objects kept from its views keep the memory they point
        into (and so the map) alive, reading its last contents."""
        self._res.close()
        self._finalizer.detach()

    def __enter__(self: S) -> S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    # -- helpers ----------------------------------------------------------------

    def _require_open(self, what: str) -> int:
        obj = self._res.obj
        if not obj:
            raise ClosedError(f"cannot {what}: the skeleton was destroyed")
        return int(obj)

    def _check_loaded(self, what: str) -> None:
        self._require_open(what)
        if not self._loaded:
            raise StateError(f"cannot {what} before load()")

    @property
    def struct_ops(self) -> Namespace:
        """Typed shadows of the struct_ops maps (see :mod:`bpfskel.structops`):
        writable before load; NotSupportedError on libbpf < 1.3."""
        ns = self.__dict__.get("_struct_ops")
        if ns is None:
            obj = self._require_open("use struct_ops")
            from . import structops

            ns = Namespace("struct_ops", structops.shadow_namespace(self, obj))
            self.__dict__["_struct_ops"] = ns
        return ns

    @property
    def loaded(self) -> bool:
        return self._loaded

    @property
    def destroyed(self) -> bool:
        return not self._res.obj

    def section_bytes(self, ident: str) -> bytes:
        view = self.__dict__.get(ident)
        if view is None:
            raise KeyError(ident)
        return bytes(view)


def _unknown_item(where: str, kind: str, name: str, module: str) -> ObjectMismatchError:
    return ObjectMismatchError(f"{where}: has a {kind} {name!r} that the generated module "
                               f"{module!r} does not list; the object does not match it "
                               "(regenerate it with bpfskel gen)")


def _attach_auto(prog: Program) -> Optional[Link]:
    """libbpf's skeleton auto-attach for one program: its link, or None when
    libbpf skips it (no target in the section name, autoattach off)."""
    lib = _libbpf.lib()
    prog_ptr, link_ptr = ctypes.c_void_p(prog._ptr), ctypes.c_void_p()
    obj = ctypes.c_void_p(prog._skel._res.obj)
    name = prog.name.encode()
    progs = _libbpf.ProgSkeleton(name=name, prog=ctypes.pointer(prog_ptr),
                                 link=ctypes.pointer(link_ptr))
    s = _libbpf.ObjectSkeleton(sz=ctypes.sizeof(_libbpf.ObjectSkeleton), name=name,
                               obj=ctypes.pointer(obj), prog_cnt=1,
                               prog_skel_sz=ctypes.sizeof(_libbpf.ProgSkeleton),
                               progs=ctypes.pointer(progs))
    _libbpf.call(lib.bpf_object__attach_skeleton,
                 f"attaching program {prog.name!r} ({prog.section})", ctypes.byref(s))
    if not link_ptr.value:
        return None
    from .programs import Link

    return Link(link_ptr.value, f"{prog.name}:{prog.section}")


def _forget_link(links: Dict[str, Any], ident: str) -> Any:
    """A Link hook: a destroyed link leaves ``skel.links``.  It holds the
    namespace's dict, not the skeleton, so that it keeps nothing alive."""
    def forget(link: Link) -> None:
        if links.get(ident) is link:
            del links[ident]
    return forget


def _kconfig_text(kconfig: Any) -> Optional[str]:
    if kconfig is None or isinstance(kconfig, str):
        return kconfig
    lines = []
    for key, value in dict(kconfig).items():
        if isinstance(value, bool):
            value = "y" if value else "n"
        lines.append(f"{key}={value}")
    return "\n".join(lines) + "\n"


def _resized_class(cls: type, size: int) -> type:
    """The view class with its final variable, which must be an array,
    stretched to ``size`` bytes.  The final variable is the last of the C
    members the class records (``_members_``), never a padding or storage
    field: a section that ends in an ``__int128`` or a bitfield is refused."""
    fields = list(cls._fields_)  # type: ignore[attr-defined]
    base = ctypes.sizeof(cls)
    if size == base:
        return cls
    members = list(fields_of(cls))
    if not members:
        raise Error(f"{cls.__name__}: has no variable that a resize could stretch")
    name = members[-1]
    idx = next((i for i, f in enumerate(fields) if f[0] == name), None)
    ftype: Any = fields[idx][1] if idx is not None else None
    if idx is None or not (isinstance(ftype, type) and issubclass(ftype, ctypes.Array)):
        raise Error(f"{cls.__name__}: the last variable {name} is not an array; "
                    "only a final array can follow a resize")
    off = getattr(cls, name).offset
    elem: Any = ftype._type_
    length = (size - off) // ctypes.sizeof(elem)
    if length < 1:
        raise Error(f"{cls.__name__}: {size} bytes leave no room for {name}, which starts "
                    f"at offset {off}; the section needs at least "
                    f"{off + ctypes.sizeof(elem)} bytes")
    new_fields = fields[:idx] + [(name, elem * length)]
    tail = size - off - length * ctypes.sizeof(elem)
    if tail:
        pad = "_pad_tail"
        while any(f[0] == pad for f in new_fields):  # a C variable may have the name
            pad += "_"
        new_fields.append((pad, ctypes.c_ubyte * tail))
    ns: Dict[str, Any] = {"__qualname__": cls.__qualname__, "__module__": cls.__module__}
    for attr in ("_section_", "_members_", "_enums_", "_anonymous_"):
        if attr in cls.__dict__:
            ns[attr] = cls.__dict__[attr]
    if "__slots__" in cls.__dict__:  # a writable section's view has no __dict__
        ns["__slots__"] = ()
    parent: Any = cls.__base__
    resized: Any = type(cls.__name__, (parent,), ns)
    resized._fields_ = new_fields  # through the metaclass: char[N], _Bool, enum members
    specs = cls.__dict__.get("_accessors_")
    if specs:  # __int128 globals: their int properties, as the generated class has
        add_accessors(resized, specs)
    return resized  # type: ignore[no-any-return]
