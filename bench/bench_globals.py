"""Global access: reading and writing BPF globals through a loaded skeleton.

Each figure is one Python statement, timed as a compiled ``timeit`` loop (no
function call per iteration), minus the same loop running ``pass``, so the
ratios compare the accesses themselves.  Sides alternate within every
repetition and each keeps its best time.  Measured on bpf/globals.bpf.c:

* ``skel.bss.counter`` (a ``.bss`` u64) and ``skel.bss.stats.last.x`` (a field
  of a struct inside a struct), read and written;
* ``skel.rodata.limit`` and ``skel.rodata.cfg.origin.x`` after load, when the
  view is read-only.

Baselines:

* **plain ctypes**: the same attribute path on a plain Python object whose
  attribute is an instance of a plain ``ctypes.Structure`` with those fields;
* **syscall**: what table APIs built on syscalls (BCC, pylibbpf) do, through
  ctypes: a read is one ``bpf_map_lookup_elem`` of the section's value, then
  the field read from the copy; a write is a lookup, the field set in the
  copy, and a ``bpf_map_update_elem``, since an update replaces the whole
  section and writing back a stale copy would undo what BPF wrote meanwhile.
  The figure against the update alone is given too;
* **C**: a loop in a shared library compiled with gcc here, loading (or
  storing) through the very address the view reads, 10 million times in one
  ctypes call.  Context, no goal: it shows what a Python attribute costs
  against a machine load of the same mapped word.
"""

from __future__ import annotations

import ctypes
import timeit
from typing import Any, Dict, List, Sequence, Tuple

from common import REPO_ROOT, Row, compile_bpf, compile_c, ratio_row, skeleton_module, spread

GROUP = "globals"
NUMBER = 100_000        # executions per timing of an attribute access (a few ms)
SYSCALL_NUMBER = 5_000  # of a syscall statement
REPEAT = 25
C_LOOPS = 10_000_000

C_SOURCE = r"""
#include <stdint.h>

uint64_t read_loop(const volatile uint64_t *p, long n)
{
	uint64_t acc = 0;

	for (long i = 0; i < n; i++)
		acc += *p;
	return acc;
}

void write_loop(volatile uint64_t *p, long n)
{
	for (long i = 0; i < n; i++)
		*p = (uint64_t)i;
}
"""


class PlainPoint(ctypes.Structure):
    _fields_ = [("x", ctypes.c_int32), ("y", ctypes.c_int32)]


class PlainStats(ctypes.Structure):
    _fields_ = [("runs", ctypes.c_uint64), ("last", PlainPoint),
                ("hist", ctypes.c_uint32 * 4)]


class PlainBss(ctypes.Structure):
    _fields_ = [("counter", ctypes.c_uint64), ("stats", PlainStats)]


class PlainConfig(ctypes.Structure):
    _fields_ = [("threshold", ctypes.c_uint64), ("origin", PlainPoint)]


class PlainRodata(ctypes.Structure):
    _fields_ = [("cfg", PlainConfig), ("limit", ctypes.c_uint64)]


class Plain:
    """A plain Python object holding plain ctypes structures."""

    def __init__(self) -> None:
        self.bss = PlainBss()
        self.rodata = PlainRodata()


def _timers(stmts: Sequence[Tuple[str, int]], ns: Dict[str, Any]) -> List[Tuple[float, float]]:
    """(best, median) seconds per execution of each ``(statement, number)``
    over REPEAT timings of ``number`` executions, net of the empty loop's.
    The statements alternate within each repetition, so that noise hits
    them all."""
    timers = [(timeit.Timer(s, globals=ns), n) for s, n in [("pass", NUMBER), *stmts]]
    runs: List[List[float]] = [[] for _ in timers]
    for _ in range(REPEAT):
        for i, (t, n) in enumerate(timers):
            runs[i].append(t.timeit(n) / n)
    spreads = [spread(r) for r in runs]
    empty = spreads[0]
    return [(max(sp["min_s"] - empty["min_s"], 1e-12),
             max(sp["median_s"] - empty["median_s"], 1e-12)) for sp in spreads[1:]]


def _c_access(addr: int) -> Tuple[float, float]:
    """Seconds per load and per store of the u64 at ``addr``, from C."""
    lib = ctypes.CDLL(str(compile_c(C_SOURCE, "globals_reader.so",
                                    cflags=("-O2", "-shared", "-fPIC"))))
    lib.read_loop.restype = ctypes.c_uint64
    lib.read_loop.argtypes = [ctypes.c_void_p, ctypes.c_long]
    lib.write_loop.restype = None
    lib.write_loop.argtypes = [ctypes.c_void_p, ctypes.c_long]
    read = min(timeit.repeat(lambda: lib.read_loop(addr, C_LOOPS), number=1, repeat=5))
    write = min(timeit.repeat(lambda: lib.write_loop(addr, C_LOOPS), number=1, repeat=5))
    return read / C_LOOPS, write / C_LOOPS


