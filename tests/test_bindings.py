"""bpfskel._libbpf against the real libbpf.so.1 and the real kernel."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

import bpfskel
from bpfskel import _libbpf
from bpfskel.errors import LibbpfError, libbpf_error, syscall_error
from bpfskel.uapi import BPF_F_MMAPABLE, BPF_F_RDONLY_PROG

from bpfenv import REPO_ROOT, build_obj, compile_bpf, requires_bpf


def _run_py(code: str, **env: str) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.pop(_libbpf.ENV_VAR, None)
    full_env.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full_env, cwd=REPO_ROOT, timeout=60)


def _loaded_libbpf_files() -> List[str]:
    with open("/proc/self/maps") as f:
        return sorted({ln.split()[-1] for ln in f if "libbpf" in ln and "/" in ln})


# -- discovery ------------------------------------------------------------------


def test_version_is_a_tuple_at_least_1_0():
    v = _libbpf.version()
    assert isinstance(v, tuple) and len(v) == 2
    assert all(isinstance(x, int) for x in v)
    assert v >= (1, 0)
    # the string form agrees with the numbers
    assert bpfskel.libbpf_version().split(".")[:2] == [str(v[0]), str(v[1])]


def test_require_libbpf_names_feature_needed_and_loaded():
    """The one libbpf version gate: its error names the feature, the version
    it needs and the one loaded (and where from)."""
    _libbpf.require_libbpf(_libbpf.version(), "anything this libbpf has")  # no error
    with pytest.raises(bpfskel.NotSupportedError) as ei:
        _libbpf.require_libbpf((99, 3), "the frobnicator")
    msg = str(ei.value)
    assert msg.startswith("the frobnicator needs libbpf >= 99.3; the running libbpf is "
                          f"{bpfskel.libbpf_version()} ({_libbpf.lib().path})"), msg
    assert _libbpf.ENV_VAR in msg and ei.value.errno == errno.EOPNOTSUPP


def test_env_var_path_is_the_one_loaded_in_this_process():
    explicit = os.environ.get(_libbpf.ENV_VAR)
    if explicit:
        assert _libbpf.lib().path == explicit
    else:
        assert _libbpf.lib().path in ("libbpf.so.1", ctypes.util.find_library("bpf"))


def test_env_var_is_honoured(tmp_path):
    _libbpf.lib()
    real = [p for p in _loaded_libbpf_files() if ".so" in p]
    assert real, "libbpf is loaded but not visible in /proc/self/maps"
    # A copy under a name the default search could never find: if it is the file
    # mapped in the child, BPFSKEL_LIBBPF was used, not the soname.
    copy = tmp_path / "custom" / "libbpf-test-copy.so"
    copy.parent.mkdir()
    shutil.copy(real[0], copy)
    code = ("from bpfskel import _libbpf; l = _libbpf.lib(); print(l.path); "
            "print(*l.version); "
            "print(sorted({x.split()[-1] for x in open('/proc/self/maps') if 'libbpf' in x}))")
    proc = _run_py(code, BPFSKEL_LIBBPF=str(copy))
    assert proc.returncode == 0, proc.stderr
    path, ver, mapped = proc.stdout.splitlines()
    assert path == str(copy)
    assert ver == "%d %d" % _libbpf.version()
    assert mapped == repr([str(copy)])


def test_missing_libbpf_is_a_clean_lazy_error():
    code = """
import bpfskel
from bpfskel import _libbpf
print("imported")
try:
    bpfskel.libbpf_version()
except _libbpf.LibbpfNotFoundError as e:
    print("ImportError" if isinstance(e, ImportError) else "not ImportError")
    print("Error" if isinstance(e, bpfskel.Error) else "not Error")
    print(str(e).replace("\\n", " "))
else:
    print("no error")
