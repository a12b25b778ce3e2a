"""The ``bpfskel`` command line, run as a real subprocess.

Error contract: one stderr line ``bpfskel: error: ...``, exit status 2, no
traceback, and never a partially written or clobbered output file.
"""

from __future__ import annotations

import ast
import hashlib
import os
import random
import re
import shutil
import signal
import stat
import struct
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

import bpfskel

from bpfenv import REPO_ROOT, build_obj, compile_bpf

_SCRIPT = shutil.which("bpfskel") or str(Path(sys.executable).with_name("bpfskel"))
RUNNERS = {
    "module": [sys.executable, "-m", "bpfskel"],
    "script": [_SCRIPT],
}


def run(*args: str, runner: str = "module", cwd: Path = REPO_ROOT,
        env: Dict[str, str] = None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.pop("BPFSKEL_DEBUG", None)
    full_env.update(env or {})
    return subprocess.run(RUNNERS[runner] + [str(a) for a in args], capture_output=True,
                          text=True, cwd=cwd, env=full_env, timeout=120)


def assert_one_line_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("bpfskel: error: "), lines[0]
    assert proc.stdout == ""
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def module_name(source: str) -> str:
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] \
                == ["NAME"]:
            assert isinstance(node.value, ast.Constant)
            return node.value.value
    raise AssertionError("generated module has no top-level NAME = ...")


@pytest.fixture(scope="module")
def minimal() -> Path:
    return build_obj("minimal")


@pytest.fixture(scope="module")
def generated(minimal) -> str:
    proc = run("gen", minimal)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# -- help ------------------------------------------------------------------------


@pytest.mark.parametrize("runner", list(RUNNERS))
@pytest.mark.parametrize("args", [["--help"], ["gen", "--help"], ["inspect", "--help"]])
def test_help_exits_zero(runner, args):
    proc = run(*args, runner=runner)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: bpfskel")
    assert proc.stderr == ""


def test_help_and_version_need_no_libbpf():
    env = {"BPFSKEL_LIBBPF": "/nonexistent/libbpf.so.1"}
    assert run("--help", env=env).returncode == 0
    proc = run("--version", env=env)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"bpfskel {bpfskel.__version__}"


def test_missing_libbpf_is_a_one_line_error(minimal):
    proc = run("gen", minimal, env={"BPFSKEL_LIBBPF": "/nonexistent/libbpf.so.1"})
    assert_one_line_error(proc, "libbpf1")


def test_usage_errors():
    assert_one_line_error(run(), "COMMAND")
    assert_one_line_error(run("gen"), "OBJ")
    assert_one_line_error(run("frobnicate"), "frobnicate")


