"""What every bpfskel tool shares: the dispatcher, one-line usage errors,
errors that name the missing privilege, and the --cgroup filter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from typing import List, Sequence

import pytest

from bpfskel import labels
from bpfskel.tools import TOOLS

from bpfenv import REPO_ROOT, requires_bpf
from toolenv import Tool, json_lines

ENV = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
# the arguments a tool cannot run without
REQUIRED_ARGS = {"funclatency": ["c:malloc"]}


def tools(*args: str, prefix: Sequence[str] = ()) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([*prefix, sys.executable, "-m", "bpfskel.tools", *args],
                          capture_output=True, text=True, env=ENV, timeout=120)


def test_dispatcher_lists_every_tool() -> None:
    proc = tools("--help")
    assert proc.returncode == 0
    for name in TOOLS:
        assert f"  {name}" in proc.stdout
    assert tools().returncode == 2


@pytest.mark.parametrize("args,message", [
    (["nosuchtool"], "bpfskel-tools: error: unknown tool 'nosuchtool'"),
    (["execsnoop", "-c", "x" * 16], "bpfskel-tools execsnoop: error: --comm"),
    (["opensnoop", "--cgroup", "/nonexistent-cgroup"],
     "bpfskel-tools opensnoop: error: --cgroup /nonexistent-cgroup"),
    (["runqlat", "-P", "-L"], "bpfskel-tools runqlat: error: argument -L/--tids"),
    (["syscount", "--bogus"], "bpfskel-tools syscount: error: unrecognized arguments"),
    (["biolatency", "-d", "nosuchdisk0"], "bpfskel-tools biolatency: error: --disk-name: no disk"),
    (["biolatency", "-p", "1"], "bpfskel-tools biolatency: error: unrecognized arguments: -p"),
])
def test_bad_usage_is_one_line_exit_2(args: List[str], message: str) -> None:
    proc = tools(*args)
    assert proc.returncode == 2
    assert proc.stderr.startswith(message) and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stdout == ""


@requires_bpf
@pytest.mark.skipif(os.geteuid() != 0, reason="not root: no capabilities to drop")
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) not found")
@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_missing_privilege_is_named(tool: str) -> None:
    drop = [str(shutil.which("setpriv")), "--bounding-set=-all", "--inh-caps=-all",
            "--ambient-caps=-all", "--no-new-privs"]
    proc = tools(tool, "--duration", "1", *REQUIRED_ARGS.get(tool, ()), prefix=drop)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"{tool}: error: cannot load the BPF programs: "), proc.stderr
    assert "CAP_BPF" in proc.stderr and "CAP_PERFMON" in proc.stderr, proc.stderr


@requires_bpf
@pytest.mark.tracepoint
def test_cgroup_filter() -> None:
    root = labels.cgroup2_root()
    if not os.path.exists(os.path.join(root, "cgroup.procs")):
        pytest.skip(f"no cgroup v2 hierarchy at {root}")
    cg = os.path.join(root, f"bpfskel-tools-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    os.mkdir(cg)
    m = uuid.uuid4().hex[:12]
    try:
        inside = subprocess.Popen(["/bin/sh", "-c", f"read x; exec /bin/true in-{m}"],
                                  stdin=subprocess.PIPE)
        with open(os.path.join(cg, "cgroup.procs"), "w") as f:
            f.write(str(inside.pid))
        tool = Tool("execsnoop", "--json", "--cgroup", cg)
        inside.communicate(b"go\n")
        subprocess.run(["/bin/true", f"out-{m}"], check=True)
        out, _ = tool.stop()
    finally:
        os.rmdir(cg)
    seen = [r["args"] for r in json_lines(out) if r.get("type") == "exec"]
    assert seen == [["/bin/true", f"in-{m}"]], seen
