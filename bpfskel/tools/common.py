"""What every tool shares: the options users know from BCC and libbpf-tools,
the .rodata filters, loading with errors that name the missing privilege or
kernel feature, and the run loop (duration, interval/count, Ctrl-C with a
final summary).

Invariant: a tool prints its column header (text mode) and "Tracing ..." on
stderr only after its programs are attached, so whoever drives it (a user, a
test) knows from that line that events from then on are seen.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import time
from types import FrameType
from typing import Any, Callable, Iterator, NoReturn, Optional

from bpfskel import errors, features
from bpfskel.jsonl import JsonLines


class ToolError(Exception):
    """A failure reported as one line ``<tool>: error: ...``, exit 1."""


class _Parser(argparse.ArgumentParser):
    """Bad usage is one line, ``bpfskel-tools <tool>: error: ...``, exit 2."""

    def error(self, message: str) -> "NoReturn":
        self.exit(2, f"{self.prog}: error: {message}\n")


def parser(prog: str, description: str, *, comm_flags: tuple[str, ...] = ("-c", "--comm"),
           interval: bool = False, failed: bool = True, cgroup: bool = True,
           owner: bool = True) -> argparse.ArgumentParser:
    """The common options; tools add their own to what this returns.  A tool
    whose events belong to no task (block I/O completions) has no -p/-c."""
    p = _Parser(prog=f"bpfskel-tools {prog}", description=description)
    if owner:
        p.add_argument("-p", "--pid", type=int, default=0,
                       help="trace this process (tgid) only")
        p.add_argument(*comm_flags, dest="comm", default="",
                       help="trace only tasks with this command name (comm, 15 chars)")
    else:
        p.set_defaults(pid=0, comm="")
    if cgroup:
        p.add_argument("--cgroup", metavar="PATH",
                       help="trace only this cgroup v2 (a directory)")
    if failed:
        p.add_argument("-x", "--failed", action="store_true", help="show failed calls only")
    p.add_argument("-T", "--timestamp", action="store_true", help="print a time column")
    p.add_argument("--json", action="store_true",
                   help="print JSON lines (one event or one interval a line)")
    p.add_argument("--duration", type=float, default=0.0,
                   help="stop after this many seconds (default: until Ctrl-C)")
    if interval:
        p.add_argument("interval", nargs="?", type=float, default=0.0,
                       help="seconds between reports (default: one report at the end)")
        p.add_argument("count", nargs="?", type=int, default=0,
                       help="number of reports (default: unlimited)")
    return p


def parse(p: argparse.ArgumentParser, argv: Optional[list[str]]) -> argparse.Namespace:
    args = p.parse_args(argv)
    if args.pid < 0:
        p.error("--pid must be positive")
    if len(args.comm.encode()) > 15:
        p.error(f"--comm {args.comm!r} is longer than a task's comm (15 bytes)")
    if args.duration < 0 or getattr(args, "interval", 0) < 0 or getattr(args, "count", 0) < 0:
        p.error("durations, intervals and counts must not be negative")
    if getattr(args, "cgroup", None) is not None:
        try:
            st = os.stat(args.cgroup)
        except OSError as e:
            p.error(f"--cgroup {args.cgroup}: {e.strerror}")
        if not os.path.isdir(args.cgroup):
            p.error(f"--cgroup {args.cgroup}: not a cgroup directory")
        args.cgroup_id = st.st_ino
    else:
        args.cgroup_id = 0
    return args


def add_seconds(p: argparse.ArgumentParser) -> None:
    """BCC's positional ``duration`` of the tools that report once, at the
    end (profile, offcputime, pyflow); :func:`apply_seconds` after parsing."""
    p.add_argument("seconds", nargs="?", type=float, default=None,
                   help="seconds to trace (same as --duration; default: until Ctrl-C)")


def apply_seconds(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.seconds is not None:
        if args.seconds <= 0:
            p.error("the duration must be positive")
        args.duration = args.seconds
    args.interval, args.count = 0.0, 0  # one report, at the end (intervals())


def configure_filters(skel: Any, args: argparse.Namespace) -> None:
    """-p, -c and --cgroup into the object's .rodata (filter.bpf.h)."""
    skel.rodata.targ_tgid = args.pid
    skel.rodata.targ_cgid = args.cgroup_id
    skel.rodata.targ_comm = args.comm.encode()


