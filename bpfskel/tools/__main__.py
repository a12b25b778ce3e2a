"""``python -m bpfskel.tools <tool> [args]`` (also ``bpfskel-tools``)."""

from __future__ import annotations

import importlib
import sys
from typing import List, Optional

from bpfskel.tools import TOOLS


def usage() -> str:
    width = max(map(len, TOOLS))
    lines = ["usage: bpfskel-tools <tool> [args]   (<tool> -h for its options)", "", "tools:"]
    lines += [f"  {name:<{width}}  {text}" for name, text in TOOLS.items()]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else 2
    name = args[0]
    if name not in TOOLS:
        print(f"bpfskel-tools: error: unknown tool {name!r} (one of: {', '.join(TOOLS)})",
              file=sys.stderr)
        return 2
    module = importlib.import_module(f"bpfskel.tools.{name}")
    try:
        rc: int = module.main(args[1:])
    except ImportError as e:
        # a source checkout on PYTHONPATH whose generated modules were never
        # built (they are not committed; a wheel or `pip install -e` has them)
        if e.name != "bpfskel.tools.bpf" and not (e.name or "").startswith("bpfskel.tools.bpf."):
            raise
        print(f"bpfskel-tools: error: the {name} BPF module is not built: run `make tools` "
              "in the checkout, or install bpfskel with pip", file=sys.stderr)
        return 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
