#!/usr/bin/env python3
"""The smallest real bpfskel program: count this process's getpid() calls.

`make build/minimal_skel.py` builds bpf/minimal.bpf.c and generates the module with
`bpfskel gen`; run this with python3.  It configures the program through .rodata
before load, attaches a tracepoint, makes a few syscalls, and reads the
live .bss counter straight from the mapped map memory (no syscall).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"


def generated_module() -> Path:
    obj = BUILD / "minimal.bpf.o"
    out = BUILD / "minimal_skel.py"
    subprocess.run([sys.executable, "-m", "bpfskel", "gen", str(obj), "-o", str(out)],
                   check=True)
    return out


def main() -> int:
    generated_module()
    sys.path.insert(0, str(BUILD))
    import minimal_skel  # noqa: E402  (generated just above)

    with minimal_skel.open() as skel:
        skel.rodata.target_tgid = os.getpid()   # before load: configure the program
        skel.load()
        skel.attach()
        print(f"attached: {', '.join(p.name for p in skel.progs)} "
              f"(libbpf {__import__('bpfskel').libbpf_version()})")
        for n in (10, 100, 1000):
            before = skel.bss.calls               # a plain read of the mapped .bss
            for _ in range(n):
                os.getpid()
            print(f"made {n:>4} getpid() calls -> BPF counted {skel.bss.calls - before}")
        skel.bss.calls = 0                        # a plain write, seen by BPF at once
        os.getpid()
        print(f"reset the counter from Python, one more call -> {skel.bss.calls}")
        tid = skel.bss.last_pid_tgid & 0xFFFFFFFF
        print(f"last caller: tgid {skel.bss.last_pid_tgid >> 32}, tid {tid}")
        try:
            skel.rodata.target_tgid = 1
        except Exception as e:  # bpfskel.ReadOnlyError: .rodata is frozen after load
            print(f"writing .rodata after load: {type(e).__name__}: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
