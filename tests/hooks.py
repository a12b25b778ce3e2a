"""Hook markers: a test declares the kernel hook it needs, and runs only where
that hook really works.

``@pytest.mark.kprobe`` (or ``kprobe_multi``, ``fentry``, ``lsm``) on a test
makes conftest probe the running kernel once per session: load and attach the
matching do-nothing program of bpf/hookprobe.bpf.c. Where that fails, the test
skips and the reason names the hook and the kernel's error. Versions are never
compared: Debian backports features, and the host's kernel refuses fentry with
EPERM although it is new enough.

Hook-marked tests also carry the ``kernel`` marker: ``pytest -m kernel`` is
what the kernel matrix (``make test-kernels``) runs in each VM.

In a VM of tools/vmrun, ``VMRUN_KERNEL_CONFIG`` names the kernel's config.
A hook whose config options are all ``y`` there must work: its probe failing
then fails the test instead of skipping it, so that a broken attach path
cannot hide behind a skip in the matrix.
"""

from __future__ import annotations

import functools
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import pytest

from bpfskel.errors import Error
from bpfskel.programs import Program

from bpfenv import bpf_unavailable_reason, generated_module_in


@dataclass(frozen=True)
class Hook:
    marker: str
    program: str              # its probe in bpf/hookprobe.bpf.c
    what: str                 # for the marker's help and skip reasons
    config: Tuple[str, ...]   # kernel options it needs (all =y)


HOOKS: Dict[str, Hook] = {h.marker: h for h in (
    Hook("kprobe", "probe_kprobe", "kprobes and kretprobes", ("CONFIG_KPROBES",)),
    Hook("kprobe_multi", "probe_kprobe_multi", "kprobe.multi links (fprobe, Linux 5.18+)",
         ("CONFIG_KPROBES", "CONFIG_FPROBE")),
    Hook("fentry", "probe_fentry", "fentry/fexit programs (BPF trampolines)",
         ("CONFIG_DEBUG_INFO_BTF", "CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS")),
    Hook("lsm", "probe_lsm", "BPF LSM programs (bpf in lsm=)",
         ("CONFIG_BPF_LSM", "CONFIG_DEBUG_INFO_BTF")),
)}

KERNEL_MARKER = "kernel"


def marker_lines() -> Dict[str, str]:
    """marker name -> its ini line, for ``config.addinivalue_line("markers", ...)``."""
    lines = {h.marker: f"{h.marker}: needs {h.what}; skips where the kernel lacks them"
             for h in HOOKS.values()}
    lines[KERNEL_MARKER] = (f"{KERNEL_MARKER}: runs in the kernel matrix "
                            "(make test-kernels); implied by every hook marker")
    return lines


def _kernel() -> str:
    return os.uname().release


_probe_logs: Dict[str, str] = {}  # marker -> the whole error of its failed probe


@functools.lru_cache(maxsize=None)
def unavailable_reason(marker: str) -> Optional[str]:
    """Why the hook cannot be used on this kernel, or None when its probe
    program loads and attaches here."""
    hook = HOOKS[marker]
    reason = bpf_unavailable_reason()
    if reason:
        return f"{marker}: {reason}"
    try:
        with _probe_module().open() as skel:
            for prog in vars(skel.progs).values():
                if isinstance(prog, Program) and prog.name != hook.program:
                    prog.autoload = False
            skel.load()
            getattr(skel.progs, hook.program).attach().destroy()
    except (OSError, Error) as e:
        _probe_logs[marker] = str(e)
        first = str(e).splitlines()[0]
        return f"{marker}: {hook.what} unavailable on kernel {_kernel()}: {first}"
    return None


@functools.lru_cache(maxsize=None)
def _probe_module() -> Any:
    """The generated module of bpf/hookprobe.bpf.c, imported once."""
    with tempfile.TemporaryDirectory(prefix="bpfskel-hookprobe-") as d:
        return generated_module_in("hookprobe", Path(d))


@functools.lru_cache(maxsize=None)
def expected_hooks() -> Tuple[str, ...]:
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
    return tuple(h.marker for h in HOOKS.values() if set(h.config) <= enabled)


def check(item: pytest.Item) -> None:
    """Skip (or, where the config promises the hook, fail) ``item`` when a hook
    it is marked with does not work on this kernel."""
    for mark in item.iter_markers():
        if mark.name not in HOOKS:
            continue
        reason = unavailable_reason(mark.name)
        if reason is None:
            continue
        if mark.name in expected_hooks():
            config = os.environ["VMRUN_KERNEL_CONFIG"]
            pytest.fail(f"{reason}\nbut its config ({config}) has "
                        f"{', '.join(HOOKS[mark.name].config)}\n{_probe_logs.get(mark.name, '')}",
                        pytrace=False)
        pytest.skip(reason)
