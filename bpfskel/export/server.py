"""Serving ``/metrics`` over HTTP from a thread of the app.

The server thread only answers requests; each request collects (reads BPF
state) in that thread.  Reads are syscalls on map fds and loads from the
mappings, which are safe beside the app's own thread.
"""

from __future__ import annotations

import socket
import threading
from http.server import ThreadingHTTPServer
from typing import Any, Optional, Sequence, Tuple, Type

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import MetricsHandler
from prometheus_client.registry import Collector

from .selfmetrics import SelfMetrics

__all__ = ["serve", "MetricsServer", "parse_listen"]


def parse_listen(text: str) -> Tuple[str, int]:
    """``":9435"`` -> ``("", 9435)`` (every address), ``"127.0.0.1:9435"``,
    ``"[::1]:9435"``; a bare ``"9435"`` is a port.  ValueError otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "", text
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r}: expected [HOST]:PORT, such as :9435 or 127.0.0.1:9435")
    return host, int(port)


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def _server_class(host: str) -> Type[_Server]:
    if ":" in host:
        return type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
    return _Server


class MetricsServer:
    """A running ``/metrics`` endpoint: ``port`` (the real one when 0 was
    asked), ``url``, ``registry``; ``close()`` stops it (also a context
    manager).  The thread is a daemon: it never keeps the app alive."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._httpd = _server_class(host)((host, port), MetricsHandler.factory(registry))
        self.host = host
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        name=f"bpfskel-metrics:{self.port}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host = self.host or "127.0.0.1"
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}/metrics"

    def close(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()

    def __enter__(self) -> "MetricsServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(port: int, skel: Any = None, *collectors: Collector, addr: str = "",
          registry: Optional[CollectorRegistry] = None, self_metrics: bool = True,
          readers: Sequence[Any] = ()) -> MetricsServer:
    """Serve ``/metrics`` on ``addr:port`` (``port=0``: a free port) until
    ``close()``.

    ``collectors`` are usually :class:`~bpfskel.export.Exporter` objects.
    With ``self_metrics``, ``skel``'s map fullness, program statistics and
    the losses of ``readers`` are added (:class:`SelfMetrics`).  A fresh
    registry is used unless one is given, so only these metrics are served.
    """
    reg = registry if registry is not None else CollectorRegistry(auto_describe=False)
    for c in collectors:
        reg.register(c)
    if skel is not None and self_metrics:
        reg.register(SelfMetrics(skel, readers))
    return MetricsServer(addr, port, reg)