def load_and_attach(skel: Any, tool: str) -> None:
    """Load and attach, turning the kernel's refusal into a ToolError that
    names what is missing: a capability, tracefs, or the hook itself."""
    try:
        skel.load()
    except OSError as e:
        hint = errors.permission_hint()
        if e.errno in (errno.EPERM, errno.EACCES) and hint:
            raise ToolError(f"cannot load the BPF programs: {hint}") from e
        raise ToolError(f"cannot load the BPF programs: {e}") from e
    try:
        skel.attach()
    except OSError as e:
        why = str(e)
        if e.errno == errno.ENOENT and not features.tracepoint("syscalls", "sys_enter_openat"):
            why += " (is tracefs mounted? mount -t tracefs nodev /sys/kernel/tracing)"
        hint = errors.permission_hint()
        if e.errno in (errno.EPERM, errno.EACCES) and hint:
            why += f"; {hint}"
        raise ToolError(f"cannot attach: {why}") from e


#: a hook a tool can be told to use -> (the probe saying whether it works, what it needs)
HOOK_PROBES: dict[str, tuple[Callable[[], bool], str]] = {
    "fentry": (features.fentry_available, "fentry/fexit programs (BPF trampolines)"),
    "kprobe": (features.kprobe_available, "kprobes (CONFIG_KPROBES)"),
    "tp_btf": (features.tp_btf_available, "tp_btf programs (BTF-typed tracepoints)"),
}


def require_hook(hook: str) -> None:
    """A hook asked for with --hook that this kernel cannot run is named
    before anything is loaded, instead of surfacing as a bare EPERM/ENOENT."""
    probe = HOOK_PROBES.get(hook)
    if probe is not None and not probe[0]():
        raise ToolError(f"--hook {hook}: this kernel has no working {probe[1]} "
                        f"(kernel {os.uname().release}); try --hook auto")


def started(tool: str, header: Optional[str], args: argparse.Namespace) -> None:
    """Announce that tracing runs (stderr) and print the text header."""
    print(f"Tracing {tool}... Hit Ctrl-C to end.", file=sys.stderr, flush=True)
    if header is not None and not args.json:
        print(header, flush=True)


class Stop:
    """SIGINT/SIGTERM end the loop instead of killing the process, so the
    final poll and summary still run.  ``stop.is_set`` is polled.  ``run()``
    installs it for the whole tool (a Ctrl-C during load or just after
    "Tracing" ends the loop at once, not with a traceback)."""

    def __init__(self) -> None:
        self.is_set = False
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        self.is_set = True

    def __enter__(self) -> "Stop":
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


STOP = Stop()


def poll_until_done(reader: Any, args: argparse.Namespace,
                    tick: Optional[Callable[[], None]] = None) -> None:
    """Poll ``reader`` until --duration passes or a signal comes, then drain it."""
    deadline = time.monotonic() + args.duration if args.duration else None
    while not STOP.is_set and (deadline is None or time.monotonic() < deadline):
        try:
            reader.poll(timeout_ms=100)
        except InterruptedError:
            continue
        if tick is not None:
            tick()
    reader.poll(timeout_ms=0)


def intervals(args: argparse.Namespace) -> Iterator[bool]:
    """Yields once per report: every ``interval`` seconds (if given), and at
    the end (a signal, --duration, or ``count`` reports).  The value is True
    for the last report, after which the generator returns."""
    deadline = time.monotonic() + args.duration if args.duration else float("inf")
    done = 0
    while True:
        until = min(deadline, time.monotonic() + args.interval) if args.interval else deadline
        while not STOP.is_set and time.monotonic() < until:
            time.sleep(min(0.05, max(0.0, until - time.monotonic())))
        done += 1
        last = (STOP.is_set or time.monotonic() >= deadline or not args.interval
                or (args.count > 0 and done >= args.count))
        yield last
        if last:
            return


def timestamp() -> str:
    return time.strftime("%H:%M:%S")


def json_writer() -> JsonLines:
    return JsonLines(sys.stdout)


def report_lost(tool: str, lost: int, args: argparse.Namespace, out: JsonLines) -> None:
    """Lost events (ring buffer full) are reported, never silently dropped."""
    if not lost:
        return
    if args.json:
        out.write(type="lost", count=lost)
    else:
        print(f"{tool}: {lost} events lost (ring buffer full)", file=sys.stderr, flush=True)


def run(tool: str, body: Callable[[], int]) -> int:
    """Run a tool's body, printing a ToolError as one line, exit 1."""
    try:
        with STOP:
            return body()
    except ToolError as e:
        print(f"{tool}: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `... | head`
        sys.stderr.close()
        return 0
