"""bench/readme.py: the README's benchmark table is one run of bench/run.py.

The README must carry the markers (else `make bench-readme` has nowhere to
write), and rewriting replaces exactly the block between them from the JSON
that bench/run.py writes.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _readme_mod():
    spec = importlib.util.spec_from_file_location("bench_readme", ROOT / "bench" / "readme.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


RUN = {
    "date": "2026-01-02", "machine": "cpu, 2 CPUs", "load": "load average 0.1 at the start",
    "libbpf": "1.4",
    "rows": [
        {"group": "peers", "name": "peers", "value": None, "unit": "", "goal": "", "met": None,
         "note": "BCC 9.9", "extra": {}},
        {"group": "maps", "name": "a | b", "value": 12.5, "unit": "x faster", "goal": ">= 10x",
         "met": True, "note": "n1", "extra": {}},
        {"group": "startup", "name": "import", "value": 24.04, "unit": "ms", "goal": "<= 15 ms",
         "met": False, "note": "median 29", "extra": {}},
    ],
}


def test_readme_has_the_markers_once():
    mod = _readme_mod()
    text = (ROOT / "README.md").read_text()
    assert text.count(mod.BEGIN) == 1 and text.count(mod.END) == 1
    assert text.index(mod.BEGIN) < text.index(mod.END)


def test_rewrite_replaces_only_the_block():
    mod = _readme_mod()
    before = f"intro\n{mod.BEGIN}\nold table\n{mod.END}\noutro\n"
    out = mod.rewrite(before, mod.table(RUN))
    assert out.startswith(f"intro\n{mod.BEGIN}\n") and out.endswith(f"\n{mod.END}\noutro\n")
    assert "old table" not in out
    assert "Last run: 2026-01-02; cpu, 2 CPUs; libbpf 1.4" in out and "Peers: BCC 9.9." in out
    assert "| maps | a \\| b | 12.50× faster | >= 10x | yes | n1 |" in out
    assert "| startup | import | 24 ms | <= 15 ms | **no** | median 29 |" in out
    # the peers header row is the run's header, not a table line
    assert "| peers | peers |" not in out


def test_rewrite_refuses_a_readme_without_markers(tmp_path):
    mod = _readme_mod()
    with pytest.raises(ValueError, match="markers"):
        mod.rewrite("no markers here\n", mod.table(RUN))
    src = tmp_path / "bench.json"
    src.write_text(json.dumps(RUN))
    assert mod.main([str(tmp_path / "missing.json")]) == 2
