"""The hatchling hook, end to end: examples/getpid_counter as a user builds it.

1. bpfskel itself is built into a wheel (from a copy of the checkout);
2. a fresh venv builds the sample app's wheel with pip, in pip's own isolated
   build environment (hatchling from the package index, bpfskel from step 1);
3. a second fresh venv, whose PATH has no clang, installs that wheel and runs
   the app, which loads and attaches the BPF program embedded in the module.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import pytest

import bpfcc
from bpfenv import REPO_ROOT, bpf_unavailable_reason, needs_tracefs
from venvenv import bpfskel_wheelhouse, fresh_venv, sh

APP = REPO_ROOT / "examples" / "getpid_counter"

pytestmark = pytest.mark.skipif(bpfcc.missing_reason() is not None,
                                reason=f"{bpfcc.missing_reason()} (the build step needs it)")


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bpfskel_wheelhouse(tmp_path_factory.mktemp("bpfskel"))


@needs_tracefs
def test_wheel_built_in_one_venv_runs_in_another_without_clang(
        tmp_path: Path, wheelhouse: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns("*_skel.py", "__pycache__"))
    env = dict(os.environ, BPFSKEL_CACHE_DIR=str(tmp_path / "cache"),
               PIP_FIND_LINKS=f"{wheelhouse} {os.environ.get('PIP_FIND_LINKS', '')}".strip())
    for var in ("PYTHONPATH", "BPFSKEL_CLANG", "BPFSKEL_DEBUG"):
        env.pop(var, None)
    builder = fresh_venv(tmp_path / "build-venv")
    dist = tmp_path / "dist"
    sh([str(builder / "pip"), "wheel", "-q", "--no-deps", "-w", str(dist), str(app)], env, app)
    wheels = list(dist.glob("getpid_counter-*.whl"))
    assert len(wheels) == 1
    with zipfile.ZipFile(wheels[0]) as z:
        names = z.namelist()
        assert "getpid_counter/bpf/counter_skel.py" in names, names
        module = z.read("getpid_counter/bpf/counter_skel.py").decode()
    assert "\n_OBJECT = (" in module and "class event(" in module

    runner = fresh_venv(tmp_path / "run-venv")
    run_env = {k: v for k, v in env.items() if k != "PIP_FIND_LINKS"}
    run_env["PATH"] = str(runner)   # the venv's own bin: no clang here
    assert shutil.which(Path(bpfcc.clang().path).name, path=run_env["PATH"]) is None
    assert shutil.which("clang", path=run_env["PATH"]) is None
    sh([str(runner / "pip"), "install", "-q", "--no-index", "--find-links", str(wheelhouse),
        str(wheels[0])], run_env, tmp_path)
    reason = bpf_unavailable_reason()
    if reason:
        pytest.skip(reason)
    out = sh([str(runner / "getpid-counter"), "3"], run_env, tmp_path)
    assert out.strip() == "calls=3 events=[1, 2, 3]"
