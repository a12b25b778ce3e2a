"""bpfskel.drop_capabilities: after attach, an agent keeps working with no
capability at all (Linux >= 6.5), and what it dropped is gone for good.

Runs in a child interpreter: capabilities cannot be taken back, and the
test process must keep its own.  The ground truth is the kernel's view in
/proc/<pid>/status, and the capability numbers come from linux/capability.h.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from bpfskel import caps, errors

from bpfenv import REPO_ROOT, generated_module, requires_bpf

HEADER = Path("/usr/include/linux/capability.h")


def test_names_match_the_kernel_header() -> None:
    if not HEADER.exists():
        pytest.skip(f"{HEADER} not installed (linux-libc-dev)")
    defined = {m.group(1): int(m.group(2)) for m in
               re.finditer(r"^#define (CAP_\w+)\s+(\d+)\s*$", HEADER.read_text(), re.M)}
    defined.pop("CAP_LAST_CAP", None)
    for name, number in defined.items():
        if number < len(errors.CAP_NAMES):
            assert errors.CAP_NAMES[number] == name
    assert caps.cap_number("bpf") == caps.cap_number("CAP_BPF") == defined["CAP_BPF"] == 39
    assert caps.cap_names(1 << 38 | 1 << 39) == ["CAP_PERFMON", "CAP_BPF"]
    with pytest.raises(ValueError, match="unknown capability"):
        caps.cap_number("CAP_EVERYTHING")


def kernel_at_least(major: int, minor: int) -> bool:
    m = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return bool(m) and (int(m.group(1)), int(m.group(2))) >= (major, minor)


AFTER_ATTACH = """
import json, os, subprocess, sys, urllib.request
sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2])
import bpfskel
from bpfskel import caps
from bpfskel.stats import program_stats
import syslat_skel, syslat as example

def status(field, pid="self"):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1], 16) for l in f if l.startswith(field + ":"))

skel = syslat_skel.open()
skel.rodata.target_tgid = os.getpid()
skel.load()
skel.attach()
try:
    caps.drop_capabilities(keep=["CAP_SYS_ADMIN", "CAP_EVERYTHING_ELSE"])
except ValueError as e:
    print("refused:", e)
keep = sys.argv[3:]
now = caps.drop_capabilities(keep=keep, no_new_privs=True)
out = {"pid": os.getpid(), "eff": status("CapEff"), "prm": status("CapPrm"),
       "inh": status("CapInh"), "amb": status("CapAmb"), "returned": now.effective}
try:
    caps.drop_capabilities(keep=["CAP_SYS_ADMIN"])
except bpfskel.CapabilityError as e:
    out["regain"] = [e.errno, str(e)]
before = skel.bss.traced
for _ in range(100):
    os.getppid()
out["traced"] = skel.bss.traced - before                     # mapped .bss
out["procs"] = [tgid for tgid, _ in skel.maps.procs.items()]  # bpf() on an fd held
out["runs"] = program_stats(skel.progs.on_exit).id > 0
with bpfskel.export.serve(0, skel, example.exporter(skel), addr="127.0.0.1") as server:
    out["scrape"] = "syslat_calls_total" in urllib.request.urlopen(server.url).read().decode()
child = subprocess.run(["cat", "/proc/self/status"], capture_output=True, text=True).stdout
out["child_eff"] = next(int(l.split()[1], 16) for l in child.splitlines()
                        if l.startswith("CapEff:"))
again = syslat_skel.open()
try:
    again.load()
    out["reload"] = "loaded"
except PermissionError as e:
    out["reload"] = "PermissionError"
again.destroy()
skel.destroy()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def syslat_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(generated_module("syslat", tmp_path_factory).__file__).parent


def run_after_attach(syslat_dir: Path, *keep: str) -> Any:
    import json

    pytest.importorskip("prometheus_client", reason="the prometheus extra is not installed")
    proc = subprocess.run([sys.executable, "-c", "import bpfskel.export\n" + AFTER_ATTACH,
                           str(syslat_dir), str(REPO_ROOT / "examples"), *keep],
                          capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("refused: unknown capability 'CAP_EVERYTHING_ELSE'")
    return json.loads(lines[-1])


@requires_bpf
@pytest.mark.skipif(os.geteuid() != 0, reason="not root")
@pytest.mark.skipif(not kernel_at_least(6, 5),
                    reason="before Linux 6.5 map reads need CAP_BPF: nothing to drop")
def test_after_attach_nothing_is_needed(syslat_dir: Path) -> None:
    out = run_after_attach(syslat_dir)
    assert (out["eff"], out["prm"], out["inh"], out["amb"], out["returned"]) == (0,) * 5
    assert out["regain"][0] == 1 and "CAP_SYS_ADMIN" in out["regain"][1]
    assert out["traced"] >= 100
    assert out["procs"] == [out["pid"]] and out["runs"]
    assert out["scrape"] is True
    assert out["child_eff"] == 0, "a program run as root got capabilities back"
    assert out["reload"] == "PermissionError"  # what was dropped stays dropped


@requires_bpf
@pytest.mark.skipif(os.geteuid() != 0, reason="not root")
@pytest.mark.skipif(not kernel_at_least(6, 5), reason="before Linux 6.5 map reads need CAP_BPF")
def test_keep_some(syslat_dir: Path) -> None:
    out = run_after_attach(syslat_dir, "bpf", "CAP_PERFMON")
    assert out["eff"] == out["prm"] == 1 << 39 | 1 << 38 and out["inh"] == 0
    # with CAP_BPF and CAP_PERFMON kept, loading works again
    assert out["reload"] == "loaded"
    assert out["child_eff"] & ~(1 << 39 | 1 << 38) == 0


def test_keeping_what_is_not_held_changes_nothing() -> None:
    code = textwrap.dedent("""
        import bpfskel
        from bpfskel import caps
        before = caps.capabilities()
        caps.drop_capabilities(keep=["bpf"])           # now only CAP_BPF (or nothing)
        try:
            caps.drop_capabilities(keep=["bpf", "net_admin"])
        except bpfskel.CapabilityError as e:
            assert isinstance(e, PermissionError) and e.errno == 1
            print("refused", "CAP_NET_ADMIN" in str(e), caps.capabilities().effective)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr
    word, named, eff = proc.stdout.split()
    assert (word, named) == ("refused", "True")
    assert int(eff) in (0, 1 << 39)
