"""Privileges and environment: what a user without them is told.

* Without CAP_BPF/CAP_PERFMON (or CAP_SYS_ADMIN), ``load()`` raises a
  ``PermissionError`` (a ``LibbpfError``) whose message says which
  capabilities the process lacks; libbpf alone says EPERM and blames
  RLIMIT_MEMLOCK.  Capabilities are dropped for real, with ``setpriv``, in a
  child process; generating a module needs none of them.
* Without libbpf, ``import bpfskel`` still works (the CLI's ``--help`` too),
  but importing a generated module raises ``LibbpfNotFoundError``, an
  ``ImportError`` naming the Debian package to install.  Tested with
  ``BPFSKEL_LIBBPF`` pointing nowhere, and in a mount namespace where the
  system's libbpf.so.1 cannot be loaded at all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, List, Optional

import pytest

from bpfskel import _libbpf

from bpfenv import REPO_ROOT, build_obj, generated_module, requires_bpf

SETPRIV = shutil.which("setpriv")
needs_setpriv = pytest.mark.skipif(SETPRIV is None, reason="setpriv (util-linux) not found")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="not root: nothing to drop")

# For uid 0, the capabilities after exec are the bounding set's: this keeps
# only the ones listed (``-all`` keeps none).
DROP_ALL = ["--inh-caps=-all", "--bounding-set=-all"]
ONLY_BPF = ["--inh-caps=-all", "--bounding-set=-all,+bpf"]
BPF_AND_PERFMON = ["--inh-caps=-all", "--bounding-set=-all,+bpf,+perfmon"]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generated_module("shared", tmp_path_factory)


def run(mod: Any, code: str, wrapper: Optional[List[str]] = None,
        env: Optional[dict] = None, prelude: bool = True) -> subprocess.CompletedProcess:
    """``code`` in a new interpreter (under ``wrapper``), where ``skel_mod`` is
    the generated module ``mod``, imported afresh (unless not ``prelude``)."""
    head = (f"import sys; sys.path.insert(0, {str(Path(mod.__file__).parent)!r})\n"
            + (f"import {mod.__name__} as skel_mod\n" if prelude else ""))
    full_env = dict(os.environ) if env is None else env
    return subprocess.run((wrapper or []) + [sys.executable, "-c",
                                             head + textwrap.dedent(code)],
                          capture_output=True, text=True, env=full_env, cwd=REPO_ROOT,
                          timeout=120)


_LOAD = """
    import os
    import bpfskel
    skel = skel_mod.open()              # parsing needs no privilege
    skel.rodata.writer_tgid = os.getpid()
    try:
        skel.load()
    except PermissionError as e:
        assert isinstance(e, bpfskel.LibbpfError), type(e).__mro__
        print("PermissionError", e.errno, repr(e.hint))
        print(str(e).splitlines()[0])
    else:
        skel.attach()
        skel.bss.writer_tid = __import__("threading").get_native_id()
        os.getppid()
        print("loaded", skel.bss.hits)
    skel.destroy()
"""


@requires_bpf
@needs_root
@needs_setpriv
def test_no_capabilities(shared: Any) -> None:
    proc = run(shared, _LOAD, [SETPRIV] + DROP_ALL)
    assert proc.returncode == 0, proc.stderr
    kind, first = proc.stdout.splitlines()
    assert kind.startswith("PermissionError 1 "), kind  # EPERM
    assert first.startswith("loading BPF object 'shared': Operation not permitted (errno 1); "
                            "this process lacks CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)"), first


@requires_bpf
@needs_root
@needs_setpriv
def test_cap_bpf_without_cap_perfmon(shared: Any) -> None:
    # a tracing program needs CAP_PERFMON on top of CAP_BPF; the hint says so
    proc = run(shared, _LOAD, [SETPRIV] + ONLY_BPF)
    assert proc.returncode == 0, proc.stderr
    kind, first = proc.stdout.splitlines()
    assert kind.startswith("PermissionError"), kind
    assert "lacks CAP_PERFMON (or CAP_SYS_ADMIN)" in first and "CAP_BPF and" not in first, first


@requires_bpf
@needs_root
@needs_setpriv
def test_what_the_hint_asks_for_is_enough(shared: Any) -> None:
    proc = run(shared, _LOAD, [SETPRIV] + BPF_AND_PERFMON)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["loaded 1"], proc.stdout


@needs_root
@needs_setpriv
def test_gen_needs_no_capabilities(tmp_path: Path) -> None:
    obj = build_obj("shared")
    out = tmp_path / "shared_skel.py"
    proc = subprocess.run([SETPRIV] + DROP_ALL + [sys.executable, "-m", "bpfskel", "gen",
                                                  str(obj), "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "class Skeleton" in out.read_text()


# -- without libbpf -----------------------------------------------------------------------

def import_code(mod: Any) -> str:
    """Import bpfskel (works without libbpf), then the generated module (must
    fail with an ImportError naming the package)."""
    return textwrap.dedent(f"""
        import bpfskel
        print("imported")
        try:
            import {mod.__name__}
        except ImportError as e:
            print(type(e).__name__, isinstance(e, bpfskel.Error))
            print(str(e))
    """)


def test_libbpf_path_that_does_not_exist(shared: Any) -> None:
    env = dict(os.environ, BPFSKEL_LIBBPF="/nonexistent/libbpf.so.1")
    proc = run(shared, import_code(shared), env=env, prelude=False)
    assert proc.returncode == 0, proc.stderr
    imported, kind, message = proc.stdout.splitlines()
    assert (imported, kind) == ("imported", "LibbpfNotFoundError True")
    assert "BPFSKEL_LIBBPF='/nonexistent/libbpf.so.1' could not be loaded" in message
    assert "apt-get install libbpf1" in message


def _system_libbpf_files() -> List[str]:
    """The files the default search would load: ``ldconfig -p``'s libbpf.so*."""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    files = {os.path.realpath(line.split("=>")[1].strip()) for line in out.splitlines()
             if line.strip().startswith("libbpf.so") and "=>" in line}
    return sorted(files)


@needs_root
@pytest.mark.skipif(shutil.which("unshare") is None, reason="unshare (util-linux) not found")
def test_no_libbpf_on_the_system(shared: Any, tmp_path: Path) -> None:
    files = _system_libbpf_files()
    if not files:
        pytest.skip("no system libbpf to hide")
    # in a private mount namespace, every libbpf file reads as empty
    hide = "; ".join(f"mount --bind /dev/null {f}" for f in files)
    env = {k: v for k, v in os.environ.items() if k != _libbpf.ENV_VAR}
    script = import_code(shared) + textwrap.dedent("""
        import subprocess
        gen = subprocess.run([sys.executable, "-m", "bpfskel", "gen", sys.argv[1]],
                             capture_output=True, text=True)
        print(gen.returncode, gen.stderr.strip())
    """)
    prelude = f"import sys; sys.path.insert(0, {str(Path(shared.__file__).parent)!r})\n"
    code_file = tmp_path / "no_libbpf.py"
    code_file.write_text(prelude + script)
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                           f'{hide} && exec "$0" "$@"', sys.executable, str(code_file),
                           str(build_obj("shared"))],
                          capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    imported, kind, message, gen = proc.stdout.splitlines()
    assert (imported, kind) == ("imported", "LibbpfNotFoundError True")
    assert message.startswith("libbpf.so.1 not found") and "apt-get install libbpf1" in message
    assert gen.startswith("2 bpfskel: error: libbpf.so.1 not found") and "libbpf1" in gen, gen
    # and outside the namespace nothing changed
    assert all(os.path.getsize(f) > 0 for f in files)
