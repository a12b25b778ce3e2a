"""``.bss.X`` sections (tests/corpus/bss_custom: ``SEC(".bss.extra")``, NOBITS).

The generator gives a data section a view only where the running libbpf made
an mmapable global data map of it (``generate.mapped_sections``).  Measured
here: the shared libbpf 1.1.2 (Debian 12) and 1.4.6 both turn ``.bss.extra``
into a map named ``.bss.extra``, so both get the view and it works live.
Only the libbpf snapshot built into bpftool 7.1 rejects the object
(``bad map relo against 'extra_a' in section '.bss.extra'``), as
``bpftool gen skeleton`` shows; with such a libbpf, opening the object fails,
so generation fails with a clean error rather than emitting a dead view.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Dict

import pytest

from bpfskel.gen import layout
from bpfskel.gen.generate import generate_from_info, mapped_sections
from bpfskel.gen.objfile import ObjectInfo, read_object

from bpfenv import lookup, requires_bpf


@pytest.fixture(scope="module")
def info(corpus_objects: Dict[str, Path]) -> ObjectInfo:
    obj = corpus_objects["bss_custom"]
    return read_object(obj.read_bytes(), str(obj), "bss_custom")


@pytest.fixture(scope="module")
def module(corpus_objects: Dict[str, Path], info: ObjectInfo,
           tmp_path_factory: pytest.TempPathFactory) -> Any:
    obj = corpus_objects["bss_custom"]
    path = tmp_path_factory.mktemp("bss_custom") / "bss_custom_skel.py"
    path.write_text(generate_from_info(info, obj.read_bytes(), str(obj), "bss_custom"))
    spec = importlib.util.spec_from_file_location("bss_custom_skel", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_libbpf_maps_bss_x(info: ObjectInfo) -> None:
    (m,) = [m for m in info.maps if m.section == ".bss.extra"]
    assert m.internal and m.value_size == 24 and m.max_entries == 1
    assert mapped_sections(info) == {".bss", ".bss.extra", ".data"}


def test_view_follows_what_libbpf_maps(info: ObjectInfo) -> None:
    full = layout.plan(info.btf, None, mapped_sections(info))
    assert [s.section for s in full.sections] == [".bss", ".bss.extra", ".data"]
    (extra,) = [s for s in full.sections if s.section == ".bss.extra"]
    assert extra.ident == "bss_extra"
    assert [(v[0], v[2], v[3]) for v in extra.variables] == [("extra_a", 0, 4),
                                                            ("extra_b", 8, 16)]
    # a libbpf that makes no map of .bss.extra gets no view of it
    without = layout.plan(info.btf, None, mapped_sections(info) - {".bss.extra"})
    assert [s.section for s in without.sections] == [".bss", ".data"]


def test_module_has_bss_x_view(module: Any) -> None:
    assert ("bss_extra", module.sections.bss_extra) in \
        [(ident, cls) for _s, ident, cls in module.Skeleton._sections_]
    assert module.sections.bss_extra._section_ == ".bss.extra"


@requires_bpf
def test_bss_x_live(module: Any) -> None:
    with module.open() as skel:
        view = skel.bss_extra
        assert bytes(view) == bytes(24)                  # NOBITS: zeros before load
        view.extra_a = 5                                 # configured before load ...
        view.extra_b.seq = 77
        skel.bss.plain_bss = 3
        skel.load()
        assert skel.bss_extra is view                    # the same view, now on the map
        assert (view.extra_a, view.extra_b.seq) == (5, 77)
        # prog sums the first byte of each global into extra_a (corpus_use)
        assert skel.progs.prog.test_run().retval == 0
        assert view.extra_a == 5 + 77 + 3 + 0x7a         # ... and seen by BPF
        view.extra_b.tag = 0x5A                          # a Python write reaches the map
        raw = lookup(skel.maps.bss_extra.fd, 0, 24)
        assert int.from_bytes(raw[0:4], "little") == view.extra_a
        assert raw[8 + 12] == 0x5A