"""
    proc = _run_py(code, BPFSKEL_LIBBPF="/nonexistent/libbpf.so.1")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert out[:3] == ["imported", "ImportError", "Error"], proc.stdout
    assert "libbpf1" in out[3]
    assert "/nonexistent/libbpf.so.1" in out[3]
    assert "Traceback" not in proc.stderr


def test_missing_libbpf_does_not_fall_back_silently():
    # An explicit path that fails must not be replaced by the system libbpf.
    proc = _run_py("from bpfskel import _libbpf\n"
                   "try:\n    _libbpf.lib(); print('loaded', _libbpf.lib().path)\n"
                   "except _libbpf.LibbpfNotFoundError:\n    print('refused')",
                   BPFSKEL_LIBBPF="/nonexistent/libbpf.so.1")
    assert proc.stdout.strip() == "refused", proc.stdout + proc.stderr


# -- objects ----------------------------------------------------------------------


_OPENED: List[ctypes.Array[ctypes.c_char]] = []  # libbpf keeps pointing into the bytes


def _open(path: Path) -> int:
    lib = _libbpf.lib()
    data = path.read_bytes()
    buf = ctypes.create_string_buffer(data, len(data))
    _OPENED.append(buf)
    o = _libbpf.opts(_libbpf.ObjectOpenOpts, object_name=path.name.split(".")[0].encode())
    return _libbpf.call_ptr(lib.bpf_object__open_mem, f"opening {path.name}",
                            buf, len(data), ctypes.byref(o))


def _maps(obj: int) -> Dict[str, int]:
    lib = _libbpf.lib()
    return {_libbpf.cstr(lib.bpf_map__name(m)): m for m in _libbpf.object_maps(obj)}


def _progs(obj: int) -> Dict[str, int]:
    lib = _libbpf.lib()
    return {_libbpf.cstr(lib.bpf_program__name(p)): p for p in _libbpf.object_programs(obj)}


def test_open_inspect_without_root():
    lib = _libbpf.lib()
    obj = _open(build_obj("minimal"))
    try:
        assert _libbpf.cstr(lib.bpf_object__name(obj)) == "minimal"
        maps = _maps(obj)
        assert "per_tid" in maps
        internal = {n for n, m in maps.items() if lib.bpf_map__is_internal(m)}
        assert not lib.bpf_map__is_internal(maps["per_tid"])
        assert {n.rsplit(".", 1)[-1] for n in internal} == {"bss", "rodata"}, maps
        assert set(maps) == internal | {"per_tid"}
        per_tid = maps["per_tid"]
        assert lib.bpf_map__type(per_tid) == 1  # BPF_MAP_TYPE_HASH
        assert (lib.bpf_map__key_size(per_tid), lib.bpf_map__value_size(per_tid)) == (4, 8)
        assert lib.bpf_map__max_entries(per_tid) == 64
        bss = next(m for n, m in maps.items() if n.endswith(".bss"))
        assert lib.bpf_map__value_size(bss) == 16  # calls + last_pid_tgid
        assert lib.bpf_map__map_flags(bss) & BPF_F_MMAPABLE
        progs = _progs(obj)
        assert list(progs) == ["count_getpid"]
        assert _libbpf.cstr(lib.bpf_program__section_name(progs["count_getpid"])) == \
            "tp/syscalls/sys_enter_getpid"
        assert lib.bpf_map__fd(per_tid) < 0  # nothing is created before load
    finally:
        lib.bpf_object__close(obj)


@requires_bpf
def test_load_minimal_creates_maps_and_program():
    lib = _libbpf.lib()
    obj = _open(build_obj("minimal"))
    try:
        assert _libbpf.call(lib.bpf_object__load, "loading minimal", obj) == 0
        maps = _maps(obj)
        for name, m in maps.items():
            fd = lib.bpf_map__fd(m)
            assert fd >= 0, name
            os.fstat(fd)  # a real, open descriptor
        assert lib.bpf_program__fd(_progs(obj)["count_getpid"]) >= 0
        # .rodata is frozen at load: it can only be mapped read-only.
        rodata = next(m for n, m in maps.items() if n.endswith(".rodata"))
        assert lib.bpf_map__map_flags(rodata) & BPF_F_RDONLY_PROG
        with bpfskel.Memory(lib.bpf_map__fd(rodata), 4) as mem:
            assert mem.readonly
        bss = next(m for n, m in maps.items() if n.endswith(".bss"))
        with bpfskel.Memory(lib.bpf_map__fd(bss), 16) as mem:
            assert not mem.readonly
            assert mem.read_at(0, 16) == bytes(16)
    finally:
        lib.bpf_object__close(obj)


def _load_expecting_failure(path: Path) -> LibbpfError:
    lib = _libbpf.lib()
    obj = _open(path)
    try:
        with pytest.raises(LibbpfError) as ei:
            _libbpf.call(lib.bpf_object__load, f"loading {path.name}", obj)
        return ei.value
    finally:
        lib.bpf_object__close(obj)


def _check_verifier_error(e: LibbpfError, path: Path) -> None:
    assert isinstance(e, OSError)
    assert isinstance(e, bpfskel.Error)
    # libbpf 1.x passes the verifier's errno through unchanged: EACCES.  It is
    # a VerifierError, never a PermissionError: that is for missing privileges.
    assert e.errno == errno.EACCES
    assert isinstance(e, bpfskel.VerifierError)
    assert not isinstance(e, PermissionError)
    assert e.operation == f"loading {path.name}"
    assert str(e).startswith(f"loading {path.name}: the verifier rejected program "
                             f"'{e.program}' (EACCES, errno 13)")
    assert "invalid mem access 'map_value_or_null'" in e.log
    assert "invalid mem access" in str(e)


@requires_bpf
def test_rejected_object_fails_to_load_with_verifier_log():
    path = build_obj("rejected")
    _check_verifier_error(_load_expecting_failure(path), path)


_NULL_DEREF_SRC = """\
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} counters SEC(".maps");

SEC("raw_tp/sys_exit")
int read_unchecked(void *ctx)
{
	__u32 k = 3;
	__u32 *p = bpf_map_lookup_elem(&counters, &k);

	return *p + 1;
}

