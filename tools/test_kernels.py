#!/usr/bin/env python3
"""The kernel matrix: the ``kernel``-marked tests in a VM of each kernel.

    python3 tools/test_kernels.py 6.1 6.12      (what ``make test-kernels`` runs)

For each kernel series, tools/vmrun boots Debian's kernel under emulation and
runs ``pytest -m kernel`` there: the hook-marked tests (kprobe, kprobe.multi,
fentry, LSM) and a smoke test. Everything else runs on the host only, so the
matrix stays fast. The BPF objects must be built on the host first (``make
bpf``): the guest sees the checkout read-only.

Prints one line per kernel, ``kernel 6.1.192: N passed, M skipped, K failed``,
then a total. A VM that fails to boot, crashes or times out counts as a
failure. Exit status 1 when anything failed.

A guest that dies without a test report (vmrun's exit 125: a boot failure or
a kernel crash, its console tail printed) is booted once more, and the kernel's
line says so. Under TCG, a guest kernel has been seen to fault once in a while
while it live-patches its own text (a tracepoint's static key in
``__schedule``), with the same tests passing before and after; a crash our
programs cause is deterministic and fails the retry too.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import List, Tuple

REPO = Path(__file__).resolve().parent.parent
VMRUN = REPO / "tools" / "vmrun"


def upstream_version(kernel: str) -> str:
    """``6.1`` -> ``6.1.192``: fetches the kernel into the cache if needed."""
    proc = subprocess.run([str(VMRUN), "--kernel", kernel, "--fetch-only"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise RuntimeError(f"cannot fetch kernel {kernel}")
    debian_version = proc.stdout.split()[1]          # 6.1.192-3, 6.12.117-1~deb12u1
    return debian_version.split("-")[0]


def kernel_test_files() -> List[str]:
    """The test files holding ``kernel``-marked tests, collected on the host:
    the guest then imports only those, which matters under emulation."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--collect-only", "-m", "kernel"],
                          capture_output=True, text=True, cwd=REPO)
    files = sorted({line.split("::")[0] for line in proc.stdout.splitlines() if "::" in line})
    if proc.returncode != 0 or not files:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit("test-kernels: collecting the kernel-marked tests failed")
    return files


def junit_counts(path: Path) -> Tuple[int, int, int]:
    """(passed, skipped, failed) from pytest's JUnit XML report."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = sum(int(s.get("tests", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    return tests - skipped - failed, skipped, failed


Result = Tuple[str, int, int, int]  # version, passed, skipped, failed

VM_FAILED = 125  # tools/vmrun: the VM could not run the command (boot, crash)


def run_kernel(kernel: str, pytest_args: List[str], timeout: float) -> Tuple[Result, str]:
    """One kernel's result, and a remark for its line (a retried VM crash)."""
    try:
        version = upstream_version(kernel)
    except RuntimeError as e:
        print(f"test-kernels: {e}", flush=True)
        return (kernel, 0, 0, 1), ""
    result, status = run_once(kernel, version, pytest_args, timeout)
    if status != VM_FAILED:
        return result, ""
    print(f"test-kernels: kernel {version}: the VM died without a test report (console "
          "tail above); booting it once more", flush=True)
    result, status = run_once(kernel, version, pytest_args, timeout)
    return result, " (after one VM crash, booted again)"


def run_once(kernel: str, version: str, pytest_args: List[str],
             timeout: float) -> Tuple[Result, int]:
    """One boot of ``kernel`` running the tests: the result and vmrun's status."""
    with tempfile.TemporaryDirectory(prefix="bpfskel-matrix-") as out:
        report = Path(out) / "junit.xml"
        # Third-party pytest plugins (hypothesis, ...) are not used here, and
        # loading them costs more than the tests under emulation.
        cmd = [str(VMRUN), "--kernel", kernel, "--timeout", str(timeout), "--rwdir", out,
               "--env", "PYTEST_DISABLE_PLUGIN_AUTOLOAD=1", "--",
               sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "kernel",
               f"--junitxml={report}", *pytest_args]
        print(f"== kernel {version}: {' '.join(cmd[1:])}", flush=True)
        start = time.monotonic()
        status = subprocess.run(cmd, cwd=REPO).returncode
        took = time.monotonic() - start
        print(f"== kernel {version}: {took:.0f} s", flush=True)
        if not report.exists():
            print(f"test-kernels: kernel {version}: no test report "
                  f"(tools/vmrun exit {status})", flush=True)
            return (version, 0, 0, 1), status
        passed, skipped, failed = junit_counts(report)
        if status != 0 and failed == 0:
            failed = 1  # pytest failed without failing a test (collection, internal error)
        return (version, passed, skipped, failed), status


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("kernels", nargs="+", help="Debian kernel series: 6.1 6.12")
    # 4 VMs (2 kernels x 2 libbpf versions in CI) that all hang stay within
    # CI's 90 minutes; a normal run takes about 4 minutes on a loaded machine.
    p.add_argument("--timeout", type=float, default=600,
                   help="hard limit per kernel, in seconds (default 600)")
    p.add_argument("--pytest-args", default="",
                   help="pytest arguments instead of the files that hold kernel-marked tests, "
                        "one string (e.g. 'tests/test_kernel_hooks.py -k kprobe')")
    args = p.parse_args()
    os.chdir(REPO)
    pytest_args = args.pytest_args.split() or kernel_test_files()
    runs = [run_kernel(k, pytest_args, args.timeout) for k in args.kernels]
    results = [result for result, _ in runs]
    print()
    for (version, passed, skipped, failed), remark in runs:
        print(f"kernel {version}: {passed} passed, {skipped} skipped, {failed} failed{remark}")
    passed = sum(r[1] for r in results)
    skipped = sum(r[2] for r in results)
    failed = sum(r[3] for r in results)
    print(f"kernels: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
