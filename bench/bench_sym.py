"""Symbolization (``bpfskel.sym``) against ``addr2line -f``, BCC's Python
and a C floor.

* User: 100,000 addresses in a running PIE binary of 10,000 functions,
  resolved by a fresh ``Symbolizer`` (parse included), by ``addr2line -f``
  in batch mode (one process, addresses on stdin), by BCC's ``BPF.sym(addr,
  pid)`` with its symbol cache emptied first (parse included), and by a C
  program doing what libbpf-tools' trace_helpers do (mmap the ELF, collect
  ``.symtab``, ``qsort``, ``bsearch``): the floor.
* Kernel: 100,000 addresses through ``symbolize_kernel`` against BCC's
  ``BPF.ksym()``, twice: fresh (a new ``Symbolizer``, BCC's kallsyms cache
  emptied: both read and parse ``/proc/kallsyms``) and with both caches
  loaded; and the same C approach on ``/proc/kallsyms`` (read included).
* Cold start: a fresh ``python3`` process that imports ``bpfskel.sym`` and
  symbolizes 40 frames of its own (its executable and libc), wall time from
  before the import to the answer; goal < 50 ms (issue #18).

BCC runs when ``python3-bpfcc`` is installed (bench/peers.sh); its rows say
why when it is not.  Each figure is the best of a few runs, the sides
alternating.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

from common import BENCH_BUILD, Row, compile_c, spread

from bpfskel import sym

N_FUNCS = 10_000
N_ADDRS = 100_000
REPEAT = 3
KERNEL_REPEAT = 9
COLD_GOAL_MS = 50.0

C_FLOOR = r"""
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

struct sym { unsigned long start, end; const char *name; };
static struct sym *syms;
static size_t nsyms, cap;

static void add(unsigned long s, unsigned long e, const char *n)
{
	if (nsyms == cap) {
		cap = cap ? cap * 2 : 1024;
		syms = realloc(syms, cap * sizeof(*syms));
	}
	syms[nsyms++] = (struct sym){ s, e, n };
}

static int cmp(const void *a, const void *b)
{
	unsigned long x = ((const struct sym *)a)->start, y = ((const struct sym *)b)->start;
	return x < y ? -1 : x > y;
}

static void load_elf(const char *path)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	fstat(fd, &st);
	char *m = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)m;
	Elf64_Shdr *sh = (Elf64_Shdr *)(m + eh->e_shoff);
	for (int i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type != SHT_SYMTAB && sh[i].sh_type != SHT_DYNSYM)
			continue;
		Elf64_Sym *s = (Elf64_Sym *)(m + sh[i].sh_offset);
		const char *str = m + sh[sh[i].sh_link].sh_offset;
		for (size_t j = 0; j < sh[i].sh_size / sizeof(*s); j++)
			if (ELF64_ST_TYPE(s[j].st_info) == STT_FUNC && s[j].st_value)
				add(s[j].st_value, s[j].st_value + s[j].st_size, str + s[j].st_name);
	}
}

static void load_kallsyms(void)
{
	FILE *f = fopen("/proc/kallsyms", "r");
	char line[512], name[256], type;
	unsigned long a;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx %c %255s", &a, &type, name) == 3 && strchr("tTwW", type))
			add(a, 0, strdup(name));
	fclose(f);
}

