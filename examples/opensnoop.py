#!/usr/bin/env python3
"""opensnoop: file opens as they happen, and how many system calls were made,
on whatever kernel this runs on.

Built on a bpfskel-generated module (build/opensnoop_skel.py, made by
``make build/opensnoop_skel.py`` from bpf/opensnoop.bpf.c).  What it shows
off is the portability kit, used the way C tools use libbpf's probes:

* the open hook: fentry where BPF trampolines attach, else a kprobe, else the
  ``syscalls/sys_enter_openat`` tracepoint (``bpfskel.features``);
* the system call counter: ``tp_btf`` where it attaches, else ``raw_tp``;
* the event channel: a ring buffer where the kernel has them, else a perf
  buffer (the map is turned into a ring buffer before load, and the per-CPU
  scratch map the perf path needs is then not created);
* the programs not picked are not loaded (``prog.autoload = False``).

Examples::

    sudo ./examples/opensnoop.py                      # until Ctrl-C
    sudo ./examples/opensnoop.py --pid 1234 --duration 5
    sudo ./examples/opensnoop.py --hook kprobe --buffer perfbuf
    sudo ./examples/opensnoop.py --workload --duration 2
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, List, Optional

from bpfskel import features
from bpfskel.maps import MapType

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
WORKLOAD = ("import os, sys, time\n"
            "sys.stdin.readline()\n"
            "for _ in range(5):\n"
            "    os.close(os.open('/etc/hostname', os.O_RDONLY))\n"
            "    time.sleep(0.01)\n")


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pid", type=int, default=0, help="trace only this process (tgid)")
    p.add_argument("--duration", type=float, default=0, help="stop after this many seconds")
    p.add_argument("--hook", choices=["auto", "fentry", "kprobe", "tracepoint"],
                   default="auto", help="the open hook (default: the best this kernel has)")
    p.add_argument("--sys", choices=["auto", "tp_btf", "raw_tp"], default="auto",
                   help="the system call hook (default: tp_btf if it attaches)")
    p.add_argument("--buffer", choices=["auto", "ringbuf", "perfbuf"], default="auto",
                   help="the event channel (default: a ring buffer if the kernel has them)")
    p.add_argument("--workload", action="store_true",
                   help="trace a child process that opens /etc/hostname five times")
    return p.parse_args(argv)


def pick_hook(wanted: str) -> str:
    if wanted != "auto":
        return wanted
    if features.fentry_available() and features.btf_type("do_sys_openat2", "func"):
        return "fentry"
    if features.kprobe_available() and features.kernel_function("do_sys_openat2"):
        return "kprobe"
    return "tracepoint"


def configure(skel: Any, hook: str, sys_hook: str, ringbuf: bool, pid: int) -> None:
    """Everything decided before load."""
    chosen = {"fentry": "open_fentry", "kprobe": "open_kprobe", "tracepoint": "open_tp"}[hook]
    for name in ("open_fentry", "open_kprobe", "open_tp"):
        getattr(skel.progs, name).autoload = name == chosen
    skel.progs.sys_tp_btf.autoload = sys_hook == "tp_btf"
    skel.progs.sys_raw_tp.autoload = sys_hook == "raw_tp"
    skel.rodata.target_tgid = pid
    skel.rodata.use_ringbuf = int(ringbuf)
    if ringbuf:  # libbpf-tools' compat.c: the perf event array becomes a ring buffer
        events = skel.maps.events
        events.type = MapType.RINGBUF
        events.key_size = 0
        events.value_size = 0
        events.max_entries = 256 * 1024
        skel.maps.heap.autocreate = False


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(BUILD))
    try:
        import opensnoop_skel
    except ImportError:
        print("opensnoop: build/opensnoop_skel.py is missing: run "
              "`make build/opensnoop_skel.py`", file=sys.stderr)
        return 2
    hook = pick_hook(args.hook)
    sys_hook = args.sys if args.sys != "auto" else (
        "tp_btf" if features.tp_btf_available() else "raw_tp")
    ringbuf = features.ringbuf_available() if args.buffer == "auto" else args.buffer == "ringbuf"
    child = None
    if args.workload:
        child = subprocess.Popen([sys.executable, "-S", "-c", WORKLOAD], stdin=subprocess.PIPE)
        args.pid = child.pid
        print(f"workload: pid {child.pid}")
    print(f"hooks: opens by {hook}, system calls by {sys_hook}, "
          f"events through a {'ring' if ringbuf else 'perf'} buffer")
    sys.stdout.flush()

    def show(event: Any) -> None:
        print(f"{event.tgid:<7} {event.comm.value.decode(errors='replace'):<16} "
              f"{event.flags:#08o} {event.path.value.decode(errors='replace')}", flush=True)

    with opensnoop_skel.open() as skel:
        configure(skel, hook, sys_hook, ringbuf, args.pid)
        skel.load()
        skel.attach()
        events = skel.maps.events
        reader = (events.ring_buffer(show, opensnoop_skel.types.event) if ringbuf else
                  events.perf_buffer(lambda cpu, e: show(e), opensnoop_skel.types.event))
        print(f"{'PID':<7} {'COMM':<16} {'FLAGS':<8} PATH", flush=True)
        if child is not None and child.stdin is not None:
            child.stdin.write(b"go\n")
            child.stdin.close()
        deadline = time.monotonic() + args.duration if args.duration else None
        with reader:
            try:
                while deadline is None or time.monotonic() < deadline:
                    reader.poll(timeout_ms=100)
                    if child is not None and child.poll() is not None and deadline is None:
                        break
            except KeyboardInterrupt:
                pass
            reader.poll(timeout_ms=0)
        print(f"opens: {skel.bss.opens}, system calls: {skel.bss.syscalls}")
    if child is not None:
        child.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
