"""``Exporter``: Prometheus metrics read from BPF state at scrape time.

Nothing polls.  Each scrape calls :meth:`Exporter.collect`, which reads the
sources right then: a global through the skeleton's mapping (no syscall), a
map with the batch commands.  So the values are as fresh as the scrape, and
an idle exporter costs nothing.

A *source* is one of:

* a :class:`~bpfskel.maps.Map`: its entries are ``(key, value)`` pairs;
* a callable, called at each scrape, returning a number (one sample), a
  sequence such as a ``.bss`` array (entries ``(index, value)``) or a
  mapping (its items).  ``lambda: skel.bss.traced`` is the usual form: after
  ``destroy()`` it raises :class:`~bpfskel.ClosedError` and the metric is
  left out of the scrape, where a kept array would read zeros.

Labels come from entries: ``labels={"comm": value("comm", labels.comm),
"pid": key()}`` (see :func:`key` and :func:`value`, or pass any
``(key, value) -> label`` callable).  Entries whose labels come out equal
are added together (every per-thread entry of one command, say), because
Prometheus refuses two series with the same labels.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from ..errors import ClosedError
from ..maps import Map
from .buckets import Buckets, convert

__all__ = ["Exporter", "key", "value", "LabelFn"]

# Prometheus' own spelling of bucket bounds ("+Inf", "2e-06"); untyped upstream.
_go_float: Callable[[float], str] = floatToGoString

LabelFn = Callable[[Any, Any], Any]
Entry = Tuple[Any, Any]


def _field(obj: Any, path: Optional[str]) -> Any:
    for part in (path.split(".") if path else ()):
        obj = getattr(obj, part)
    return obj


def key(field: Optional[str] = None, decode: Callable[[Any], Any] = str) -> LabelFn:
    """A label from the entry's key (or the field ``field`` of a struct key,
    dotted for nested members), through ``decode``."""
    return lambda k, v: decode(_field(k, field))


def value(field: Optional[str] = None, decode: Callable[[Any], Any] = str) -> LabelFn:
    """A label from the entry's value (or one of its fields)."""
    return lambda k, v: decode(_field(v, field))


def _number(v: Any) -> float:
    """An entry's value as a number: ints, and per-CPU lists summed."""
    if isinstance(v, list):
        return float(sum(_number(x) for x in v))
    if isinstance(v, (int, float)):
        return float(v)
    raise TypeError(f"value {v!r} is not a number: pass value= to pick a field")


@dataclass
class _Spec:
    kind: str
    name: str
    documentation: str
    source: Any
    labels: Dict[str, LabelFn]
    value: Optional[Callable[[Any, Any], Any]] = None
    buckets: Optional[Buckets] = None
    slot: Optional[str] = None
    counts: Optional[Callable[[Any, Any], Any]] = None
    sum: Optional[Callable[[], float]] = None
    slots: Optional[int] = None


def _entries(source: Any) -> Optional[List[Entry]]:
    """Entries of a source, or None when it reads as a single number."""
    if isinstance(source, Map):
        return source.items()
    data = source() if callable(source) else source
    if isinstance(data, (int, float)):
        return None
    if isinstance(data, Mapping):
        return list(data.items())
    if isinstance(data, ctypes.Array) or isinstance(data, (list, tuple)):
        return list(enumerate(data))
    raise TypeError(f"a metric source gave {type(data).__name__}: expected a number, a "
                    "sequence or a mapping")


def _scalar(source: Any) -> float:
    data = source() if callable(source) else source
    return _number(data)


