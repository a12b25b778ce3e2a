"""The README's "Running on many hosts" example, run as written on the
quickstart's program (only the port is replaced by a free one): it drops
every capability after attach and still serves what BPF counts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_readme import quickstart_blocks

import bpfcc
from bpfenv import REPO_ROOT, requires_bpf
from promenv import free_port

pytestmark = [requires_bpf, pytest.mark.skipif(
    not Path("/sys/kernel/tracing/events/syscalls").is_dir(),
    reason="tracefs not mounted at /sys/kernel/tracing")]


def fleet_block() -> str:
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("## Running on many hosts", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)[0]


@pytest.mark.skipif(os.geteuid() != 0, reason="not root")
def test_fleet_example_runs_as_written(tmp_path: Path) -> None:
    pytest.importorskip("prometheus_client", reason="the prometheus extra is not installed")
    blocks = quickstart_blocks()
    for name in ("prog.h", "prog.bpf.c"):
        (tmp_path / name).write_text(blocks[name])
    bpfcc.compile_bpf(tmp_path / "prog.bpf.c", tmp_path / "prog.bpf.o")
    subprocess.run([sys.executable, "-m", "bpfskel", "gen", "prog.bpf.o", "-o", "prog_skel.py"],
                   cwd=tmp_path, check=True)
    port = free_port()
    code = fleet_block().replace("9435", str(port)) + (
        "import urllib.request\n"
        "for _ in range(3):\n"
        "    os.getpid()\n"
        "print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])\n"
        "print(urllib.request.urlopen(server.url).read().decode())\n"
        "server.close()\n")
    run = subprocess.run([sys.executable, "-c", "import os\n" + code], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    url, caps, *metrics = run.stdout.splitlines()
    assert url == f"http://127.0.0.1:{port}/metrics"
    assert int(caps, 16) == 0
    text = "\n".join(metrics)
    calls = re.search(r"^prog_calls_total (\S+)$", text, re.M)
    assert calls and float(calls[1]) >= 3, text
    per_thread = re.findall(r'^prog_thread_calls_total\{tid="(\d+)"\} (\S+)$', text, re.M)
    assert per_thread and all(float(v) >= 1 for _, v in per_thread), text
    assert 'bpfskel_map_fullness_ratio{map="per_tid",object="prog"}' in text
