"""``bpfskel build``: one step from ``.bpf.c`` to a module, its cache, its errors.

The compiles are real (clang for the BPF target) and the built modules are
loaded and attached in the kernel where BPF is available.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pytest

from bpfskel import _libbpf, _libbpf_file

import bpfcc
from bpfenv import REPO_ROOT, bpf_unavailable_reason, needs_tracefs

pytestmark = pytest.mark.skipif(bpfcc.missing_reason() is not None,
                                reason=str(bpfcc.missing_reason()))

PROG = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "counts.h"

const volatile __u32 target_tgid = 0;
struct counts totals;

SEC("tp/syscalls/sys_enter_getpid")
int count_getpid(void *ctx)
{
	if (target_tgid && bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	__sync_fetch_and_add(&totals.calls, 1);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
"""

HEADER = "struct counts { __u64 calls; __u32 flags; };\n"


def run(*args: Any, env: Dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    full = dict(os.environ)
    full.pop("BPFSKEL_DEBUG", None)
    full.update(env)
    return subprocess.run([sys.executable, "-m", "bpfskel", *map(str, args)], cwd=cwd,
                          env=full, capture_output=True, text=True, timeout=300)


def load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(path.stem + "_t" + str(id(path)), path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "prog.bpf.c").write_text(PROG)
    (tmp_path / "src" / "counts.h").write_text(HEADER)
    return tmp_path


@pytest.fixture
def env(tmp_path: Path) -> Dict[str, str]:
    return {"BPFSKEL_CACHE_DIR": str(tmp_path / "cache")}


@needs_tracefs
def test_build_then_run(project: Path, env: Dict[str, str]) -> None:
    proc = run("build", "src/prog.bpf.c", env=env, cwd=project)
    assert proc.returncode == 0, proc.stderr
    out = project / "src" / "prog_skel.py"   # default: <name>_skel.py next to the source
    mod = load(out)
    assert mod.types.counts.calls.offset == 0 and mod.types.counts.flags.offset == 8
    reason = bpf_unavailable_reason()
    if reason:
        pytest.skip(reason)
    with mod.open() as skel:
        skel.rodata.target_tgid = os.getpid()
        skel.load()
        skel.attach()
        os.getpid()
        os.getpid()
        assert skel.bss.totals.calls == 2


def test_cache_hit_and_invalidation(project: Path, env: Dict[str, str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from bpfskel.gen.build import BuildRequest, build

    monkeypatch.setenv("BPFSKEL_CACHE_DIR", env["BPFSKEL_CACHE_DIR"])
    req = BuildRequest(str(project / "src" / "prog.bpf.c"), "prog")
    first = build(req)
    assert not first.cached
    again = build(req)
    assert again.cached and again.module == first.module
    # touching a file without changing it keeps the entry (content hash)
    os.utime(project / "src" / "counts.h", ns=(1, 1))
    assert build(req).cached
    # an included header's content is an input
    (project / "src" / "counts.h").write_text(HEADER.replace("__u32 flags", "__u64 flags"))
    changed = build(req)
    assert not changed.cached and changed.module != first.module
    assert build(req).cached
    # so are the flags
    flagged = build(BuildRequest(req.source, "prog", cflags=["-DUNUSED=1"]))
    assert not flagged.cached

    # and the libbpf file the runtime would load, keyed without loading it
    _libbpf.lib()
    with open("/proc/self/maps") as maps:  # the file this process loaded
        system_lib = next(line.split()[-1] for line in maps if "/libbpf.so" in line)
    copy = project / "libbpf.so.1"
    copy.write_bytes(Path(system_lib).read_bytes())
    monkeypatch.setenv(_libbpf_file.ENV_VAR, str(copy))
    assert not build(req).cached
    assert build(req).cached
    os.utime(copy, ns=(2, 2))  # a libbpf reinstalled in place: a new file identity
    assert not build(req).cached


def test_cache_hit_loads_no_libbpf(project: Path, env: Dict[str, str]) -> None:
    """A ``bpfskel build`` with nothing changed stays cheap (issue 19: under
    100 ms with the interpreter's start): it loads no libbpf and none of the
    modules only a compile needs.  Module presence, not a timing."""
    assert run("build", "src/prog.bpf.c", env=env, cwd=project).returncode == 0
    code = ("import sys\nfrom bpfskel.gen.cli import main\n"
            "rc = main(['build', 'src/prog.bpf.c'])\n"
            "heavy = ['ctypes', 'bpfskel._libbpf', 'hashlib', 'shutil', 'subprocess', "
            "'tempfile', 'bpfskel.gen.generate', 'bpfskel.gen.objfile']\n"
            "print(rc, sorted(m for m in heavy if m in sys.modules))")
    full = {**os.environ, **env, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run([sys.executable, "-S", "-c", code], cwd=project, env=full,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "0 []", out.stdout


def test_check(project: Path, env: Dict[str, str]) -> None:
    out = project / "prog_skel.py"
    assert run("build", "src/prog.bpf.c", "-o", out, env=env, cwd=project).returncode == 0
    assert run("build", "src/prog.bpf.c", "-o", out, "--check", env=env,
               cwd=project).returncode == 0
    (project / "src" / "counts.h").write_text(HEADER + "struct more { int x; } more_v;\n")
    before = out.read_text()
    proc = run("build", "src/prog.bpf.c", "-o", out, "--check", env=env, cwd=project)
    assert proc.returncode == 1 and "out of date" in proc.stderr
    assert out.read_text() == before


def test_clang_diagnostics_verbatim(project: Path, env: Dict[str, str]) -> None:
    src = project / "src" / "prog.bpf.c"
    src.write_text(PROG + "int broken = ;\n")
    proc = run("build", "src/prog.bpf.c", env=env, cwd=project)
    direct = subprocess.run([bpfcc.clang().path, "-g", "-O2", "-target", "bpf",
                             "-D__TARGET_ARCH_x86", "-I/usr/include/x86_64-linux-gnu", "-c",
                             "src/prog.bpf.c",
                             "-o", os.devnull], cwd=project, capture_output=True, text=True)
    assert direct.returncode != 0
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    *diags, last = proc.stderr.splitlines(keepends=True)
    assert "".join(diags) == direct.stderr
    assert last.startswith("bpfskel: error: clang failed")
    assert not (project / "src" / "prog_skel.py").exists()


def test_target_arch_and_multiarch_flags(project: Path, env: Dict[str, str]) -> None:
    import platform

    from bpfskel.gen.toolchain import TARGET_ARCH

    arch = TARGET_ARCH[platform.machine()][0]
    (project / "src" / "prog.bpf.c").write_text(
        f"#ifndef __TARGET_ARCH_{arch}\n#error no arch\n#endif\n#include <asm/types.h>\n"
        + PROG)
    proc = run("build", "src/prog.bpf.c", env=env, cwd=project)
    assert proc.returncode == 0, proc.stderr


def test_clang_without_bpf_target_names_the_package(project: Path, env: Dict[str, str]) -> None:
    # a host-only clang build lists its targets without "bpf"; this stands for one
    fake = project / "host-clang"
    fake.write_text("#!/bin/sh\necho '  Registered Targets:'\necho '    x86-64 - 64-bit X86'\n")
    fake.chmod(0o755)
    proc = run("build", "src/prog.bpf.c", "--no-cache", env={**env, "BPFSKEL_CLANG": str(fake)},
               cwd=project)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "no BPF target" in proc.stderr and "apt-get install clang-19" in proc.stderr


def test_clang_missing(project: Path, env: Dict[str, str]) -> None:
    proc = run("build", "src/prog.bpf.c", env={**env, "BPFSKEL_CLANG": "/nonexistent/clang"},
               cwd=project)
    assert proc.returncode == 2 and proc.stderr.startswith("bpfskel: error: BPFSKEL_CLANG")
    assert len(proc.stderr.splitlines()) == 1


def test_missing_source(project: Path, env: Dict[str, str]) -> None:
    proc = run("build", "src/nope.bpf.c", env=env, cwd=project)
    assert proc.returncode == 2 and "no such file" in proc.stderr


@pytest.mark.skipif(not os.path.exists("/sys/kernel/btf/vmlinux"), reason="no kernel BTF")
@needs_tracefs
def test_vmlinux_h_generated_into_the_cache(project: Path, env: Dict[str, str]) -> None:
    (project / "src" / "core.bpf.c").write_text(r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
__u32 seen_tgid;
SEC("tp/syscalls/sys_enter_getpid")
int on_getpid(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	if (BPF_CORE_READ(t, tgid) == (int)(bpf_get_current_pid_tgid() >> 32))
		seen_tgid = BPF_CORE_READ(t, tgid);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
""")
    proc = run("build", "src/core.bpf.c", env=env, cwd=project)
    assert proc.returncode == 0, proc.stderr
    headers = list(Path(env["BPFSKEL_CACHE_DIR"]).glob("vmlinux/*/vmlinux.h"))
    assert len(headers) == 1 and "struct task_struct {" in headers[0].read_text()
    mod = load(project / "src" / "core_skel.py")
    reason = bpf_unavailable_reason()
    if reason:
        pytest.skip(reason)
    with mod.open_and_load() as skel:
        skel.attach()
        os.getpid()
        assert skel.bss.seen_tgid == os.getpid()


ARCH_PROG = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
__u32 arch_id;
SEC("tp/syscalls/sys_enter_getpid")
int which_arch(void *ctx)
{
#if defined(__TARGET_ARCH_x86)
	arch_id = 86;
#elif defined(__TARGET_ARCH_arm64)
	arch_id = 64;
#endif
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.mark.skipif(__import__("platform").machine() != "x86_64", reason="x86-64 host assumed")
@needs_tracefs
def test_one_object_per_arch_when_the_source_uses_target_arch(
        project: Path, env: Dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from bpfskel import arch

    (project / "src" / "arch.bpf.c").write_text(ARCH_PROG)
    proc = run("build", "src/arch.bpf.c", "--arch", "x86_64", "--arch", "aarch64", env=env,
               cwd=project)
    assert proc.returncode == 0, proc.stderr
    text = (project / "src" / "arch_skel.py").read_text()
    assert "\n_OBJECTS = {\n    'aarch64': (" in text and "\n    'x86_64': (" in text
    mod = load(project / "src" / "arch_skel.py")
    # BPF bytecode loads on any kernel: run each arch's object here and see which it is
    expected = {"x86_64": 86, "aarch64": 64}
    for machine, arch_id in expected.items():
        monkeypatch.setattr(arch, "MACHINE", machine)  # bpfskel's one architecture seam
        reason = bpf_unavailable_reason()
        if reason:
            pytest.skip(reason)
        with mod.open_and_load() as skel:
            skel.attach()
            os.getpid()
            assert skel.bss.arch_id == arch_id, machine
    monkeypatch.setattr(arch, "MACHINE", "s390x")
    with pytest.raises(OSError, match="aarch64, x86_64, not for s390x"):
        mod.open()


def test_one_object_when_the_arches_agree(project: Path, env: Dict[str, str]) -> None:
    proc = run("build", "src/prog.bpf.c", "--arch", "aarch64", env=env, cwd=project)
    assert proc.returncode == 0, proc.stderr
    text = (project / "src" / "prog_skel.py").read_text()
    assert "\n_OBJECT = (" in text and "_OBJECTS = {" not in text


def test_arches_whose_types_differ_are_refused(project: Path, env: Dict[str, str]) -> None:
    (project / "src" / "arch.bpf.c").write_text(ARCH_PROG.replace(
        "__u32 arch_id;", "#ifdef __TARGET_ARCH_x86\n__u32 pad;\n#endif\n__u32 arch_id;"))
    proc = run("build", "src/arch.bpf.c", "--arch", "x86_64", "--arch", "aarch64", env=env,
               cwd=project)
    assert proc.returncode == 2 and "differ between" in proc.stderr, proc.stderr


def test_generated_module_never_imports_the_generator(project: Path,
                                                      env: Dict[str, str]) -> None:
    assert run("build", "src/prog.bpf.c", env=env, cwd=project).returncode == 0
    code = ("import sys, prog_skel\nskel = prog_skel.open()\nskel.destroy()\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('bpfskel'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=project / "src", check=True,
                         capture_output=True, text=True).stdout.split()
    assert "bpfskel.runtime" in out
    build_time = [m for m in out if m.startswith("bpfskel.gen")
                  or m in ("bpfskel.testing", "bpfskel.pytest_plugin")]
    assert not build_time, out


STEM_PROG = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "NAME.h"
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } events SEC(".maps");
SEC("tp/syscalls/sys_enter_getpid")
int on_getpid(void *ctx)
{
	struct NAME_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (e)
		bpf_ringbuf_submit(e, 0);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
"""


def test_project_stem_gives_each_source_its_own_header(tmp_path: Path,
                                                       env: Dict[str, str]) -> None:
    # as `--types-from $*.h` in a make pattern rule: a.bpf.c gets a.h's types, b.bpf.c b.h's
    (tmp_path / "src").mkdir()
    for name, member in (("a", "__u32 x;"), ("b", "__u64 y; __u16 z;")):
        (tmp_path / "src" / f"{name}.bpf.c").write_text(STEM_PROG.replace("NAME", name))
        (tmp_path / "src" / f"{name}.h").write_text(f"struct {name}_event {{ {member} }};\n")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.bpfskel]\nsources = ["src/*.bpf.c"]\ntypes-from = ["src/{stem}.h"]\n')
    proc = run("build", "--project", ".", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    a, b = load(tmp_path / "src" / "a_skel.py"), load(tmp_path / "src" / "b_skel.py")
    assert ctypes_size(a.types.a_event) == 4 and not hasattr(a.types, "b_event")
    assert ctypes_size(b.types.b_event) == 16 and not hasattr(b.types, "a_event")


def ctypes_size(cls: Any) -> int:
    import ctypes

    return ctypes.sizeof(cls)
