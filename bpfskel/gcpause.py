"""``gc_paused()``: no cycle collection while a large batch of fresh objects is built.

Standard library only (``bpfskel.sym`` imports it, and stays light).
"""

from __future__ import annotations

import contextlib
import gc
from typing import Iterator

__all__ = ["gc_paused"]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cycle collector while building a large list of fresh objects.

    Containers (ctypes instances, tuples) are tracked by the collector, so
    making tens of thousands of them triggers collection after collection,
    each walking the growing list: pausing it for the build more than doubles
    the rate.  Objects made by decoding or symbolizing cannot form reference
    cycles, so nothing is missed; the previous state is restored even on
    error.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
