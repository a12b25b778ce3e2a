"""A real Prometheus server (Debian's ``prometheus`` package) for tests.

It listens on a free loopback port, keeps its data in a temporary directory,
scrapes the given targets every second, and is always killed at the end.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional

import pytest

PROMETHEUS = shutil.which("prometheus")
requires_prometheus = pytest.mark.skipif(
    PROMETHEUS is None,
    reason="Debian's prometheus server is not installed (.ci/run installs it: "
           "apt-get install prometheus)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return bytes(r.read())


class Prometheus:
    def __init__(self, base: str) -> None:
        self.base = base

    def query(self, expr: str) -> List[Any]:
        """The instant vector ``expr`` gives now: ``[{"metric":..., "value": [t, "v"]}]``."""
        url = f"{self.base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        body = json.loads(_get(url))
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def value(self, expr: str) -> Optional[float]:
        """The single value of ``expr``, or None while it has no sample."""
        result = self.query(expr)
        if not result:
            return None
        assert len(result) == 1, result
        return float(result[0]["value"][1])

    def wait(self, expr: str, done: Callable[[Optional[float]], bool],
             timeout: float = 60.0) -> Optional[float]:
        """Poll ``expr`` until ``done(value)``; fail after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        last: Optional[float] = None
        while time.monotonic() < deadline:
            last = self.value(expr)
            if done(last):
                return last
            time.sleep(0.5)
        pytest.fail(f"prometheus: {expr} never got there within {timeout} s (last: {last})")


@contextmanager
def prometheus(targets: List[str], workdir: Path) -> Iterator[Prometheus]:
    """Run ``prometheus`` scraping ``targets`` (``host:port``) every second."""
    assert PROMETHEUS is not None
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text(json.dumps({  # JSON is YAML
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{"job_name": "bpfskel", "static_configs": [{"targets": targets}]}],
    }))
    log = open(workdir / "prometheus.log", "wb")
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={config}",
                             f"--storage.tsdb.path={workdir / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail("prometheus exited: "
                            + (workdir / "prometheus.log").read_text()[-2000:])
            try:
                if _get(f"{base}/-/ready", timeout=2).strip():
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("prometheus was not ready within 60 s")
            time.sleep(0.3)
        yield Prometheus(base)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        log.close()
