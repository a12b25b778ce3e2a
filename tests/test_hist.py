"""bpfskel.hist: log2 and linear histogram text, JSON rows, per-key sections."""

from __future__ import annotations

import json
import os
import re

import pytest

from bpfskel.hist import log2_bounds, log2_hist

from bpfenv import generated_module, needs_tracefs, requires_bpf


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


def test_linear_rows_and_ranges() -> None:
    from bpfskel.hist import linear_bounds, linear_hist

    text = linear_hist([0, 3, 5, 0, 1, 0], unit="value", width=10)
    rows = [re.match(r"\s*(\d+)\s+: (\d+)\s+\|(\**)\s*\|$", line)
            for line in text.splitlines()[1:]]
    assert all(rows)
    assert [(int(m[1]), int(m[2]), len(m[3])) for m in rows if m] == [
        (0, 0, 0), (1, 3, 6), (2, 5, 10), (3, 0, 0), (4, 1, 2)]
    text = linear_hist([2, 0, 4], base=100, step=10, unit="msecs")
    assert re.search(r"^\s+120 -> 129\s+: 4 ", text, re.M)
    assert linear_bounds(3, 100, 10) == (130, 139)
    assert linear_hist([0, 0]) == ""
    with pytest.raises(ValueError):
        linear_bounds(1, 0, 0)


def test_data_is_json_and_matches_the_text() -> None:
    from bpfskel.hist import linear_hist_data, log2_hist_data

    data = log2_hist_data([1, 0, 7, 0])
    assert data == [{"start": 0, "end": 1, "count": 1}, {"start": 2, "end": 3, "count": 0},
                    {"start": 4, "end": 7, "count": 7}]
    assert json.loads(json.dumps(data)) == data
    assert linear_hist_data([0, 2], base=-5, step=5) == [
        {"start": -5, "end": -1, "count": 0}, {"start": 0, "end": 4, "count": 2}]


def test_sections_one_histogram_per_key() -> None:
    from bpfskel.hist import linear_hist, sections

    text = sections({20: [0, 1], 3: [4], 7: [0, 0]}, header="pid")
    parts = text.split("\n\n")
    assert [p.splitlines()[0] for p in parts] == ["pid = 3", "pid = 20"]  # empty key 7 left out
    assert parts[0].splitlines()[1:] == log2_hist([4]).splitlines()
    lin = sections({"a": [1]}, render=lambda c: linear_hist(c, 0, 10), header="comm")
    assert lin.splitlines()[0] == "comm = a" and "0 -> 9" in lin


@requires_bpf
@needs_tracefs
def test_histogram_of_a_live_bss_array(tmp_path_factory: pytest.TempPathFactory) -> None:
    """BPF (bpf/mapkinds.bpf.c) bumps hist[calls & 7] on every getppid(): the
    rendered rows add up to the calls, and reading with exchange() clears."""
    from bpfskel.hist import linear_hist, linear_hist_data

    mod = generated_module("mapkinds", tmp_path_factory)
    with mod.open() as skel:
        skel.rodata.target_tgid = os.getpid()
        skel.load()
        skel.attach()
        for _ in range(21):
            os.getppid()
        counts = [skel.bss.exchange("hist", 0, index=i) for i in range(8)]
        assert sum(counts) == 21 and list(skel.bss.hist) == [0] * 8
        assert counts == [2, 3, 3, 3, 3, 3, 2, 2]  # calls 1..21 modulo 8
        data = linear_hist_data(counts)
        assert [r["count"] for r in data] == counts
        assert len(linear_hist(counts).splitlines()) == 9
