"""Compiling BPF C for the tests and the benchmarks: one helper, one variable.

The compiler is the product's choice (:func:`bpfskel.gen.toolchain.find_clang`):
``BPFSKEL_CLANG`` when set (a path or a name), else the newest Debian
``clang-N`` with a BPF backend.  The flags are the product's too
(:func:`bpfskel.gen.toolchain.bpf_flags`: ``-g -O2 -target bpf
-D__TARGET_ARCH_<arch>`` and the multiarch include directory), so a test
object is built exactly as ``bpfskel build`` builds one.  ``make`` gets the
same clang (:func:`make_vars`), so objects of bpf/ and objects compiled here
never come from two compilers.

Used by tests/bpfenv.py (which turns a missing clang into a skip), tests/
groundtruth.py, tools/fuzz_gen.py and bench/common.py; nothing here imports
pytest.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import List, Optional, Sequence

from bpfskel.gen.toolchain import ENV_VAR, Clang, ClangError, ToolchainError, bpf_flags, find_clang

__all__ = ["ENV_VAR", "clang", "clang_path", "missing_reason", "compile_bpf", "make_vars"]


@functools.lru_cache(maxsize=None)
def _found() -> "Clang | ToolchainError":
    try:
        return find_clang()
    except ToolchainError as e:
        return e


def clang() -> Clang:
    """The clang to use; raises ``ToolchainError`` naming what to install or set."""
    got = _found()
    if isinstance(got, ToolchainError):
        raise got
    return got


def clang_path() -> Optional[str]:
    got = _found()
    return None if isinstance(got, ToolchainError) else got.path


def missing_reason() -> Optional[str]:
    """Why no BPF object can be compiled here (a skip reason), or None."""
    got = _found()
    return f"cannot build BPF objects: {got}" if isinstance(got, ToolchainError) else None


def compile_bpf(src: Path, out: Path, extra_flags: Sequence[str] = (), *,
                debug: bool = True) -> Path:
    """``src`` compiled to ``out`` with the product's flags plus ``extra_flags``
    (``debug=False``: without ``-g``, so without BTF).  A failed compile raises
    ``bpfskel.gen.toolchain.ClangError`` with clang's diagnostics in its message."""
    flags: List[str] = [f for f in bpf_flags() if debug or f != "-g"]
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        clang().run([*flags, *extra_flags, "-c", str(src), "-o", str(out)], str(src))
    except ClangError as e:  # a test failure shows what clang said
        raise ClangError(f"{e}:\n{e.diagnostics}", e.diagnostics) from None
    return out


def make_vars() -> List[str]:
    """``make`` arguments that give the Makefile's BPF rules this clang."""
    path = clang_path()
    return [f"CLANG={path}"] if path else []