def run() -> List[Row]:
    from bpfskel import _libbpf

    obj = compile_bpf(REPO_ROOT / "bpf" / "globals.bpf.c")
    mod = skeleton_module(obj, "globals")
    lib = _libbpf.lib()
    rows: List[Row] = []
    with mod.open_and_load() as skel:
        bss_map = skel.maps.bss
        buf = mod.sections.bss()          # the syscall path's copy, decoded in place
        key = ctypes.c_uint32(0)
        ns = {"s": skel, "p": Plain(), "lookup": lib.bpf_map_lookup_elem,
              "update": lib.bpf_map_update_elem, "fd": bss_map.fd,
              "k": ctypes.byref(key), "b": ctypes.byref(buf), "buf": buf}
        if lib.bpf_map_lookup_elem(bss_map.fd, ns["k"], ns["b"]) != 0:
            raise RuntimeError("bpf_map_lookup_elem of .bss failed")
        # the statements measure what they claim: check them once against BPF
        skel.bss.counter = 41
        skel.progs.snapshot.test_run()
        exec("lookup(fd, k, b)", ns)
        if (skel.bss.seen_counter, buf.counter, skel.rodata.limit) != (41, 42, 100):
            raise RuntimeError("the skeleton does not see what BPF wrote")

        cases = [  # name, ours, plain ctypes, goal (x plain ctypes)
            (".bss u64 read", "s.bss.counter", "p.bss.counter", 1.25),
            (".bss u64 write", "s.bss.counter = 7", "p.bss.counter = 7", 1.25),
            ("nested struct field read", "s.bss.stats.last.x", "p.bss.stats.last.x", 1.25),
            ("nested struct field write", "s.bss.stats.last.x = 7",
             "p.bss.stats.last.x = 7", 1.25),
            (".rodata u64 read after load", "s.rodata.limit", "p.rodata.limit", 3.0),
            (".rodata nested field read after load", "s.rodata.cfg.origin.x",
             "p.rodata.cfg.origin.x", 3.0),
        ]
        syscall = {".bss u64 read": "lookup(fd, k, b); buf.counter",
                   ".bss u64 write": "lookup(fd, k, b); buf.counter = 7; update(fd, k, b, 0)",
                   "update alone": "buf.counter = 7; update(fd, k, b, 0)"}
        stmts = [(c[1], NUMBER) for c in cases] + [(c[2], NUMBER) for c in cases]
        stmts += [(st, SYSCALL_NUMBER) for st in syscall.values()]
        both = dict(zip([st for st, _n in stmts], _timers(stmts, ns)))
        times = {st: b for st, (b, _m) in both.items()}
        medians = {st: m for st, (_b, m) in both.items()}
        for name, ours, plain, goal in cases:
            t_ours, t_plain = times[ours], times[plain]
            rows.append(ratio_row(GROUP, f"{name} vs plain ctypes", t_ours, t_plain,
                                  goal_max=goal,
                                  note=f"{t_ours * 1e9:.1f} ns vs {t_plain * 1e9:.1f} ns",
                                  medians=(medians[ours], medians[plain])))
        for name, what in ((".bss u64 read", "bpf_map_lookup_elem"),
                           (".bss u64 write", "lookup + update syscalls")):
            case = next(c for c in cases if c[0] == name)
            t_ours, t_plain, t_sys = times[case[1]], times[case[2]], times[syscall[name]]
            note = (f"{t_ours * 1e9:.1f} ns vs {t_sys * 1e9:.0f} ns; plain ctypes "
                    f"{t_sys / t_plain:.0f}x")
            if name.endswith("write"):
                t_upd = times[syscall["update alone"]]
                note += (f"; vs bpf_map_update_elem alone {t_upd / t_ours:.0f}x "
                         f"(plain ctypes {t_upd / t_plain:.0f}x)")
            rows.append(ratio_row(GROUP, f"{name} vs {what}", t_ours, t_sys, goal_min=40.0,
                                  note=note, medians=(medians[case[1]],
                                                      medians[syscall[name]])))

        addr = ctypes.addressof(skel.bss) + type(skel.bss).counter.offset
        c_read, c_write = _c_access(addr)
        if skel.bss.counter != C_LOOPS - 1:   # the C stores reached the mapped word
            raise RuntimeError("the C writer did not write the mapped .bss")
        for name, ours, c_time in ((".bss u64 read", times["s.bss.counter"], c_read),
                                   (".bss u64 write", times["s.bss.counter = 7"], c_write)):
            rows.append(ratio_row(GROUP, f"{name} vs a C access of the mapping", ours,
                                  c_time, note=f"{ours * 1e9:.1f} ns vs "
                                  f"{c_time * 1e9:.2f} ns (no goal: context)"))
    return rows
