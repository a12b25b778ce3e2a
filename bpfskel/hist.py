"""Text histograms of log2 buckets, the way BCC tools print them.

BPF programs usually keep a latency histogram as an array of counters where
slot ``i`` counts values ``v`` with ``floor(log2(v)) == i`` (slot 0 also
holds 0 and 1).  :func:`log2_hist` renders such an array, for example a
``__u64 hist[32]`` global read live from ``skel.bss.hist``::

         usecs               : count     distribution
             0 -> 1          : 3        |*                                       |
             2 -> 3          : 120      |****************************************|

Only the slots up to the last non-empty one are shown.
"""

from __future__ import annotations

from typing import Iterable, List

__all__ = ["log2_hist", "log2_bounds"]

BAR_WIDTH = 40


def log2_bounds(slot: int) -> tuple[int, int]:
    """The inclusive value range slot ``slot`` counts: 0 -> (0, 1), 3 -> (8, 15)."""
    if slot == 0:
        return 0, 1
    return 1 << slot, (1 << (slot + 1)) - 1


def log2_hist(counts: Iterable[int], unit: str = "usecs", width: int = BAR_WIDTH) -> str:
    """The histogram as text (no trailing newline); empty text if all counts are 0."""
    values = [int(c) for c in counts]
    last = max((i for i, c in enumerate(values) if c), default=-1)
    if last < 0:
        return ""
    shown = values[:last + 1]
    peak = max(shown)
    hi_width = max(len(str(log2_bounds(last)[1])), 5)
    lo_width = max(hi_width, len(unit) + 1)
    lines: List[str] = [f"{unit:>{lo_width}}{'':{hi_width + 4}}  : count     distribution"]
    for i, count in enumerate(shown):
        lo, hi = log2_bounds(i)
        stars = count * width // peak
        lines.append(f"{lo:>{lo_width}} -> {hi:<{hi_width}}  : {count:<8} "
                     f"|{'*' * stars:<{width}}|")
    return "\n".join(lines)
