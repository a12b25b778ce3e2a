"""Prometheus export of BPF state: ``pip install 'bpfskel[prometheus]'``.

The metrics are read when Prometheus scrapes (no polling thread):

    from bpfskel import export, labels

    exp = (export.Exporter()
           .counter("syslat_calls", "System calls traced", lambda: skel.bss.traced)
           .histogram("syslat_latency_seconds", "System call latency",
                      lambda: skel.bss.hist, export.Log2(scale=1e-6))
           .counter("syslat_process_calls", "Calls per command", skel.maps.procs,
                    labels={"comm": export.value("comm", labels.comm)},
                    value=lambda k, v: v.calls))
    server = export.serve(9435, skel, exp)     # /metrics, until server.close()

Everything here needs ``prometheus_client``; the decoders
(:mod:`bpfskel.labels`) and JSON lines (:mod:`bpfskel.jsonl`) do not.
"""

from __future__ import annotations

try:
    import prometheus_client  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the installation
    raise ImportError("bpfskel.export needs prometheus_client: pip install "
                      "'bpfskel[prometheus]' (Debian: apt-get install "
                      f"python3-prometheus-client) ({e})") from e

from .buckets import Buckets, Fixed, Linear, Log2, convert
from .metrics import Exporter, key, value
from .selfmetrics import SelfMetrics
from .server import MetricsServer, parse_listen, serve

__all__ = ["Buckets", "Exporter", "Fixed", "Linear", "Log2", "MetricsServer", "SelfMetrics",
           "convert", "key", "parse_listen", "serve", "value"]
