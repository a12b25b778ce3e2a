"""Generated types as Python values (bpf/values.bpf.c): repr lists each member
once, positional construction skips padding, == compares values, asdict()
recurses, and copy/pickle of a view give a detached plain copy."""

from __future__ import annotations

import copy
import pickle
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

import bpfskel

from bpfenv import bpf_unavailable_reason, module_fixture

mod = module_fixture("values")


def test_repr_of_a_nested_anonymous_union_with_bitfields(mod: Any) -> None:
    t = mod.types.tagged(kind=1)
    t.lo, t.hi = 3, 5
    # it listed lo and hi three times
    assert repr(t) == "tagged(kind=1, lo=3, hi=5, word=83)"


def test_repr_of_int128_elements(mod: Any) -> None:
    w = mod.types.wide()
    w.big[0].value = -5
    w.ubig = 7
    assert repr(w) == "wide(big=[int128(-5), int128(0)], ubig=7)"  # no _raw storage


def test_positional_construction_skips_padding(mod: Any) -> None:
    flow = mod.types.flow
    assert flow(6, 1) == flow(proto=6, saddr=1)  # it fed 1 to the padding after proto
    f = flow(6, 1, 80, 2)
    assert (f.proto, f.saddr, f.sport, f.daddr) == (6, 1, 80, 2)
    with pytest.raises(TypeError):
        flow(1, 2, 3, 4, 5)
    with pytest.raises(TypeError):
        flow(6, proto=7)


def test_value_equality_and_hash(mod: Any) -> None:
    flow = mod.types.flow
    a, b = flow(proto=6, saddr=1), flow(proto=6, saddr=1)
    assert a == b and not (a != b) and a is not b  # it compared identity
    assert a != flow(proto=17, saddr=1)
    assert {a: "x"}[b] == "x"  # usable as dict keys, by value
    raw = bytearray(bytes(a))
    raw[1] = 0xFF  # padding differs: still equal, as C compares members
    assert flow.from_buffer_copy(raw) == a
    assert a != mod.types.tagged() and a != 6


def test_asdict_recurses(mod: Any) -> None:
    o = mod.types.outer()
    o.f.proto, o.n[2], o.t.lo, o.w.big[1].value = 6, 9, 2, -1
    assert bpfskel.asdict(o) == {
        "f": {"proto": 6, "saddr": 0, "sport": 0, "daddr": 0},
        "n": [0, 0, 9],
        "t": {"kind": 0, "lo": 2, "hi": 0, "word": 2},
        "w": {"big": [0, -1], "ubig": 0},
    }


@pytest.fixture
def skel(mod: Any) -> Iterator[Any]:
    reason = bpf_unavailable_reason()
    if reason:
        pytest.skip(reason)
    with mod.open_and_load() as s:
        yield s


def test_copy_of_a_view_is_a_detached_plain_copy(skel: Any) -> None:
    skel.bss.state.f.proto = 9
    for make in (copy.copy, copy.deepcopy):
        c = make(skel.bss)  # raised AttributeError: '__dict__'
        assert c == skel.bss and c.state.f.proto == 9
        skel.bss.state.f.proto = 1
        assert c.state.f.proto == 9  # detached: the map changed, the copy did not
        skel.bss.state.f.proto = 9
    inner = copy.copy(skel.bss.state.t)
    assert inner == skel.bss.state.t


def test_pickle_of_a_view(skel: Any, mod: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # pickle finds the classes through their module, as for any class
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.syspath_prepend(str(Path(mod.__file__).parent))
    skel.bss.state.n[1] = 42
    again = pickle.loads(pickle.dumps(skel.bss))
    assert again.state.n[1] == 42 and again == skel.bss
    skel.destroy()
    with pytest.raises(bpfskel.ClosedError):
        pickle.dumps(skel.bss)  # a closed view refuses, clearly
