"""How the slots of a BPF histogram array become Prometheus buckets.

A BPF histogram is an array of counters, ``counts[i]`` being the number of
values that fell in slot ``i``.  Prometheus wants cumulative buckets: for
each upper bound ``le``, how many values were ``<= le``, ending with
``le="+Inf"`` (the total, which is also ``_count``), plus ``_sum``.

Every slot gives one bucket, empty or not, so the set of series never
changes between scrapes.  Bounds are multiplied by ``scale`` so that the
series are in base units (``scale=1e-6`` for a histogram of microseconds
exported in seconds, as Prometheus names ``*_seconds``).

``_sum`` cannot be read back from counts.  Pass the exact sum where the BPF
program keeps one (a counter it adds each value to); otherwise it is
estimated as ``sum(counts[i] * mid(i))``, ``mid(i)`` being the middle of
slot ``i`` (for log2 slots: 1 for slot 0, ``1.5 * 2**i`` above, so each
value is counted at most 50% off, and at most one unit off in slot 0).
A clamped last slot has no upper end: its values count at the slot's lower
end, so the estimate is then a lower bound.
"""

from __future__ import annotations

import math
from typing import List, Sequence, Tuple

__all__ = ["Buckets", "Log2", "Linear", "Fixed", "convert"]

INF = math.inf


class Buckets:
    """Slot ``i`` <-> the value range ``[lower(i), upper(i))``, in the BPF
    program's units.  ``clamped``: the program puts values beyond the last
    slot into it (``if (slot >= MAX) slot = MAX - 1``, as BCC tools do), so the
    last slot's bucket is ``+Inf``."""

    def __init__(self, scale: float = 1.0, clamped: bool = True) -> None:
        self.scale = scale
        self.clamped = clamped

    def lower(self, slot: int) -> float:
        raise NotImplementedError

    def upper(self, slot: int) -> float:
        raise NotImplementedError

    def check(self, nslots: int) -> None:
        """Raise ValueError if ``nslots`` slots cannot be described."""
        if nslots < 1:
            raise ValueError("a histogram needs at least one slot")

    def mid(self, slot: int, nslots: int) -> float:
        if self.clamped and slot == nslots - 1:
            return self.lower(slot)
        return (self.lower(slot) + self.upper(slot)) / 2


class Log2(Buckets):
    """Slot ``i`` counts values ``v`` with ``floor(log2(v)) == i``: slot 0
    holds 0 and 1, slot ``i`` the range ``[2**i, 2**(i+1))``.  Its bucket is
    ``le = 2**(i+1)``: right both for integers (values up to ``2**(i+1) - 1``)
    and for a truncated measure (``lat_ns / 1000`` in slot ``i`` means a
    latency below ``2**(i+1)`` us)."""

    def lower(self, slot: int) -> float:
        return 0.0 if slot == 0 else float(1 << slot)

    def upper(self, slot: int) -> float:
        return float(1 << (slot + 1))


class Linear(Buckets):
    """Slot ``i`` counts values in ``[start + i*step, start + (i+1)*step)``."""

    def __init__(self, step: float, start: float = 0.0, scale: float = 1.0,
                 clamped: bool = True) -> None:
        super().__init__(scale, clamped)
        if step <= 0:
            raise ValueError("a linear histogram needs a positive step")
        self.step = step
        self.start = start

    def lower(self, slot: int) -> float:
        return self.start + slot * self.step

    def upper(self, slot: int) -> float:
        return self.start + (slot + 1) * self.step


class Fixed(Buckets):
    """Slot ``i`` counts values up to ``bounds[i]`` (and above the previous
    bound, or ``lowest`` for slot 0).  With one bound fewer than slots, the
    last slot is the overflow one (``+Inf``)."""

    def __init__(self, bounds: Sequence[float], scale: float = 1.0, lowest: float = 0.0) -> None:
        super().__init__(scale, clamped=False)
        self.bounds = [float(b) for b in bounds]
        if any(b <= a for a, b in zip([lowest] + self.bounds, self.bounds)):
            raise ValueError(f"bucket bounds must increase from {lowest}: {list(bounds)}")
        self.lowest = lowest

    def check(self, nslots: int) -> None:
        super().check(nslots)
        if nslots not in (len(self.bounds), len(self.bounds) + 1):
            raise ValueError(f"{len(self.bounds)} bounds describe {len(self.bounds)} or "
                             f"{len(self.bounds) + 1} slots, not {nslots}")

    def lower(self, slot: int) -> float:
        return self.lowest if slot == 0 else self.bounds[slot - 1]

    def upper(self, slot: int) -> float:
        return self.bounds[slot] if slot < len(self.bounds) else INF

    def mid(self, slot: int, nslots: int) -> float:
        if slot >= len(self.bounds):
            return self.lower(slot)
        return super().mid(slot, nslots)


def convert(counts: Sequence[int], buckets: Buckets) -> Tuple[List[Tuple[float, int]], float]:
    """``([(le, cumulative count), ..., (inf, total)], estimated sum)``, the
    bounds and the sum scaled to base units."""
    n = len(counts)
    buckets.check(n)
    out: List[Tuple[float, int]] = []
    running = 0
    estimate = 0.0
    for i, c in enumerate(counts):
        c = int(c)
        running += c
        estimate += c * buckets.mid(i, n)
        last_open = i == n - 1 and (buckets.clamped or buckets.upper(i) == INF)
        out.append((INF if last_open else buckets.upper(i) * buckets.scale, running))
    if out[-1][0] != INF:
        out.append((INF, running))
    return out, estimate * buckets.scale
