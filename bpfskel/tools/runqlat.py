"""runqlat: run-queue (scheduler) latency as log2 histograms: the time from
a task's wakeup, or its preemption while runnable, until it runs.

Hooks: ``sched_wakeup``, ``sched_wakeup_new`` and ``sched_switch``, through
``tp_btf`` where the kernel has it (``bpfskel.features.tp_btf_available``),
else ``raw_tp``.  Histograms are read and cleared each interval.

    bpfskel-tools runqlat                       # one histogram at Ctrl-C
    bpfskel-tools runqlat -m 5 3                # ms, every 5 s, 3 times
    bpfskel-tools runqlat -P --json 1           # per process, JSON lines
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from bpfskel import features, hist, labels
from bpfskel.tools import common, prom

TOOL = "runqlat"
# the BPF side's enum hist_key_kind
KEY_KINDS = {"total": 0, "pid": 1, "tid": 2, "pidns": 3}
PROGS = {"tp_btf": ("wakeup_btf", "wakeup_new_btf", "switch_btf"),
         "raw_tp": ("wakeup_raw", "wakeup_new_raw", "switch_raw")}


@dataclass
class Hist:
    """One histogram as read from the map: log2 slot counts, and the task's
    command for the per-process and per-thread ones."""

    comm: str
    slots: List[int]

    @classmethod
    def read(cls, h: Any) -> "Hist":
        return cls(labels.comm(h.comm), list(h.slots))

    def __add__(self, other: "Hist") -> "Hist":
        return Hist(self.comm, [a + b for a, b in zip(self.slots, other.slots)])


def main(argv: Optional[List[str]] = None) -> int:
    p = common.parser(TOOL, "Summarize run-queue latency as log2 histograms.", interval=True,
                      failed=False, cgroup=False)
    by = p.add_mutually_exclusive_group()
    by.add_argument("-P", "--pids", action="store_true", help="a histogram per process")
    by.add_argument("-L", "--tids", action="store_true", help="a histogram per thread")
    by.add_argument("--pidnss", action="store_true", help="a histogram per pid namespace")
    p.add_argument("-m", "--milliseconds", action="store_true", help="ms instead of us")
    p.add_argument("--hook", choices=["auto", "tp_btf", "raw_tp"], default="auto",
                   help="the tracepoint flavour (default: tp_btf if the kernel has it)")
    prom.add_option(p)
    args = common.parse(p, argv)
    prom.parse_option(p, args)
    return common.run(TOOL, lambda: trace(args))


def trace(args: Any) -> int:
    from bpfskel.tools.bpf import runqlat_skel as mod

    out = common.json_writer()
    hook = args.hook if args.hook != "auto" else (
        "tp_btf" if features.tp_btf_available() else "raw_tp")
    kind = ("pid" if args.pids else "tid" if args.tids else
            "pidns" if args.pidnss else "total")
    unit = "msecs" if args.milliseconds else "usecs"

    def report(totals: "prom.Totals[Hist]") -> None:
        rows = sorted(totals.report(), key=lambda kv: kv[0])
        if args.json:
            hists = []
            for key, h in rows:
                entry: Dict[str, Any] = {} if kind == "total" else {kind: key}
                if kind in ("pid", "tid"):
                    entry["comm"] = h.comm
                entry["total"] = sum(h.slots)
                entry["buckets"] = hist.log2_hist_data(h.slots)
                hists.append(entry)
            out.write(type="interval", hook=hook, unit=unit, by=kind, hists=hists)
            return
        if args.timestamp:
            print(f"[{common.timestamp()}]")
        if kind == "total":
            counts = rows[0][1].slots if rows else []
            print(hist.log2_hist(counts, unit=unit))
        else:
            for key, h in rows:
                label = f"{kind} = {key}"
                if kind in ("pid", "tid"):
                    label += f" {h.comm}"
                print(label)
                print(hist.log2_hist(h.slots, unit=unit))
        print(flush=True)

    with mod.open() as skel:
        common.configure_filters(skel, args)
        skel.rodata.key_kind = KEY_KINDS[kind]
        skel.rodata.milliseconds = int(args.milliseconds)
        for name, progs in PROGS.items():
            for prog in progs:
                getattr(skel.progs, prog).autoload = name == hook
        common.load_and_attach(skel, TOOL)
        hists = prom.Totals(skel.maps.hists, Hist.read, Hist.__add__,
                            keep_totals=args.prometheus is not None)
        prom.reports(TOOL, skel, args, hists, report,
                     lambda export: metrics(export, hists, kind, args))
        common.report_lost(TOOL, skel.bss.lost_events, args, out)
    return 0


def metrics(export: Any, hists: "prom.Totals[Hist]", kind: str, args: Any) -> Any:
    """``runqlat_latency_seconds``: one histogram, or one per process,
    thread or pid namespace (labelled so); ``_sum`` is estimated from the
    log2 buckets (see ``bpfskel.export.buckets``)."""
    by: Dict[str, Any] = {}
    if kind != "total":
        by[kind] = export.key()
    if kind in ("pid", "tid"):
        by["comm"] = export.value("comm")
    scale = 1e-3 if args.milliseconds else 1e-6
    return export.Exporter().histogram(
        "runqlat_latency_seconds", "Run-queue latency", hists.totals, export.Log2(scale=scale),
        labels=by, counts=lambda k, h: h.slots)
