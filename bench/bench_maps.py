"""Map iteration: ``items()`` on a 10,000-entry struct-keyed hash against the
key-by-key walk BCC's and pylibbpf's table APIs do (``get_next_key`` then
``lookup`` per entry, through ctypes, decoding into the same generated
classes).

Single elements: ``m[k]`` against a bare ctypes ``bpf_map_lookup_elem`` with
a key and a value buffer made once, which returns the value as an int: the
least any Python binding can do per lookup.  Both sides run in the same
process, alternating, on the same map."""

from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path
from typing import Any, List

from common import (
    Row,
    compile_bpf,
    compile_c,
    interleaved,
    per_call,
    ratio_row,
    skeleton_module,
    spread,
)

ENTRIES = 10_000
HERE = Path(__file__).resolve().parent


C_BATCH = r"""
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <bpf/bpf.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* argv: map fd, key size, value size, max entries, runs; prints best seconds */
int main(int argc, char **argv)
{
	int fd = atoi(argv[1]), ks = atoi(argv[2]), vs = atoi(argv[3]);
	unsigned int max = atoi(argv[4]), runs = atoi(argv[5]);
	char *keys = malloc((size_t)ks * max), *values = malloc((size_t)vs * max);
	unsigned long long in = 0, out = 0;
	double best = 1e9;
	LIBBPF_OPTS(bpf_map_batch_opts, opts);

	for (unsigned int r = 0; r < runs; r++) {
		unsigned int total = 0, count;
		void *pin = NULL;
		int err;
		double t0 = now();
		do {
			count = max - total;
			err = bpf_map_lookup_batch(fd, pin, &out, keys + (size_t)total * ks,
						   values + (size_t)total * vs, &count, &opts);
			total += count;
			in = out;
			pin = &in;
		} while (!err && total < max);
		if (err && errno != ENOENT)
			return 2;
		double dt = now() - t0;
		if (dt < best)
			best = dt;
		if (r == 0)
			fprintf(stderr, "%u\n", total);
	}
	printf("%f\n", best);
	return 0;
}
"""


def key_by_key(fd: int, key_type: Any, value_type: Any) -> List[Any]:
    """The baseline: two syscalls per entry through libbpf's wrappers."""
    from bpfskel import _libbpf

    lib = _libbpf.lib()
    key = key_type()
    value = value_type()
    prev = None
    out = []
    while lib.bpf_map_get_next_key(fd, prev, ctypes.byref(key)) == 0:
        if lib.bpf_map_lookup_elem(fd, ctypes.byref(key), ctypes.byref(value)) == 0:
            out.append((key_type.from_buffer_copy(key), value_type.from_buffer_copy(value)))
        prev = ctypes.byref(key_type.from_buffer_copy(key))
    return out


def run() -> List[Row]:
    obj = compile_bpf(HERE / "bpf" / "table.bpf.c")
    mod = skeleton_module(obj, "table")
    flow, counts = mod.types.flow, mod.types.counts
    with mod.open_and_load() as skel:
        flows = skel.maps.flows
        flows.update((flow(saddr=i, daddr=~i & 0xFFFFFFFF, sport=i & 0xFFFF, dport=80,
                           proto=6), counts(packets=i, bytes=i * 64))
                     for i in range(ENTRIES))
        ours = flows.items()
        base = key_by_key(flows.fd, flow, counts)
        if len(ours) != ENTRIES or sorted(bytes(k) + bytes(v) for k, v in ours) != sorted(
                bytes(k) + bytes(v) for k, v in base):
            raise RuntimeError("items() and the key-by-key walk disagree")
        walks = [lambda: consume(flows.items()),
                 lambda: consume(key_by_key(flows.fd, flow, counts))]
        t_ours, t_base = (spread(t) for t in interleaved(walks, repeat=7))
        rows = _array_rows(flows, flow, counts)
        single = skel.maps.single
        single[7] = 42
        fd, lookup = single.fd, _libbpf_lookup()
        key, value = ctypes.c_uint32(7), ctypes.c_uint64()
        pkey, pvalue = ctypes.byref(key), ctypes.byref(value)

        def bare() -> int:
            if lookup(fd, pkey, pvalue):
                raise KeyError(7)
            return value.value

        if single[7] != bare() or bare() != 42:
            raise RuntimeError("m[k] and the bare lookup disagree")
        get, plain = per_call([lambda: single[7], bare], number=20_000, repeat=7)
    faster = (" (ours is faster: it holds the GIL over the syscall and passes C-ready "
              "arguments, see bpfskel._libbpf._GIL_HELD)"
              if get["min_s"] < plain["min_s"] else "")
    # Issue 20's goal 4 asks >= 10x key-by-key of items_array() (a row above),
    # and of items() only that it keeps its speed: "items() vs the fastest
    # peer" (bench_peers) is its goal row; this one is context.
    speedup = t_base["min_s"] / t_ours["min_s"]
    return rows + [Row("maps", f"items() over {ENTRIES:,} struct-keyed entries vs key-by-key",
                       speedup, "x faster", "", None,
                       f"{t_ours['min_s'] * 1e3:.1f} ms vs {t_base['min_s'] * 1e3:.1f} ms; "
                       f"medians {t_base['median_s'] / t_ours['median_s']:.2f}x; no goal here: "
                       "the issue asks >= 10x of items_array(), and of items() its speed "
                       "or better, the goal row 'items() vs the fastest peer' (peers)",
                       {"ours": t_ours, "baseline": t_base}),
                   ratio_row("maps", "m[k] (u32 -> u64 hash) vs a bare ctypes "
                             "bpf_map_lookup_elem", get["min_s"], plain["min_s"], goal_max=1.2,
                             note=f"{get['min_s'] * 1e6:.2f} us vs {plain['min_s'] * 1e6:.2f} "
                                  f"us{faster}",
                             medians=(get["median_s"], plain["median_s"]))]