int main(int argc, char **argv)
{
	/* argv[1]: an ELF path or "kallsyms"; addresses (hex) on stdin */
	static unsigned long addrs[1 << 20];
	size_t n = 0, hits = 0;
	while (n < (1 << 20) && scanf("%lx", &addrs[n]) == 1)
		n++;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (strcmp(argv[1], "kallsyms") == 0)
		load_kallsyms();
	else
		load_elf(argv[1]);
	qsort(syms, nsyms, sizeof(*syms), cmp);
	for (size_t i = 0; i < n; i++) {
		size_t lo = 0, hi = nsyms;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (syms[mid].start <= addrs[i])
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo && (syms[lo - 1].end == 0 || addrs[i] < syms[lo - 1].end))
			hits += syms[lo - 1].name[0] != 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%f %zu\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, hits);
	return 0;
}
"""


def build_big_binary() -> Path:
    """A PIE executable with N_FUNCS small functions that sleeps when run."""
    BENCH_BUILD.mkdir(parents=True, exist_ok=True)
    src = ["#include <unistd.h>", "volatile unsigned long sink;"]
    src += [f"__attribute__((noinline)) void f{i}(void) {{ sink += {i}; }}"
            for i in range(N_FUNCS)]
    src.append("int main(void) { f0(); pause(); return 0; }")
    return compile_c("\n".join(src) + "\n", "sym_big", cflags=("-O1", "-fPIE", "-pie"))


def functions(path: Path) -> List[Tuple[int, int]]:
    out = subprocess.run(["nm", "-S", "--defined-only", str(path)], capture_output=True,
                         text=True, check=True).stdout
    return [(int(m.group(1), 16), int(m.group(2), 16))
            for m in re.finditer(r"^([0-9a-f]+) ([0-9a-f]+) [Tt] \S+$", out, re.M)
            if int(m.group(2), 16)]


def text_mapping(pid: int, name: str) -> Tuple[int, int, int]:
    """(start, end, file offset) of the executable mapping of ``name``."""
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            p = line.split()
            if len(p) > 5 and "x" in p[1] and p[5].endswith(name):
                lo, hi = (int(x, 16) for x in p[0].split("-"))
                return lo, hi, int(p[2], 16)
    raise RuntimeError(f"{name} is not mapped in {pid}")


def time_c(floor: Path, arg: str, addrs: List[int]) -> float:
    text = "\n".join(f"{a:x}" for a in addrs)
    out = subprocess.run([str(floor), arg], input=text, capture_output=True, text=True,
                         check=True).stdout
    return float(out.split()[0])


def time_addr2line(binary: Path, vaddrs: List[int]) -> float:
    text = "\n".join(f"{a:#x}" for a in vaddrs) + "\n"
    t0 = time.perf_counter()
    out = subprocess.run(["addr2line", "-f", "-e", str(binary)], input=text,
                         capture_output=True, text=True, check=True).stdout
    dt = time.perf_counter() - t0
    assert out.count("\n") == 2 * len(vaddrs)
    return dt


def user_rows(floor: Path) -> List[Row]:
    binary = build_big_binary()
    funcs = functions(binary)
    rng = random.Random(18)
    picks = [rng.choice(funcs) for _ in range(N_ADDRS)]
    vaddrs = [start + rng.randrange(size) for start, size in picks]
    proc = subprocess.Popen([str(binary)])
    try:
        time.sleep(0.2)
        lo, _hi, off = text_mapping(proc.pid, binary.name)
        # PIE built by GNU ld: text at file offset == vaddr, as readelf -l shows
        addrs = [lo + v - off for v in vaddrs]
        ours = a2l = c = b = float("inf")
        bpf, why = bcc_bpf()
        for _ in range(REPEAT):
            t0 = time.perf_counter()
            frames = sym.Symbolizer().symbolize(proc.pid, addrs)
            ours = min(ours, time.perf_counter() - t0)
            a2l = min(a2l, time_addr2line(binary, vaddrs))
            c = min(c, time_c(floor, str(binary), vaddrs))
            if bpf is not None:
                b = min(b, time_bcc(bpf, proc.pid, addrs, frames))
        assert sum(f is not None for f in frames) == N_ADDRS
    finally:
        proc.kill()
        proc.wait()
    per = f"{N_ADDRS:,} addresses, {len(funcs):,} functions"
    return [
        Row("sym", "user: Symbolizer vs addr2line -f (batch)", a2l / ours, "x faster",
            note=f"{per}; ours {ours * 1e3:.0f} ms, addr2line {a2l * 1e3:.0f} ms"),
        bcc_row("user: Symbolizer vs BCC BPF.sym()", ours, b, why),
        Row("sym", "user: Symbolizer vs C symtab+bsearch (floor)", ours / c, "x C",
            note=f"ours {ours * 1e3:.0f} ms, C {c * 1e3:.1f} ms, parse included"),
    ]


def bcc_bpf() -> Tuple[Any, str]:
    """BCC's ``BPF`` class, or None and why (its symbol caches need no BPF program)."""
    from bench_peers import load_bcc, version

    bcc, why = load_bcc()
    if bcc is None:
        return None, why
    global BCC_VERSION
    BCC_VERSION = version("bcc", bcc)
    return bcc.BPF, ""


