"""bpfskel.hist: log2 histogram text."""

from __future__ import annotations

import re

from bpfskel.hist import log2_bounds, log2_hist


def test_bounds_tile_the_integers() -> None:
    # every value v lands in exactly the slot floor(log2(v)) (0 and 1 in slot 0)
    for v in range(0, 5000):
        slot = max(v.bit_length() - 1, 0)
        lo, hi = log2_bounds(slot)
        assert lo <= v <= hi
    for slot in range(1, 40):
        assert log2_bounds(slot)[0] == log2_bounds(slot - 1)[1] + 1


def test_rows_bars_and_trailing_empty_slots() -> None:
    text = log2_hist([0, 40, 10, 0, 20, 0, 0], unit="nsecs", width=40)
    lines = text.splitlines()
    assert "nsecs" in lines[0] and "distribution" in lines[0]
    rows = [re.match(r"\s*(\d+) -> (\d+)\s+: (\d+)\s+\|(\**)\s*\|$", line) for line in lines[1:]]
    assert all(rows)
    got = [(int(m[1]), int(m[2]), int(m[3]), len(m[4])) for m in rows if m]
    assert got == [(0, 1, 0, 0), (2, 3, 40, 40), (4, 7, 10, 10), (8, 15, 0, 0),
                   (16, 31, 20, 20)]   # slots after the last non-empty one are cut


def test_empty_histogram() -> None:
    assert log2_hist([0] * 32) == ""
    assert log2_hist([]) == ""
