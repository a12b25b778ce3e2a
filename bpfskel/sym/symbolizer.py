"""The :class:`Symbolizer`: user and kernel addresses to :class:`Frame` s.

Two caches make repeated symbolization cheap and keep memory bounded:

* per file, keyed by ``(device, inode, mtime)`` of the file the process
  really maps (and indexed by build-id), an LRU of at most ``max_files``
  parsed symbol tables: a library shared by a hundred processes is parsed
  once, and a rebuilt binary is parsed again;
* per process, keyed by ``(pid, start time)``, an LRU of at most
  ``max_processes`` maps snapshots (see :mod:`bpfskel.sym.process`).

An address maps to a file offset through the process's mapping, and to the
address the symbols use through the file's ``PT_LOAD`` headers, which is the
same rule for PIE and non-PIE executables, shared libraries and the vDSO.
"""

from __future__ import annotations

import os
import time
import zlib
from collections import OrderedDict
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from .elf import ElfError, ElfImage, SymbolTable, read_elf
from .frame import Frame
from .kernel import KALLSYMS_REFRESH, KernelSymbols
from .process import FileKey, Mapping, ProcessMaps, own_vdso_image, process_start_time, read_memory

__all__ = ["Symbolizer", "DEBUG_DIRS"]

DEBUG_DIRS: Tuple[str, ...] = ("/usr/lib/debug",)
_VDSO = "[vdso]"


class _FileSymbols:
    """One parsed file: its ``PT_LOAD`` map, its symbol tables (the separate
    debug file's first) and, if asked for, its DWARF line table."""

    __slots__ = ("image", "tables", "lines", "path", "debug_path")

    def __init__(self, image: ElfImage, path: str, debug: Optional[ElfImage] = None,
                 debug_path: Optional[str] = None) -> None:
        self.image = image
        self.tables: List[SymbolTable] = ([debug.symbols] if debug else []) + [image.symbols]
        self.lines = debug.lines if debug and debug.lines else image.lines
        self.path = path
        self.debug_path = debug_path

    def frame_at_offset(self, file_offset: int, module: str) -> Optional[Frame]:
        vaddr = self.image.vaddr_of_offset(file_offset)
        return None if vaddr is None else self.frame(vaddr, module)

    def frame(self, vaddr: int, module: str) -> Optional[Frame]:
        for table in self.tables:
            hit = table.lookup(vaddr)
            if hit is not None:
                src = self.lines.lookup(vaddr) if self.lines else None
                if src:
                    return Frame(hit[0], hit[1], module, src[0], src[1])
                return Frame(hit[0], hit[1], module)
        return None

    def bias(self, m: Mapping) -> Optional[Tuple[int, int, int]]:
        """``(lo, hi, delta)``: addresses ``lo <= a < hi`` of mapping ``m``
        lie in one ``PT_LOAD`` segment and have symbol address ``a + delta``.
        One segment covers a whole executable mapping in practice; other
        addresses take the general path."""
        for seg in self.image.segments:
            if seg.offset <= m.offset < seg.offset + max(seg.filesz, 1):
                lo = m.start
                hi = min(m.end, m.start + seg.offset + seg.filesz - m.offset)
                return lo, hi, seg.vaddr - seg.offset + m.offset - m.start
        return None


