"""Metrics about the BPF machinery itself, for every skeleton served.

* ``bpfskel_map_entries`` / ``bpfskel_map_max_entries`` /
  ``bpfskel_map_fullness_ratio`` for the maps that fill up (hash, LRU hash,
  their per-CPU forms and LPM tries).  A full hash map makes BPF's
  ``bpf_map_update_elem`` fail with E2BIG, which is silent data loss.
  Counting walks the keys with the batch commands at each scrape, so
  ``maps=`` can narrow it for very large maps.
* ``bpfskel_events_lost_total`` for event readers that count losses (perf
  buffers report lost samples; a ring buffer never loses one, the BPF side's
  ``bpf_ringbuf_reserve`` fails instead, which its program has to count).
* ``bpfskel_prog_runs_total`` / ``bpfskel_prog_run_seconds_total`` per
  program, only while the kernel times programs (see :mod:`bpfskel.stats`):
  otherwise the counters would stand still and read as idle programs.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Optional, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..errors import ClosedError
from ..stats import program_stats, stats_enabled
from ..uapi import MapType

__all__ = ["SelfMetrics", "FILLING_MAP_TYPES"]

FILLING_MAP_TYPES = frozenset({MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH,
                               MapType.LRU_PERCPU_HASH, MapType.LPM_TRIE})


class SelfMetrics(Collector):
    """Self-metrics of one skeleton (labelled ``object``) and its readers."""

    def __init__(self, skel: Any, readers: Sequence[Any] = (),
                 maps: Optional[Sequence[str]] = None) -> None:
        self.skel = skel
        self.readers = list(readers)
        self.maps = None if maps is None else set(maps)

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        if self.skel.destroyed or not self.skel.loaded:
            return
        obj = type(self.skel)._name_
        try:
            yield from self._maps(obj)
            yield from self._programs(obj)
        except ClosedError:  # destroyed meanwhile, by another thread
            return
        counting = [r for r in self.readers if getattr(r, "lost_events", None) is not None]
        if counting:
            lost = CounterMetricFamily("bpfskel_events_lost",
                                       "Events the kernel dropped before a reader took them",
                                       labels=["object", "reader"])
            for reader in counting:
                lost.add_metric([obj, str(reader.source)], float(reader.lost_events))
            yield lost

    def _maps(self, obj: str) -> Iterator[Metric]:
        labels = ["object", "map"]
        entries = GaugeMetricFamily("bpfskel_map_entries", "Entries in the map", labels=labels)
        limit = GaugeMetricFamily("bpfskel_map_max_entries", "The map's max_entries",
                                  labels=labels)
        ratio = GaugeMetricFamily("bpfskel_map_fullness_ratio",
                                  "Entries over max_entries: at 1 BPF's updates fail",
                                  labels=labels)
        for m in self.skel.maps:
            if m.type not in FILLING_MAP_TYPES or (self.maps is not None
                                                   and m.ident not in self.maps):
                continue
            n, top = len(m), m.max_entries
            entries.add_metric([obj, m.name], n)
            limit.add_metric([obj, m.name], top)
            ratio.add_metric([obj, m.name], n / top if top else 0.0)
        yield from (entries, limit, ratio)

    def _programs(self, obj: str) -> Iterator[Metric]:
        if not stats_enabled():
            return
        labels = ["object", "prog"]
        runs = CounterMetricFamily("bpfskel_prog_runs", "Times the program ran while the "
                                   "kernel counted (kernel.bpf_stats_enabled)", labels=labels)
        secs = CounterMetricFamily("bpfskel_prog_run_seconds", "Time spent running the program "
                                   "while the kernel counted", labels=labels)
        for prog in self.skel.progs:
            if prog.fd < 0:
                continue  # not loaded (autoload off)
            st = program_stats(prog)
            runs.add_metric([obj, prog.name], st.run_cnt)
            secs.add_metric([obj, prog.name], st.run_time_ns / 1e9)
        yield from (runs, secs)
