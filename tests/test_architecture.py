"""The build-time / run-time boundary and the start-up import set.

* Nothing outside ``bpfskel.gen`` imports ``bpfskel.gen`` (the rule stated in
  ``bpfskel/gen/__init__.py``): checked on every import statement of the
  source, and in real processes through ``sys.modules``.
* ``import bpfskel.runtime`` and importing (and opening) a generated module
  load none of the modules the hot path does not need (issue 20, start-up):
  ``logging``, ``dataclasses``, ``subprocess``, ``socket``, ``ctypes.util``
  (and ``shutil``, ``tempfile``, ``hashlib``, ``base64``).
  This is a module-presence test, not a timing one; bench/bench_startup.py
  measures the time.

The processes run with ``-S`` (no site-packages), so that what a ``.pth``
file imports at start-up cannot hide what bpfskel imports.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, List

import pytest

from bpfenv import REPO_ROOT, bpf_unavailable_reason, build_obj

PACKAGE = REPO_ROOT / "bpfskel"
HEAVY = ["logging", "dataclasses", "subprocess", "socket", "ctypes.util",
         # and what else only build time or a rare path needs: shutil (bz2, lzma),
         # tempfile (random), hashlib (OpenSSL), base64 (binascii is enough)
         "shutil", "tempfile", "hashlib", "base64"]
# the one module outside bpfskel.gen allowed to import it: `python -m bpfskel`
ENTRY_POINTS = {PACKAGE / "__main__.py"}


def _run(code: str, *path: Path, site: bool = False) -> Any:
    """Run ``code`` in a fresh ``python -S`` (with ``site``: plain ``python``,
    for the optional extras in site-packages); it prints one JSON value."""
    prelude = f"import sys, json\nsys.path[:0] = {[str(REPO_ROOT)] + [str(p) for p in path]!r}\n"
    proc = subprocess.run([sys.executable, *([] if site else ["-S"]), "-c", prelude + code],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


_LOADED = ("json.dumps(sorted(m for m in sys.modules if m.startswith('bpfskel.gen') "
           f"or m in {HEAVY!r}))")


def _imports_of(path: Path) -> List[str]:
    """Every module an import statement in ``path`` names, made absolute."""
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    if parts[-1] == "__init__":
        package = parts[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append(mod)
            out += [f"{mod}.{alias.name}" for alias in node.names]
    return out


def test_imports_resolve_relative_names() -> None:
    # the checker itself: a relative import in bpfskel/gen/ resolves into bpfskel.gen
    assert "bpfskel.gen.objfile" in _imports_of(PACKAGE / "gen" / "generate.py")
    assert "bpfskel.gen.cli" in _imports_of(PACKAGE / "__main__.py")


def test_no_module_outside_gen_imports_gen() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if PACKAGE / "gen" in path.parents or path in ENTRY_POINTS:
            continue
        bad = [m for m in _imports_of(path) if m == "bpfskel.gen" or m.startswith("bpfskel.gen.")]
        if bad:
            offenders.append(f"{path.relative_to(REPO_ROOT)}: {', '.join(sorted(set(bad)))}")
    assert not offenders, offenders


def test_importing_any_runtime_module_loads_no_generator() -> None:
    """Each module outside bpfskel.gen, imported in turn: the first that pulls
    bpfskel.gen in is named.  Optional extras that are absent are skipped."""
    names = sorted(".".join(p.relative_to(REPO_ROOT).with_suffix("").parts)
                   .removesuffix(".__init__") for p in PACKAGE.rglob("*.py")
                   if PACKAGE / "gen" not in p.parents and p.name != "__main__.py")
    code = f"""
import importlib
seen, skipped = [], []
for name in {names!r}:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as e:
        if (e.name or '').startswith('bpfskel'):
            raise
        skipped.append(name)
        continue
    gen = [m for m in sys.modules if m.startswith('bpfskel.gen')]
    if gen:
        print(json.dumps([name, gen]))
        break
    seen.append(name)
else:
    print(json.dumps([None, seen]))
"""
    culprit, detail = _run(code, site=True)  # site: the extras' modules import too
    assert culprit is None, f"importing {culprit} loaded {detail}"
    assert "bpfskel.runtime" in detail and "bpfskel.skeleton" in detail


def test_import_runtime_loads_nothing_heavy() -> None:
    assert _run(f"import bpfskel.runtime\nprint({_LOADED})") == []


def test_import_bpfskel_is_lazy() -> None:
    loaded = _run("import bpfskel\nprint(json.dumps(sorted(m for m in sys.modules "
                  "if m.startswith('bpfskel'))))")
    assert loaded == ["bpfskel"]
    # the public names still resolve, and dir() lists them
    assert _run("import bpfskel\nprint(json.dumps([bpfskel.Map.__name__, bpfskel.BPF_NOEXIST, "
                "issubclass(bpfskel.ClosedError, bpfskel.Error), 'Memory' in dir(bpfskel)]))"
                ) == ["Map", 1, True, True]


@pytest.fixture(scope="module")
def minimal_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("arch")
    proc = subprocess.run([sys.executable, "-m", "bpfskel", "gen", str(build_obj("minimal")),
                           "-o", str(out / "minimal_skel.py")], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out


def test_generated_module_import_and_open_load_nothing_heavy(minimal_module: Path) -> None:
    code = f"""
import minimal_skel
after_import = {_LOADED}
skel = minimal_skel.open()
after_open = {_LOADED}
skel.destroy()
print(json.dumps([json.loads(after_import), json.loads(after_open)]))
"""
    assert _run(code, minimal_module) == [[], []]


def test_loaded_skeleton_loads_no_generator(minimal_module: Path) -> None:
    reason = bpf_unavailable_reason()
    if reason:
        pytest.skip(reason)
    code = f"""
import minimal_skel
with minimal_skel.open_and_load() as skel:
    skel.attach()
    loaded = {_LOADED}
print(json.dumps([m for m in json.loads(loaded) if m.startswith('bpfskel.gen')]))
"""
    assert _run(code, minimal_module) == []
