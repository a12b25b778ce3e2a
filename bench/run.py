"""Run every benchmark in bench/ and print one table; write build/bench.json.

Each ``bench/bench_*.py`` module has ``run() -> list[Row]``.  Pass module
names (``globals``, ``maps``, ...) to run only some of them; ``--peers`` runs
only the comparisons with BCC's Python and pylibbpf (bench_peers, whose rows
say why a peer could not run; bench/peers.sh installs them).  The header
gives the load average at the start and the end: the machines are shared.
"""

from __future__ import annotations

import datetime
import importlib
import json
import os
import platform
import sys
import traceback
from pathlib import Path
from typing import List

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BUILD_DIR, Row  # noqa: E402


def machine() -> str:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{cpu or platform.processor()}, {os.cpu_count()} CPUs, Linux "
            f"{platform.release()}, Python {platform.python_version()}")


def libbpf_version() -> str:
    try:
        from bpfskel import _libbpf
        return _libbpf.version_string()
    except Exception as e:  # noqa: BLE001 - reported, not fatal
        return f"unavailable ({e})"


def main(argv: List[str]) -> int:
    here = Path(__file__).resolve().parent
    names = ["peers" if a == "--peers" else a for a in argv] or sorted(
        p.stem[len("bench_"):] for p in here.glob("bench_*.py"))
    load_start = os.getloadavg()[0]
    rows: List[Row] = []
    failed = 0
    for name in names:
        mod = importlib.import_module(f"bench_{name}")
        print(f"running bench_{name} ...", file=sys.stderr, flush=True)
        try:
            rows.extend(mod.run())
        except Exception as e:  # a broken benchmark is reported, the rest still run
            failed += 1
            traceback.print_exc()
            rows.append(Row(name, "(benchmark failed)", None, "", note=str(e)))
    when = datetime.date.today().isoformat()
    load = f"load average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    header = f"bpfskel benchmarks, {when}; {machine()}; libbpf {libbpf_version()}; {load}"
    print(header)
    w = max(len(f"{r.group}: {r.name}") for r in rows) if rows else 10
    print(f"{'benchmark':<{w}}  {'figure':>14}  {'goal':>10}  met")
    for r in rows:
        fig = "-" if r.value is None else f"{r.value:,.2f} {r.unit}"
        met = {True: "yes", False: "NO", None: ""}[r.met]
        line = f"{r.group + ': ' + r.name:<{w}}  {fig:>14}  {r.goal:>10}  {met}"
        print(line + (f"  ({r.note})" if r.note else ""))
    BUILD_DIR.mkdir(exist_ok=True)
    out = BUILD_DIR / "bench.json"
    out.write_text(json.dumps({"date": when, "machine": machine(), "load": load,
                               "libbpf": libbpf_version(),
                               "rows": [r.as_dict() for r in rows]}, indent=2) + "\n")
    print(f"wrote {out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