BCC_VERSION = ""


def time_bcc(bpf: Any, pid: int, addrs: List[int], frames: List[Any]) -> float:
    """BPF.sym() on every address, its per-pid cache emptied first (the parse
    is included, as in a fresh Symbolizer); checks the names against ours."""
    bpf._sym_caches.pop(pid, None)
    t0 = time.perf_counter()
    names = [bpf.sym(a, pid) for a in addrs]
    dt = time.perf_counter() - t0
    check_names(names, frames)
    return dt


def check_names(names: List[bytes], frames: List[Any]) -> None:
    same = sum(n.decode() == f.name for n, f in zip(names, frames) if f is not None)
    if same < len(names) * 0.99:
        raise RuntimeError(f"BCC and bpfskel agree on {same} of {len(names)} names")


def bcc_row(name: str, ours: float, bcc: float, why: str) -> Row:
    if why:
        return Row("sym", name, None, "", ">= 1x", None, f"not measured: {why}")
    return Row("sym", name, bcc / ours, "x faster", ">= 1x", bcc >= ours,
               f"BCC {BCC_VERSION}; ours {ours * 1e3:.0f} ms, BCC {bcc * 1e3:.0f} ms, "
               "parse included")


def kernel_addresses() -> Tuple[List[int], int]:
    """N_ADDRS addresses inside the kernel's own text symbols (modules and
    BPF programs come and go), and how many symbols they were drawn from."""
    with open("/proc/kallsyms") as f:
        starts = sorted({int(p[0], 16) for p in map(str.split, f)
                         if len(p) == 3 and p[1] in "tTwW"})
    rng = random.Random(18)
    addrs = []
    for _ in range(N_ADDRS):
        i = rng.randrange(len(starts) - 1)
        addrs.append(starts[i] + rng.randrange(max(1, min(64, starts[i + 1] - starts[i]))))
    return addrs, len(starts)


def kernel_rows(floor: Path) -> List[Row]:
    """Each side KERNEL_REPEAT times, the order reversed every other
    repetition: cold (a fresh ``Symbolizer``, BCC's kallsyms cache emptied:
    both read and parse ``/proc/kallsyms``) and warm (both caches loaded
    before the clock starts), and the C floor (its own read and parse)."""
    addrs, nsyms = kernel_addresses()
    bpf, why = bcc_bpf()
    warm = sym.Symbolizer()
    warm.symbolize_kernel(addrs[:1])
    sides: Dict[str, Callable[[], Any]] = {
        "ours": lambda: sym.Symbolizer().symbolize_kernel(addrs),
        "ours warm": lambda: warm.symbolize_kernel(addrs),
    }
    if bpf is not None:
        def bcc_cold() -> Any:
            bpf._sym_caches.pop(-1, None)
            return [bpf.ksym(a) for a in addrs]
        sides["bcc"] = bcc_cold
        sides["bcc warm"] = lambda: [bpf.ksym(a) for a in addrs]
    times: Dict[str, List[float]] = {k: [] for k in [*sides, "c"]}
    results: Dict[str, Any] = {}
    for rep in range(KERNEL_REPEAT):
        order = [*sides, "c"]
        for side in order[::-1] if rep % 2 else order:
            if side == "c":
                times["c"].append(time_c(floor, "kallsyms", addrs))
                continue
            t0 = time.perf_counter()
            results[side] = sides[side]()
            times[side].append(time.perf_counter() - t0)
    frames = results["ours"]
    assert all(f is not None for f in frames) and results["ours warm"] == frames
    if bpf is not None:
        check_names(results["bcc"], frames)
        check_names(results["bcc warm"], frames)
    fig = {k: spread(v) for k, v in times.items() if v}

    def ms(side: str) -> str:
        return (f"{fig[side]['min_s'] * 1e3:.0f} ms (median "
                f"{fig[side]['median_s'] * 1e3:.0f})")

    def vs_bcc(name: str, ours: str, bcc: str, what: str) -> Row:
        row = bcc_row(name, fig[ours]["min_s"], fig.get(bcc, {}).get("min_s", 0.0), why)
        if not why:
            row.note = (f"BCC {BCC_VERSION}; {N_ADDRS:,} addresses over {nsyms:,} symbols, "
                        f"best of {KERNEL_REPEAT}, sides alternating; ours {ms(ours)}, BCC "
                        f"{ms(bcc)}; medians {fig[bcc]['median_s'] / fig[ours]['median_s']:.2f}x"
                        f"; {what}")
            row.extra = {"ours": fig[ours], "bcc": fig[bcc]}
        return row

    return [vs_bcc("kernel: Symbolizer vs BCC BPF.ksym(), fresh", "ours", "bcc",
                   "both read and parse /proc/kallsyms (BCC's cache emptied)"),
            vs_bcc("kernel: Symbolizer vs BCC BPF.ksym(), kallsyms loaded", "ours warm",
                   "bcc warm", "neither reads /proc/kallsyms (both caches loaded before)"),
            Row("sym", "kernel: Symbolizer vs C kallsyms+bsearch (floor)",
                fig["ours"]["min_s"] / fig["c"]["min_s"], "x C",
                note=f"ours {ms('ours')}, C {ms('c')}, both read and parse /proc/kallsyms",
                extra={"ours": fig["ours"], "c": fig["c"]})]


