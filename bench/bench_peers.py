"""bpfskel side by side with the Python peers: BCC's Python (python3-bpfcc)
and pylibbpf, on the same events and the same map contents.

Same events: one producer, bench/bpf/produce.bpf.c, loaded by bpfskel once
per consumer, writes into the consumer's own map: the peer creates its ring
or perf buffer map, and our skeleton adopts it (``reuse_fd``) before load.
``BPF_PROG_TEST_RUN`` with ``repeat=N`` fills it; only the drain is timed.
Every consumer reads the typed event and adds up its ``seq`` field; the sum
is checked against the producer's own counter after every drain, so no side
can skip events.  Same map: BCC declares the tables and our skeleton of
bench/bpf/table.bpf.c adopts them, so both read one kernel map; pylibbpf
loads that object itself, and our skeleton fills its maps identically.

Our read() is measured twice: one read() of all N_EVENTS pending (a list of
200,000 live objects), and read(BATCH) until empty, the way a monitoring loop
consumes a stream; both carry the goal.

Each side of a comparison alternates with the others within every
repetition; rows give the best time and the median.  A peer that cannot run
here gives a row that says why (bench/peers.sh installs both).
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from common import Row, compile_bpf, interleaved, skeleton_module, spread

N_EVENTS = 200_000
REPS = 9
PAGES = 4096  # per CPU: 16 MiB of perf ring holds N_EVENTS 48-byte samples
ENTRIES = 10_000
LOOKUPS = 20_000
# read() of everything pending keeps N_EVENTS objects alive at once (out of the
# caches, and walked once by the cycle collector); a consumer that reads
# bounded batches, as a monitoring loop does, keeps BATCH
BATCH = 4096
READ_BATCHES = f"ours read({BATCH}) until empty"
HERE = Path(__file__).resolve().parent
DIST_PACKAGES = "/usr/lib/python3/dist-packages"  # where Debian's python3-bpfcc puts bcc

BCC_TEXT = r"""
struct event { u64 seq; u64 a; u64 b; u64 c; };
struct flow { u32 saddr; u32 daddr; u16 sport; u16 dport; u8 proto; };
struct counts { u64 packets; u64 bytes; };
BPF_RINGBUF_OUTPUT(rb, 1 << 14);
BPF_PERF_OUTPUT(pb);
BPF_HASH(flows, struct flow, struct counts, 16384);
BPF_HASH(single, u32, u64, 16);

