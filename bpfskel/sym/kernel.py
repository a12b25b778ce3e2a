"""Kernel addresses to names, from ``/proc/kallsyms``.

``/proc/kallsyms`` lists every text symbol of the kernel, of each loaded
module (``name\\t[ext4]``) and of each JIT-compiled BPF program
(``bpf_prog_<tag>_<name>\\t[bpf]``), without sizes.  It is read in one go
and parsed with a few whole-text operations (one decode, one split into
``address type name`` columns, one ``int`` per kept line), so the loops run
in C, not per line in Python.  The table is sorted by address: the starts in
an ``array('Q')``, names and modules in parallel lists; a lookup is one
``bisect``, and :meth:`KernelSymbols.resolve_many` maps it over all the
addresses at once.

A symbol ends where the next one of the same module starts.  The last
symbol of a module has no known end: it is given :data:`LAST_SYMBOL_SPAN`
bytes (a gap entry that resolves to None follows it), so an address in code
loaded after the snapshot is not blamed on a far-away symbol.  Answers in
what can change after the read (modules, BPF programs, gaps) are flagged by
:meth:`KernelSymbols.lookup`, and
:meth:`Symbolizer.symbolize_kernel <bpfskel.sym.Symbolizer.symbolize_kernel>`
re-reads for them.

Without CAP_SYSLOG (or with ``kernel.kptr_restrict`` >= 1, or
``perf_event_paranoid`` > 1 for unprivileged readers) the kernel prints every
address as zero.  That is reported as :class:`KernelAddressesHiddenError`,
never as wrong names.
"""

from __future__ import annotations

import bisect
import errno
import sys
import time
from array import array
from itertools import compress, count, islice, repeat
from operator import gt, ne, sub
from typing import Dict, Iterable, List, Optional, Set, Tuple, cast

from ..errors import Error
from ..gcpause import gc_paused
from .frame import Frame

__all__ = ["KALLSYMS_REFRESH", "KernelSymbols", "KernelAddressesHiddenError", "LAST_SYMBOL_SPAN"]

LAST_SYMBOL_SPAN = 0x10000
KALLSYMS_REFRESH = 1.0  # seconds between re-reads that doubtful answers trigger
VMLINUX = "vmlinux"
_TEXT_TYPES = frozenset("tTwW")


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


Columns = Tuple[List[int], List[str], List[str]]  # addresses, names, modules


def parse_kallsyms(text: str) -> Columns:
    """The text symbols of a kallsyms ``text``, in file order: addresses,
    names and modules (``vmlinux`` for the kernel's own).

    Every line is ``address type name`` plus ``\\tmodule`` for modules and
    BPF programs, and names hold no space: with newlines made spaces, the
    whole text is one list of tokens in columns of three, sliced in C.  A
    text that does not split that way is parsed line by line."""
    tokens = text.replace("\n", " ").split(" ")
    if tokens[-1] == "":
        tokens.pop()  # the text ends with a newline
    kinds = tokens[1::3]
    if len(tokens) % 3 or max(map(len, set(kinds)), default=1) != 1:
        return _parse_lines(text)
    names = tokens[2::3]
    mods = [VMLINUX] * len(names)
    first_tab = text.find("\t")  # modules and BPF programs follow the kernel's symbols
    if first_tab >= 0:
        for i in range(text.count("\n", 0, first_tab), len(names)):
            if "\t" in names[i]:
                names[i], mods[i] = _split_module(names[i])
    keep = list(map(_TEXT_TYPES.__contains__, kinds))
    addrs = list(map(int, compress(tokens[0::3], keep), repeat(16)))
    return addrs, list(compress(names, keep)), list(compress(mods, keep))


def _parse_lines(text: str) -> Columns:
    addrs: List[int] = []
    names: List[str] = []
    mods: List[str] = []
    for line in text.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in _TEXT_TYPES:
            name, mod = _split_module(parts[2])
            addrs.append(int(parts[0], 16))
            names.append(name)
            mods.append(mod)
    return addrs, names, mods


def _split_module(field: str) -> Tuple[str, str]:
    name, _, mod = field.partition("\t")
    return name, sys.intern(mod.strip("[]")) if mod else VMLINUX


def _sort_tail(addrs: List[int], names: List[str], mods: List[str]) -> None:
    """Sort the three columns by address, stably (in place).

    The kernel's own symbols come first, in order; modules (each in its own
    order) and BPF programs follow, above them.  So only the tail from where
    the first out-of-order address would go is sorted: the entries before it
    are not above any after it."""
    descent = next(compress(count(), map(gt, addrs, islice(addrs, 1, None))), None)
    if descent is None:
        return
    cut = bisect.bisect_right(addrs, min(islice(addrs, descent + 1, None)), 0, descent + 1)
    order = sorted(range(cut, len(addrs)), key=addrs.__getitem__)
    addrs[cut:] = list(map(addrs.__getitem__, order))
    names[cut:] = list(map(names.__getitem__, order))
    mods[cut:] = list(map(mods.__getitem__, order))