COLD_CODE = r"""
import os, sys, time
addrs = []
with open("/proc/self/maps") as f:  # 20 frames in the executable's text, 20 in libc's
    for line in f:
        p = line.split()
        if len(p) > 5 and "x" in p[1] and (p[5] == os.path.realpath(sys.executable)
                                           or os.path.basename(p[5]).startswith("libc.so")):
            lo, hi = (int(x, 16) for x in p[0].split("-"))
            addrs += [lo + (hi - lo) * k // 20 for k in range(20)]
t0, c0 = time.perf_counter(), time.process_time()
from bpfskel import sym
t1 = time.perf_counter()
frames = sym.Symbolizer().symbolize(os.getpid(), addrs)
t2, c2 = time.perf_counter(), time.process_time()
print(len(addrs), sum(f is not None for f in frames), t2 - t0, t2 - t1, c2 - c0)
"""


def cold_row() -> Row:
    """A fresh interpreter symbolizes its own frames: wall time from before
    ``import bpfskel.sym`` to the answer, best and median of REPEAT processes."""
    exe = "/usr/bin/python3.11" if os.path.exists("/usr/bin/python3.11") else sys.executable
    env = {**os.environ, "PYTHONPATH": str(BENCH_BUILD.parent.parent)}
    runs = []
    for _ in range(max(REPEAT, 5)):
        out = subprocess.run([exe, "-c", COLD_CODE], capture_output=True, text=True,
                             check=True, env=env).stdout.split()
        n, resolved = int(out[0]), int(out[1])
        runs.append(tuple(float(x) * 1e3 for x in out[2:]))
    runs.sort()
    best, median = runs[0], runs[len(runs) // 2]
    return Row("sym", f"cold start: {n} own frames of a fresh {os.path.basename(exe)}, "
               "import included (wall)", best[0], "ms", f"< {COLD_GOAL_MS:g} ms",
               best[0] < COLD_GOAL_MS,
               f"median {median[0]:.0f} ms; symbolize alone {best[1]:.0f} ms (median "
               f"{median[1]:.0f}); CPU {best[2]:.0f} ms; {resolved} resolved; maps, parse "
               "of the interpreter and libc (and libc's debug file, if installed)")


def run() -> List[Row]:
    floor = compile_c(C_FLOOR, "sym_floor")
    return user_rows(floor) + kernel_rows(floor) + [cold_row()]


if __name__ == "__main__":
    for row in run():
        print(row)