class Symbolizer:
    """Addresses to :class:`Frame` s, for processes and for the kernel.

    ``symbolize(pid, addrs)`` takes a user stack (innermost first, as BPF
    returns it) and gives one ``Frame`` or ``None`` per address.

    *Short-lived processes.*  The first ``symbolize`` of a pid snapshots its
    maps; a process that exits later still resolves from that snapshot, with
    its files opened by path (a deleted or container-only file then no longer
    can be).  A tool that sees processes start (``sched_process_exec``) can
    call :meth:`snapshot` at once: it also parses every mapped file, so the
    process may exit at any time after.  Build-id stacks
    (:meth:`symbolize_build_id`) need no process at all.

    ``source_lines=True`` also reads each file's DWARF line table (from its
    debug file when it has one) and fills ``Frame.file``/``Frame.line``; it
    costs a parse of ``.debug_line`` per file (seconds for libc's).
    """

    def __init__(self, *, debug_dirs: Sequence[str] = DEBUG_DIRS, max_files: int = 256,
                 max_processes: int = 1024, kallsyms: str = "/proc/kallsyms",
                 source_lines: bool = False) -> None:
        self.debug_dirs = tuple(debug_dirs)
        self.source_lines = source_lines
        self.max_files = max_files
        self.max_processes = max_processes
        self._kallsyms_path = kallsyms
        self._kernel: Optional[KernelSymbols] = None
        self._files: "OrderedDict[FileKey, Optional[_FileSymbols]]" = OrderedDict()
        self._by_build_id: "OrderedDict[bytes, FileKey]" = OrderedDict()
        self._procs: "OrderedDict[Tuple[int, Optional[int]], ProcessMaps]" = OrderedDict()
        self._latest: Dict[int, Tuple[int, Optional[int]]] = {}

    # -- processes -----------------------------------------------------------------

    def _process(self, pid: int) -> ProcessMaps:
        start = process_start_time(pid)
        key = (pid, start) if start is not None else self._latest.get(pid)
        if key is None:
            raise ProcessLookupError(f"no process {pid}, and no maps snapshot of it")
        proc = self._procs.get(key)
        if proc is None:
            try:
                proc = ProcessMaps(pid, start)
            except FileNotFoundError:  # it exited just now
                raise ProcessLookupError(f"process {pid} exited before its maps were read") \
                    from None
            self._procs[key] = proc
            self._latest[pid] = key
            while len(self._procs) > self.max_processes:
                (old_pid, old_start), _ = self._procs.popitem(last=False)
                if self._latest.get(old_pid) == (old_pid, old_start):
                    del self._latest[old_pid]
        else:
            self._procs.move_to_end(key)
        return proc

    def snapshot(self, pid: int) -> None:
        """Snapshot ``pid``'s maps now and parse every file it maps, so that
        its addresses resolve after it exits (see the class docstring)."""
        proc = self._process(pid)
        for m in proc.mappings:
            self._symbols_for(proc, m)

    def symbolize(self, pid: int, addrs: Iterable[int]) -> List[Optional[Frame]]:
        """One :class:`Frame` (or None) per user-space address of process ``pid``.

        Raises ``ProcessLookupError`` for a pid that is gone and was never seen.
        """
        proc = self._process(pid)
        files: Dict[Mapping, Optional[_FileSymbols]] = {}
        memo: Dict[int, Optional[Frame]] = {}
        reloaded = False
        out: List[Optional[Frame]] = []
        # the last mapping's fast path: (lo, hi, delta, symbols, module)
        last: Optional[Tuple[int, int, int, _FileSymbols, str]] = None
        for addr in addrs:
            if addr in memo:
                out.append(memo[addr])
                continue
            if last is not None and last[0] <= addr < last[1]:
                frame = last[3].frame(addr + last[2], last[4])
                if frame is not None:
                    memo[addr] = frame
                    out.append(frame)
                    continue
            m = proc.find(addr)
            if m is None and not reloaded and proc.start_time is not None \
                    and process_start_time(pid) == proc.start_time:
                reloaded = True  # code mapped since the snapshot (dlopen)
                proc.reload()
                m = proc.find(addr)
            frame = None
            if m is not None and (m.path.startswith("/") or m.path == _VDSO):
                if m not in files:
                    files[m] = self._symbols_for(proc, m)
                fs = files[m]
                if fs is not None:
                    frame = fs.frame_at_offset(addr - m.start + m.offset, m.path)
                    span = fs.bias(m)
                    if span:
                        last = (*span, fs, m.path)
            if frame is None and (m is None or m.path != _VDSO):
                perf = proc.perf_map()  # JIT code: anonymous memory, memfd, ...
                hit = perf.lookup(addr) if perf else None
                if hit and perf:
                    frame = Frame(hit[0], hit[1], perf.path.rpartition("/")[2])
            memo[addr] = frame
            out.append(frame)
        return out

    # -- files -----------------------------------------------------------------------

    def _cache_get(self, key: FileKey) -> Tuple[bool, Optional[_FileSymbols]]:
        if key in self._files:
            self._files.move_to_end(key)
            return True, self._files[key]
        return False, None

    def _cache_put(self, key: FileKey, fs: Optional[_FileSymbols]) -> None:
        self._files[key] = fs
        if fs is not None and fs.image.build_id:
            self._by_build_id[fs.image.build_id] = key
            self._by_build_id.move_to_end(fs.image.build_id)
            while len(self._by_build_id) > 4 * self.max_files:
                self._by_build_id.popitem(last=False)
        while len(self._files) > self.max_files:
            self._files.popitem(last=False)

    def _symbols_for(self, proc: ProcessMaps, m: Mapping) -> Optional[_FileSymbols]:
        if m.path == _VDSO:
            return self._vdso(proc, m)
        for path in proc.file_candidates(m):
            try:
                st = os.stat(path)
            except OSError:
                continue
            key = (st.st_dev, st.st_ino, st.st_mtime_ns)
            found, fs = self._cache_get(key)
            if not found:
                fs = self._load(path, m.path, proc.pid)
                self._cache_put(key, fs)
            proc.file_keys[m] = key
            return fs
        # the process is gone: the file it mapped, if still cached
        old = proc.file_keys.get(m)
        return self._cache_get(old)[1] if old is not None else None

    def _vdso(self, proc: ProcessMaps, m: Mapping) -> Optional[_FileSymbols]:
        # one image per kernel: whichever process it was read from
        found, fs = self._cache_get(_VDSO)
        if found:
            return fs
        data: Optional[bytes]
        try:
            data = read_memory(proc.pid, m.start, m.end - m.start)
        except OSError:
            data = own_vdso_image()
        try:
            fs = _FileSymbols(ElfImage(data, _VDSO), _VDSO) if data else None
        except ElfError:
            fs = None
        self._cache_put(_VDSO, fs)
        return fs

    def _load(self, path: str, shown: str, pid: Optional[int]) -> Optional[_FileSymbols]:
        try:
            image = read_elf(path, shown, self.source_lines)
        except (OSError, ElfError):
            return None
        if image.has_symtab and (image.lines or not self.source_lines):
            return _FileSymbols(image, shown)
        debug_path, debug = self._debug_file(image, shown, pid)
        return _FileSymbols(image, shown, debug, debug_path)

    def _debug_file(self, image: ElfImage, shown: str,
                    pid: Optional[int]) -> Tuple[Optional[str], Optional[ElfImage]]:
        """The separate debug file of ``image``: by build-id under
        ``<debug dir>/.build-id/xx/rest.debug``, then by ``.gnu_debuglink``
        next to the binary, in its ``.debug/``, and under the debug dirs, as
        gdb looks.  Inside the process's root first (a container's own
        debug files), then on the host."""
        roots = ([f"/proc/{pid}/root"] if pid is not None else []) + [""]
        bid = image.build_id
        if bid:
            h = bid.hex()
            for root in roots:
                for d in self.debug_dirs:
                    cand = f"{root}{d}/.build-id/{h[:2]}/{h[2:]}.debug"
                    debug = _read_if(cand, self.source_lines)
                    if debug is not None and debug.build_id == bid:
                        return cand, debug
        if image.debuglink and shown.startswith("/"):
            name, crc = image.debuglink
            where = os.path.dirname(shown)
            for root in roots:
                for cand in [f"{root}{where}/{name}", f"{root}{where}/.debug/{name}"] + \
                        [f"{root}{d}{where}/{name}" for d in self.debug_dirs]:
                    debug = _read_if(cand, self.source_lines)
                    if debug is None:
                        continue
                    if (bid and debug.build_id == bid) or (not bid and _crc32(cand) == crc):
                        return cand, debug
        return None, None

    # -- build-id stacks ----------------------------------------------------------------

    def add_files(self, paths: Iterable[str]) -> None:
        """Parse these files now, so build-id frames of them resolve even when
        no process maps them any more and no debug file exists."""
        for path in paths:
            try:
                st = os.stat(path)
            except OSError:
                continue
            key = (st.st_dev, st.st_ino, st.st_mtime_ns)
            if not self._cache_get(key)[0]:
                self._cache_put(key, self._load(path, path, None))

    def symbolize_build_id(self, frames: Iterable[Tuple[bytes, int]]) -> List[Optional[Frame]]:
        """Frames of a ``BPF_F_STACK_BUILD_ID`` stack: ``(build_id, file offset)``.

        The file is found among the files this symbolizer has parsed (any
        process's, or :meth:`add_files`), then under the debug dirs'
        ``.build-id/`` (``xx/rest.debug``, then ``xx/rest``, the link distros
        ship to the binary itself).  ``Frame.module`` is the file's path.
        """
        out: List[Optional[Frame]] = []
        for bid, offset in frames:
            fs = self._by_build_id_file(bytes(bid))
            out.append(fs.frame_at_offset(offset, fs.path) if fs else None)
        return out

    def _by_build_id_file(self, bid: bytes) -> Optional[_FileSymbols]:
        key = self._by_build_id.get(bid)
        if key is not None:
            found, fs = self._cache_get(key)
            if found:
                return fs
        h = bid.hex()
        neg = "build-id:" + h
        found, fs = self._cache_get(neg)
        if found:
            return fs
        for d in self.debug_dirs:
            for cand in (f"{d}/.build-id/{h[:2]}/{h[2:]}.debug", f"{d}/.build-id/{h[:2]}/{h[2:]}"):
                image = _read_if(cand, self.source_lines)
                if image is not None and image.build_id == bid:
                    fs = _FileSymbols(image, os.path.realpath(cand))
                    self._cache_put(neg, fs)
                    return fs
        self._cache_put(neg, None)
        return None

    # -- kernel --------------------------------------------------------------------------

    @property
    def kernel(self) -> KernelSymbols:
        """The kernel's symbols, read on first use (see :class:`KernelSymbols`)."""
        if self._kernel is None:
            self._kernel = KernelSymbols(self._kallsyms_path)
        return self._kernel

    def symbolize_kernel(self, addrs: Iterable[int]) -> List[Optional[Frame]]:
        """One :class:`Frame` (or None) per kernel address.

        BPF programs and modules load and unload after ``/proc/kallsyms`` was
        read.  An address no symbol covers, or one in a module or BPF program
        symbol (or the kernel's last) that no read newer than the address
        confirmed, makes the file be re-read, at most once every
        :data:`~bpfskel.sym.kernel.KALLSYMS_REFRESH` seconds, and those
        addresses are answered from the new read, which confirms them.  So a
        program loaded since resolves, even where an unloaded one was.  The
        one case not caught: an address confirmed before, whose program was
        unloaded and replaced at the same place since the last read; it keeps
        the old name until a read (that another address triggers, or
        ``kernel.reload()``)."""
        fresh = self._kernel is None
        ks = self.kernel
        addrs = list(addrs)
        out, doubtful = ks.lookup(addrs)
        if doubtful and not fresh and time.monotonic() - ks.loaded_at > KALLSYMS_REFRESH:
            ks.reload()
            again = [addrs[i] for i in doubtful]
            for i, frame in zip(doubtful, ks.resolve_many(again)):
                out[i] = frame
            fresh = True
        if doubtful and fresh:  # a read newer than these addresses answered them
            ks.confirm([addrs[i] for i in doubtful])
        return out


def _read_if(path: str, lines: bool = False) -> Optional[ElfImage]:
    try:
        return read_elf(path, lines=lines)
    except (OSError, ElfError):
        return None


def _crc32(path: str) -> int:
    crc = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                return crc
            crc = zlib.crc32(chunk, crc)
