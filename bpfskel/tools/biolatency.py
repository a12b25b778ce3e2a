"""biolatency: block I/O latency as log2 histograms, from issue to
completion (``-Q``: from the request's insertion into the queue), in total,
per disk (``-D``) or per request flags (``-F``).

Hooks: ``block_rq_issue`` and ``block_rq_complete`` (and ``block_rq_insert``
for ``-Q``), through ``tp_btf`` where the kernel has it
(``bpfskel.features.tp_btf_available``), else ``raw_tp``.  Flags are named
from the running kernel's ``enum req_op`` and ``enum req_flag_bits``, whose
values move between versions.  Histograms are read and cleared each interval.

    bpfskel-tools biolatency                    # one histogram at Ctrl-C
    bpfskel-tools biolatency -D -m 5 3          # per disk, ms, every 5 s, 3 times
    bpfskel-tools biolatency -F -d sda --json 1
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

from bpfskel import features, hist, labels
from bpfskel.tools import common, prom

TOOL = "biolatency"
PROGS = {"tp_btf": ("insert_btf", "issue_btf", "complete_btf"),
         "raw_tp": ("insert_raw", "issue_raw", "complete_raw")}
MINORBITS = 20  # the BPF side's dev: major << 20 | first_minor

# Linux 6.x's values, for a kernel without BTF to read them from
_OPS_6X = {"REQ_OP_READ": 0, "REQ_OP_WRITE": 1, "REQ_OP_FLUSH": 2, "REQ_OP_DISCARD": 3}
_FLAGS_6X = {"__REQ_FAILFAST_DEV": 8, "__REQ_SYNC": 11, "__REQ_META": 12, "__REQ_PRIO": 13,
             "__REQ_NOMERGE": 14, "__REQ_IDLE": 15, "__REQ_INTEGRITY": 16, "__REQ_FUA": 17,
             "__REQ_PREFLUSH": 18, "__REQ_RAHEAD": 19, "__REQ_BACKGROUND": 20,
             "__REQ_NOWAIT": 21}


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


class FlagNames:
    """``cmd_flags`` -> ``Sync-Idle-Write``: the modifiers (in bit order), then
    the operation, as BCC's biolatency -F names them."""

    def __init__(self) -> None:
        ops = features.enum_values("req_op") or features.enum_values("req_opf") or _OPS_6X
        bits = features.enum_values("req_flag_bits") or _FLAGS_6X
        self.op_mask = (1 << bits.get("__REQ_FAILFAST_DEV", 8)) - 1
        self.ops = {v: _camel(k[len("REQ_OP_"):]) for k, v in ops.items()
                    if k.startswith("REQ_OP_")}
        self.bits: List[Tuple[int, str]] = sorted(
            (v, _camel(k[len("__REQ_"):])) for k, v in bits.items()
            if k.startswith("__REQ_") and k != "__REQ_NR_BITS")

    def __call__(self, flags: int) -> str:
        words = [name for bit, name in self.bits if flags >> bit & 1]
        words.append(self.ops.get(flags & self.op_mask, f"Op{flags & self.op_mask}"))
        return "-".join(words)


def disk_dev(name: str) -> int:
    """``sda`` -> the BPF side's dev number, from /sys/block/<name>/dev."""
    try:
        with open(os.path.join("/sys/block", os.path.basename(name), "dev")) as f:
            major, minor = f.read().split(":")
    except OSError as e:
        raise ValueError(f"no disk {name!r} in /sys/block ({e.strerror})") from None
    return int(major) << MINORBITS | int(minor)


