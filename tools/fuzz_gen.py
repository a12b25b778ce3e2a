#!/usr/bin/env python3
"""Long fuzz run of ``bpfskel gen``: thousands of mutated BPF objects.

The CI test (tests/test_fuzz.py) runs 240 fixed-seed cases; this runs as
many as you like, with the same mutations and the same contract
(tests/fuzzcases.py): every case ends in a module that imports and opens, or
in one line ``bpfskel: error: ...`` with exit 2; never a traceback, a signal,
an internal error, a clobbered output file or a leftover temporary file.

    python3 tools/fuzz_gen.py                       # 5,000 cases, seed 1
    python3 tools/fuzz_gen.py --cases 20000 --seed 7
    python3 tools/fuzz_gen.py --libbpf /path/to/libbpf.so.1   # another libbpf
    python3 tools/fuzz_gen.py --subprocess-every 1  # every case a real process

Seeds are every object ``make bpf`` builds plus tests/corpus, compiled
fresh.  Most cases call the CLI's ``main`` in this process (safe: libbpf
parses in a forked child); every ``--subprocess-every``-th runs
``python -m bpfskel`` for real.  A case that breaks the contract is printed,
and its input saved to ``--keep`` (default build/fuzz-failures/) under a
name that says its seed and index; the exit status is then 1.  A case is
reproduced with ``bpfskel gen <saved file>``.  Needs clang-19 and make, not
root (opening a skeleton does not need privileges).  About 10 ms a case
in-process, 200 ms in a subprocess.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def build_seeds(scratch: Path) -> List[Path]:
    """Objects of bpf/ (``make bpf``) and of tests/corpus (compiled here)."""
    import bpfcc
    import groundtruth

    proc = subprocess.run(["make", "-s", *bpfcc.make_vars(), "bpf"], cwd=REPO,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"fuzz_gen: make bpf failed:\n{proc.stdout}{proc.stderr}")
    objs = sorted((REPO / "build").glob("*.bpf.o"))
    for case in groundtruth.corpus_cases():
        objs.append(bpfcc.compile_bpf(groundtruth.CORPUS_DIR / f"{case}.bpf.c",
                                      scratch / f"corpus_{case}.bpf.o"))
    return objs


def _write_case(scratch: Path, label: str, data: bytes) -> Tuple[Path, Path]:
    """A fresh directory with the object and an output file gen must not clobber."""
    from fuzzcases import SENTINEL

    case_dir = scratch / "case"
    shutil.rmtree(case_dir, ignore_errors=True)
    case_dir.mkdir()
    obj, out = case_dir / f"{label}.bpf.o", case_dir / "out_skel.py"
    obj.write_bytes(data)
    out.write_bytes(SENTINEL)
    return obj, out


def check_gen(label: str, obj: Path, out: Path, real: bool) -> str:
    from fuzzcases import check_gen as check
    from fuzzcases import run_gen

    return check(label, obj, out, run_gen(obj, out, subprocess_run=real))


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=5000, help="how many mutations (5000)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (1)")
    ap.add_argument("--subprocess-every", type=int, default=10, metavar="N",
                    help="run every N-th case as a real process (10)")
    ap.add_argument("--libbpf", help="path of the libbpf.so.1 to use (BPFSKEL_LIBBPF)")
    ap.add_argument("--keep", type=Path, default=REPO / "build" / "fuzz-failures",
                    help="where inputs that break the contract are saved")
    args = ap.parse_args(argv)
    if args.libbpf:
        os.environ["BPFSKEL_LIBBPF"] = args.libbpf  # before bpfskel loads libbpf

    from fuzzcases import CaseFailure, Mutator, load_seeds

    import bpfskel

    outcomes: "collections.Counter[str]" = collections.Counter()
    failures = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bpfskel-fuzz-") as tmp:
        scratch = Path(tmp)
        seeds = []
        for seed in load_seeds(build_seeds(scratch)):
            try:  # a seed must pass as it is: arenas, for one, need libbpf 1.4
                check_gen(seed.name, *_write_case(scratch, seed.name, seed.data), False)
                seeds.append(seed)
            except CaseFailure as e:
                print(f"fuzz_gen: seed {seed.name} left out: {str(e).splitlines()[-1]}")
        print(f"fuzz_gen: {args.cases} cases, seed {args.seed}, {len(seeds)} seed objects, "
              f"libbpf {bpfskel.libbpf_version()}", flush=True)
        cases = Mutator(seeds, args.seed).cases(args.cases)
        for i, (label, data) in enumerate(cases):
            real = args.subprocess_every > 0 and i % args.subprocess_every == 0
            try:
                outcomes[check_gen(label, *_write_case(scratch, label, data), real)] += 1
            except CaseFailure as e:
                failures += 1
                args.keep.mkdir(parents=True, exist_ok=True)
                (args.keep / f"{label}.bpf.o").write_bytes(data)
                print(f"FAIL {e}", flush=True)
            outcomes["subprocess" if real else "in-process"] += 1
            if (i + 1) % 500 == 0:
                print(f"  {i + 1} cases, {dict(outcomes)}, {failures} failures, "
                      f"{time.monotonic() - started:.0f} s", flush=True)
    print(f"fuzz_gen: done: {args.cases} cases ({outcomes['ok']} generated and opened, "
          f"{outcomes['error']} one-line errors; {outcomes['subprocess']} as real processes), "
          f"{failures} broke the contract, {time.monotonic() - started:.0f} s")
    if failures:
        print(f"fuzz_gen: failing inputs are in {args.keep}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
