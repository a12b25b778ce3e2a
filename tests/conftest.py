"""Shared fixtures for the corpus-based layout tests, and the kernel matrix.

Corpus fixtures are all prefixed ``corpus_``.  Hook markers (``kprobe``,
``fentry``, ``lsm``, ...) and their detection are bpfskel's own pytest plugin
(:mod:`bpfskel.pytest_plugin`): these tests are its first user.  A marked test
skips where the kernel lacks the hook, and where a skeleton from the plugin's
``bpf_skeleton`` fixture has its load or attach refused.  The other root/BPF
gating lives in tests/bpfenv.py.

What is added here is the kernel matrix's rule (``make test-kernels``,
tools/vmrun): a test marked with one of :data:`MATRIX_HOOKS` also carries the
``kernel`` marker, which the matrix selects; and in a VM whose kernel config
(``VMRUN_KERNEL_CONFIG``) has all of a hook's options ``=y``, such a test
skipping is a failure, so that a broken attach path cannot hide behind a skip.
"""

from __future__ import annotations

import functools
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

_TESTS_DIR = Path(__file__).resolve().parent
if str(_TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(_TESTS_DIR))

import bpfcc  # noqa: E402
import groundtruth  # noqa: E402

# bpfskel's own pytest plugin (markers, bpf_skeleton, netns), also where the
# checkout is not pip-installed (its pytest11 entry point then registers it).
pytest_plugins = ("bpfskel.pytest_plugin",)

KERNEL_MARKER = "kernel"

# hook marker -> the kernel options (all =y) under which the matrix's VMs must have it
MATRIX_HOOKS: Dict[str, Tuple[str, ...]] = {
    "kprobe": ("CONFIG_KPROBES",),
    "kprobe_multi": ("CONFIG_KPROBES", "CONFIG_FPROBE"),
    "fentry": ("CONFIG_DEBUG_INFO_BTF", "CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS"),
    "lsm": ("CONFIG_BPF_LSM", "CONFIG_DEBUG_INFO_BTF"),
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{KERNEL_MARKER}: runs in the kernel matrix "
                                       "(make test-kernels); implied by every hook marker")


def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    """A test marked with a matrix hook is in the kernel matrix (``-m kernel``)."""
    for item in items:
        if any(m.name in MATRIX_HOOKS for m in item.iter_markers()):
            item.add_marker(KERNEL_MARKER)


@functools.lru_cache(maxsize=None)
def promised_hooks() -> Tuple[str, ...]:
    """Hooks the kernel's config promises, when ``VMRUN_KERNEL_CONFIG`` names
    it (inside tools/vmrun); empty elsewhere."""
    path = os.environ.get("VMRUN_KERNEL_CONFIG")
    if not path:
        return ()
    enabled = set()
    with open(path) as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            if value == "y":
                enabled.add(key)
    return tuple(h for h, options in MATRIX_HOOKS.items() if set(options) <= enabled)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if not report.skipped:
        return
    promised = sorted({m.name for m in item.iter_markers()} & set(promised_hooks()))
    if promised:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        options = ", ".join(o for h in promised for o in MATRIX_HOOKS[h])
        report.outcome = "failed"
        report.longrepr = (f"{reason}\nbut this kernel's config "
                           f"({os.environ['VMRUN_KERNEL_CONFIG']}) has {options}")


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
