"""The deployment examples in deploy/ and the Dockerfile: syntax checked by
the tools that read them (systemd-analyze, a YAML parser), and syslat run
for real under exactly the capabilities each one grants (setpriv), its
/metrics scraped.  Docker itself cannot run on the build machines, so the
Dockerfile's `docker run` line is checked as text only."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Dict, List, Set

import pytest

from bpfskel.errors import CAP_NAMES

from bpfenv import BUILD_DIR, REPO_ROOT, build_obj, requires_bpf
from promenv import free_port

DEPLOY = REPO_ROOT / "deploy"
UNIT = DEPLOY / "bpfskel-syslat.service"
DAEMONSET = DEPLOY / "daemonset.yaml"
SETPRIV = shutil.which("setpriv")


def unit_service() -> Dict[str, str]:
    """``[Service]`` settings of the unit (one value per key in this file)."""
    section, out = "", {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif line and not line.startswith("#") and section == "Service":
            key, _, value = line.partition("=")
            out[key] = value
    return out


def unit_caps() -> Set[str]:
    svc = unit_service()
    ambient = set(svc["AmbientCapabilities"].split())
    assert ambient == set(svc["CapabilityBoundingSet"].split())
    return ambient


def daemonset() -> Dict[str, object]:
    yaml = pytest.importorskip("yaml", reason="PyYAML (the test extra) is not installed")
    docs = list(yaml.safe_load_all(DAEMONSET.read_text()))
    assert len(docs) == 1
    doc: Dict[str, object] = docs[0]
    return doc


def daemonset_caps() -> Set[str]:
    pod = daemonset()["spec"]["template"]["spec"]  # type: ignore[index]
    sc = pod["containers"][0]["securityContext"]
    assert sc["capabilities"]["drop"] == ["ALL"]
    return {"CAP_" + c for c in sc["capabilities"]["add"]}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_systemd_unit_verifies(tmp_path: Path) -> None:
    def verify(text: str) -> subprocess.CompletedProcess:
        path = tmp_path / UNIT.name
        path.write_text(text)
        return subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True,
                              text=True, timeout=60)

    good = verify(UNIT.read_text())
    assert good.returncode == 0 and UNIT.name not in good.stderr, good.stderr
    # the check can fail: a bad setting is reported against the unit
    bad = verify(UNIT.read_text().replace("Type=simple", "Type=sometimes"))
    assert "Failed to parse service type" in bad.stderr, bad.stderr


def test_unit_grants_known_capabilities_only() -> None:
    svc = unit_service()
    assert unit_caps() == {"CAP_BPF", "CAP_PERFMON"} <= set(CAP_NAMES)
    assert svc["NoNewPrivileges"] == "yes"
    assert "--prometheus :9435" in svc["ExecStart"]


def test_daemonset_manifest() -> None:
    doc = daemonset()
    assert (doc["apiVersion"], doc["kind"]) == ("apps/v1", "DaemonSet")
    spec = doc["spec"]
    assert isinstance(spec, dict)
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"][
        "labels"].items()
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False
    assert daemonset_caps() == {"CAP_BPF", "CAP_PERFMON"} <= set(CAP_NAMES)
    volumes = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"]}
    mounts = {m["name"]: (m["mountPath"], m["readOnly"]) for m in container["volumeMounts"]}
    assert set(mounts) == set(volumes)
    assert {path for path, _ in mounts.values()} == {
        "/sys/kernel/btf", "/sys/kernel/tracing", "/sys/fs/cgroup"}
    assert all(mounts[n][0] == volumes[n] and mounts[n][1] for n in mounts)
    cmd = container["command"]
    assert (REPO_ROOT / cmd[1]).is_file()
    port = int(cmd[cmd.index("--prometheus") + 1].lstrip(":"))
    assert container["ports"][0]["containerPort"] == port
    assert spec["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(port)


def test_dockerfile_and_readme_use_cap_add() -> None:
    for path in (REPO_ROOT / "Dockerfile", REPO_ROOT / "README.md"):
        joined = path.read_text().replace("\\\n", " ")  # continuation lines
        runs = re.findall(r"docker run[^\n]*", joined)
        assert runs, path
        for run in runs:
            assert "--privileged" not in run, (path, run)
            assert "--cap-add BPF" in run and "--cap-add PERFMON" in run, (path, run)
            assert "/sys/kernel/btf" in run and "/sys/kernel/tracing" in run, (path, run)


# -- run syslat as each deployment would ---------------------------------------------------

def setpriv_args(caps: Set[str]) -> List[str]:
    """uid 0 with exactly ``caps`` (bounding, inheritable and ambient sets),
    and no_new_privs, as the unit and the pod spec grant."""
    names = ",".join("+" + c[4:].lower() for c in sorted(caps))
    return [str(SETPRIV), f"--bounding-set=-all,{names}", f"--inh-caps=-all,{names}",
            f"--ambient-caps=-all,{names}", "--no-new-privs"]


def cap_eff(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))


@requires_bpf
@pytest.mark.skipif(os.geteuid() != 0, reason="not root: nothing to drop")
@pytest.mark.skipif(SETPRIV is None, reason="setpriv (util-linux) not found")
@pytest.mark.skipif(not os.path.isdir("/sys/kernel/tracing/events/raw_syscalls"),
                    reason="tracefs not mounted at /sys/kernel/tracing")
@pytest.mark.parametrize("manifest", ["systemd unit", "daemonset"])
def test_syslat_runs_with_the_granted_capabilities(manifest: str) -> None:
    pytest.importorskip("prometheus_client", reason="the prometheus extra is not installed")
    caps = unit_caps() if manifest == "systemd unit" else daemonset_caps()
    obj = build_obj("syslat")
    subprocess.run([sys.executable, "-m", "bpfskel", "gen", str(obj), "-o",
                    str(BUILD_DIR / "syslat_skel.py")], check=True)
    port = free_port()
    proc = subprocess.Popen(setpriv_args(caps) + [
        sys.executable, str(REPO_ROOT / "examples" / "syslat.py"), "--workload", "--json",
        "--duration", "30", "--prometheus", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        text = ""
        while "syslat_latency_seconds_count" not in text:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "no metrics within 60 s"
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                              timeout=5).read().decode()
            except OSError:
                time.sleep(0.3)
        want = sum(1 << CAP_NAMES.index(c) for c in caps)
        assert cap_eff(proc.pid) == want
    finally:
        proc.kill()
        proc.wait()
    assert re.search(r"^syslat_calls_total [1-9]", text, re.M), text[:2000]