int produce(struct xdp_md *ctx)
{
	struct event e = {};
	rb.ringbuf_output(&e, sizeof(e), 0);
	pb.perf_submit(ctx, &e, sizeof(e));
	return XDP_PASS;
}
"""

Side = Tuple[str, Callable[[], Any], Callable[[], Any], Callable[[], None]]


def load_bcc() -> Tuple[Any, str]:
    """(bcc module, "") or (None, why it cannot run)."""
    try:
        bcc = importlib.import_module("bcc")
    except ImportError:
        if DIST_PACKAGES not in sys.path:
            sys.path.append(DIST_PACKAGES)  # after ours: only bcc is looked up there
        try:
            bcc = importlib.import_module("bcc")
        except ImportError as e:
            return None, f"BCC's Python is not installed ({e}); run bench/peers.sh"
    return bcc, ""


def load_pylibbpf() -> Tuple[Any, str]:
    try:
        return importlib.import_module("pylibbpf"), ""
    except ImportError as e:
        return None, f"pylibbpf is not installed ({e}); run bench/peers.sh"


def version(dist: str, module: Any) -> str:
    try:
        from importlib.metadata import version as v
        return v(dist)
    except Exception:  # noqa: BLE001 - Debian's bcc has no dist-info
        return str(getattr(module, "__version__", "?"))


def drain_times(sides: List[Side], reps: int) -> Dict[str, List[float]]:
    """Time each side's drain, the sides alternating within each repetition.
    A side is (name, fill, drain, check): ``fill()`` (untimed) produces the
    events, ``drain()`` is timed, ``check()`` (untimed) proves it saw them all."""
    times: Dict[str, List[float]] = {name: [] for name, *_ in sides}
    for _ in range(reps):
        for name, fill, drain, check in sides:
            fill()
            t0 = time.perf_counter()
            drain()
            times[name].append(time.perf_counter() - t0)
            check()
    return times


class Producer:
    """One loaded producer skeleton writing into ``rb`` or ``pb``, and the
    running sum of ``seq`` its consumer must reach."""

    def __init__(self, mod: Any, ringbuf: bool, reuse: Optional[Dict[str, int]] = None) -> None:
        self.skel = mod.open()
        self.skel.rodata.use_ringbuf = int(ringbuf)
        for name, fd in (reuse or {}).items():
            getattr(self.skel.maps, name).reuse_fd(fd)
        self.skel.load()
        self.total = [0]
        self.want = 0

    def fill(self) -> None:
        first = self.skel.bss.seq
        self.skel.progs.produce.test_run(b"\0" * 64, repeat=N_EVENTS)
        self.want += N_EVENTS * first + N_EVENTS * (N_EVENTS - 1) // 2

    def check(self, name: str) -> Callable[[], None]:
        def check() -> None:
            if self.total[0] != self.want:
                raise RuntimeError(f"{name}: the events' seq sum is {self.total[0]}, "
                                   f"expected {self.want}")
        return check


def event_rows(mod: Any, obj: Path, bcc: Any, pylibbpf: Any, peers: str) -> List[Row]:
    event = mod.types.event
    rows: List[Row] = []
    made: List[Any] = []

    def producer(ringbuf: bool, reuse: Optional[Dict[str, int]] = None) -> Producer:
        p = Producer(mod, ringbuf, reuse)
        made.append(p.skel)
        return p

    ring: List[Side] = []
    perf: List[Side] = []
    try:
        o_rb, o_pb = producer(True), producer(False)
        t_rb, t_pb = o_rb.total, o_pb.total

        def ours_ring(e: Any) -> None:
            t_rb[0] += e.seq

        def ours_perf(cpu: int, e: Any) -> None:
            t_pb[0] += e.seq

        reader = o_rb.skel.maps.rb.ring_buffer(ours_ring, event)
        preader = o_pb.skel.maps.pb.perf_buffer(ours_perf, event, page_count=PAGES)

        def ring_read() -> None:
            for e in reader.read():
                t_rb[0] += e.seq

        def perf_read() -> None:
            for e in preader.read():
                t_pb[0] += e.seq

        def ring_batches() -> None:
            while True:
                batch = reader.read(BATCH)
                if not batch:
                    return
                for e in batch:
                    t_rb[0] += e.seq

        def perf_batches() -> None:
            while True:
                batch = preader.read(BATCH)
                if not batch:
                    return
                for e in batch:
                    t_pb[0] += e.seq

        ring += [("ours callback", o_rb.fill, reader.consume, o_rb.check("ours callback")),
                 ("ours read()", o_rb.fill, ring_read, o_rb.check("ours read()")),
                 (READ_BATCHES, o_rb.fill, ring_batches, o_rb.check(READ_BATCHES))]
        perf += [("ours callback", o_pb.fill, preader.consume, o_pb.check("ours callback")),
                 ("ours read()", o_pb.fill, perf_read, o_pb.check("ours read()")),
                 (READ_BATCHES, o_pb.fill, perf_batches, o_pb.check(READ_BATCHES))]
        if bcc is not None:
            b = bcc.BPF(text=BCC_TEXT)
            made.append(b)
            rb_t, pb_t = b["rb"], b["pb"]
            b_rb = producer(True, {"rb": rb_t.map_fd})
            b_pb = producer(False, {"pb": pb_t.map_fd})
            rb_ev, pb_ev, bt_rb, bt_pb = rb_t.event, pb_t.event, b_rb.total, b_pb.total

            def bcc_ring(ctx: Any, data: Any, size: int) -> int:
                bt_rb[0] += rb_ev(data).seq
                return 0

            def bcc_perf(cpu: int, data: Any, size: int) -> None:
                bt_pb[0] += pb_ev(data).seq

            rb_t.open_ring_buffer(bcc_ring)
            pb_t.open_perf_buffer(bcc_perf, page_cnt=PAGES)
            ring.append(("BCC callback", b_rb.fill, b.ring_buffer_consume, b_rb.check("BCC")))
            perf.append(("BCC callback", b_pb.fill, b.perf_buffer_consume, b_pb.check("BCC")))
        if pylibbpf is not None:
            pl = pylibbpf.BpfObject(str(obj), structs={"event": event})
            pl.load()
            made.append(pl)
            pl_pb = producer(False, {"pb": pl["pb"].get_fd()})
            pt = pl_pb.total

            def pl_perf(cpu: int, e: Any) -> None:
                pt[0] += e.seq

            helper = pl["pb"].open_perf_buffer(pl_perf, struct_name="event", page_cnt=PAGES)
            perf.append(("pylibbpf callback", pl_pb.fill, helper.consume,
                         pl_pb.check("pylibbpf")))
        ring_t = drain_times(ring, REPS)
        perf_t = drain_times(perf, REPS)
    finally:
        for m in reversed(made):
            if hasattr(m, "destroy"):
                m.destroy()
            elif hasattr(m, "cleanup"):
                m.cleanup()

    rows += [rate_row("ring buffer", name, t) for name, t in ring_t.items()]
    rows += [rate_row("perf buffer", name, t) for name, t in perf_t.items()]
    for ours in ("ours callback", "ours read()", READ_BATCHES):
        rows.append(goal_row(f"ring buffer: {ours} vs BCC's Python callback", ring_t, ours,
                             "BCC callback", 2.0, peers))
        rows.append(goal_row(f"perf buffer: {ours} vs pylibbpf's callback", perf_t, ours,
                             "pylibbpf callback", 1.5, peers))
    return rows


def rate_row(kind: str, name: str, times: List[float]) -> Row:
    sp = spread(times)
    return Row("peers", f"{kind}: {name}", N_EVENTS / sp["min_s"] / 1e6, "M ev/s",
               note=f"median {N_EVENTS / sp['median_s'] / 1e6:.2f} M/s", extra=sp)


def goal_row(name: str, times: Dict[str, List[float]], ours: str, peer: str, goal: float,
             peers: str) -> Row:
    if peer not in times:
        return Row("peers", name, None, "", f">= {goal:g}x", None,
                   f"not measured: {peers or 'the peer did not run'}")
    a, b = spread(times[ours]), spread(times[peer])
    value = b["min_s"] / a["min_s"]
    return Row("peers", name, value, "x faster", f">= {goal:g}x", value >= goal,
               f"best; medians {b['median_s'] / a['median_s']:.2f}x",
               {"ours": a, "peer": b})


def map_rows(bcc: Any, pylibbpf: Any, peers: str) -> List[Row]:
    obj = compile_bpf(HERE / "bpf" / "table.bpf.c")
    mod = skeleton_module(obj, "table")
    flow, counts = mod.types.flow, mod.types.counts
    made: List[Any] = []
    lookups: Dict[str, Callable[[], Any]] = {}
    bulk: Dict[str, Callable[[], Any]] = {}

    def table(reuse: Dict[str, int]) -> Any:
        skel = mod.open()
        made.append(skel)
        for name, fd in reuse.items():
            getattr(skel.maps, name).reuse_fd(fd)
        skel.load()
        skel.maps.flows.update((flow(saddr=i, daddr=~i & 0xFFFFFFFF, sport=i & 0xFFFF,
                                     dport=80, proto=6), counts(packets=i, bytes=i * 64))
                               for i in range(ENTRIES))
        skel.maps.single[7] = 42
        return skel

    def times_k(fn: Callable[[], Any]) -> Callable[[], None]:
        def loop() -> None:
            for _ in range(LOOKUPS):
                fn()
        return loop

    try:
        if bcc is not None:
            b = bcc.BPF(text=BCC_TEXT)
            made.append(b)
            bflows, bsingle = b["flows"], b["single"]
            skel = table({"flows": bflows.map_fd, "single": bsingle.map_fd})
            bkey = bsingle.Key(7)
            lookups["BCC table[key]"] = lambda: bsingle[bkey].value
            bulk["BCC items_lookup_batch()"] = lambda: list(bflows.items_lookup_batch())
            bulk["BCC items()"] = bflows.items
        else:
            skel = table({})
        single, flows = skel.maps.single, skel.maps.flows
        lookups["ours m[k]"] = lambda: single[7]
        bulk["ours items()"] = flows.items
        if pylibbpf is not None:
            pl = pylibbpf.BpfObject(str(obj))
            pl.load()
            made.append(pl)
            pflows, psingle = pl["flows"], pl["single"]
            table({"flows": pflows.get_fd(), "single": psingle.get_fd()})
            lookups["pylibbpf lookup()"] = lambda: psingle.lookup(7)
            bulk["pylibbpf items()"] = pflows.items
        for name, fn in lookups.items():
            if int(fn()) != 42:
                raise RuntimeError(f"{name} read {fn()}, not 42")
        for name, fn in bulk.items():
            if len(fn()) != ENTRIES:
                raise RuntimeError(f"{name} read {len(fn())} entries, not {ENTRIES}")
        names = list(lookups)
        t_look = dict(zip(names, interleaved([times_k(lookups[n]) for n in names], repeat=7)))
        names_b = list(bulk)
        # every side's result is walked, as a caller would (the collector's
        # pass over the new objects then counts for every side alike)
        t_bulk = dict(zip(names_b, interleaved([walked(bulk[n]) for n in names_b], repeat=7)))
    finally:
        for m in reversed(made):
            if hasattr(m, "destroy"):
                m.destroy()
            elif hasattr(m, "cleanup"):
                m.cleanup()
    rows = []
    for name, t in t_look.items():
        sp = spread(t)
        rows.append(Row("peers", f"single lookup: {name}", sp["min_s"] / LOOKUPS * 1e6, "us",
                        note=f"median {sp['median_s'] / LOOKUPS * 1e6:.2f} us", extra=sp))
    for name, t in t_bulk.items():
        sp = spread(t)
        rows.append(Row("peers", f"items(), {ENTRIES:,} struct-keyed: {name}",
                        sp["min_s"] * 1e3, "ms", note=f"median {sp['median_s'] * 1e3:.2f} ms",
                        extra=sp))
    rows.append(best_peer_row("single lookup vs the fastest peer", t_look, "ours m[k]", peers))
    rows.append(best_peer_row("items() vs the fastest peer", t_bulk, "ours items()", peers))
    return rows


def walked(fn: Callable[[], Any]) -> Callable[[], None]:
    def walk() -> None:
        for _ in fn():
            pass
    return walk


def best_peer_row(name: str, times: Dict[str, List[float]], ours: str, peers: str) -> Row:
    others = {k: spread(v) for k, v in times.items() if k != ours}
    if not others:
        return Row("peers", name, None, "", ">= 1x", None, f"not measured: {peers}")
    peer, sp = min(others.items(), key=lambda kv: kv[1]["min_s"])
    a = spread(times[ours])
    value = sp["min_s"] / a["min_s"]
    return Row("peers", name, value, "x faster", ">= 1x", value >= 1.0,
               f"against {peer}; medians {sp['median_s'] / a['median_s']:.2f}x",
               {"ours": a, "peer": sp})


def run() -> List[Row]:
    # One CPU: the producer fills one perf ring, and no side pays for a
    # migration between the fill and the drain that another side does not.
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {max(saved)})
    try:
        return measure()
    finally:
        os.sched_setaffinity(0, saved)


def measure() -> List[Row]:
    bcc, why_bcc = load_bcc()
    pylibbpf, why_pl = load_pylibbpf()
    if bcc is not None:
        try:  # BCC compiles C at run time: it needs kernel headers (bench/peers.sh)
            bcc.BPF(text="int f(void *ctx) { return 0; }").cleanup()
        except Exception as e:  # noqa: BLE001 - reported in the table
            bcc, why_bcc = None, f"BCC cannot compile here ({e}); see bench/peers.sh"
    names = []
    if bcc is not None:
        names.append(f"BCC {version('bcc', bcc)}")
    if pylibbpf is not None:
        names.append(f"pylibbpf {version('pylibbpf', pylibbpf)}")
    missing = "; ".join(w for w in (why_bcc, why_pl) if w)
    rows = [Row("peers", "peers", None, "", note=", ".join(names) or "none",
                extra={"missing": missing})]
    if missing:
        rows.append(Row("peers", "peers missing", None, "", note=missing))
    obj = compile_bpf(HERE / "bpf" / "produce.bpf.c")
    mod = skeleton_module(obj, "produce")
    rows += event_rows(mod, obj, bcc, pylibbpf, missing)
    rows += map_rows(bcc, pylibbpf, missing)
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
