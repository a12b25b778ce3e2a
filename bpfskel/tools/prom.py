"""``--prometheus [HOST]:PORT`` for the summary tools (runqlat, syscount,
biolatency, funclatency):
``/metrics`` served by :mod:`bpfskel.export` while the tool runs, as
``examples/syslat.py`` does.

The summary tools read and clear their maps at each report, but Prometheus
counters and histograms must never go down.  So a map is read through
:class:`Totals`: whoever drains it (a report, or a scrape, from the
server's thread) adds what it popped both to the running totals, which the
scrape exports, and to what the next report prints.  Each report still
shows exactly what happened since the last one; the totals are kept only
when ``--prometheus`` is given (they grow with the keys seen: per process,
per thread).
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any, Callable, Dict, Generic, List, Tuple, TypeVar

from bpfskel.tools import common

V = TypeVar("V")


def add_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prometheus", metavar="[HOST]:PORT",
                   help="serve Prometheus metrics on /metrics there while tracing "
                        "(e.g. :9435; needs prometheus_client)")


def parse_option(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``args.prometheus`` becomes ``(host, port)``; a bad address, or no
    prometheus_client, is a usage error."""
    if args.prometheus is None:
        return
    try:
        from bpfskel.export import parse_listen
    except ImportError as e:
        p.error(f"--prometheus: {e}")
    try:
        args.prometheus = parse_listen(args.prometheus)
    except ValueError as e:
        p.error(f"--prometheus {e}")


class Totals(Generic[V]):
    """A map read and cleared with ``pop_items`` by both the reports and the
    scrapes.  ``convert`` turns a popped value into a plain ``V``, ``add``
    adds two of them (counts add up, maxima take the larger); ``key`` turns a
    popped key into a hashable one (a struct key into a tuple)."""

    def __init__(self, m: Any, convert: Callable[[Any], V], add: Callable[[V, V], V],
                 keep_totals: bool, key: Callable[[Any], Any] = lambda k: k) -> None:
        self._map = m
        self._key = key
        self._convert = convert
        self._add = add
        self._keep = keep_totals
        self._lock = threading.Lock()
        self._pending: Dict[Any, V] = {}
        self._totals: Dict[Any, V] = {}

    def _drain(self) -> None:
        for raw_key, raw in self._map.pop_items():
            k, v = self._key(raw_key), self._convert(raw)
            for into in (self._pending, self._totals) if self._keep else (self._pending,):
                old = into.get(k)
                into[k] = v if old is None else self._add(old, v)

    def report(self) -> List[Tuple[Any, V]]:
        """What happened since the last report, and forget it."""
        with self._lock:
            self._drain()
            rows, self._pending = list(self._pending.items()), {}
        return rows

    def totals(self) -> Dict[Any, V]:
        """Everything since the start (``keep_totals``), for a scrape."""
        with self._lock:
            self._drain()
            return dict(self._totals)


def reports(tool: str, skel: Any, args: argparse.Namespace, totals: Totals[V],
            report: Callable[[Totals[V]], None], metrics: Callable[[Any], Any]) -> None:
    """The summary tools' loop: ``report(totals)`` at each interval and at
    the end, with ``/metrics`` served meanwhile if ``--prometheus`` asked
    (``metrics(bpfskel.export)`` returns the Exporter; the lost-events
    counter and bpfskel's self-metrics are added).  The URL is printed on
    stderr after the "Tracing" line (whoever waits for that line reads one
    line at a time)."""
    server = _serve(tool, skel, args, metrics) if args.prometheus is not None else None
    try:
        common.started(tool, None, args)
        if server is not None:
            print(f"Serving metrics on {server.url}", file=sys.stderr, flush=True)
        for _last in common.intervals(args):
            report(totals)
    finally:
        if server is not None:
            server.close()


def _serve(tool: str, skel: Any, args: argparse.Namespace,
           metrics: Callable[[Any], Any]) -> Any:
    from bpfskel import export

    exporter = metrics(export).counter(
        f"{tool}_lost_events", "Events lost (map or ring buffer full)",
        lambda: skel.bss.lost_events)
    host, port = args.prometheus
    try:
        return export.serve(port, skel, exporter, addr=host)
    except OSError as e:
        raise common.ToolError(f"--prometheus {host}:{port}: {e.strerror or e}") from e
