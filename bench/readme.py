"""Write the README's benchmark table from build/bench.json (``make bench-readme``).

Input: the JSON that ``bench/run.py`` writes (one run: date, machine, load,
libbpf, rows).  Output: README.md with the text between the two markers
below replaced by a header naming that run and one table line per row.
Nothing is typed in by hand, so the table always states one run's figures,
its date, its load and the peers' versions, exactly as measured.

Rows of a group that did not run keep nothing: the table is the run, whole.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Dict, List

BEGIN = "<!-- bench-table:begin (bench/readme.py writes this block from build/bench.json) -->"
END = "<!-- bench-table:end -->"

REPO_ROOT = Path(__file__).resolve().parent.parent


def figure(row: Dict[str, Any]) -> str:
    """The measured value with its unit; ``-`` for a row that has none."""
    value = row["value"]
    if value is None:
        return "-"
    unit = row["unit"]
    if unit in ("x faster", "x baseline", "x C"):
        return f"{value:.2f}× {unit[2:]}".rstrip()
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.3g} {unit}"


def cell(text: str) -> str:
    """Text made safe for one Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ").strip()


def table(run: Dict[str, Any]) -> str:
    """The block between the markers for one run."""
    peers = next((r["note"] for r in run["rows"] if r["group"] == "peers"
                  and r["name"] == "peers"), "")
    lines: List[str] = [
        f"Last run: {run['date']}; {run['machine']}; libbpf {run['libbpf']}; "
        f"{run['load']}." + (f" Peers: {peers}." if peers else ""),
        "",
        "| group | benchmark | measured (best) | goal | met | note |",
        "|---|---|---|---|---|---|",
    ]
    for r in run["rows"]:
        if r["group"] == "peers" and r["name"] == "peers":
            continue
        met = {True: "yes", False: "**no**", None: ""}[r["met"]]
        lines.append(f"| {r['group']} | {cell(r['name'])} | {figure(r)} | "
                     f"{cell(r['goal'])} | {met} | {cell(r['note'])} |")
    return "\n".join(lines)


def rewrite(readme: str, block: str) -> str:
    """``readme`` with the text between BEGIN and END replaced by ``block``.

    Raises ValueError when the markers are missing or out of order, so a
    README without them is never half-written.
    """
    start = readme.find(BEGIN)
    end = readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README.md lacks the markers {BEGIN!r} ... {END!r}")
    return readme[:start + len(BEGIN)] + "\n" + block + "\n" + readme[end:]


def main(argv: List[str]) -> int:
    source = Path(argv[0]) if argv else REPO_ROOT / "build" / "bench.json"
    readme = REPO_ROOT / "README.md"
    try:
        run = json.loads(source.read_text())
        text = rewrite(readme.read_text(), table(run))
    except (OSError, ValueError, KeyError) as e:
        print(f"bench/readme.py: error: {e}", file=sys.stderr)
        return 2
    tmp = readme.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(readme)
    print(f"wrote the table of {source} ({run['date']}) into {readme}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
