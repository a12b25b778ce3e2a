"""Running a bpfskel tool as its users do (``python -m bpfskel.tools``), for
the tool tests: start it, wait until it says it is tracing, drive a
workload, then end it with SIGINT (Ctrl-C) and take its output."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Tuple

from bpfenv import REPO_ROOT

SAFETY_DURATION = "60"  # --duration: a tool a test forgets still ends


class Tool:
    def __init__(self, tool: str, *args: str) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bpfskel.tools", tool, "--duration", SAFETY_DURATION, *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        self.err = self._wait_started()

    def _wait_started(self) -> str:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 60
        seen = ""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stderr], [], [], 1.0)
            if ready:
                line = self.proc.stderr.readline()
                seen += line
                if line.startswith("Tracing "):
                    return seen
                if not line:
                    break
        self.proc.kill()
        out, err = self.proc.communicate()
        raise AssertionError(f"the tool did not start: {seen}{err}{out}")

    def stop(self) -> Tuple[str, str]:
        """Ctrl-C, then the whole output; the tool must exit 0 without a traceback."""
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=60)
        err = self.err + err
        assert self.proc.returncode == 0, err
        assert "Traceback" not in err, err
        return out, err


def run_interval(tool: str, *args: str) -> Tuple[str, str]:
    """A tool that ends by itself (interval count or --duration)."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.run([sys.executable, "-m", "bpfskel.tools", tool, *args],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout, proc.stderr


def json_lines(out: str) -> List[Dict[str, Any]]:
    """Every line must be one JSON object."""
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert all(isinstance(r, dict) for r in records)
    return records


@contextmanager
def netns(tool: str) -> Iterator[str]:
    """A network namespace of the test's own (unique name), ``lo`` up, so
    parallel runs never share the host's loopback."""
    name = f"bpfskel-{tool}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)
