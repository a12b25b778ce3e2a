"""Shared fixtures for the corpus-based layout tests, and the hook markers.

Corpus fixtures are all prefixed ``corpus_``. The hook markers (``kprobe``,
``fentry``, ``lsm``, ...) are declared and enforced by tests/hooks.py; the
other root/BPF gating lives in tests/bpfenv.py.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List

import pytest

_TESTS_DIR = Path(__file__).resolve().parent
if str(_TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(_TESTS_DIR))

import bpfcc  # noqa: E402

import groundtruth  # noqa: E402
import hooks  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    for line in hooks.marker_lines().values():
        config.addinivalue_line("markers", line)


def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    """A hook-marked test is in the kernel matrix (``-m kernel``)."""
    for item in items:
        if any(m.name in hooks.HOOKS for m in item.iter_markers()):
            item.add_marker(hooks.KERNEL_MARKER)


def pytest_runtest_setup(item: pytest.Item) -> None:
    hooks.check(item)

# bpfskel's own pytest plugin (markers, bpf_skeleton, netns), also where the
# checkout is not pip-installed (its pytest11 entry point then registers it).
pytest_plugins = ("bpfskel.pytest_plugin",)


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """tests/corpus/"""
    return groundtruth.CORPUS_DIR


@pytest.fixture(scope="session")
def corpus_headers() -> Dict[str, Path]:
    """case name -> tests/corpus/<case>.h"""
    return {case: groundtruth.corpus_header(case) for case in groundtruth.corpus_cases()}


@pytest.fixture(scope="session")
def corpus_objects(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """Compile every tests/corpus/*.bpf.c once per session (in parallel).

    Returns case name -> Path of the compiled <case>.bpf.o.  Skips when
    no clang is found (tests/bpfcc.py); a compile error fails the requesting test.
    """
    reason = bpfcc.missing_reason()
    if reason:
        pytest.skip(reason)
    out_dir = tmp_path_factory.mktemp("corpus")
    cases = groundtruth.corpus_cases()
    if not cases:
        pytest.fail("no corpus cases found in %s" % groundtruth.CORPUS_DIR)

    def build(case: str) -> Path:
        return bpfcc.compile_bpf(groundtruth.CORPUS_DIR / (case + ".bpf.c"),
                                       out_dir / (case + ".bpf.o"))

    workers = min(len(cases), os.cpu_count() or 2)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        objs = list(pool.map(build, cases))
    return dict(zip(cases, objs))
