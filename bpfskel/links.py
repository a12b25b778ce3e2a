"""Links: what attaching a program returns (``struct bpf_link``)."""

from __future__ import annotations

from typing import Callable, List, Optional

from . import _libbpf
from .closing import Closing
from .errors import ClosedError

__all__ = ["Link"]


class Link(Closing):
    """An attachment (``struct bpf_link``).  ``destroy()`` detaches; idempotent.

    Detaching runs exactly once, even when ``destroy()`` races another thread,
    the skeleton's ``destroy()``, a finalizer or a signal handler: the handle
    sits in a one-element list and ``destroy()`` takes it with one atomic
    ``list.pop()``; only the caller that got it detaches.
    """

    def __init__(self, ptr: int, what: str) -> None:
        self._owned: List[int] = [ptr]
        # called once, after the detach: the skeleton drops the link from skel.links
        self._on_destroy: List[Callable[["Link"], None]] = []
        self.what = what

    @property
    def _ptr(self) -> Optional[int]:
        try:
            return self._owned[0]
        except IndexError:
            return None

    @property
    def fd(self) -> int:
        ptr = self._ptr
        if not ptr:
            raise ClosedError(f"link {self.what} was destroyed")
        return int(_libbpf.lib().bpf_link__fd(ptr))

    @property
    def destroyed(self) -> bool:
        return not self._owned

    def destroy(self) -> None:
        try:
            handle = self._owned.pop()
        except IndexError:
            return
        try:
            self._detach(handle)
        finally:
            hooks, self._on_destroy = self._on_destroy, []
            for hook in hooks:
                hook(self)

    def _detach(self, handle: int) -> None:
        if handle:
            _libbpf.lib().bpf_link__destroy(handle)

    def _release(self) -> None:  # the end of a ``with`` block, and the finalizer
        self.destroy()

    def __repr__(self) -> str:
        return f"<Link {self.what}{' destroyed' if self.destroyed else ''}>"
