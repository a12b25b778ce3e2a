"""Helpers for the skeleton runtime tests (``tests/test_runtime_*.py``).

``run_isolated`` runs a snippet in a fresh Python process that imports a
module made by ``bpfenv.generated_module``, so that a case which could crash
the interpreter (a segfault through a ctypes object) fails its test instead
of killing the test runner.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from bpfenv import REPO_ROOT

__all__ = ["run_isolated"]


def run_isolated(mod: Any, code: str, timeout: float = 120) -> str:
    """Run ``code`` in a new interpreter where ``skel_mod`` is ``mod`` freshly
    imported; fail the test if it dies or raises.  Returns its stdout."""
    where = str(Path(mod.__file__).parent)
    prelude = (f"import sys; sys.path[:0] = [{where!r}, {str(REPO_ROOT / 'tests')!r}]\n"
               f"import {mod.__name__} as skel_mod\n")
    env = dict(os.environ, PYTHONFAULTHANDLER="1")
    proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode < 0:
        sig = signal.Signals(-proc.returncode).name
        pytest.fail(f"the interpreter was killed by {sig}:\n{proc.stderr}")
    if proc.returncode != 0:
        pytest.fail(f"the isolated run failed (exit {proc.returncode}):\n{proc.stderr}")
    return proc.stdout
