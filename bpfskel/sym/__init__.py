"""Stack addresses to function names: ``from bpfskel import sym``.

::

    ks = sym.KernelSymbols()                  # /proc/kallsyms, sorted once
    ks.resolve(addr)                          # Frame | None
    s = sym.Symbolizer()                      # caches per file and per process
    s.symbolize(pid, addrs)                   # user stack -> [Frame | None]
    s.symbolize_kernel(addrs)                 # kernel stack -> [Frame | None]
    s.symbolize_build_id([(build_id, off)])   # BPF_F_STACK_BUILD_ID frames
    sym.folded([(frames, count), ...])        # "root;...;leaf 42" lines

Standard library only: ELF headers, symbol tables, notes and
``.gnu_debuglink`` are parsed by :mod:`bpfskel.sym.elf`.
"""

from __future__ import annotations

from .elf import ElfError
from .frame import Frame, folded, frame_name
from .kernel import KernelAddressesHiddenError, KernelSymbols
from .symbolizer import Symbolizer

__all__ = ["ElfError", "Frame", "KernelAddressesHiddenError", "KernelSymbols", "Symbolizer",
           "folded", "frame_name"]
