"""Shared pieces of the benchmarks: timing, result rows, compiling C helpers.

Every figure a benchmark reports is a *ratio measured side by side in one
process*: the machines are shared and noisy, so absolute times mean little.
Each side is timed in several repetitions, the sides alternating within
each so that a burst of noise hits all of them; rows give the best time (the
figure least disturbed by other load) and the median.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = REPO_ROOT / "build"
sys.path.insert(0, str(REPO_ROOT / "tests"))

import bpfcc  # noqa: E402  (tests/bpfcc.py: one BPF compile helper for tests and bench)

BENCH_BUILD = BUILD_DIR / "bench"


@dataclass
class Row:
    """One line of the table: ``value`` in ``unit`` against ``goal``.

    ``met`` is None when the row has no goal (context figures) or could not
    be measured (then ``note`` says why).
    """

    group: str
    name: str
    value: Optional[float]
    unit: str
    goal: str = ""
    met: Optional[bool] = None
    note: str = ""
    extra: Dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


def per_call(fns: Sequence[Callable[[], Any]], *, number: int,
             repeat: int = 7) -> List[Dict[str, float]]:
    """The min and median (:func:`spread`) seconds per call of each of
    ``fns``, from ``repeat`` runs of ``number`` calls, the functions
    alternating within every repetition."""
    def loop(fn: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            for _ in range(number):
                fn()
        return run

    return [{k: v / number for k, v in spread(t).items()}
            for t in interleaved([loop(fn) for fn in fns], repeat=repeat)]


def interleaved(fns: Sequence[Callable[[], Any]], *, repeat: int,
                prepare: Union[None, Callable[[], Any], Sequence[Callable[[], Any]]] = None,
                ) -> List[List[float]]:
    """Seconds of each call of each ``fns[i]``, ``repeat`` times, the sides
    alternating within every repetition (``prepare()`` before each call,
    untimed; a sequence gives each side its own); ``[i]`` is the list of
    ``fns[i]``'s times."""
    times: List[List[float]] = [[] for _ in fns]
    prepares = (list(prepare) if isinstance(prepare, Sequence)
                else [prepare] * len(fns))
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            setup = prepares[i]
            if setup is not None:
                setup()
            t0 = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - t0)
    return times


def spread(times: Sequence[float]) -> Dict[str, float]:
    """The min and median of ``times`` (the figures a row reports)."""
    ordered = sorted(times)
    return {"min_s": ordered[0], "median_s": ordered[len(ordered) // 2]}


def ratio_row(group: str, name: str, ours: float, baseline: float, *,
              goal_max: Optional[float] = None, goal_min: Optional[float] = None,
              note: str = "", medians: Optional[Tuple[float, float]] = None) -> Row:
    """A row for ``ours / baseline`` (a time ratio: lower is faster), from the
    best times; ``medians`` (ours, baseline) adds the ratio of the medians to
    the note.

    ``goal_max``: ours must be at most this many times the baseline.
    ``goal_min``: the baseline must be at least this many times slower than
    ours (reported as a speed-up, ``baseline / ours``).
    """
    extra: Dict[str, Any] = {"ours_s": ours, "baseline_s": baseline}
    if medians is not None:
        m_ours, m_base = medians
        m_value = m_base / m_ours if goal_min is not None else m_ours / m_base
        note = f"{note}; medians {m_value:.2f}x" if note else f"medians {m_value:.2f}x"
        extra.update(ours_median_s=m_ours, baseline_median_s=m_base)
    if goal_min is not None:
        value = baseline / ours
        return Row(group, name, value, "x faster", f">= {goal_min:g}x",
                   value >= goal_min, note, extra)
    value = ours / baseline
    goal = f"<= {goal_max:g}x" if goal_max is not None else ""
    met = value <= goal_max if goal_max is not None else None
    return Row(group, name, value, "x baseline", goal, met, note, extra)


def compile_c(source: str, name: str, *, libs: Sequence[str] = (),
              cflags: Sequence[str] = ("-O2",)) -> Path:
    """Compile a small C helper with gcc into build/bench/; returns the binary."""
    cc = shutil.which(os.environ.get("CC", "gcc"))
    if cc is None:
        raise RuntimeError("gcc is not installed (make sysdeps installs it)")
    BENCH_BUILD.mkdir(parents=True, exist_ok=True)
    src = BENCH_BUILD / f"{name}.c"
    out = BENCH_BUILD / name
    src.write_text(source)
    subprocess.run([cc, *cflags, "-o", str(out), str(src), *libs], check=True)
    return out


def compile_bpf(source: Path) -> Path:
    """Compile a BPF C file into build/bench/ with the tests' helper
    (tests/bpfcc.py: the product's clang and flags, ``BPFSKEL_CLANG``)."""
    out = BENCH_BUILD / (source.name[:-2] + ".o")
    return bpfcc.compile_bpf(source, out, [f"-I{BUILD_DIR}"])


def skeleton_module(obj: Path, name: str) -> Any:
    """Generate the bpfskel module for ``obj`` into build/bench/ and import it."""
    import importlib.util

    from bpfskel.gen.generate import generate

    path = BENCH_BUILD / f"{name}_skel.py"
    path.write_text(generate(obj.read_bytes(), str(obj), name))
    spec = importlib.util.spec_from_file_location(f"{name}_skel", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
