"""Programs on hooks the host kernel refuses: kprobes, kprobe.multi, fentry,
fexit and BPF LSM. Each test is marked with its hook (bpfskel's pytest plugin)
and loads through the plugin's ``bpf_skeleton``: on the host it skips with a
reason naming the hook and the kernel's error; ``make test-kernels`` runs it in
VMs of Debian kernels (tools/vmrun), where it must pass (tests/conftest.py).

Every program is auto-attached by ``skel.attach()`` from its ``SEC()`` name and
counts the getpid() or unlink() calls, or the file opens, of this process
only; the test reads the counts and the recorded arguments and return values
live from ``.bss``.

Sources: bpf/kprobe.bpf.c, bpf/kprobe_multi.bpf.c, bpf/fentry.bpf.c,
bpf/lsm.bpf.c, bpf/minimal.bpf.c.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Any, Iterator

import pytest

import bpfskel
from bpfskel import features

from bpfenv import module_fixture, needs_tracefs, requires_bpf

pytestmark = requires_bpf

CALLS = 5
AT_FDCWD = -100  # <fcntl.h>: unlink() passes it as do_unlinkat's dfd
PID = os.getpid()  # taken once: every later getpid() would count

kprobe_mod = module_fixture("kprobe")
kprobe_multi_mod = module_fixture("kprobe_multi")
fentry_mod = module_fixture("fentry")
lsm_mod = module_fixture("lsm")
minimal_mod = module_fixture("minimal")


@contextlib.contextmanager
def _attached(bpf_skeleton: Any, mod: Any) -> Iterator[Any]:
    """The skeleton, counting this process, loaded and auto-attached through
    the plugin (a refused hook skips the marked test), destroyed on exit."""
    skel = bpf_skeleton(mod, rodata={"target_tgid": os.getpid()}, attach=True)
    try:
        yield skel
    finally:
        skel.destroy()


def _getpid_calls(n: int) -> None:
    for _ in range(n):
        assert os.getpid() > 0  # glibc does not cache getpid(): one syscall each


@pytest.mark.kprobe
def test_kprobe_and_kretprobe_count_getpid(bpf_skeleton: Any, kprobe_mod: Any) -> None:
    with _attached(bpf_skeleton, kprobe_mod) as skel:
        assert set(vars(skel.links)) >= {"getpid_entry", "getpid_return"}
        before = skel.bss.kprobe_hits, skel.bss.kretprobe_hits
        _getpid_calls(CALLS)
        assert skel.bss.kprobe_hits - before[0] == CALLS
        assert skel.bss.kretprobe_hits - before[1] == CALLS
        assert skel.bss.kretprobe_ret == PID
        skel.detach()
        _getpid_calls(CALLS)
        assert skel.bss.kprobe_hits - before[0] == CALLS  # detached: no more hits


@pytest.mark.kprobe_multi
def test_kprobe_multi_sees_unlink(bpf_skeleton: Any, kprobe_multi_mod: Any, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"")
    with _attached(bpf_skeleton, kprobe_multi_mod) as skel:
        assert set(vars(skel.links)) >= {"unlink_multi_entry", "unlink_multi_return"}
        os.unlink(victim)
        with pytest.raises(FileNotFoundError):
            os.unlink(victim)
        assert (skel.bss.multi_hits, skel.bss.multi_ret_hits) == (2, 2)
        assert skel.bss.multi_ret == -errno.ENOENT


def test_attach_refuses_a_missing_kprobe_multi(kprobe_multi_mod: Any) -> None:
    """Where fprobe is missing, ``skel.attach()`` raises for a program that
    names its target, as for any other failing auto-attach: it never skips it
    silently (libbpf reports EOPNOTSUPP there, as for an unattachable section)."""
    if features.kprobe_multi_available():
        pytest.skip("kprobe.multi works on this kernel: nothing to refuse")
    with kprobe_multi_mod.open() as skel:
        skel.rodata.target_tgid = os.getpid()
        skel.load()
        with pytest.raises(bpfskel.LibbpfError, match="kprobe.multi/do_unlinkat"):
            skel.attach()


@pytest.mark.fentry
def test_fentry_and_fexit_see_unlink(bpf_skeleton: Any, fentry_mod: Any, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"")
    with _attached(bpf_skeleton, fentry_mod) as skel:
        assert set(vars(skel.links)) >= {"unlink_entry", "unlink_exit"}
        os.unlink(victim)
        assert (skel.bss.fentry_hits, skel.bss.fexit_hits) == (1, 1)
        assert skel.bss.fentry_dfd == AT_FDCWD  # the argument, read through BTF
        assert skel.bss.fexit_ret == 0
        with pytest.raises(FileNotFoundError):
            os.unlink(victim)
        assert (skel.bss.fentry_hits, skel.bss.fexit_hits) == (2, 2)
        assert skel.bss.fexit_ret == -errno.ENOENT  # the return value, seen by fexit


@pytest.mark.lsm
def test_lsm_counts_and_denies_opens(bpf_skeleton: Any, lsm_mod: Any) -> None:
    with _attached(bpf_skeleton, lsm_mod) as skel:
        before = skel.bss.opens
        with open(os.devnull, "rb"):
            pass
        assert skel.bss.opens - before == 1
        skel.bss.deny = 1  # seen by the program at once, through the mmap
        try:
            with pytest.raises(PermissionError) as exc:
                open(os.devnull, "rb").close()
        finally:
            skel.bss.deny = 0
        assert exc.value.errno == errno.EPERM
        assert skel.bss.denied == 1
        with open(os.devnull, "rb"):
            pass
        assert skel.bss.opens - before == 3
    with open(os.devnull, "rb"):  # destroyed: the LSM program is gone
        pass


@pytest.mark.kernel
@needs_tracefs
def test_smoke_tracepoint_globals_and_map(bpf_skeleton: Any, minimal_mod: Any) -> None:
    """The matrix's smoke test: the README's basic path on each kernel."""
    with _attached(bpf_skeleton, minimal_mod) as skel:
        _getpid_calls(CALLS)
        assert skel.bss.calls == CALLS
        assert skel.bss.last_pid_tgid >> 32 == PID
        assert sum(skel.maps.per_tid.values()) == CALLS
