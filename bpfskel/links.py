"""Links: what attaching a program returns (``struct bpf_link``)."""

from __future__ import annotations

from typing import Optional

from . import _libbpf
from .errors import ClosedError

__all__ = ["Link"]


class Link:
    """An attachment (``struct bpf_link``).  ``destroy()`` detaches; idempotent."""

    def __init__(self, ptr: int, what: str) -> None:
        self._ptr: Optional[int] = ptr
        self.what = what

    @property
    def fd(self) -> int:
        if not self._ptr:
            raise ClosedError(f"link {self.what} was destroyed")
        return int(_libbpf.lib().bpf_link__fd(self._ptr))

    @property
    def destroyed(self) -> bool:
        return not self._ptr

    def destroy(self) -> None:
        ptr, self._ptr = self._ptr, None
        if ptr:
            _libbpf.lib().bpf_link__destroy(ptr)

    def __enter__(self) -> "Link":
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def __del__(self) -> None:
        try:
            self.destroy()
        except Exception:  # never raise from a finalizer
            pass

    def __repr__(self) -> str:
        return f"<Link {self.what}{' destroyed' if not self._ptr else ''}>"
