"""execsnoop and opensnoop, run for real against workloads the tests drive;
text and --json output are checked against what the workload did."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from bpfenv import requires_bpf
from toolenv import Tool, json_lines

pytestmark = [requires_bpf, pytest.mark.tracepoint]


def marker() -> str:
    return f"mark-{uuid.uuid4().hex[:12]}"


def test_execsnoop_text_shows_full_argv_and_return_values() -> None:
    m = marker()
    many = [f"{m}-{i}" for i in range(25)]  # more than the 20 arguments copied
    tool = Tool("execsnoop")
    subprocess.run(["/bin/true", m, "two words", ""], check=True)
    subprocess.run(["/bin/true", *many], check=True)
    with pytest.raises(FileNotFoundError):
        subprocess.run([f"/nonexistent-{m}"])
    out, err = tool.stop()
    lines = [line for line in out.splitlines() if m in line]
    me = os.getpid()
    true_line = next(line for line in lines if line.endswith(f"/bin/true {m} two words "))
    comm, pid, ppid, ret = true_line.split()[:4]
    assert (comm, int(ppid), int(ret)) == ("true", me, 0), true_line
    long_line = next(line for line in lines if f"{m}-0" in line)
    assert long_line.endswith(f"{m}-18 ...") and f"{m}-19" not in long_line, long_line
    failed = next(line for line in lines if f"/nonexistent-{m}" in line)
    assert int(failed.split()[3]) == -2, failed     # -ENOENT
    assert "execs traced" in err


def test_execsnoop_json_and_failed_only() -> None:
    m = marker()
    tool = Tool("execsnoop", "--json", "-x")
    subprocess.run(["/bin/true", m], check=True)
    with pytest.raises(FileNotFoundError):
        subprocess.run([f"/nonexistent-{m}", "arg"])
    out, _ = tool.stop()
    records = [r for r in json_lines(out) if any(m in a for a in r.get("args", []))]
    assert len(records) == 1, records       # -x: the successful exec is not shown
    r = records[0]
    assert r["type"] == "exec" and r["ret"] == -2 and r["ppid"] == os.getpid()
    assert r["args"] == [f"/nonexistent-{m}", "arg"] and r["truncated"] is False


def test_execsnoop_comm_filter_uses_the_new_program() -> None:
    m = marker()
    tool = Tool("execsnoop", "-c", "true", "--json")
    subprocess.run(["/bin/true", m], check=True)
    subprocess.run(["/bin/echo", m], check=True, stdout=subprocess.DEVNULL)
    out, _ = tool.stop()
    seen = [r["args"] for r in json_lines(out) if r.get("type") == "exec"]
    assert ["/bin/true", m] in seen and ["/bin/echo", m] not in seen, seen


def test_opensnoop_text_and_filters(tmp_path: "os.PathLike[str]") -> None:
    m = marker()
    present = os.path.join(tmp_path, m)
    open(present, "w").close()
    missing = os.path.join(tmp_path, m + "-missing")
    tool = Tool("opensnoop", "--pid", str(os.getpid()), "-e")
    fd = os.open(present, os.O_RDONLY | os.O_CLOEXEC)
    os.close(fd)
    with pytest.raises(FileNotFoundError):
        os.open(missing, os.O_WRONLY)
    subprocess.run(["/bin/cat", present], check=True)  # another pid: filtered out
    out, _ = tool.stop()
    lines = [line for line in out.splitlines() if m in line]
    assert len(lines) == 2, out
    pid, _comm, got_fd, err, flags, path = lines[0].split()
    assert (int(pid), int(got_fd), int(err), path) == (os.getpid(), fd, 0, present)
    assert int(flags, 8) & os.O_CLOEXEC
    pid, _comm, got_fd, err, flags, path = lines[1].split()
    assert (int(got_fd), int(err), path) == (-1, 2, missing)


def test_opensnoop_json_failed_and_name() -> None:
    m = marker()
    tool = Tool("opensnoop", "--json", "--failed", "--name", "cat")
    subprocess.run(["/bin/cat", f"/nonexistent-{m}", "/etc/hostname"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with pytest.raises(FileNotFoundError):
        open(f"/nonexistent-{m}-python")    # not `cat`: filtered out
    out, _ = tool.stop()
    records = json_lines(out)
    assert all(r["comm"] == "cat" and r["fd"] == -1 for r in records), records
    mine = [r for r in records if m in r["path"]]
    assert len(mine) == 1, records
    assert mine[0]["path"] == f"/nonexistent-{m}" and mine[0]["error"] == "ENOENT"
    assert mine[0]["errno"] == 2 and "O_RDONLY" in mine[0]["flag_names"]
