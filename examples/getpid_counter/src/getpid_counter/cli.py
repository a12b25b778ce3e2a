"""``getpid-counter N``: call getpid() N times and show what BPF saw."""

from __future__ import annotations

import argparse
import os
from typing import List, Optional

from .bpf import counter_skel


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="getpid-counter")
    p.add_argument("n", type=int, nargs="?", default=3)
    args = p.parse_args(argv)
    seen: List[int] = []
    with counter_skel.open() as skel:
        skel.rodata.target_tgid = os.getpid()
        skel.load()
        skel.attach()
        with skel.maps.events.ring_buffer(lambda e: seen.append(e.nth),
                                          counter_skel.types.event) as rb:
            for _ in range(args.n):
                os.getpid()
            rb.poll(timeout_ms=100)
        print(f"calls={skel.bss.calls} events={seen}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