class Exporter(Collector):
    """A set of metrics over one skeleton's state, registered with a
    ``prometheus_client`` registry (``registry.register(exporter)``, or
    :func:`bpfskel.export.serve`).  Names are used as given: follow
    Prometheus' conventions (``_total`` is added to counters, ``_seconds``,
    ``_bytes``)."""

    def __init__(self) -> None:
        self._specs: List[_Spec] = []

    def _add(self, spec: _Spec) -> "Exporter":
        if any(s.name == spec.name for s in self._specs):
            raise ValueError(f"metric {spec.name!r} is defined twice")
        self._specs.append(spec)
        return self

    def counter(self, name: str, documentation: str, source: Any, *,
                labels: Optional[Mapping[str, LabelFn]] = None,
                value: Optional[Callable[[Any, Any], Any]] = None) -> "Exporter":
        """A counter: a monotonic count kept by BPF (a global, array
        elements, map entries).  ``value(key, value)`` picks the number from
        an entry (default: the value itself; per-CPU values are added)."""
        return self._add(_Spec("counter", name, documentation, source, dict(labels or {}),
                               value))

    def gauge(self, name: str, documentation: str, source: Any, *,
              labels: Optional[Mapping[str, LabelFn]] = None,
              value: Optional[Callable[[Any, Any], Any]] = None) -> "Exporter":
        """A gauge: a value that goes up and down (queue depth, last seen)."""
        return self._add(_Spec("gauge", name, documentation, source, dict(labels or {}), value))

    def histogram(self, name: str, documentation: str, source: Any, buckets: Buckets, *,
                  labels: Optional[Mapping[str, LabelFn]] = None, slot: Optional[str] = None,
                  counts: Optional[Callable[[Any, Any], Any]] = None,
                  value: Optional[Callable[[Any, Any], Any]] = None,
                  sum: Optional[Callable[[], float]] = None,
                  slots: Optional[int] = None) -> "Exporter":
        """A histogram from slot counts (see :mod:`bpfskel.export.buckets`).

        The counts are found in one of three shapes:

        * the source's entries are ``(slot, count)``: a ``.bss`` array, an
          array map, or a hash keyed by the slot number;
        * ``slot="field"``: a map whose struct key holds labels and the slot
          in ``field`` (one histogram per label set, as ebpf_exporter does);
        * ``counts(key, value)`` returns a whole array of counts per entry
          (a map whose value is ``__u64 slots[N]``), labels from the key.

        ``sum()`` returns the exact ``_sum`` in base units, where BPF keeps
        one; otherwise it is estimated from the buckets (see there).  A
        labelled histogram always uses the estimate unless ``sum`` is given.
        ``slots`` is the number of slots where the source cannot tell (a
        struct key with ``slot=``); without it, one past the highest slot seen.
        """
        if slot is not None and counts is not None:
            raise ValueError("pass slot= or counts=, not both")
        return self._add(_Spec("histogram", name, documentation, source, dict(labels or {}),
                               value, buckets, slot, counts, sum, slots))

    # -- scrape ------------------------------------------------------------------

    def describe(self) -> Iterable[Metric]:
        return []  # the registry calls collect() once at registration otherwise

    def collect(self) -> Iterator[Metric]:
        for spec in self._specs:
            try:
                metric = self._histogram(spec) if spec.kind == "histogram" else self._plain(spec)
            except ClosedError:
                continue  # the skeleton is gone: no sample rather than zeros
            yield metric

    def _labelled(self, spec: _Spec, k: Any, v: Any) -> Tuple[str, ...]:
        return tuple(str(fn(k, v)) for fn in spec.labels.values())

    def _plain(self, spec: _Spec) -> Metric:
        family = CounterMetricFamily if spec.kind == "counter" else GaugeMetricFamily
        entries = _entries(spec.source)
        if entries is None:
            if spec.labels:
                raise ValueError(f"metric {spec.name!r}: its source is a single number, "
                                 "which has no entries to take labels from")
            m = family(spec.name, spec.documentation, labels=[])
            m.add_metric([], _scalar(spec.source))
            return m
        names = list(spec.labels) or ["index"]
        sums: Dict[Tuple[str, ...], float] = {}
        for k, v in entries:
            labels = self._labelled(spec, k, v) if spec.labels else (str(k),)
            number = _number(spec.value(k, v) if spec.value else v)
            sums[labels] = sums.get(labels, 0.0) + number
        m = family(spec.name, spec.documentation, labels=names)
        for labels, total in sums.items():
            m.add_metric(list(labels), total)
        return m

    def _histogram(self, spec: _Spec) -> Metric:
        assert spec.buckets is not None
        groups: Dict[Tuple[str, ...], List[int]] = {}
        entries = _entries(spec.source)
        if entries is None:
            raise TypeError(f"histogram {spec.name!r}: its source gave a single number")
        if spec.counts is not None:
            for k, v in entries:
                labels = self._labelled(spec, k, v)
                counts = [int(c) for c in spec.counts(k, v)]
                acc = groups.setdefault(labels, [0] * len(counts))
                for i, c in enumerate(counts):
                    acc[i] += c
        else:
            slotted: Dict[Tuple[str, ...], Dict[int, int]] = {}
            for k, v in entries:
                idx = int(_field(k, spec.slot)) if spec.slot else int(k)
                labels = self._labelled(spec, k, v)
                count = int(_number(spec.value(k, v) if spec.value else v))
                per = slotted.setdefault(labels, {})
                per[idx] = per.get(idx, 0) + count
            width = self._width(spec, entries, slotted)
            for labels, per in slotted.items():
                groups[labels] = [per.get(i, 0) for i in range(width)]
        m = HistogramMetricFamily(spec.name, spec.documentation, labels=list(spec.labels))
        for labels, counts in groups.items():
            buckets, estimate = convert(counts, spec.buckets)
            total = spec.sum() if spec.sum is not None else estimate
            m.add_metric(list(labels), [(_go_float(le), c) for le, c in buckets], total)
        return m

    @staticmethod
    def _width(spec: _Spec, entries: List[Entry], slotted: Dict[Any, Dict[int, int]]) -> int:
        """How many slots the histogram has: an array's length, a map's
        ``max_entries`` when it is keyed by the slot alone, else ``slots=``
        or one past the highest slot seen (a struct key does not say)."""
        if spec.slots is not None:
            return spec.slots
        if isinstance(spec.source, Map):
            if spec.slot is None:
                return spec.source.max_entries
        elif spec.slot is None:
            return len(entries)
        seen = [i for per in slotted.values() for i in per]
        return max(seen) + 1 if seen else 1
