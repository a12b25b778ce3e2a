"""Kernel addresses to names, from ``/proc/kallsyms``.

``/proc/kallsyms`` lists every text symbol of the kernel, of each loaded
module (``name\\t[ext4]``) and of each JIT-compiled BPF program
(``bpf_prog_<tag>_<name>\\t[bpf]``), without sizes.  It is read once, kept
as raw lines sorted by address, and a lookup is one ``bisect``; names are
decoded only for the addresses asked about.

A symbol ends where the next one of the same module starts.  The last
symbol of a module has no known end: it is given :data:`LAST_SYMBOL_SPAN`
bytes, so an address in code loaded after the snapshot (a new BPF program)
is not blamed on a far-away symbol.

Without CAP_SYSLOG (or with ``kernel.kptr_restrict`` >= 1, or
``perf_event_paranoid`` > 1 for unprivileged readers) the kernel prints every
address as zero.  That is reported as :class:`KernelAddressesHiddenError`,
never as wrong names.
"""

from __future__ import annotations

import bisect
import errno
import time
from itertools import compress, count, islice, repeat
from operator import itemgetter, le
from typing import Dict, Iterable, List, Optional, Tuple

from ..errors import Error
from .frame import Frame

__all__ = ["KernelSymbols", "KernelAddressesHiddenError", "LAST_SYMBOL_SPAN"]

LAST_SYMBOL_SPAN = 0x10000
_TEXT_TYPES = (b"t", b"T", b"w", b"W")


class KernelAddressesHiddenError(Error, PermissionError):
    """``/proc/kallsyms`` shows every address as 0 to this process."""

    def __init__(self, path: str) -> None:
        super().__init__(
            errno.EPERM,
            f"{path} shows every address as 0: the kernel hides them from this process. "
            "Reading them needs CAP_SYSLOG (run as root) and kernel.kptr_restrict <= 1 "
            f"(now {_sysctl('kptr_restrict')}); for unprivileged readers also "
            f"kernel.perf_event_paranoid <= 1 (now {_sysctl('perf_event_paranoid')})")

    def __str__(self) -> str:
        return str(self.strerror)


def _sysctl(name: str) -> str:
    try:
        with open("/proc/sys/kernel/" + name) as f:
            return f.read().strip()
    except OSError:
        return "unknown"


class KernelSymbols:
    """The kernel's text symbols, modules and BPF programs included.

    ``resolve(addr)`` returns a :class:`Frame` whose ``module`` is
    ``"vmlinux"``, a module name, or ``"bpf"``; None outside every symbol.
    ``reload()`` re-reads the file (BPF programs and modules come and go);
    ``loaded_at`` is the ``time.monotonic()`` of the last read.
    """

    def __init__(self, path: str = "/proc/kallsyms") -> None:
        self.path = path
        self._addrs: List[int] = []
        self._lines: List[bytes] = []
        self._ends: List[int] = []
        self._names: Dict[int, Tuple[str, str]] = {}  # decoded on first use
        self.loaded_at = 0.0
        self.reload()

    def reload(self) -> None:
        with open(self.path, "rb") as f:
            data = f.read()
        lines = data.split(b"\n")
        width = lines[0].find(b" ") if lines else -1
        if width > 0 and all(len(x) > width + 2 and x[width:width + 1] == b" "
                             for x in lines[:3]):
            # fixed width: the loops run in C (map, compress), not per line in Python
            if lines and not lines[-1]:
                lines.pop()  # the text ends with a newline
            types = set(map(ord, _TEXT_TYPES))
            kinds = map(itemgetter(width + 1), lines)
            keep = list(compress(lines, map(types.__contains__, kinds)))
            addrs = list(map(int, map(itemgetter(slice(0, width)), keep), repeat(16)))
        else:  # not the fixed-width layout: parse each line
            keep = [x for x in lines if x.split(b" ", 2)[1:2] in ([t] for t in _TEXT_TYPES)]
            addrs = [int(x.split(b" ", 1)[0], 16) for x in keep]
        if addrs and not any(addrs):
            raise KernelAddressesHiddenError(self.path)
        if not all(map(le, addrs, islice(addrs, 1, None))):
            order = sorted(range(len(addrs)), key=addrs.__getitem__)
            addrs = [addrs[i] for i in order]
            keep = [keep[i] for i in order]
        ends = addrs[1:] + [addrs[-1] + LAST_SYMBOL_SPAN if addrs else 0]
        # a symbol followed by another module's ends within LAST_SYMBOL_SPAN
        tabbed = compress(count(), map(bytes.__contains__, keep, repeat(b"\t")))
        mods = {i: keep[i].rpartition(b"\t")[2] for i in tabbed}
        for i in {j for k in mods for j in (k - 1, k) if 0 <= j < len(keep) - 1}:
            if mods.get(i, b"") != mods.get(i + 1, b""):
                ends[i] = min(ends[i], addrs[i] + LAST_SYMBOL_SPAN)
        self._addrs, self._lines, self._ends = addrs, keep, ends
        self._names = {}
        self.loaded_at = time.monotonic()

    def __len__(self) -> int:
        return len(self._addrs)

    def resolve(self, addr: int) -> Optional[Frame]:
        return self.resolve_many((addr,))[0]

    def resolve_many(self, addrs: Iterable[int]) -> List[Optional[Frame]]:
        """``resolve`` of each address, in one loop: a symbol's name is
        decoded once (and kept until ``reload``), and frames are built
        as the tuples they are, without NamedTuple's Python ``__new__``."""
        starts, ends, names = self._addrs, self._ends, self._names
        find, make = bisect.bisect_right, tuple.__new__
        out: List[Optional[Frame]] = []
        put = out.append
        for addr in addrs:
            i = find(starts, addr) - 1
            if i < 0 or addr >= ends[i]:
                put(None)
                continue
            sym = names.get(i)
            if sym is None:
                sym = names[i] = self._symbol(i)
            put(make(Frame, (sym[0], addr - starts[i], sym[1], None, None)))
        return out

    def _symbol(self, i: int) -> Tuple[str, str]:
        """(name, module) of symbol ``i``."""
        rest = self._lines[i].split(b" ", 2)[2]
        name, _, mod = rest.partition(b"\t")
        module = mod.strip(b"[]").decode() if mod else "vmlinux"
        return name.decode("utf-8", "replace"), module

    def address_of(self, name: str) -> Optional[int]:
        """The address of the text symbol ``name`` (first match), or None."""
        want = name.encode()
        for addr, line in zip(self._addrs, self._lines):
            if line.split(b" ", 2)[2].partition(b"\t")[0] == want:
                return addr
        return None

