"""funclatency: a function's latency, from entry to return, as a log2
histogram, with the average, the total and the count.

The function is ``FUNC`` (kernel) or ``BINARY:FUNC`` (user space: a path, a
program on PATH, or a library such as ``c`` or ``libc.so.6``).  User
functions are traced with a uprobe/uretprobe pair; kernel functions with
fentry/fexit where the kernel has BPF trampolines, else kprobe/kretprobe
(``bpfskel.features``; ``--hook`` to choose).  Nested calls of the function
in one thread count once, as the outermost call.

    bpfskel-tools funclatency vfs_read                  # nsecs, at Ctrl-C
    bpfskel-tools funclatency -u -i 5 --count 3 c:malloc
    bpfskel-tools funclatency -m -p 1234 /usr/bin/python3.11:PyObject_Malloc
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
from typing import Any, List, Optional, Tuple

from bpfskel import errors, features, hist
from bpfskel.tools import common, prom

TOOL = "funclatency"
UNITS = {"nsecs": 0, "usecs": 1, "msecs": 2}  # the BPF side's enum units
PROGS = {"uprobe": ("uprobe_entry", "uprobe_return"),
         "kprobe": ("kprobe_entry", "kprobe_return"),
         "fentry": ("fentry_entry", "fexit_return")}
LIB_DIRS = ("/lib64", "/usr/lib64", "/lib", "/usr/lib",
            f"/lib/{os.uname().machine}-linux-gnu", f"/usr/lib/{os.uname().machine}-linux-gnu")


def resolve_binary(name: str) -> str:
    """A path, a program on PATH, or a library (``c``, ``libc.so.6``), as BCC
    takes them: the file's path, or ValueError naming what was looked for."""
    if "/" in name:
        if not os.path.isfile(name):
            raise ValueError(f"{name}: no such file")
        return os.path.abspath(name)
    found = shutil.which(name)
    if found:
        return found
    for soname in (name, ctypes.util.find_library(name.removeprefix("lib"))):
        for d in LIB_DIRS if soname else ():
            path = os.path.join(d, str(soname))
            if os.path.isfile(path):
                return path
    raise ValueError(f"{name}: not a file, a program on PATH or a library")


def parse_spec(spec: str) -> Tuple[Optional[str], str]:
    """``BINARY:FUNC`` -> (binary path, FUNC); ``FUNC`` -> (None, FUNC)."""
    binary, sep, func = spec.rpartition(":")
    if not sep:
        return None, spec
    if not binary or not func:
        raise ValueError(f"{spec!r}: expected FUNC or BINARY:FUNC")
    return resolve_binary(binary), func


def choose_hook(requested: str, binary: Optional[str]) -> str:
    if binary is not None:
        return "uprobe"
    if requested != "auto":
        return requested
    return "fentry" if features.fentry_available() else "kprobe"


def main(argv: Optional[List[str]] = None) -> int:
    p = common.parser(TOOL, "Time a function's calls, as a log2 histogram.", failed=False,
                      cgroup=True)
    unit = p.add_mutually_exclusive_group()
    unit.add_argument("-u", "--microseconds", action="store_true", help="us instead of ns")
    unit.add_argument("-m", "--milliseconds", action="store_true", help="ms instead of ns")
    p.add_argument("-i", "--interval", type=float, default=0.0,
                   help="seconds between reports (default: one report at the end)")
    p.add_argument("--count", type=int, default=0, help="number of reports (default: unlimited)")
    p.add_argument("--hook", choices=["auto", "fentry", "kprobe"], default="auto",
                   help="for a kernel function (default: fentry if the kernel has it)")
    p.add_argument("function", help="FUNC (kernel) or BINARY:FUNC (user space)")
    prom.add_option(p)
    args = common.parse(p, argv)
    prom.parse_option(p, args)
    try:
        args.binary, args.func = parse_spec(args.function)
    except ValueError as e:
        p.error(str(e))
    return common.run(TOOL, lambda: trace(args))


def attach(skel: Any, hook: str, args: Any) -> None:
    entry, ret = (getattr(skel.progs, name) for name in PROGS[hook])
    try:
        if hook == "uprobe":
            for prog, retprobe in ((entry, False), (ret, True)):
                prog.attach_uprobe(args.binary, symbol=args.func, pid=args.pid or -1,
                                   retprobe=retprobe)
        elif hook == "kprobe":
            entry.attach_kprobe(args.func)
            ret.attach_kprobe(args.func, retprobe=True)
    except (OSError, errors.Error) as e:
        raise common.ToolError(f"cannot attach to {args.function}: {e}") from e


def trace(args: Any) -> int:
    from bpfskel.tools.bpf import funclatency_skel as mod

    out = common.json_writer()
    hook = choose_hook(args.hook, args.binary)
    if hook != "uprobe" and not features.kernel_function(args.func):
        raise common.ToolError(f"no kernel function {args.func!r} to trace (not in the "
                               "kernel's BTF nor in available_filter_functions)")
    common.require_hook(hook)
    unit = "msecs" if args.milliseconds else "usecs" if args.microseconds else "nsecs"

    def report(totals: "prom.Totals[Hist]") -> None:
        rows = totals.report()
        slots, total = rows[0][1] if rows else ([], 0)
        count = sum(slots)
        if args.json:
            out.write(type="interval", function=args.function, hook=hook, unit=unit,
                      count=count, sum=total, buckets=hist.log2_hist_data(slots))
            return
        if args.timestamp:
            print(f"[{common.timestamp()}]")
        print(hist.log2_hist(slots, unit=unit))
        avg = total // count if count else 0
        print(f"\navg = {avg} {unit}, total: {total} {unit}, count: {count}\n", flush=True)

    def metrics(export: Any) -> Any:
        """``funclatency_latency_seconds``, labelled with the function; its
        ``_sum`` is exact (BPF adds up every call's time)."""
        scale = SCALE[unit]
        return export.Exporter().histogram(
            "funclatency_latency_seconds", "Latency of the traced function", hists.totals,
            export.Log2(scale=scale), labels={"function": lambda k, h: args.function},
            counts=lambda k, h: h[0],
            sum=lambda: sum(h[1] for h in hists.totals().values()) * scale)

    with mod.open() as skel:
        common.configure_filters(skel, args)
        skel.rodata.units = UNITS[unit]
        for name, progs in PROGS.items():
            for prog in progs:
                getattr(skel.progs, prog).autoload = name == hook
        if hook == "fentry":
            for prog in PROGS[hook]:
                getattr(skel.progs, prog).set_attach_target(args.func)
        common.load_and_attach(skel, TOOL)  # fentry/fexit: attached by their target
        attach(skel, hook, args)
        hists = prom.Totals(skel.maps.hists, _read, _add, args.prometheus is not None)
        prom.reports(TOOL, skel, args, hists, report, metrics)
        common.report_lost(TOOL, skel.bss.lost_events, args, out)
    return 0


# the histogram as read from the map: log2 slot counts and the sum of the times
Hist = Tuple[List[int], int]
SCALE = {"nsecs": 1e-9, "usecs": 1e-6, "msecs": 1e-3}  # a unit in seconds


def _read(h: Any) -> Hist:
    return list(h.slots), int(h.sum)


def _add(a: Hist, b: Hist) -> Hist:
    return [x + y for x, y in zip(a[0], b[0])], a[1] + b[1]