# -- bad inputs --------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, minimal) -> Dict[str, Tuple[Path, List[str]]]:
    d = tmp_path_factory.mktemp("bad")
    data = minimal.read_bytes()
    out: Dict[str, Tuple[Path, List[str]]] = {
        "missing": (d / "missing.bpf.o", ["missing.bpf.o", "No such file"]),
        "directory": (d, ["Is a directory"]),
        "host_elf": (Path("/bin/true"), ["/bin/true", "host ELF", "not a BPF object"]),
    }
    (d / "empty.bpf.o").write_bytes(b"")
    out["empty"] = (d / "empty.bpf.o", ["empty.bpf.o", "empty file"])
    (d / "text.bpf.o").write_text("int main(void) { return 0; }\n")
    out["text"] = (d / "text.bpf.o", ["text.bpf.o", "not an ELF file"])
    for n in (10, 100, 1000, len(data) // 2):
        p = d / f"cut{n}.bpf.o"
        p.write_bytes(data[:n])
        out[f"truncated_{n}"] = (p, [p.name, "truncated"])
    return out


BAD = ["missing", "directory", "host_elf", "empty", "text", "truncated_10",
       "truncated_100", "truncated_1000"]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_gen(bad_inputs, case):
    path, words = bad_inputs[case]
    assert_one_line_error(run("gen", path), *words)


def test_truncated_at_half(bad_inputs, minimal):
    path, words = next(v for k, v in bad_inputs.items()
                       if k == f"truncated_{len(minimal.read_bytes()) // 2}")
    assert_one_line_error(run("gen", path), *words)
    assert_one_line_error(run("inspect", path), *words)


@pytest.mark.parametrize("case", ["missing", "host_elf", "text", "truncated_100"])
def test_bad_input_inspect_and_script(bad_inputs, case):
    path, words = bad_inputs[case]
    assert_one_line_error(run("inspect", path), *words)
    assert_one_line_error(run("gen", path, runner="script"), *words)


def test_object_without_btf(tmp_path):
    obj = compile_bpf(REPO_ROOT / "bpf" / "minimal.bpf.c", tmp_path / "nobtf.bpf.o",
                      debug=False)
    assert b".BTF" not in obj.read_bytes()  # really compiled without -g
    assert_one_line_error(run("gen", obj), "nobtf.bpf.o", "BTF")
    assert_one_line_error(run("inspect", obj), "BTF")


def _corrupt(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    start = rng.randrange(64, len(b) - 64)
    for i in range(rng.choice([1, 2, 8, 32])):
        b[start + i] ^= rng.randrange(1, 256)
    return bytes(b)


def test_corrupted_objects_never_crash(tmp_path, minimal):
    rng = random.Random(0xB9F5)
    data = minimal.read_bytes()
    outcomes = {0: 0, 2: 0}
    for i in range(24):
        p = tmp_path / f"corrupt{i}.bpf.o"
        p.write_bytes(_corrupt(data, rng))
        proc = run("gen", p)
        assert proc.returncode >= 0, f"{p.name}: killed by {signal.Signals(-proc.returncode)}"
        assert proc.returncode in (0, 2), (p.name, proc.returncode, proc.stderr)
        outcomes[proc.returncode] += 1
        if proc.returncode == 0:
            compile(proc.stdout, p.name, "exec")  # valid Python
            assert proc.stderr == ""
            assert module_name(proc.stdout) == f"corrupt{i}"
        else:
            assert_one_line_error(proc, p.name)
    assert outcomes[2] > 0, "no corruption was detected at all: corruption is too weak"


def _bad_relocation(data: bytes) -> bytes:
    """The object with its first relocation pointing at symbol #0x7fffffff."""
    b = bytearray(data)
    (shoff,) = struct.unpack_from("<Q", b, 40)
    entsize, shnum, shstrndx = struct.unpack_from("<HHH", b, 58)
    headers = [struct.unpack_from("<IIQQQQIIQQ", b, shoff + i * entsize) for i in range(shnum)]
    strtab = headers[shstrndx][4]
    for h in headers:
        name = b[strtab + h[0]:b.index(0, strtab + h[0])]
        if h[1] == 9 and name.startswith(b".rel") and h[5]:  # SHT_REL, program code
            struct.pack_into("<I", b, h[4] + 12, 0x7FFFFFFF)  # high half of r_info
            return bytes(b)
    raise AssertionError("no relocation section found")


def test_bad_relocation_is_one_line_error(tmp_path, minimal):
    p = tmp_path / "badrel.bpf.o"
    p.write_bytes(_bad_relocation(minimal.read_bytes()))
    assert_one_line_error(run("gen", p), "badrel.bpf.o", "symbol #2147483647 not found")


def test_bad_relocation_error_has_no_unknown_errno(tmp_path, minimal):
    p = tmp_path / "badrel.bpf.o"
    p.write_bytes(_bad_relocation(minimal.read_bytes()))
    line = assert_one_line_error(run("gen", p))
    assert "Unknown error" not in line  # libbpf's errno 4001 (LIBBPF_ERRNO__FORMAT) is named
    assert "(errno 4001)" in line


# -- atomic output ------------------------------------------------------------------------


def _listing(d: Path) -> List[str]:
    return sorted(os.listdir(d))


def test_failed_gen_keeps_existing_output(tmp_path, bad_inputs):
    out = tmp_path / "skel.py"
    out.write_bytes(b"KEEP")
    before = _listing(tmp_path)
    for case in ("text", "truncated_1000", "empty", "host_elf"):
        proc = run("gen", bad_inputs[case][0], "-o", out)
        assert_one_line_error(proc)
        assert out.read_bytes() == b"KEEP"
        assert _listing(tmp_path) == before


def test_failed_rename_leaves_no_temp_file(tmp_path, minimal):
    target = tmp_path / "is_a_dir"
    target.mkdir()
    (target / "inside").write_text("x")
    assert_one_line_error(run("gen", minimal, "-o", target), "is_a_dir")
    assert _listing(tmp_path) == ["is_a_dir"]
    assert _listing(target) == ["inside"]


def test_successful_gen_replaces_output(tmp_path, minimal, generated):
    out = tmp_path / "skel.py"
    out.write_bytes(b"KEEP")
    out.chmod(0o600)
    proc = run("gen", minimal, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""
    assert out.read_text() == generated
    assert _listing(tmp_path) == ["skel.py"]
    assert out.stat().st_mode & 0o777 == 0o600  # mode of the replaced file kept
    fresh = tmp_path / "fresh.py"
    assert run("gen", minimal, "-o", fresh, runner="script").returncode == 0
    assert fresh.read_text() == generated
    assert fresh.stat().st_mode & 0o777 == 0o644


def test_output_that_is_no_regular_file_is_written_not_replaced(tmp_path, minimal, generated):
    """``-o /dev/stdout`` as root must not rename a file over the device (or
    over a symlink): a character device, and a symlink to a file, stand in."""
    null = tmp_path / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
    proc = run("gen", minimal, "-o", null)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISCHR(null.lstat().st_mode) and null.read_bytes() == b""
    real, link = tmp_path / "real.py", tmp_path / "link.py"
    real.write_text("old")
    link.symlink_to(real)
    assert run("gen", minimal, "-o", link).returncode == 0
    assert link.is_symlink() and real.read_text() == generated
    assert _listing(tmp_path) == ["link.py", "null", "real.py"]


def test_gen_to_stdout_is_valid_python(generated):
    compile(generated, "minimal_skel.py", "exec")
    assert "class sections" in generated


def test_check(tmp_path, minimal):
    out = tmp_path / "skel.py"
    missing = run("gen", minimal, "-o", out, "--check")
    assert missing.returncode == 1 and not out.exists()
    assert run("gen", minimal, "-o", out).returncode == 0
    original = out.read_bytes()
    ok = run("gen", minimal, "-o", out, "--check")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == "" and ok.stderr == ""
    out.write_bytes(original + b"# edited\n")
    stale = run("gen", minimal, "-o", out, "--check")
    assert stale.returncode == 1
    assert "out of date" in stale.stderr and "Traceback" not in stale.stderr
    assert out.read_bytes() == original + b"# edited\n"  # --check writes nothing
    assert_one_line_error(run("gen", minimal, "--check"), "--check")


# -- content ---------------------------------------------------------------------------------


def test_deterministic(tmp_path, minimal, generated):
    # Same bytes under another directory, another cwd and another hash seed.
    copy_dir = tmp_path / "elsewhere"
    copy_dir.mkdir()
    shutil.copy(minimal, copy_dir / minimal.name)
    again = run("gen", minimal.name, cwd=copy_dir, env={"PYTHONHASHSEED": "12345"})
    assert again.returncode == 0, again.stderr
    assert again.stdout == generated
    third = run("gen", minimal, env={"PYTHONHASHSEED": "1"})
    assert third.stdout == generated


def test_header(minimal, generated):
    digest = hashlib.sha256(minimal.read_bytes()).hexdigest()
    header = "\n".join(generated.splitlines()[:3])
    assert header.startswith("#")
    assert f"bpfskel {bpfskel.__version__}" in header
    assert "'minimal.bpf.o'" in header
    assert str(REPO_ROOT) not in generated  # no absolute paths: reproducible
    assert digest in header
    assert f"OBJECT_SHA256 = '{digest}'" in generated


def test_default_and_explicit_name(tmp_path, minimal, generated):
    assert module_name(generated) == "minimal"
    named = run("gen", minimal, "--name", "counter")
    assert named.returncode == 0, named.stderr
    assert module_name(named.stdout) == "counter"
    other = tmp_path / "other_prog.bpf.o"
    shutil.copy(minimal, other)
    proc = run("gen", other)
    assert module_name(proc.stdout) == "other_prog"
    assert "'other_prog.bpf.o'" in proc.stdout.splitlines()[0]


# -- inspect ------------------------------------------------------------------------------------


def _readelf() -> List[str]:
    for tool in ("llvm-readelf-19", "readelf"):
        if shutil.which(tool):
            return [tool]
    pytest.skip("neither llvm-readelf-19 nor readelf is installed")


def elf_symbols(path: Path) -> Dict[str, Tuple[str, int, int]]:
    """OBJECT symbol -> (section name, value, size), from readelf's own output."""
    tool = _readelf()
    sections: Dict[int, str] = {}
    out = subprocess.run(tool + ["-SW", str(path)], capture_output=True, text=True,
                         check=True).stdout
    for m in re.finditer(r"^\s*\[\s*(\d+)\]\s+(\S+)", out, re.M):
        sections[int(m.group(1))] = m.group(2)
    syms = {}
    out = subprocess.run(tool + ["-sW", str(path)], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) == 8 and f[0].endswith(":") and f[3] == "OBJECT" and f[6].isdigit():
            syms[f[7]] = (sections[int(f[6])], int(f[1], 16), int(f[2]))
    return syms


def parse_inspect(text: str) -> Dict[str, Dict[str, Tuple[int, int]]]:
    """section -> {variable: (offset, size)} from ``bpfskel inspect``."""
    result: Dict[str, Dict[str, Tuple[int, int]]] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"section '([^']+)' size=(\d+)", line)
        if m:
            current = result.setdefault(m.group(1), {})
            continue
        m = re.match(r"\s+(\d+)\s+(\d+)\s+.*?(\w+)(?:\[\d+\])*;", line)
        if current is not None and m:
            current[m.group(3)] = (int(m.group(1)), int(m.group(2)))
        elif not line.strip():
            current = None
    return result


@pytest.mark.parametrize("runner", list(RUNNERS))
def test_inspect(minimal, runner):
    proc = run("inspect", minimal, runner=runner)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    secs = parse_inspect(proc.stdout)
    assert {".bss", ".rodata"} <= set(secs)
    assert set(secs[".bss"]) == {"calls", "last_pid_tgid"}
    assert set(secs[".rodata"]) == {"target_tgid"}
    syms = elf_symbols(minimal)
    for sec in (".bss", ".rodata"):
        for var, (offset, size) in secs[sec].items():
            assert syms[var] == (sec, offset, size), var
    assert re.search(r"^section '\.bss' size=16$", proc.stdout, re.M)
    assert re.search(r"^\s+per_tid\s+type=1\s", proc.stdout, re.M)
    assert re.search(r"^\s+count_getpid\s+SEC\('tp/syscalls/sys_enter_getpid'\)$",
                     proc.stdout, re.M)
