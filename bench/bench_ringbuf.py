"""Ring buffer throughput: events per second consumed into Python.

The producer is bench/bpf/produce.bpf.c, an XDP program that writes one
32-byte event per run; ``BPF_PROG_TEST_RUN`` with ``repeat=N`` fills the ring
with N events at kernel speed, then only the drain is timed.  Each consumer
does the same minimum with every event: it gets a typed object (or a C
struct pointer) and reads one field.

* batch: ``reader.read()``, a list of typed events, no Python call per event;
* callback: ``ring_buffer(callback, event_type)`` + ``consume()``;
* naive ctypes: libbpf's ``ring_buffer__consume`` calling a ctypes callback
  that copies the record into the same generated class;
* C: libbpf's ``ring_buffer__consume`` in a C program (gcc, -O2).
"""

from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path
from typing import Any, Callable, List

from common import BENCH_BUILD, Row, compile_bpf, compile_c, ratio_row, skeleton_module

N = 1_000_000
REPS = 3
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


def _timed_drain(skel: Any, drain: Callable[[], int]) -> float:
    """Best seconds to drain N freshly produced events."""
    import time

    best = float("inf")
    for _ in range(REPS):
        skel.progs.produce.test_run(b"\0" * 64, repeat=N)
        t0 = time.perf_counter()
        got = drain()
        best = min(best, time.perf_counter() - t0)
        if got != N:
            raise RuntimeError(f"drained {got} events, expected {N}")
    return best


def run() -> List[Row]:
    from bpfskel import _libbpf

    obj = compile_bpf(HERE / "bpf" / "produce.bpf.c")
    mod = skeleton_module(obj, "produce")
    rows: List[Row] = []
    with mod.open_and_load() as skel:
        event = mod.types.event
        total = [0]

        def touch(e: Any) -> None:
            total[0] += e.seq

        with skel.maps.rb.ring_buffer(touch, event) as reader:
            def batch() -> int:
                events = reader.read()
                for e in events:
                    total[0] += e.seq
                return len(events)

            t_batch = _timed_drain(skel, batch)
            t_cb = _timed_drain(skel, reader.consume)

        lib = _libbpf.lib()
        copy = event.from_buffer_copy

        def naive(ctx: Any, data: int, size: int) -> int:
            touch(copy(ctypes.string_at(data, size)))
            return 0

        cb = _libbpf.RINGBUF_SAMPLE_FN(naive)
        rb = lib.ring_buffer__new(skel.maps.rb.fd, cb, None, None)
        try:
            t_naive = _timed_drain(skel, lambda: lib.ring_buffer__consume(rb))
        finally:
            lib.ring_buffer__free(rb)

    rate = lambda t: N / t  # noqa: E731
    rows.append(Row("ringbuf", "batch read(), typed events", rate(t_batch) / 1e6, "M ev/s",
                    ">= 1 M/s", rate(t_batch) >= 1e6))
    rows.append(Row("ringbuf", "callback path, typed events", rate(t_cb) / 1e6, "M ev/s"))
    rows.append(Row("ringbuf", "naive ctypes callback (libbpf)", rate(t_naive) / 1e6,
                    "M ev/s"))
    rows.append(ratio_row("ringbuf", "callback path vs naive ctypes callback", t_cb, t_naive,
                          goal_min=1.0))
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
