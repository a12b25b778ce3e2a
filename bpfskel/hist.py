"""Text histograms the way BCC tools print them, and the same data as JSON.

BPF programs usually keep a histogram as an array of counters.  In a *log2*
histogram slot ``i`` counts values ``v`` with ``floor(log2(v)) == i`` (slot
0 also holds 0 and 1); in a *linear* one slot ``i`` counts values in
``[base + i*step, base + (i+1)*step)``.  :func:`log2_hist` and
:func:`linear_hist` render such an array, for example a ``__u64 hist[32]``
global read live from ``skel.bss.hist``::

         usecs               : count     distribution
             0 -> 1          : 3        |*                                       |
             2 -> 3          : 120      |****************************************|

Only the slots up to the last non-empty one are shown.
:func:`log2_hist_data` and :func:`linear_hist_data` return the same rows as
plain dicts (``start``, ``end``, ``count``; bounds inclusive), which
``json.dumps`` takes as is.  :func:`sections` prints one histogram per key,
under a ``header = key`` line, like BCC's ``section_header``.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Mapping, Tuple

__all__ = ["log2_hist", "log2_bounds", "log2_hist_data", "linear_hist", "linear_bounds",
           "linear_hist_data", "sections"]

BAR_WIDTH = 40


def log2_bounds(slot: int) -> tuple[int, int]:
    """The inclusive value range slot ``slot`` counts: 0 -> (0, 1), 3 -> (8, 15)."""
    if slot == 0:
        return 0, 1
    return 1 << slot, (1 << (slot + 1)) - 1


def linear_bounds(slot: int, base: int = 0, step: int = 1) -> tuple[int, int]:
    """The inclusive value range of a linear slot: ``[base + slot*step, ... + step - 1]``."""
    if step < 1:
        raise ValueError(f"step must be at least 1, got {step}")
    lo = base + slot * step
    return lo, lo + step - 1


def _shown(counts: Iterable[int]) -> List[int]:
    values = [int(c) for c in counts]
    last = max((i for i, c in enumerate(values) if c), default=-1)
    return values[:last + 1]


def _render(rows: List[Tuple[int, int, int]], unit: str, width: int, ranges: bool) -> str:
    if not rows:
        return ""
    peak = max(count for _lo, _hi, count in rows) or 1
    hi_width = max(len(str(rows[-1][1])), 5)
    lo_width = max(hi_width, len(unit) + 1, max(len(str(lo)) for lo, _hi, _c in rows))
    span = hi_width + 4 if ranges else 0
    lines: List[str] = [f"{unit:>{lo_width}}{'':{span}}  : count     distribution"]
    for lo, hi, count in rows:
        where = f"{lo:>{lo_width}} -> {hi:<{hi_width}}" if ranges else f"{lo:>{lo_width}}"
        lines.append(f"{where}  : {count:<8} |{'*' * (count * width // peak):<{width}}|")
    return "\n".join(lines)


def log2_hist_data(counts: Iterable[int]) -> List[Dict[str, int]]:
    """The rows of :func:`log2_hist` as ``{"start", "end", "count"}`` dicts."""
    return [{"start": lo, "end": hi, "count": c}
            for (lo, hi), c in ((log2_bounds(i), c) for i, c in enumerate(_shown(counts)))]


def linear_hist_data(counts: Iterable[int], base: int = 0, step: int = 1
                     ) -> List[Dict[str, int]]:
    """The rows of :func:`linear_hist` as ``{"start", "end", "count"}`` dicts."""
    return [{"start": lo, "end": hi, "count": c}
            for (lo, hi), c in ((linear_bounds(i, base, step), c)
                                for i, c in enumerate(_shown(counts)))]


def log2_hist(counts: Iterable[int], unit: str = "usecs", width: int = BAR_WIDTH) -> str:
    """The histogram as text (no trailing newline); empty text if all counts are 0."""
    rows = [(r["start"], r["end"], r["count"]) for r in log2_hist_data(counts)]
    return _render(rows, unit, width, ranges=True)


def linear_hist(counts: Iterable[int], base: int = 0, step: int = 1, unit: str = "value",
                width: int = BAR_WIDTH) -> str:
    """A linear histogram as text: one value per row when ``step`` is 1
    (BCC's ``print_linear_hist``), else ``lo -> hi`` ranges."""
    rows = [(r["start"], r["end"], r["count"]) for r in linear_hist_data(counts, base, step)]
    return _render(rows, unit, width, ranges=step > 1)


def sections(hists: Mapping[Any, Iterable[int]], render: Callable[[Iterable[int]], str] = log2_hist,
             header: str = "key") -> str:
    """One histogram per key, each under ``header = key`` (keys sorted), as
    BCC prints a histogram keyed by (section, slot).  ``render`` is
    :func:`log2_hist` or, e.g., ``lambda c: linear_hist(c, 0, 10)``."""
    out = []
    for key in sorted(hists, key=lambda k: (str(type(k)), k)):
        body = render(hists[key])
        if body:
            out.append(f"\n{header} = {key}\n{body}")
    return "\n".join(out).lstrip("\n")
