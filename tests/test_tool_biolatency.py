"""biolatency, run for real: the test makes a loop device over a file of its
own and drives a known number of O_DIRECT writes, then reads, at distinct
offsets (dd, one 4 KiB request each, each waited for: nothing to merge).
Filtered to that disk (-d), per disk (-D) and per flags (-F), the write
histograms must hold exactly those writes (nobody else writes to the new
device) and the read ones at least those reads (udev may probe it), in
--json and in text, through each tracepoint flavour the kernel has."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator, List

import pytest

from bpfskel import features

from bpfenv import requires_bpf
from toolenv import Tool, json_lines

pytestmark = [requires_bpf, pytest.mark.tracepoint,
              pytest.mark.skipif(shutil.which("losetup") is None,
                                 reason="losetup (util-linux) not installed")]

IOS = 64


@pytest.fixture
def loop_device(tmp_path: Path) -> Iterator[str]:
    backing = tmp_path / "disk.img"
    with open(backing, "wb") as f:
        f.truncate(16 << 20)
    losetup = ["losetup", "--find", "--show", str(backing)]
    proc = subprocess.run(losetup, capture_output=True, text=True)
    if proc.returncode != 0 and shutil.which("modprobe"):  # loop may be a module
        subprocess.run(["modprobe", "loop"], capture_output=True)
        proc = subprocess.run(losetup, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot make a loop device: {proc.stderr.strip()}")
    dev = proc.stdout.strip()
    try:
        yield dev
    finally:
        subprocess.run(["losetup", "-d", dev], check=True)


def direct_io(dev: str) -> None:
    dd = ["dd", f"bs={4096}", f"count={IOS}", "status=none"]
    subprocess.run([*dd, "if=/dev/zero", f"of={dev}", "oflag=direct"], check=True)
    subprocess.run([*dd, f"if={dev}", "of=/dev/null", "iflag=direct"], check=True)


def hooks() -> List[Any]:
    return ["raw_tp", pytest.param("tp_btf", marks=pytest.mark.skipif(
        not features.tp_btf_available(), reason="this kernel has no tp_btf"))]


@pytest.mark.parametrize("hook", hooks())
def test_biolatency_json_per_disk_and_flags(loop_device: str, hook: str) -> None:
    name = os.path.basename(loop_device)
    tool = Tool("biolatency", "--json", "-D", "-F", "-d", name, "--hook", hook)
    direct_io(loop_device)
    out, _ = tool.stop()
    (report,) = json_lines(out)
    assert (report["type"], report["hook"], report["unit"], report["queued"]) == (
        "interval", hook, "usecs", False)
    hists = report["hists"]
    assert {h["disk"] for h in hists} == {name}, hists
    writes = [h for h in hists if h["flags"].endswith("Write")]
    reads = [h for h in hists if h["flags"].endswith("Read")]
    assert sum(h["total"] for h in writes) == IOS, hists
    assert sum(h["total"] for h in reads) >= IOS, hists
    for h in hists:
        assert h["total"] == sum(b["count"] for b in h["buckets"])


def test_biolatency_text_queued_milliseconds(loop_device: str) -> None:
    tool = Tool("biolatency", "-Q", "-m", "-d", os.path.basename(loop_device))
    direct_io(loop_device)
    out, _ = tool.stop()
    assert re.search(r"^\s*msecs\s+: count\s+distribution$", out, re.M), out
    counts = [int(m) for m in re.findall(r"^\s*\d+ -> \d+\s+: (\d+)", out, re.M)]
    assert sum(counts) >= 2 * IOS, out

