"""A pytest plugin for BPF code (entry point ``pytest11``: ``bpfskel.pytest_plugin``).

Installing bpfskel registers it; it is inert until a test opts in, by a marker
or a fixture.  Loading it loads no libbpf and probes no kernel, and tests
that use neither run exactly as before (``-p no:bpfskel.pytest_plugin`` turns
it off altogether).

Markers:

* ``@pytest.mark.bpf``: the test needs BPF (libbpf, CAP_BPF, ``bpf()``); it
  skips, with the reason, where there is none.
* ``@pytest.mark.kernel_btf``: needs ``/sys/kernel/btf/vmlinux``.
* Hook markers, ``kprobe``, ``kprobe_multi``, ``uprobe``, ``tracepoint``,
  ``fentry``, ``lsm``, ``xdp``, ``tc`` (:data:`bpfskel.testing.HOOKS`): each
  implies ``bpf`` and first asks the kernel (no kprobe PMU, tracefs not
  mounted, BPF LSM inactive: skip).  Then, for a skeleton from
  :func:`bpf_skeleton`, a load or attach that fails with an errno meaning
  "the kernel will not" (:data:`bpfskel.testing.HOOK_ERRNOS`) also skips, and
  the reason quotes the kernel's error.  An unmarked test fails on it.

Fixtures:

* ``bpf_skeleton``: a factory, ``bpf_skeleton(prog_skel, rodata={...},
  attach=True)`` opens a generated module, sets ``.rodata`` before load,
  loads (and attaches), and destroys every skeleton it made after the test.
* ``netns``: a fresh network namespace (:class:`bpfskel.testing.NetNs`), the
  test's thread moved into it for the test's duration, deleted afterwards:
  XDP and tc tests attach to its interfaces, never the host's ``lo``.

Packet builders for ``Program.test_run`` are in :mod:`bpfskel.testing`
(``ipv4_udp``, ``ipv4_tcp``, ``ipv6_udp``, ``verdict_name``).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, List, Mapping, Optional

import pytest

from .testing import (
    HOOK_ERRNOS,
    HOOKS,
    NetNs,
    bpf_unavailable_reason,
    hook_unavailable_reason,
    kernel_btf_reason,
)

__all__ = ["BPF_MARKERS", "skip_reason"]

_BASE = {"bpf": "needs BPF (libbpf, CAP_BPF, bpf()); skips with the reason where missing",
         "kernel_btf": "needs kernel BTF (/sys/kernel/btf/vmlinux); skips where missing"}


BPF_MARKERS = (*_BASE, *HOOKS)


def pytest_configure(config: pytest.Config) -> None:
    for name, text in _BASE.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    for name, (what, _check) in HOOKS.items():
        config.addinivalue_line("markers", f"{name}: needs {what}; skips with the kernel's "
                                           "reason where the kernel lacks it")


def skip_reason(item: pytest.Item) -> Optional[str]:
    """Why ``item`` cannot run here according to its markers, or None.  The one
    rule, callable from a conftest that adds its own checks."""
    names = {m.name for m in item.iter_markers()}
    if not names & set(BPF_MARKERS):
        return None
    reason = bpf_unavailable_reason()
    if reason:
        return reason
    if "kernel_btf" in names:
        reason = kernel_btf_reason()
        if reason:
            return reason
    for hook in sorted(names & set(HOOKS)):
        reason = hook_unavailable_reason(hook)
        if reason:
            return reason
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    reason = skip_reason(item)
    if reason:
        pytest.skip(reason)


def _hook_marks(request: pytest.FixtureRequest) -> List[str]:
    return sorted({m.name for m in request.node.iter_markers()} & set(HOOKS))


def _refused(request: pytest.FixtureRequest, what: str, e: OSError) -> None:
    """Skip instead of failing when a hook-marked test's kernel refuses the hook."""
    hooks = _hook_marks(request)
    if hooks and e.errno in HOOK_ERRNOS:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        pytest.skip(f"{'/'.join(hooks)}: the kernel refused {what}: {first}")


@pytest.fixture
def bpf_skeleton(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """``bpf_skeleton(module, rodata=None, attach=False, **open_opts)``: a loaded
    skeleton of a generated module, destroyed after the test."""
    made: List[Any] = []

    def make(module: Any, rodata: Optional[Mapping[str, Any]] = None, attach: bool = False,
             **opts: Any) -> Any:
        skel = module.open(**opts)
        made.append(skel)
        for name, value in (rodata or {}).items():
            setattr(skel.rodata, name, value)
        try:
            skel.load()
        except OSError as e:
            _refused(request, "the load", e)
            raise
        if attach:
            try:
                skel.attach()
            except OSError as e:
                _refused(request, "the attach", e)
                raise
        return skel

    try:
        yield make
    finally:
        for skel in reversed(made):
            skel.destroy()


@pytest.fixture
def netns() -> Iterator[Any]:
    """A fresh network namespace, entered by the test's thread, deleted after."""
    try:
        ns = NetNs()
    except OSError as e:
        reason = bpf_unavailable_reason()
        pytest.skip(f"cannot make a network namespace: {e}" + (f" ({reason})" if reason else ""))
    try:
        with ns.enter():
            yield ns
    finally:
        ns.close()
