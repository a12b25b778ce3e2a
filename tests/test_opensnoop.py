"""The portable example tool (examples/opensnoop.py) run for real: it picks
its hooks through bpfskel.features, and every forced combination this kernel
supports gives the same events."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import List

import pytest

from bpfskel import features

from bpfenv import BUILD_DIR, REPO_ROOT, build_obj, requires_bpf

pytestmark = [requires_bpf, pytest.mark.kernel]  # in the kernel matrix too


@pytest.fixture(scope="module", autouse=True)
def skel_module() -> None:
    obj = build_obj("opensnoop")
    subprocess.run([sys.executable, "-m", "bpfskel", "gen", str(obj), "-o",
                    str(BUILD_DIR / "opensnoop_skel.py")], check=True)


def run(*args: str) -> str:
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "examples" / "opensnoop.py"),
                           "--workload", "--duration", "3", *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout


def check(out: str) -> List[str]:
    pid = re.search(r"^workload: pid (\d+)", out, re.M).group(1)  # type: ignore[union-attr]
    hostname = re.findall(rf"^{pid}\s+\S+\s+0o\d+ /etc/hostname$", out, re.M)
    assert len(hostname) == 5, out
    m = re.search(r"^opens: (\d+), system calls: (\d+)$", out, re.M)
    assert m and int(m.group(1)) >= 5 and int(m.group(2)) > 5, out
    return hostname


def test_auto_picks_what_the_kernel_has() -> None:
    out = run()
    check(out)
    hook = ("fentry" if features.fentry_available() else
            "kprobe" if features.kprobe_available() else "tracepoint")
    sys_hook = "tp_btf" if features.tp_btf_available() else "raw_tp"
    buf = "ring" if features.ringbuf_available() else "perf"
    assert (f"hooks: opens by {hook}, system calls by {sys_hook}, "
            f"events through a {buf} buffer") in out


@pytest.mark.parametrize("hook", ["fentry", "kprobe", "tracepoint"])
@pytest.mark.parametrize("sys_hook,buf", [("raw_tp", "perfbuf"), ("tp_btf", "ringbuf")])
def test_every_supported_combination(hook: str, sys_hook: str, buf: str) -> None:
    have = {"fentry": features.fentry_available(), "kprobe": features.kprobe_available(),
            "tracepoint": features.tracepoint("syscalls", "sys_enter_openat"),
            "tp_btf": features.tp_btf_available(), "raw_tp": True,
            "ringbuf": features.ringbuf_available(), "perfbuf": True}
    missing = [x for x in (hook, sys_hook, buf) if not have[x]]
    if missing:
        pytest.skip(f"this kernel lacks {', '.join(missing)}")
    check(run("--hook", hook, "--sys", sys_hook, "--buffer", buf))