def consume(items: Any) -> None:
    """Walk what a bulk read returned, as a caller does (so that what the
    walk costs, e.g. the collector's pass over the new objects, is timed)."""
    for _ in items:
        pass


def _array_rows(flows: Any, flow: Any, counts: Any) -> List[Row]:
    """items_array() against the key-by-key walk and against C's batch lookup,
    the three alternating within each repetition (C in a subprocess that
    inherits the map fd and reports its best of 3 runs)."""
    keys, values = flows.items_array()
    if sorted(k.tobytes() + v.tobytes() for k, v in zip(keys, values)) != sorted(
            bytes(k) + bytes(v) for k, v in flows.items()):
        raise RuntimeError("items_array() and items() disagree")
    try:
        exe = compile_c(C_BATCH, "map_lookup_batch", libs=["-lbpf"])
    except (subprocess.CalledProcessError, RuntimeError, OSError):
        exe = None
    c_times: List[float] = []

    def c_batch() -> None:
        if exe is None:
            return
        res = subprocess.run([str(exe), str(flows.fd), str(flows.key_size),
                              str(flows.value_size), str(flows.max_entries), "3"],
                             pass_fds=[flows.fd], check=True, capture_output=True, text=True)
        if int(res.stderr.split()[0]) != ENTRIES:
            raise RuntimeError(f"C batch lookup read {res.stderr.strip()} entries")
        c_times.append(float(res.stdout))

    t_arr, t_kbk, _ = interleaved([flows.items_array,
                                   lambda: key_by_key(flows.fd, flow, counts), c_batch],
                                  repeat=7)
    arr, kbk = spread(t_arr), spread(t_kbk)
    rows = [ratio_row("maps", f"items_array() over {ENTRIES:,} entries vs key-by-key",
                      arr["min_s"], kbk["min_s"], goal_min=10.0,
                      note=f"{arr['min_s'] * 1e3:.2f} ms vs {kbk['min_s'] * 1e3:.1f} ms; "
                           f"median {arr['median_s'] * 1e3:.2f} ms")]
    if c_times:
        c = spread(c_times)
        rows.append(ratio_row("maps", f"items_array() over {ENTRIES:,} entries vs C "
                              "bpf_map_lookup_batch", arr["min_s"], c["min_s"], goal_max=1.5,
                              note=f"{arr['min_s'] * 1e3:.2f} ms vs C {c['min_s'] * 1e3:.2f} "
                                   f"ms; medians {arr['median_s'] * 1e3:.2f} / "
                                   f"{c['median_s'] * 1e3:.2f} ms"))
    else:
        rows.append(Row("maps", "items_array() vs C bpf_map_lookup_batch", None, "",
                        note="not measured: the C helper did not build"))
    return rows


def _libbpf_lookup() -> Any:
    from bpfskel import _libbpf

    return _libbpf.lib().bpf_map_lookup_elem
