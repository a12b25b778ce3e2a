"""bpfskel tools: the classic BPF observability tools, on generated skeletons.

Each tool is a module here with a ``main(argv) -> int``; ``python -m
bpfskel.tools <tool> [args]`` and the ``bpfskel-tools`` console script
dispatch to it.  The BPF side of each tool is ``bpf/<tool>.bpf.c``, compiled
into ``bpf/<tool>_skel.py`` with the object embedded when bpfskel's wheel is
built (its own build hook, ``bpfskel.gen.hatch``, on ``[tool.bpfskel]`` of
its pyproject), so an installed tool needs no clang, kernel headers or
bpftool.  In a source checkout, ``make tools`` runs the same build.
"""

from __future__ import annotations

#: tool name -> one-line description; the name is the module's
TOOLS = {
    "execsnoop": "trace execve: pid, ppid, comm, return value and full argv",
    "opensnoop": "trace open/openat/openat2: pid, comm, fd or errno, flags, path",
    "exitsnoop": "trace process exits: lifetime, exit code or signal",
    "syscount": "count system calls (or processes), optionally with latency, per interval",
    "runqlat": "run-queue latency as a log2 histogram",
    "tcpstates": "trace TCP state changes (IPv4 and IPv6) with the time in each state",
    "tcplife": "trace TCP sessions when they close: lifetime, bytes sent and received",
    "tcpconnect": "trace outgoing TCP connects (IPv4 and IPv6): process, addresses, ports",
    "biolatency": "block I/O latency as log2 histograms, per disk or per flags",
    "funclatency": "a kernel or user function's latency as a log2 histogram",
    "profile": "sample on-CPU stacks (user and kernel) at a frequency, symbolised",
    "offcputime": "time blocked off-CPU per stack (user and kernel), symbolised",
    "pyflow": "Python call flow and per-function latency (USDT) of running interpreters",
}
