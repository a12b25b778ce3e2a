"""Kernel-side attach kinds (kprobes, kprobe_multi, ksyscall, fentry/fexit,
tp_btf, raw_tp, LSM), each checked against what ``bpfskel.features`` says.

Every test runs everywhere and checks the probe is honest: where the probe
says yes, a real program attaches and counts this process's calls; where it
says no, the attach (or the load) really is refused, cleanly.  The host kernel
has no kprobes and refuses trampolines, so there the refusals are tested; the
kernel matrix (``tools/vmrun``) runs the same file where they attach.

Source: bpf/attach_kernel.bpf.c.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from typing import Any, Iterator

import pytest

import bpfskel
from bpfskel import _libbpf, features

from bpfenv import module_fixture, requires_bpf

pytestmark = [requires_bpf, pytest.mark.kernel]  # in the kernel matrix too

mod = module_fixture("attach_kernel")
N = 5


def opened(mod: Any, *names: str) -> Any:
    """The object opened with only ``names`` left to load."""
    skel = mod.open()
    for prog in skel.progs:
        prog.autoload = prog.name in names
    return skel


@pytest.fixture
def tmpfile(tmp_path: Any) -> str:
    path = tmp_path / "f"
    path.write_text("x")
    return str(path)


def open_close(path: str, n: int = N) -> None:
    for _ in range(n):
        os.close(os.open(path, os.O_RDONLY))


@contextlib.contextmanager
def loaded(mod: Any, *names: str) -> Iterator[Any]:
    with opened(mod, *names) as skel:
        skel.load()
        skel.bss.target_tgid = os.getpid()
        yield skel


# -- kprobes ------------------------------------------------------------------------


def test_kprobe_and_kretprobe(mod: Any, tmpfile: str) -> None:
    with loaded(mod, "kp", "krp") as skel:
        if not features.kprobe_available():
            with pytest.raises(bpfskel.NotSupportedError, match="kprobes"):
                skel.progs.kp.attach_kprobe("do_sys_openat2")
            return
        with skel.progs.kp.attach_kprobe("do_sys_openat2"), \
                skel.progs.krp.attach_kprobe("do_sys_openat2", retprobe=True):
            open_close(tmpfile)
        assert skel.bss.kprobe_hits >= N
        assert skel.bss.kretprobe_hits >= N
        hits = skel.bss.kprobe_hits
        open_close(tmpfile)
        assert skel.bss.kprobe_hits == hits  # detached
        with pytest.raises(bpfskel.LibbpfError):
            skel.progs.kp.attach_kprobe("bpfskel_no_such_function")


def test_kprobe_multi_with_cookies(mod: Any, tmpfile: str) -> None:
    with loaded(mod, "kmulti") as skel:
        prog = skel.progs.kmulti
        if not features.kprobe_multi_available():
            with pytest.raises(bpfskel.NotSupportedError, match="CONFIG_FPROBE"):
                prog.attach_kprobe_multi(syms=["do_sys_openat2"], cookies=[7])
            # and the kernel really refuses: libbpf's own attach, past our check
            with pytest.raises(bpfskel.LibbpfError) as ei:
                prog._attach(_libbpf.lib().bpf_program__attach_kprobe_multi_opts,
                             "kprobe_multi", b"do_sys_openat2", None)
            assert ei.value.errno in (errno.EOPNOTSUPP, errno.ENOENT, errno.EINVAL, errno.EPERM)
            return
        with prog.attach_kprobe_multi(syms=["do_sys_openat2"], cookies=[7]):
            open_close(tmpfile)
        assert skel.bss.kmulti_hits >= N
        assert skel.bss.kmulti_cookies == 7 * skel.bss.kmulti_hits
        skel.bss.kmulti_hits = 0
        with prog.attach_kprobe_multi("do_sys_openat*"):
            open_close(tmpfile)
        assert skel.bss.kmulti_hits >= N
        with pytest.raises(ValueError):
            prog.attach_kprobe_multi("x*", syms=["y"])


def test_ksyscall(mod: Any) -> None:
    with loaded(mod, "ksys") as skel:
        prog = skel.progs.ksys
        if _libbpf.lib().bpf_program__attach_ksyscall is None:
            with pytest.raises(bpfskel.NotSupportedError, match="bpf_program__attach_ksyscall"):
                prog.attach_ksyscall("getpid")
            return
        if not features.kprobe_available():
            with pytest.raises(bpfskel.NotSupportedError, match="kprobes"):
                prog.attach_ksyscall("getpid")
            return
        with prog.attach_ksyscall("getpid"):
            for _ in range(N):
                os.getpid()
        assert skel.bss.ksyscall_hits >= N


# -- trampolines ----------------------------------------------------------------------


def test_fentry_fexit_match_the_probe(mod: Any) -> None:
    skel = opened(mod, "fent", "fext")
    with skel:
        if not features.fentry_available():
            with pytest.raises(bpfskel.LibbpfError) as ei:
                skel.load()  # the kernel refuses the trampoline program itself
            assert ei.value.errno in (errno.EPERM, errno.EACCES, errno.EINVAL,
                                      errno.EOPNOTSUPP, 524)  # 524: the kernel's ENOTSUPP
            return
        skel.load()
        skel.bss.target_tgid = os.getpid()
        with skel.progs.fent.attach_trace(), skel.progs.fext.attach_trace():
            for _ in range(N):
                time.sleep(0.001)
        assert skel.bss.fentry_hits >= N
        assert skel.bss.fexit_hits >= N
        assert skel.bss.fexit_ret == 0  # do_nanosleep() returned 0: the sleep completed


def test_set_attach_target_before_load(mod: Any) -> None:
    skel = opened(mod, "fent_target")
    with skel:
        prog = skel.progs.fent_target
        prog.set_attach_target("do_nanosleep")
        assert prog.expected_attach_type == features.enum_value("bpf_attach_type",
                                                                "trace_fentry")
        if not features.fentry_available():
            with pytest.raises(bpfskel.LibbpfError):
                skel.load()
            return
        skel.load()
        skel.bss.target_tgid = os.getpid()
        with prog.attach_trace():
            for _ in range(N):
                time.sleep(0.001)
        assert skel.bss.fentry_target_hits >= N


def test_set_attach_target_unknown_function(mod: Any) -> None:
    with opened(mod, "fent_target") as skel:
        with pytest.raises(bpfskel.LibbpfError) as ei:
            skel.progs.fent_target.set_attach_target("bpfskel_no_such_function")
            skel.load()  # libbpf 1.1 resolves the name at load
        assert "bpfskel_no_such_function" in str(ei.value) or ei.value.errno == errno.ESRCH


def test_tp_btf_and_raw_tp(mod: Any) -> None:
    with loaded(mod, "rawtp") as skel:
        with skel.progs.rawtp.attach():
            for _ in range(N):
                os.getppid()
        assert skel.bss.raw_tp_hits >= N
    skel = opened(mod, "tpbtf")
    with skel:
        if not features.tp_btf_available():
            with pytest.raises(bpfskel.LibbpfError):
                skel.load()
                skel.progs.tpbtf.attach_trace()
            return
        skel.load()
        skel.bss.target_tgid = os.getpid()
        with skel.progs.tpbtf.attach_trace():
            for _ in range(N):
                os.getppid()
        assert skel.bss.tp_btf_hits >= N


def test_lsm_matches_the_probe(mod: Any, tmpfile: str) -> None:
    skel = opened(mod, "lsm_open")
    with skel:
        if not features.lsm_available():
            with pytest.raises(bpfskel.LibbpfError):
                skel.load()
                skel.progs.lsm_open.attach_lsm()
            return
        skel.load()
        skel.bss.target_tgid = os.getpid()
        with skel.progs.lsm_open.attach_lsm():
            open_close(tmpfile)
        assert skel.bss.lsm_hits >= N


def test_type_setters_before_load(mod: Any) -> None:
    with opened(mod, "rawtp") as skel:
        prog = skel.progs.rawtp
        raw_tp = features.enum_value("bpf_prog_type", "raw_tracepoint")
        assert prog.type == raw_tp
        prog.type = features.enum_value("bpf_prog_type", "tracepoint")
        assert prog.type == features.enum_value("bpf_prog_type", "tracepoint")
        prog.type = raw_tp
        prog.expected_attach_type = 0
        assert prog.expected_attach_type == 0
        skel.load()
        with pytest.raises(bpfskel.LibbpfError) as ei:
            prog.expected_attach_type = 1
        assert ei.value.errno == errno.EBUSY
