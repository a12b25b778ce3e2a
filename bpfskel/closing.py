"""The one lifetime tail of bpfskel's handles: a ``with`` block, and a
finalizer for a handle nobody closed.

A handle that owns a kernel object (a link, a standalone map, a ring reader,
a user ring buffer producer, a statistics fd) releases it in ``close()``
(``destroy()`` for a link): that method is idempotent, so ``__exit__`` and
the finalizer may both run it.  The finalizer never raises: at interpreter
shutdown the modules it needs may already be gone.
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["Closing"]

C = TypeVar("C", bound="Closing")


class Closing:
    """Mixin: ``with handle:`` releases at the end of the block, and garbage
    collection releases a handle that was never released."""

    def _release(self) -> None:
        """Release what the handle owns; idempotent.  Calls ``close()``."""
        self.close()  # type: ignore[attr-defined]

    def __enter__(self: C) -> C:
        return self

    def __exit__(self, *exc: object) -> None:
        self._release()

    def __del__(self) -> None:
        try:
            self._release()
        except Exception:  # never raise from a finalizer
            pass
