"""profile, run for real: a busy loop built here spins in a known function;
that function must top the profile in text, JSON and folded output, and
-U/-K/-c must shape what is shown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from symenv import BUSY_SRC, compile_c, start_target

from bpfenv import REPO_ROOT, requires_bpf
from toolenv import json_lines, run_interval

pytestmark = requires_bpf

COMM = "bpfskel_busy"  # the binary's name, so its comm


@pytest.fixture
def busy(tmp_path: Path) -> Iterator["subprocess.Popen[str]"]:
    proc = start_target([str(compile_c(tmp_path, COMM, BUSY_SRC))])
    yield proc
    proc.kill()
    proc.wait()


def test_profile_text_busiest_stack_last(busy: "subprocess.Popen[str]") -> None:
    out, err = run_interval("profile", "-p", str(busy.pid), "-F", "99", "2")
    blocks = [b.splitlines() for b in out.strip().split("\n\n")]
    for b in blocks:  # "    -   comm (pid)" then the count closes each block
        assert b[-2].split() == ["-", COMM, f"({busy.pid})"], out
    last = blocks[-1]
    assert [ln.strip() for ln in last[:2]] == ["hot_spin_here", "main"], out
    assert int(last[-1]) == max(int(b[-1]) for b in blocks) >= 10, out


def test_profile_json_by_comm_user_stacks_only(busy: "subprocess.Popen[str]") -> None:
    out, _ = run_interval("profile", "-c", COMM, "-U", "--json", "-F", "99", "2")
    records = json_lines(out)
    assert records and all(r["type"] == "stack" for r in records)
    assert {(r["comm"], r["pid"]) for r in records} == {(COMM, busy.pid)}
    assert all(r["kernel_stack"] == [] for r in records)
    top = max(records, key=lambda r: r["count"])
    assert top["user_stack"][:2] == ["hot_spin_here", "main"], top
    assert sum(r["count"] for r in records) >= 10


def test_profile_folded_kernel_stacks_only(busy: "subprocess.Popen[str]") -> None:
    out, _ = run_interval("profile", "-p", str(busy.pid), "-K", "-f", "-F", "99", "2")
    lines = [ln.rsplit(" ", 1) for ln in out.splitlines()]
    assert lines and sum(int(n) for _, n in lines) >= 10, out
    for stack, _ in lines:  # comm as the root, then kernel frames only
        root, *frames = stack.split(";")
        assert root == COMM and all(f.endswith("_[k]") for f in frames), stack
    assert "hot_spin_here" not in out


def test_profile_usage_errors() -> None:
    for argv in (["-F", "0"], ["-f", "--json"], ["-U", "-K"], ["--", "-1"]):
        run = subprocess.run([sys.executable, "-m", "bpfskel.tools", "profile", *argv],
                             capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
        assert run.returncode == 2 and run.stderr.startswith("bpfskel-tools profile: error:"), (
            argv, run.stderr)
