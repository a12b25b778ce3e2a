"""Metrics from every map shape bpfskel.export reads, against values the
test chose: a real program counts lseek(2) offsets (bpf/export.bpf.c) from
this process and from a child in a cgroup of its own, and the scrape must
show exactly the histograms and counters computed here in Python.  The
cgroup label is checked against /proc/<pid>/cgroup, which the kernel writes."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Sequence

import pytest

from bpfskel import labels

from bpfenv import generated_module, on_cpu, requires_bpf
from mapsenv import traced

prometheus_client = pytest.importorskip("prometheus_client",
                                        reason="the prometheus extra is not installed")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from bpfskel import export  # noqa: E402

pytestmark = requires_bpf

MARK = 1 << 40
MINE = [0, 1, 5, 50, 150, 900, 5000]
CHILDS = [3, 3, 20, 700, 1200]


def seek_all(values: Sequence[int], path: str, last_whence: int = os.SEEK_SET) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        for i, v in enumerate(values):
            os.lseek(fd, MARK + v, last_whence if i == len(values) - 1 else os.SEEK_SET)
    finally:
        os.close(fd)


def own_cgroup(pid: str = "self") -> str:
    with open(f"/proc/{pid}/cgroup") as f:
        return next(line.strip().split(":", 2)[2] for line in f if line.startswith("0::"))


def log2_counts(values: Sequence[int], slots: int) -> List[int]:
    out = [0] * slots
    for v in values:
        out[min(max(v, 1).bit_length() - 1, slots - 1)] += 1
    return out


def fixed_counts(values: Sequence[int], bounds: Sequence[int]) -> List[int]:
    out = [0] * (len(bounds) + 1)
    for v in values:
        out[next((i for i, b in enumerate(bounds) if v <= b), len(bounds))] += 1
    return out


def histogram(fam: Any, **want: str) -> List[float]:
    """The cumulative bucket counts of one labelled histogram series."""
    return [s.value for s in fam.samples if s.name.endswith("_bucket")
            and all(s.labels.get(k) == v for k, v in want.items())]


def cumulative(counts: Sequence[int]) -> List[float]:
    out, running = [], 0
    for c in counts:
        running += c
        out.append(float(running))
    return out


@pytest.fixture(scope="module")
def mod(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generated_module("export", tmp_path_factory)


def test_every_map_shape(mod: Any, tmp_path: Path) -> None:
    root = labels.cgroup2_root()
    if not os.path.exists(f"{root}/cgroup.controllers"):
        pytest.skip("no cgroup v2 hierarchy mounted")
    cg = f"{root}/bpfskel-export-{os.getpid()}"
    os.mkdir(cg)
    target = tmp_path / "seekable"
    target.write_bytes(b"x")
    try:
        with mod.open() as skel:
            skel.rodata.target_tgid = os.getpid()
            skel.rodata.target_cgroup = os.stat(cg).st_ino  # cgroup v2: id == inode
            skel.load()
            skel.attach()
            seek_all(MINE, str(target))
            child = subprocess.run(
                [sys.executable, "-c", "import sys, os; sys.path[:0] = sys.argv[1:2]; "
                 "from test_export_maps import seek_all; "
                 f"seek_all({CHILDS!r}, sys.argv[2], os.SEEK_END)",
                 str(Path(__file__).parent), str(target)],
                preexec_fn=lambda: Path(cg, "cgroup.procs").write_text(str(os.getpid())),
                capture_output=True, text=True, timeout=60)
            assert child.returncode == 0, child.stderr
            text = prometheus_client.generate_latest(registry(skel)).decode()
    finally:
        os.rmdir(cg)
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    mine, theirs = own_cgroup(), f"/bpfskel-export-{os.getpid()}"
    everything = MINE + CHILDS

    # struct key {cgroup, slot}: one full histogram per cgroup, path-labelled
    lat = fams["t_offset"]
    assert {s.labels["cgroup"] for s in lat.samples} == {mine, theirs}
    for path, values in ((mine, MINE), (theirs, CHILDS)):
        assert histogram(lat, cgroup=path) == cumulative(log2_counts(values, 16))
        count = [s.value for s in lat.samples
                 if s.name == "t_offset_count" and s.labels["cgroup"] == path]
        assert count == [len(values)]
    # array map indexed by slot: a linear histogram of 8 slots of 100
    lin = [min(v // 100, 7) for v in everything]
    assert histogram(fams["t_linear"]) == cumulative([lin.count(i) for i in range(8)])
    # a whole histogram in each value, fixed bounds, labelled by cgroup
    for path, values in ((mine, MINE), (theirs, CHILDS)):
        assert histogram(fams["t_fixed"], cgroup=path) == cumulative(
            fixed_counts(values, [10, 100, 1000]))
    # per-CPU array: one counter, the CPUs added
    assert [s.value for s in fams["t_calls"].samples] == [len(everything)]
    # struct values, labels through a static table
    whence = {s.labels["whence"]: s.value for s in fams["t_whence_calls"].samples}
    assert whence == {"SEEK_SET": len(everything) - 1, "SEEK_END": 1}
    total = {s.labels["whence"]: s.value for s in fams["t_whence_offset"].samples}
    assert total == {"SEEK_SET": sum(everything) - CHILDS[-1], "SEEK_END": CHILDS[-1]}
    # a .bss array, its index decoded as an errno name
    errs = {s.labels["errno"]: s.value for s in fams["t_errors"].samples}
    assert errs["EPERM"] == sum(1 for v in everything if v & 7 == 1)
    assert sum(errs.values()) == len(everything) and len(errs) == 8
    # self-metrics: the hash maps' fullness
    full = {s.labels["map"]: s.value for s in fams["bpfskel_map_fullness_ratio"].samples}
    keys = sum(1 for c in log2_counts(MINE, 16) if c) + sum(1 for c in log2_counts(CHILDS, 16)
                                                            if c)
    assert math.isclose(full["cg_log2"], keys / 256)
    assert math.isclose(full["by_whence"], 2 / 4) and math.isclose(full["cg_fixed"], 2 / 16)


def registry(skel: Any) -> Any:
    by_cgroup = {"cgroup": export.key("cgroup", labels.cgroup_path)}
    seek = labels.static({os.SEEK_SET: "SEEK_SET", os.SEEK_CUR: "SEEK_CUR",
                          os.SEEK_END: "SEEK_END"})
    exp = (export.Exporter()
           .histogram("t_offset", "offsets by cgroup", skel.maps.cg_log2, export.Log2(),
                      labels=by_cgroup, slot="slot", slots=16)
           .histogram("t_linear", "offsets", skel.maps.linear, export.Linear(100))
           .histogram("t_fixed", "offsets by cgroup", skel.maps.cg_fixed,
                      export.Fixed([10, 100, 1000]),
                      labels={"cgroup": export.key(decode=labels.cgroup_path)},
                      counts=lambda k, v: v.slots)
           .counter("t_calls", "lseeks", skel.maps.calls)
           .counter("t_whence_calls", "lseeks by whence", skel.maps.by_whence,
                    labels={"whence": export.key(decode=seek)}, value=lambda k, v: v.count)
           .counter("t_whence_offset", "offsets by whence", skel.maps.by_whence,
                    labels={"whence": export.key(decode=seek)}, value=lambda k, v: v.total)
           .counter("t_errors", "by errno", lambda: skel.bss.errors,
                    labels={"errno": export.key(decode=labels.errno_name)}))
    reg = prometheus_client.CollectorRegistry(auto_describe=False)
    reg.register(exp)
    reg.register(export.SelfMetrics(skel))
    return reg


def test_a_destroyed_skeleton_scrapes_empty(mod: Any) -> None:
    skel = mod.open_and_load()
    reg = registry(skel)
    before: Dict[str, Any] = {f.name: f for f in text_string_to_metric_families(
        prometheus_client.generate_latest(reg).decode())}
    assert before["t_linear"].samples
    skel.destroy()
    after = prometheus_client.generate_latest(reg).decode()
    assert "t_linear_bucket" not in after and "bpfskel_map" not in after


def test_lost_events_of_a_perf_buffer(tmp_path_factory: pytest.TempPathFactory) -> None:
    if not os.path.isdir("/sys/kernel/tracing/events/syscalls"):
        pytest.skip("tracefs not mounted at /sys/kernel/tracing")
    maps_mod = generated_module("maps", tmp_path_factory)
    with traced(maps_mod) as skel:
        got: List[Any] = []
        # one 4 KiB page per CPU holds fewer than 100 of its 48-byte records
        with skel.maps.perf_events.perf_buffer(lambda cpu, e: got.append(e), page_count=1) as pb:
            with on_cpu(min(os.sched_getaffinity(0))):  # one ring: one LOST record
                for _ in range(500):
                    os.getppid()
                pb.consume()
                os.getppid()  # the kernel writes the LOST record once there is room
                pb.consume()
            reg = prometheus_client.CollectorRegistry(auto_describe=False)
            reg.register(export.SelfMetrics(skel, readers=[pb]))
            text = prometheus_client.generate_latest(reg).decode()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    (sample,) = fams["bpfskel_events_lost"].samples
    assert sample.labels == {"object": "maps", "reader": pb.source}
    assert sample.value == pb.lost_events == 501 - len(got) > 0
