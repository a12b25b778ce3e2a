"""Ring buffer throughput: events per second consumed into Python.

Every consumer drains the same N events, the consumers alternating within
each repetition; rows give the best rate and the median.

The producer is bench/bpf/produce.bpf.c, an XDP program that writes one
32-byte event per run; ``BPF_PROG_TEST_RUN`` with ``repeat=N`` fills the ring
with N events at kernel speed, then only the drain is timed.  Each consumer
does the same minimum with every event: it gets a typed object (or a C
struct pointer) and reads one field.

* batch: ``reader.read()``, a list of typed events, no Python call per event;
* callback: ``ring_buffer(callback, event_type)`` + ``consume()``;
* naive ctypes: libbpf's ``ring_buffer__consume`` calling a ctypes callback
  that copies the record into the same generated class;
* read_array(): one numpy structured array (column ``seq`` summed), and the
  same call without numpy (a ctypes array of the event type);
* C: libbpf's ``ring_buffer__consume`` in a C program (gcc, -O2).
"""

from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict, List

from common import (
    BENCH_BUILD,
    Row,
    compile_bpf,
    compile_c,
    interleaved,
    ratio_row,
    skeleton_module,
    spread,
)

N = 1_000_000
REPS = 5
HERE = Path(__file__).resolve().parent

C_CONSUMER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>

struct event { unsigned long long seq, a, b, c; };
static unsigned long long sum;

static int on_event(void *ctx, void *data, size_t size)
{
	sum += ((struct event *)data)->seq;
	return 0;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	int n = atoi(argv[2]), reps = atoi(argv[3]);
	char pkt[64] = {0};
	double best = 1e9;

	if (!obj || bpf_object__load(obj))
		return 1;
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, "produce");
	struct bpf_map *map = bpf_object__find_map_by_name(obj, "rb");
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(map), on_event, NULL, NULL);
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = sizeof(pkt),
		    .repeat = n);
	for (int r = 0; r < reps; r++) {
		if (bpf_prog_test_run_opts(bpf_program__fd(prog), &opts))
			return 2;
		double t0 = now();
		int got = ring_buffer__consume(rb);
		double dt = now() - t0;
		if (got != n)
			return 3;
		if (dt < best)
			best = dt;
	}
	printf("%f %llu\n", best, sum);
	return 0;
}
"""


def _rate_row(name: str, times: List[float], *, goal: float = 0.0, unit_goal: str = "",
              note: str = "") -> Row:
    """Events per second from the best time; the median goes in the note."""
    sp = spread(times)
    best, median = N / sp["min_s"] / 1e6, N / sp["median_s"] / 1e6
    full = f"median {median:.2f} M/s" + (f"; {note}" if note else "")
    return Row("ringbuf", name, best, "M ev/s", unit_goal, (best >= goal) if unit_goal else None,
               full, {**sp, "median_rate": median})


def run() -> List[Row]:
    from bpfskel import _libbpf, columns

    obj = compile_bpf(HERE / "bpf" / "produce.bpf.c")
    mod = skeleton_module(obj, "produce")
    rows: List[Row] = []
    with mod.open_and_load() as skel:
        event = mod.types.event
        total = [0]

        def touch(e: Any) -> None:
            total[0] += e.seq

        lib = _libbpf.lib()
        copy = event.from_buffer_copy

        def naive(ctx: Any, data: int, size: int) -> int:
            touch(copy(ctypes.string_at(data, size)))
            return 0

        cb = _libbpf.RINGBUF_SAMPLE_FN(naive)
        rb = lib.ring_buffer__new(skel.maps.rb.fd, cb, None, None)
        reader = skel.maps.rb.ring_buffer(touch, event)
        has_numpy = columns.numpy_or_none

        def checked(got: int) -> None:
            if got != N:
                raise RuntimeError(f"drained {got} events, expected {N}")

        def batch() -> None:
            events = reader.read()
            for e in events:
                total[0] += e.seq
            checked(len(events))

        def array_numpy() -> None:
            arr = reader.read_array()
            total[0] += int(arr["seq"].sum())  # one column: what analysis does
            checked(len(arr))

        def array_ctypes() -> None:
            columns.numpy_or_none = lambda: None  # as if numpy were not installed
            try:
                arr = reader.read_array()
            finally:
                columns.numpy_or_none = has_numpy
            checked(len(arr))

        sides: Dict[str, Callable[[], None]] = {
            "batch": batch,
            "callback": lambda: checked(reader.consume()),
            "naive": lambda: checked(lib.ring_buffer__consume(rb)),
        }
        if has_numpy() is not None:
            sides["numpy"] = array_numpy
        sides["ctypes_array"] = array_ctypes
        try:
            times = dict(zip(sides, interleaved(
                list(sides.values()), repeat=REPS,
                prepare=lambda: skel.progs.produce.test_run(b"\0" * 64, repeat=N))))
        finally:
            reader.close()
            lib.ring_buffer__free(rb)

    t_batch = spread(times["batch"])["min_s"]
    rows.append(_rate_row("batch read(), typed events", times["batch"], goal=1,
                          unit_goal=">= 1 M/s"))
    rows.append(_rate_row("callback path, typed events", times["callback"]))
    rows.append(_rate_row("naive ctypes callback (libbpf)", times["naive"]))
    cb, nv = spread(times["callback"]), spread(times["naive"])
    rows.append(ratio_row("ringbuf", "callback path vs naive ctypes callback",
                          cb["min_s"], nv["min_s"], goal_min=1.0,
                          medians=(cb["median_s"], nv["median_s"])))
    if "numpy" in times:
        rows.append(_rate_row("read_array() into numpy, 32-byte events", times["numpy"],
                              goal=10, unit_goal=">= 10 M/s"))
    else:
        rows.append(Row("ringbuf", "read_array() into numpy", None, "",
                        note="not measured: numpy is not installed"))
    rows.append(_rate_row("read_array() into a ctypes array (no numpy)", times["ctypes_array"],
                          goal=3, unit_goal=">= 3 M/s"))
    rate = lambda t: N / t  # noqa: E731
    try:
        exe = compile_c(C_CONSUMER, "ringbuf_consumer", libs=["-lbpf"])
        out = subprocess.run([str(exe), str(obj), str(N), str(REPS)], check=True,
                             capture_output=True, text=True).stdout.split()
        t_c = float(out[0])
        rows.append(Row("ringbuf", "C consumer (ring_buffer__consume)", rate(t_c) / 1e6,
                        "M ev/s"))
        rows.append(ratio_row("ringbuf", "batch read() vs C consumer", t_batch, t_c,
                              note="time per event, ours / C"))
    except (subprocess.CalledProcessError, RuntimeError, OSError) as e:
        rows.append(Row("ringbuf", "C consumer", None, "", note=f"not measured: {e}"))
    _ = BENCH_BUILD
    return rows
