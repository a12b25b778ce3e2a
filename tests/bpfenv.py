"""Gating and helpers for tests that need a real kernel: root, bpf(), libbpf.

Imported by test modules as ``from bpfenv import ...``: tests/ has no
``__init__.py``, so pytest's default ``prepend`` import mode puts tests/ on
``sys.path`` before importing a test module.

Everything here talks to the kernel through bpfskel's own bindings
(:mod:`bpfskel._libbpf`); nothing is mocked.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import importlib.util
import os
import subprocess
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

from bpfskel import _libbpf
from bpfskel.gen.toolchain import ClangError
from bpfskel.uapi import BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, MapType

import bpfcc

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = REPO_ROOT / "build"

BPF_MAP_TYPE_ARRAY = MapType.ARRAY

__all__ = [
    "REPO_ROOT", "BUILD_DIR", "BPF_MAP_TYPE_ARRAY", "BPF_F_RDONLY_PROG",
    "BPF_F_MMAPABLE", "requires_root", "requires_bpf", "bpf_unavailable_reason",
    "create_array", "lookup", "update", "freeze", "close_fd", "build_obj", "compile_bpf",
    "generated_module", "generated_module_in", "needs_tracefs", "TRACEFS", "module_fixture",
    "loaded_skeleton", "possible_cpus_from_sysfs", "on_cpu",
]


TRACEFS = "/sys/kernel/tracing/events/syscalls"
needs_tracefs = pytest.mark.skipif(not os.path.isdir(TRACEFS),
                                   reason="tracefs not mounted at /sys/kernel/tracing")


def _libbpf_or_reason() -> Optional[str]:
    try:
        _libbpf.lib()
    except _libbpf.LibbpfNotFoundError as e:
        return f"libbpf cannot be loaded: {e}"
    return None


@functools.lru_cache(maxsize=None)
def bpf_unavailable_reason() -> Optional[str]:
    """Why real BPF maps cannot be created here, or None if they can."""
    if os.geteuid() != 0:
        return "not root: creating BPF maps needs root (CAP_BPF)"
    reason = _libbpf_or_reason()
    if reason:
        return reason
    lib = _libbpf.lib()
    o = _libbpf.opts(_libbpf.MapCreateOpts, map_flags=BPF_F_MMAPABLE)
    fd = lib.bpf_map_create(BPF_MAP_TYPE_ARRAY, b"bpfenv_probe", 4, 8, 1, ctypes.byref(o))
    if fd < 0:
        if -fd in (errno.EPERM, errno.EACCES):
            return f"BPF map creation refused ({errno.errorcode[-fd]}): no CAP_BPF"
        return f"BPF map creation failed: {os.strerror(-fd)} (errno {-fd})"
    os.close(fd)
    return None


requires_root = pytest.mark.skipif(os.geteuid() != 0, reason="not root")
requires_bpf = pytest.mark.skipif(bpf_unavailable_reason() is not None,
                                  reason=str(bpf_unavailable_reason()))


# -- raw map helpers (real bpf() syscalls) -----------------------------------


def create_array(value_size: int, max_entries: int = 1, flags: int = 0) -> int:
    """fd of a new BPF_MAP_TYPE_ARRAY with u32 keys; the caller closes it."""
    o = _libbpf.opts(_libbpf.MapCreateOpts, map_flags=flags)
    return _libbpf.call(_libbpf.lib().bpf_map_create,
                        f"creating array map (value_size={value_size}, flags={flags:#x})",
                        BPF_MAP_TYPE_ARRAY, b"bpfskel_test", 4, value_size, max_entries,
                        ctypes.byref(o))


def lookup(fd: int, key: int, value_size: int) -> bytes:
    """The value at ``key``, read with BPF_MAP_LOOKUP_ELEM (not via any mapping)."""
    k = ctypes.c_uint32(key)
    buf = ctypes.create_string_buffer(value_size)
    _libbpf.call(_libbpf.lib().bpf_map_lookup_elem, f"lookup key {key} in map fd {fd}",
                 fd, ctypes.byref(k), buf)
    return buf.raw


def update(fd: int, key: int, value: bytes) -> None:
    """Write ``value`` at ``key`` with BPF_MAP_UPDATE_ELEM (flags BPF_ANY)."""
    k = ctypes.c_uint32(key)
    buf = ctypes.create_string_buffer(bytes(value), len(value))
    _libbpf.call(_libbpf.lib().bpf_map_update_elem, f"update key {key} in map fd {fd}",
                 fd, ctypes.byref(k), buf, 0)


def freeze(fd: int) -> int:
    """BPF_MAP_FREEZE; returns 0 or the negative errno (never raises)."""
    return int(_libbpf.lib().bpf_map_freeze(fd))


def close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


# -- BPF objects ----------------------------------------------------------------


def _need_clang() -> None:
    reason = bpfcc.missing_reason()
    if reason:
        pytest.skip(reason)


def build_obj(name: str) -> Path:
    """``make -s build/<name>.bpf.o`` in the repository, with tests/bpfcc.py's
    clang; returns its path."""
    _need_clang()
    target = f"build/{name}.bpf.o"
    proc = subprocess.run(["make", "-s", *bpfcc.make_vars(), target], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"make {target} failed:\n{proc.stdout}{proc.stderr}")
    path = REPO_ROOT / target
    assert path.is_file(), f"make succeeded but {path} does not exist"
    return path


def compile_bpf(src: Path, out: Path, *, debug: bool = True) -> Path:
    """Compile one BPF C file (tests/bpfcc.py; ``-g`` unless ``debug=False``);
    skips without clang, fails the test with clang's diagnostics."""
    _need_clang()
    try:
        return bpfcc.compile_bpf(src, out, debug=debug)
    except ClangError as e:
        pytest.fail(str(e))


def generated_module(name: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Build bpf/<name>.bpf.c, generate its module with bpfskel and import it."""
    return generated_module_in(name, tmp_path_factory.mktemp(name))


def generated_module_in(name: str, directory: Path) -> Any:
    """:func:`generated_module`, writing the module into ``directory``."""
    from bpfskel.gen.generate import generate

    obj = build_obj(name)
    path = directory / f"{name}_skel.py"
    path.write_text(generate(obj.read_bytes(), str(obj), name))
    spec = importlib.util.spec_from_file_location(f"{name}_skel", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def module_fixture(name: str) -> Any:
    """A module-scoped fixture giving the generated module of bpf/<name>.bpf.c:
    ``mod = module_fixture("maps")`` in a test file."""
    @pytest.fixture(scope="module")
    def mod(tmp_path_factory: pytest.TempPathFactory) -> Any:
        return generated_module(name, tmp_path_factory)
    return mod


@pytest.fixture
def loaded_skeleton(mod: Any) -> Iterator[Any]:
    """A skeleton of the test file's ``mod``, opened and loaded, destroyed after."""
    with mod.open_and_load() as skel:
        yield skel


def possible_cpus_from_sysfs() -> int:
    """Count /sys/devices/system/cpu/possible ourselves (``0-3`` -> 4), as
    ground truth for per-CPU values (independent of libbpf's count)."""
    with open("/sys/devices/system/cpu/possible") as f:
        last = f.read().strip().split(",")[-1]
    return int(last.split("-")[-1]) + 1


@contextlib.contextmanager
def on_cpu(cpu: int) -> Iterator[None]:
    """Run the block pinned to one CPU (per-CPU maps, per-CPU rings)."""
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, old)
