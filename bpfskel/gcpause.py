"""``gc_paused()``: no cycle collection while a large batch of fresh objects is built.

Standard library only (``bpfskel.sym`` imports it, and stays light).
"""

from __future__ import annotations

import gc
from typing import Any

__all__ = ["gc_paused"]


class gc_paused:  # noqa: N801 - used like a function: ``with gc_paused():``
    """Pause the cycle collector while building a large list of fresh objects.

    Containers (ctypes instances, tuples) are tracked by the collector, so
    making tens of thousands of them triggers collection after collection,
    each walking the growing list: pausing it for the build more than doubles
    the rate.  Objects made by decoding or symbolizing cannot form reference
    cycles, so nothing is missed; the previous state is restored even on
    error.

    Leaving allocates nothing the collector tracks (a class, not a generator,
    whose ``StopIteration`` would), so the young generation that the build
    filled is not walked on the way out: if the caller drops the objects
    before it allocates tracked ones (a loop over events that adds up
    fields), the count falls back as they are freed and no collection ever
    walks them.  A caller that keeps them pays one young collection at its
    next tracked allocation, no more than it would have here.
    """

    __slots__ = ("_was_enabled",)

    def __enter__(self) -> None:
        self._was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._was_enabled:
            gc.enable()