char LICENSE[] SEC("license") = "GPL";
"""


@requires_bpf
def test_verifier_rejection_carries_log(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="bpfskel.libbpf")
    # Independent of bpf/rejected.bpf.c: a hash map lookup may always return NULL.
    src_path = tmp_path / "deref_null.bpf.c"
    src_path.write_text(_NULL_DEREF_SRC)
    path = compile_bpf(src_path, tmp_path / "deref_null.bpf.o")
    e = _load_expecting_failure(path)
    _check_verifier_error(e, path)
    assert "read_unchecked" in e.log
    assert e.log.rstrip("\n").endswith(str(e).rstrip("\n").splitlines()[-1])
    # the same words reached the logger, at WARNING
    warned = [r.getMessage() for r in caplog.records
              if r.name == "bpfskel.libbpf" and r.levelno == logging.WARNING]
    assert any("map_value_or_null" in m for m in warned)


# -- errors -------------------------------------------------------------------------


@pytest.mark.parametrize("err,builtin", [
    (errno.EPERM, PermissionError), (errno.EACCES, PermissionError),
    (errno.ENOENT, FileNotFoundError), (errno.EEXIST, FileExistsError),
    (errno.EAGAIN, BlockingIOError), (-errno.ENOENT, FileNotFoundError),
])
def test_libbpf_error_matches_builtin(err, builtin):
    e = libbpf_error(err, "x")
    assert isinstance(e, builtin)
    assert isinstance(e, LibbpfError) and isinstance(e, bpfskel.Error)
    assert e.errno == abs(err)
    assert str(e) == f"x: {os.strerror(abs(err))} (errno {abs(err)})"


@pytest.mark.parametrize("err,builtin", [
    (errno.EPERM, PermissionError), (errno.EACCES, PermissionError),
    (errno.ENOENT, FileNotFoundError), (errno.EINVAL, None),
])
def test_syscall_error_matches_builtin_and_is_no_libbpf_error(err, builtin):
    """Our own system calls (mmap, perf_event_open) fail with a SyscallError:
    an OSError with the errno and the matching built-in, never a LibbpfError."""
    e = syscall_error(err, "perf_event_open(...)")
    assert isinstance(e, bpfskel.SyscallError) and isinstance(e, bpfskel.Error)
    assert isinstance(e, OSError) and not isinstance(e, LibbpfError)
    assert builtin is None or isinstance(e, builtin)
    assert e.errno == err and e.operation == "perf_event_open(...)"
    name = errno.errorcode[err]
    assert str(e) == f"perf_event_open(...): {os.strerror(err)} ({name}, errno {err})"
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is type(e) and str(back) == str(e)


def test_libbpf_error_without_builtin_and_zero():
    e = libbpf_error(errno.EBADF, "y")
    assert type(e) is LibbpfError
    assert not isinstance(e, PermissionError)
    assert libbpf_error(0, "z").errno == errno.EINVAL  # never errno 0


def test_libbpf_private_errno_is_described():
    # libbpf's own errnos (LIBBPF_ERRNO__FORMAT=4001, ...) are unknown to os.strerror
    e = libbpf_error(4001, "opening x")
    assert e.errno == 4001
    assert "Unknown error" not in str(e)
    assert "format" in str(e).lower()
    assert "Unknown error" not in str(libbpf_error(4007, "loading y"))


@requires_bpf
def test_real_ebadf_from_syscall():
    with pytest.raises(LibbpfError) as ei:
        _libbpf.call(_libbpf.lib().bpf_map_freeze, "freeze", 99999)
    assert ei.value.errno == errno.EBADF
    assert ei.value.operation == "freeze"
    assert str(ei.value).startswith("freeze: Bad file descriptor")


# -- logging ---------------------------------------------------------------------------


def test_libbpf_logs_to_python_logging(caplog):
    caplog.set_level(logging.DEBUG, logger="bpfskel.libbpf")
    path = build_obj("minimal")
    obj = _open(path)
    _libbpf.lib().bpf_object__close(obj)
    records = [r for r in caplog.records if r.name == "bpfskel.libbpf"]
    assert records, "libbpf produced no log records"
    messages = [r.getMessage() for r in records]
    assert any("loading object 'minimal' from buffer" in m for m in messages), messages[:5]
    assert any("per_tid" in m for m in messages)
    assert all(r.levelno == logging.DEBUG for r in records)  # open logs only debug lines
    assert not any(m.endswith("\n") for m in messages)


def test_no_debug_records_when_not_enabled(caplog, monkeypatch):
    caplog.set_level(logging.WARNING, logger="bpfskel.libbpf")
    # logging itself drops DEBUG records below the level; what bpfskel must do
    # is not even format libbpf's debug lines (they would be thrown away)
    formatted = []
    real_format = _libbpf.format_va
    monkeypatch.setattr(_libbpf, "format_va",
                        lambda fmt, args: formatted.append(fmt) or real_format(fmt, args))
    obj = _open(build_obj("minimal"))
    _libbpf.lib().bpf_object__close(obj)
    assert [r for r in caplog.records if r.name == "bpfskel.libbpf"] == []
    assert formatted == []
