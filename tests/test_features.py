"""``bpfskel.features``: each probe agrees with what the kernel really does.

Where a probe says yes, the real thing works (a map is created, a program
loads, a tracepoint attaches); where it says no, the kernel really refuses.
The kernel-side hooks (kprobes, fentry, tp_btf, LSM) are checked the same way
in tests/test_attach_kernel.py, with real programs.
"""

from __future__ import annotations

import ctypes
import errno
import os
from typing import Any, Optional

import pytest

import bpfskel
from bpfskel import _libbpf, features
from bpfskel.programs import Program

from bpfenv import module_fixture, requires_bpf

pytestmark = requires_bpf

mod = module_fixture("minimal")
hookprobe_mod = module_fixture("hookprobe")
HAVE_BTF = os.path.exists("/sys/kernel/btf/vmlinux")
needs_btf = pytest.mark.skipif(not HAVE_BTF, reason="no kernel BTF (/sys/kernel/btf/vmlinux)")


def _load_raw(prog_type: int, helper_id: int) -> int:
    """Load ``call helper_id; r0 = 0; exit`` (the kernel's own verdict); returns
    the fd or -errno."""
    insns = bytes([0x85, 0, 0, 0]) + helper_id.to_bytes(4, "little") \
        + bytes([0xB7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0])
    buf = ctypes.create_string_buffer(insns, len(insns))
    opts = _libbpf.opts(_libbpf.ProgLoadOpts)
    with _libbpf.capture(quiet=True):
        return int(_libbpf.lib().bpf_prog_load(prog_type, b"probe", b"GPL", buf, 3,
                                                ctypes.byref(opts)))


@needs_btf
def test_names_come_from_the_kernel_enums() -> None:
    assert features.enum_value("bpf_prog_type", "kprobe") == 2
    assert features.enum_value("bpf_prog_type", "BPF_PROG_TYPE_XDP") == 6
    assert features.enum_value("bpf_map_type", "ringbuf") == 27
    assert features.enum_value("bpf_func_id", "bpf_ringbuf_output") == 130
    assert features.enum_value("bpf_func_id", "ringbuf_output") == 130
    assert features.enum_value("bpf_func_id", "BPF_FUNC_ringbuf_output") == 130
    assert features.enum_value("bpf_prog_type", "bpfskel_no_such_type") is None
    assert features.enum_value("bpf_prog_type", 17) == 17


@needs_btf
def test_prog_and_map_types_agree_with_the_kernel(mod: Any) -> None:
    assert features.prog_type("tracepoint") and features.prog_type("xdp")
    assert features.prog_type(features.enum_value("bpf_prog_type", "socket_filter"))
    assert not features.prog_type("bpfskel_no_such_type")
    # the minimal object has a hash map and a tracepoint program: both load
    assert features.map_type("hash") and features.map_type("array")
    with mod.open_and_load():
        pass
    assert features.ringbuf_available() == features.map_type("ringbuf")
    assert features.ringbuf_available()  # Linux 5.8+; the ring buffer tests use one
    assert not features.map_type("bpfskel_no_such_map")


HELPERS = ["ktime_get_ns", "get_current_pid_tgid", "get_current_task", "probe_write_user",
           "skb_load_bytes", "xdp_adjust_head", "get_socket_cookie", "override_return"]


@needs_btf
@pytest.mark.parametrize("ptype", ["socket_filter", "kprobe", "xdp"])
def test_helper_probe_agrees_with_the_verifier(ptype: str) -> None:
    """A helper the program type lacks is "unknown func" (EINVAL) to the
    verifier; a known one fails, if at all, on its arguments (EACCES)."""
    pt = features.enum_value("bpf_prog_type", ptype)
    assert pt is not None
    answers = {}
    for name in HELPERS:
        hid = features.enum_value("bpf_func_id", name)
        assert hid is not None, name
        fd = _load_raw(pt, hid)
        if fd >= 0:
            os.close(fd)
        answers[name] = features.helper(ptype, name)
        assert answers[name] == (fd != -errno.EINVAL), (name, fd)
    assert True in answers.values() and False in answers.values()
    assert not features.helper(ptype, "bpfskel_no_such_helper")