class KernelSymbols:
    """The kernel's text symbols, modules and BPF programs included.

    ``resolve(addr)`` returns a :class:`Frame` whose ``module`` is
    ``"vmlinux"``, a module name, or ``"bpf"``; None outside every symbol.
    ``reload()`` re-reads the file (BPF programs and modules come and go);
    ``loaded_at`` is the ``time.monotonic()`` of the last read.

    The kernel's own text never changes; everything else is *volatile*:
    module and BPF program symbols, the gaps after each module's last
    symbol, and the last symbol of the kernel itself (its end is not known).
    A program unloaded after the read may have made room for a new one at
    the same place, so :meth:`lookup` calls an answer in a volatile symbol
    doubtful until a read newer than the address confirmed it
    (:meth:`confirm`).  Confirmations are kept per symbol (start and name,
    so a different program at the same place is not confirmed by them), up
    to the highest address confirmed, across reloads.
    """

    def __init__(self, path: str = "/proc/kallsyms") -> None:
        self.path = path
        # bisect_right(_starts, a) = k; the symbol is entry k - 1, which the
        # other lists hold at k (their slot 0 is "before every symbol")
        self._starts = array("Q")
        self._bases = array("Q", [0])
        self._names: List[Optional[str]] = [None]
        self._mods: List[Optional[str]] = [None]
        self._volatile: Set[int] = {0}  # k of the gaps and the volatile symbols
        self._confirmed: Dict[Tuple[int, str], int] = {}  # (start, name) -> highest address
        self.loaded_at = 0.0
        self.reload()

    def reload(self) -> None:
        with open(self.path, "rb") as f:
            data = f.read()
        addrs, names, mods = parse_kallsyms(data.decode("utf-8", "replace"))
        if addrs and not any(addrs):
            raise KernelAddressesHiddenError(self.path)
        _sort_tail(addrs, names, mods)
        # the last symbol of each module run (and of all) ends within
        # LAST_SYMBOL_SPAN: a gap entry (name None) follows it
        lasts = [*compress(count(), map(ne, mods, islice(mods, 1, None))),
                 len(addrs) - 1] if addrs else []
        gaps = [i for i in lasts if i + 1 == len(addrs)
                or addrs[i] + LAST_SYMBOL_SPAN < addrs[i + 1]]
        # volatile: module and BPF runs, the kernel's last symbol, the gaps;
        # in the final lists, entry i is at i + 1 + the gaps before it
        volatile, first, shift, gapped = {0}, 0, 1, set(gaps)
        for last in lasts:
            after = last in gapped
            if mods[last] == VMLINUX:
                volatile.update(range(last + shift, last + shift + 1 + after))
            else:
                volatile.update(range(first + shift, last + shift + 1 + after))
            first, shift = last + 1, shift + after
        starts = addrs
        table, modules = cast(List[Optional[str]], names), cast(List[Optional[str]], mods)
        table.insert(0, None)
        modules.insert(0, None)
        for i in reversed(gaps):  # from the back: the lists move only their tails
            starts.insert(i + 1, addrs[i] + LAST_SYMBOL_SPAN)
            table.insert(i + 2, None)
            modules.insert(i + 2, None)
        # arrays, not lists of ints: a bisect probe reads 8 contiguous bytes instead of
        # chasing a pointer to an int object (half the time for random addresses)
        self._starts = array("Q", starts)
        self._bases = bases = array("Q", [0]) + self._starts  # bases[k] = starts[k - 1]
        self._names, self._mods, self._volatile = table, modules, volatile
        if self._confirmed:  # forget the symbols that are gone
            now = {(bases[k], table[k]) for k in volatile}
            self._confirmed = {key: v for key, v in self._confirmed.items() if key in now}
        self.loaded_at = time.monotonic()

    def __len__(self) -> int:
        """The number of text symbols."""
        return len(self._names) - self._names.count(None)

    def resolve(self, addr: int) -> Optional[Frame]:
        return self.resolve_many((addr,))[0]

    def resolve_many(self, addrs: Iterable[int]) -> List[Optional[Frame]]:
        """``resolve`` of each address."""
        return self.lookup(addrs)[0]

    def lookup(self, addrs: Iterable[int]) -> Tuple[List[Optional[Frame]], List[int]]:
        """``resolve`` of each address, and the positions of the doubtful
        answers: None, or in a volatile symbol and not confirmed.

        The loops are ``map`` s over C functions (``bisect``, list indexing,
        ``tuple.__new__``), never a Python loop per address: frames are built
        as the tuples they are, without NamedTuple's Python ``__new__``, and
        with the cycle collector paused (100,000 fresh tuples would make it
        walk them again and again).  Only a batch with a volatile answer
        takes a Python loop."""
        addrs = addrs if isinstance(addrs, list) else list(addrs)
        ks = list(map(bisect.bisect_right, repeat(self._starts), addrs))
        names = map(self._names.__getitem__, ks)
        offsets = map(sub, addrs, map(self._bases.__getitem__, ks))
        with gc_paused():  # a tuple per address, no cycle among them
            frames: List[Optional[Frame]] = list(map(
                tuple.__new__, repeat(Frame),
                zip(names, offsets, map(self._mods.__getitem__, ks), repeat(None), repeat(None))))
        doubtful: List[int] = []
        if not self._volatile.isdisjoint(ks):
            volatile, table, bases, confirmed = (self._volatile, self._names, self._bases,
                                                 self._confirmed)
            for pos, k in enumerate(ks):
                if k in volatile:
                    name = table[k]
                    if name is None:
                        frames[pos] = None
                        doubtful.append(pos)
                    elif addrs[pos] > confirmed.get((bases[k], name), -1):
                        doubtful.append(pos)
        return frames, doubtful

    def confirm(self, addrs: Iterable[int]) -> None:
        """Record that ``addrs`` were seen before the last read: answers in
        their symbols up to them are no longer doubtful."""
        for addr in addrs:
            k = bisect.bisect_right(self._starts, addr)
            name = self._names[k]
            if k in self._volatile and name is not None:
                key = (self._bases[k], name)
                self._confirmed[key] = max(addr, self._confirmed.get(key, addr))

    def address_of(self, name: str) -> Optional[int]:
        """The address of the text symbol ``name`` (lowest first), or None."""
        try:
            return self._bases[self._names.index(name)]
        except ValueError:
            return None
