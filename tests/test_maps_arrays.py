"""Whole maps as arrays (bpf/maps.bpf.c): ``items_array()``, ``to_numpy()``,
``to_pandas()``, per-CPU ``sum()``, checked against ``items()`` and against an
independent key-by-key walk through libbpf, with numpy and, in a subprocess
whose import system refuses numpy, without it."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Iterator

import pytest

from bpfenv import module_fixture, possible_cpus_from_sysfs
from mapsenv import comm, pytestmark, raw_walk, traced  # noqa: F401

np = pytest.importorskip("numpy", reason="numpy is not installed (the bpfskel[numpy] extra)")
PY_TGID = 4_000_000_000  # above any pid (pid_max is at most 2**22)
REPO = Path(__file__).resolve().parent.parent

mod = module_fixture("maps")


@pytest.fixture
def skel(mod: Any) -> Iterator[Any]:
    with traced(mod, slots=3) as s:
        for _ in range(9):
            os.getppid()  # BPF writes three entries
        # and Python 500 more, so the walk takes several batches
        s.maps.stats.update({mod.types.key(tgid=PY_TGID + i, slot=i % 7, kind=i % 3):
                             mod.types.stat(calls=i * 3, last_seq=i, comm=b"py%d" % i)
                             for i in range(500)})
        yield s


def test_items_array_matches_items_and_the_raw_walk(mod: Any, skel: Any) -> None:
    stats = skel.maps.stats
    keys, values = stats.items_array()
    assert len(keys) == len(values) == 503
    assert keys.dtype.names == ("tgid", "slot", "kind") and keys.dtype.itemsize == 8
    assert values.dtype.names == ("calls", "last_seq", "comm")
    items = stats.items()
    assert [bytes(k) for k, _ in items] == [k.tobytes() for k in keys]  # same order
    assert [bytes(v) for _, v in items] == [v.tobytes() for v in values]
    raw = dict(raw_walk(stats.fd, 8, 32))
    assert {k.tobytes(): v.tobytes() for k, v in zip(keys, values)} == raw
    mine = keys["tgid"] == os.getpid()
    assert sorted(keys["slot"][mine].tolist()) == [0, 1, 2]
    assert set(values["comm"][mine].tolist()) == {comm()}
    assert int(values["calls"][mine].sum()) == 9
    py = {int(t): (int(c), bytes(n)) for t, c, n in zip(keys["tgid"], values["calls"],
                                                        values["comm"]) if t >= PY_TGID}
    assert py == {PY_TGID + i: (i * 3, b"py%d" % i) for i in range(500)}


def test_to_numpy_is_one_structured_array(skel: Any) -> None:
    arr = skel.maps.stats.to_numpy()
    keys, values = skel.maps.stats.items_array()
    assert arr.dtype.names == ("key", "value")
    # by value: the struct's padding bytes are not data (BPF may leave anything there)
    assert arr["key"].tolist() == keys.tolist()
    assert arr["value"].tolist() == values.tolist()


def test_array_map_and_scalars(skel: Any) -> None:
    keys, values = skel.maps.counters.items_array()
    assert keys.dtype == np.dtype("<u4") and values.dtype == np.dtype("<u8")
    assert keys.tolist() == [0, 1, 2, 3]
    assert values.tolist() == [v for _, v in skel.maps.counters.items()] == [9, 0, 0, 0]


def test_percpu_values_array_and_sum(skel: Any) -> None:
    ncpu = possible_cpus_from_sysfs()
    pcpu = skel.maps.pcpu
    pcpu[1] = [7 * c + 1 for c in range(ncpu)]
    values = pcpu.values_array()
    assert values.shape == (2, ncpu) and values.dtype == np.dtype("<u8")
    assert values.tolist() == [list(v) for _, v in pcpu.items()]
    keys, totals = pcpu.sum()
    assert keys.tolist() == [0, 1]
    assert totals.tolist() == [9, sum(7 * c + 1 for c in range(ncpu))]
    with pytest.raises(TypeError, match="not a per-CPU map"):
        skel.maps.counters.sum()


def test_to_pandas(skel: Any) -> None:
    pytest.importorskip("pandas", reason="pandas is not installed (the bpfskel[pandas] extra)")
    df = skel.maps.stats.to_pandas()
    assert list(df.columns) == ["tgid", "slot", "kind", "calls", "last_seq", "comm"]
    assert len(df) == 503
    assert int(df[df.tgid == os.getpid()].calls.sum()) == 9
    pc = skel.maps.pcpu.to_pandas()
    assert list(pc.columns) == ["key", "value"] and pc.value.tolist() == [9, 0]


_NO_NUMPY = """
import ctypes, importlib.util, json, os, sys

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name == "numpy" or name.startswith("numpy."):
            raise ImportError("numpy is blocked for this test")
        return None

sys.meta_path.insert(0, Refuse())
spec = importlib.util.spec_from_file_location("maps_skel", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
with mod.open_and_load() as skel:
    stats = skel.maps.stats
    stats.update({mod.types.key(tgid=i, slot=1, kind=2): mod.types.stat(calls=i * 5)
                  for i in range(300)})
    keys, values = stats.items_array()
    assert isinstance(keys, ctypes.Array) and keys._type_ is mod.types.key
    assert isinstance(values, ctypes.Array) and values._type_ is mod.types.stat
    same = [bytes(k) + bytes(v) for k, v in stats.items()] == [
        bytes(k) + bytes(v) for k, v in zip(keys, values)]
    ncpu = len(skel.maps.pcpu[0])
    skel.maps.pcpu[0] = list(range(ncpu))
    pk, totals = skel.maps.pcpu.sum()
    out = {"same": same, "n": len(keys), "calls": sorted(v.calls for v in values),
           "pcpu": [list(r) for r in skel.maps.pcpu.values_array()], "ncpu": ncpu,
           "totals": list(totals), "numpy_loaded": "numpy" in sys.modules}
print(json.dumps(out))
"""


def test_items_array_without_numpy_gives_ctypes_arrays(mod: Any) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(_NO_NUMPY), mod.__file__],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["numpy_loaded"] is False and out["same"] is True and out["n"] == 300
    assert out["calls"] == [i * 5 for i in range(300)]
    ncpu = out["ncpu"]
    assert out["pcpu"] == [list(range(ncpu)), [0] * ncpu]
    assert out["totals"] == [sum(range(ncpu)), 0]
    _ = ctypes