@needs_btf
def test_kernel_function_and_btf_type() -> None:
    assert features.kernel_function("vfs_read")
    assert features.kernel_function("do_nanosleep")
    assert not features.kernel_function("bpfskel_no_such_function")
    assert features.btf_type("task_struct")
    assert features.btf_type("task_struct", "struct")
    assert not features.btf_type("task_struct", "union")
    assert features.btf_type("vfs_read", "func")
    assert not features.btf_type("bpfskel_no_such_type")
    with pytest.raises(ValueError, match="unknown BTF kind"):
        features.btf_type("task_struct", "klass")


def test_tracepoint_probe_agrees_with_attach(mod: Any) -> None:
    if not features.tracepoint("syscalls", "sys_enter_getpid"):
        pytest.skip("tracefs is not mounted, or has no syscall tracepoints")
    assert not features.tracepoint("bpfskel", "no_such_tracepoint")
    with mod.open_and_load() as skel:
        prog = next(iter(skel.progs))
        with prog.attach_tracepoint("syscalls", "sys_enter_getpid"):
            pass
        with pytest.raises(bpfskel.LibbpfError) as ei:
            prog.attach_tracepoint("bpfskel", "no_such_tracepoint")
        assert ei.value.errno == errno.ENOENT


def test_kprobe_probe_matches_the_pmu() -> None:
    """The host has no CONFIG_KPROBES: no kprobe PMU, no kprobe_events; the
    refusal of a real attach is in tests/test_attach_kernel.py."""
    pmu = os.path.exists("/sys/bus/event_source/devices/kprobe/type")
    legacy = any(os.path.exists(f"{d}/kprobe_events")
                 for d in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"))
    if not (pmu or legacy):
        assert not features.kprobe_available()
    elif pmu:
        assert features.kprobe_available()


def test_usdt_probe() -> None:
    assert features.usdt_available() == (
        os.path.exists("/sys/bus/event_source/devices/uprobe/type")
        or os.path.exists("/sys/kernel/tracing/uprobe_events"))


def test_answers_are_cached() -> None:
    features.cache_clear()
    first = features.fentry_available()
    info = features.fentry_available.cache_info()  # type: ignore[attr-defined]
    assert features.fentry_available() == first
    assert features.fentry_available.cache_info().hits == info.hits + 1  # type: ignore[attr-defined]
    features.cache_clear()
    assert features.fentry_available.cache_info().currsize == 0  # type: ignore[attr-defined]


def test_probes_name_libbpf_limits() -> None:
    """A type this kernel has but the running libbpf cannot probe raises
    NotSupportedError rather than answering False."""
    if not HAVE_BTF or features.enum_value("bpf_map_type", "arena") is None:
        pytest.skip("kernel without arena maps")
    if _libbpf.version() >= (1, 4):
        assert features.map_type("arena")
    else:
        with pytest.raises(bpfskel.NotSupportedError, match="cannot probe"):
            features.map_type("arena")


@pytest.mark.kernel
@pytest.mark.parametrize("program,probe", [
    ("probe_kprobe", features.kprobe_available),
    ("probe_kprobe_multi", features.kprobe_multi_available),
    ("probe_fentry", features.fentry_available),
    ("probe_lsm", features.lsm_available),
])
def test_probes_agree_with_real_attaches(hookprobe_mod: Any, program: str, probe: Any) -> None:
    """Each probe against the real thing: a do-nothing program of that kind
    (bpf/hookprobe.bpf.c) loaded alone and attached through libbpf."""
    error = _real_attach_error(hookprobe_mod, program)
    assert probe() == (error is None), error


def _real_attach_error(module: Any, program: str) -> Optional[str]:
    """Why ``program`` of ``module`` does not load and attach here, or None."""
    try:
        with module.open() as skel:
            for prog in vars(skel.progs).values():
                if isinstance(prog, Program) and prog.name != program:
                    prog.autoload = False
            skel.load()
            getattr(skel.progs, program).attach().destroy()
    except (OSError, bpfskel.Error) as e:
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    return None
