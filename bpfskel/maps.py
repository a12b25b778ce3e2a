"""Maps of an opened object: the libbpf ``struct bpf_map`` and its fd."""

from __future__ import annotations

from typing import Any

from . import _libbpf
from .errors import NotSupportedError

__all__ = ["Map"]


class Map:
    """One map of a skeleton: ``name``, ``fd``, ``type`` and sizes.

    ``key_type``/``value_type`` are the generated classes from the map's BTF
    (or ctypes integer types), ``None`` without BTF.
    """

    def __init__(self, skel: Any, ptr: int, ident: str, key_type: Any = None,
                 value_type: Any = None, section: str = "") -> None:
        self._skel = skel
        self._ptr = ptr
        self.ident = ident
        self.key_type = key_type
        self.value_type = value_type
        self.section = section  # the global data section for .data/.bss/..., else ""

    @property
    def name(self) -> str:
        return _libbpf.cstr(_libbpf.lib().bpf_map__name(self._ptr))

    @property
    def fd(self) -> int:
        return int(_libbpf.lib().bpf_map__fd(self._ptr))

    @property
    def type(self) -> int:
        return int(_libbpf.lib().bpf_map__type(self._ptr))

    @property
    def key_size(self) -> int:
        return int(_libbpf.lib().bpf_map__key_size(self._ptr))

    @property
    def value_size(self) -> int:
        return int(_libbpf.lib().bpf_map__value_size(self._ptr))

    @value_size.setter
    def value_size(self, size: int) -> None:
        """Resize before load (``bpf_map__set_value_size``).  For a global data
        section this needs libbpf >= 1.3, and the section's view is rebuilt so
        that its final array variable spans the new size."""
        lib = _libbpf.lib()
        if self.section and lib.version < (1, 3):
            raise NotSupportedError(
                f"resizing the {self.section} section needs libbpf >= 1.3 "
                f"(running {_libbpf.version_string()})")
        _libbpf.call(lib.bpf_map__set_value_size, f"resizing map {self.name!r}",
                     self._ptr, size)
        if self.section:
            self._skel._section_resized(self.section)

    @property
    def max_entries(self) -> int:
        return int(_libbpf.lib().bpf_map__max_entries(self._ptr))

    @max_entries.setter
    def max_entries(self, n: int) -> None:
        _libbpf.call(_libbpf.lib().bpf_map__set_max_entries,
                     f"setting max_entries of map {self.name!r}", self._ptr, n)

    @property
    def map_flags(self) -> int:
        return int(_libbpf.lib().bpf_map__map_flags(self._ptr))

    def __repr__(self) -> str:
        return f"<Map {self.ident} type={self.type} fd={self.fd}>"