def main(argv: Optional[List[str]] = None) -> int:
    p = common.parser(TOOL, "Summarize block I/O latency as log2 histograms.", interval=True,
                      failed=False, cgroup=False, owner=False)
    p.add_argument("-D", "--disk", action="store_true", help="a histogram per disk")
    p.add_argument("-F", "--flag", action="store_true", help="a histogram per request flags")
    p.add_argument("-Q", "--queued", action="store_true",
                   help="include the time queued in the kernel (from block_rq_insert)")
    p.add_argument("-m", "--milliseconds", action="store_true", help="ms instead of us")
    p.add_argument("-d", "--disk-name", metavar="DISK", default="",
                   help="this disk only (a name in /sys/block: sda, nvme0n1, loop0)")
    p.add_argument("--hook", choices=["auto", *PROGS], default="auto",
                   help="the tracepoint flavour (default: tp_btf if the kernel has it)")
    prom.add_option(p)
    args = common.parse(p, argv)
    prom.parse_option(p, args)
    try:
        args.dev = disk_dev(args.disk_name) if args.disk_name else 0
    except ValueError as e:
        p.error(f"--disk-name: {e}")
    return common.run(TOOL, lambda: trace(args))


def trace(args: Any) -> int:
    from bpfskel.tools.bpf import biolatency_skel as mod

    out = common.json_writer()
    hook = args.hook if args.hook != "auto" else (
        "tp_btf" if features.tp_btf_available() else "raw_tp")
    common.require_hook(hook)
    unit = "msecs" if args.milliseconds else "usecs"
    flag_name = FlagNames()

    def labelled(key: Tuple[int, int], h: Hist) -> Dict[str, Any]:
        dev, flags = key
        entry: Dict[str, Any] = {}
        if args.disk:
            entry["disk"] = h[0] or f"{dev >> MINORBITS},{dev & 0xFFFFF}"
        if args.flag:
            entry["flags"] = flag_name(flags)
        return entry

    def report(totals: "prom.Totals[Hist]") -> None:
        rows = sorted(totals.report(), key=lambda kv: kv[0])
        if args.json:
            hists = []
            for key, h in rows:
                entry = labelled(key, h)
                entry["total"] = sum(h[1])
                entry["buckets"] = hist.log2_hist_data(h[1])
                hists.append(entry)
            out.write(type="interval", hook=hook, unit=unit, queued=args.queued, hists=hists)
            return
        if args.timestamp:
            print(f"[{common.timestamp()}]")
        if not args.disk and not args.flag:
            print(hist.log2_hist(rows[0][1][1] if rows else [], unit=unit))
        for key, h in rows if args.disk or args.flag else ():
            print("\n".join(f"{k} = {v}" for k, v in labelled(key, h).items()))
            print(hist.log2_hist(h[1], unit=unit))
        print(flush=True)

    def metrics(export: Any) -> Any:
        """``biolatency_latency_seconds``: one histogram, or one per disk
        and/or request flags (labelled so), ``_sum`` estimated from the log2
        buckets."""
        by = {name: (lambda k, h, name=name: labelled(k, h)[name])
              for name, on in (("disk", args.disk), ("flags", args.flag)) if on}
        return export.Exporter().histogram(
            "biolatency_latency_seconds", "Block I/O latency", hists.totals,
            export.Log2(scale=1e-3 if args.milliseconds else 1e-6), labels=by,
            counts=lambda k, h: h[1])

    with mod.open() as skel:
        skel.rodata.per_disk = int(args.disk)
        skel.rodata.per_flags = int(args.flag)
        skel.rodata.queued = int(args.queued)
        skel.rodata.milliseconds = int(args.milliseconds)
        skel.rodata.targ_dev = args.dev
        for name, (insert, *others) in PROGS.items():
            getattr(skel.progs, insert).autoload = name == hook and args.queued
            for prog in others:
                getattr(skel.progs, prog).autoload = name == hook
        common.load_and_attach(skel, TOOL)
        hists = prom.Totals(skel.maps.hists, _read, _add, args.prometheus is not None,
                            key=lambda k: (k.dev, k.flags))
        prom.reports(TOOL, skel, args, hists, report, metrics)
        common.report_lost(TOOL, skel.bss.lost_events, args, out)
    return 0


# one histogram as read from the map: the disk's name (with -D) and the slot counts
Hist = Tuple[str, List[int]]


def _read(h: Any) -> Hist:
    return labels.comm(h.disk), list(h.slots)


def _add(a: Hist, b: Hist) -> Hist:
    return a[0] or b[0], [x + y for x, y in zip(a[1], b[1])]
