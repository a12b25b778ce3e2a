"""What a symbolizer knows about one process: its executable mappings, its
``perf-PID.map`` and how to reach its files and its vDSO.

A :class:`ProcessMaps` is a snapshot of ``/proc/PID/maps`` taken when the
process is first seen, keyed by ``(pid, start time)``: a pid the kernel gives
to a new process later has another start time, so it gets its own snapshot
and never the dead process's symbols.  The snapshot outlives the process, so
addresses collected before it exited still find their mapping (the files
are then opened by path, see :meth:`ProcessMaps.file_candidates`).
"""

from __future__ import annotations

import bisect
import os
import struct
from typing import Dict, List, NamedTuple, Optional, Tuple, Union

__all__ = ["FileKey", "Mapping", "PerfMap", "ProcessMaps", "process_start_time", "read_memory",
           "own_vdso_image"]

AT_SYSINFO_EHDR = 33
# a parsed file's key in a symbolizer's cache: (st_dev, st_ino, st_mtime_ns), or a tag
FileKey = Union[Tuple[int, int, int], str]  # the vDSO's ELF header, in the auxiliary vector


class Mapping(NamedTuple):
    """An executable line of ``/proc/PID/maps``."""

    start: int
    end: int
    offset: int   # file offset of ``start``
    dev: str      # "major:minor" as maps prints it
    inode: int
    path: str     # as the process sees it; "" for anonymous, "[vdso]", ...
    deleted: bool


def process_start_time(pid: int) -> Optional[int]:
    """Field 22 of ``/proc/PID/stat`` (clock ticks after boot), None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat.rpartition(b")")[2].split()
    return int(fields[19]) if len(fields) > 19 else None


def read_memory(pid: int, addr: int, size: int) -> bytes:
    """``size`` bytes at ``addr`` in process ``pid`` (``/proc/PID/mem``)."""
    fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.pread(fd, size, addr)
    finally:
        os.close(fd)


def own_vdso_image() -> Optional[bytes]:
    """This process's vDSO, found through ``AT_SYSINFO_EHDR`` in its auxv.

    The vDSO is one image per kernel (per ABI), so this stands in for another
    process's when that one cannot be read.  Its size comes from its own ELF
    header: the section header table is the last thing in the image.
    """
    try:
        with open("/proc/self/auxv", "rb") as f:
            auxv = f.read()
    except OSError:
        return None
    base = 0
    for key, value in struct.iter_unpack("<QQ", auxv[:len(auxv) - len(auxv) % 16]):
        if key == AT_SYSINFO_EHDR:
            base = value
            break
    if not base:
        return None
    try:
        head = read_memory(os.getpid(), base, 64)
        shoff, = struct.unpack_from("<Q", head, 40)
        shentsize, shnum = struct.unpack_from("<HH", head, 58)
        return read_memory(os.getpid(), base, shoff + shentsize * shnum)
    except (OSError, struct.error):
        return None


class PerfMap:
    """A ``perf-PID.map`` of a JIT runtime: ``START SIZE name`` lines in hex.

    Written by CPython 3.12+ (``-X perf``), Node (``--perf-basic-prof``) and
    Java agents.  Later lines win over earlier ones at the same start (a
    runtime re-using memory appends its new code).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        st = os.stat(path)
        self.stamp = (st.st_size, st.st_mtime_ns)
        entries: Dict[int, Tuple[int, str]] = {}
        with open(path, "rb") as f:
            for line in f:
                parts = line.rstrip(b"\n").split(b" ", 2)
                if len(parts) != 3:
                    continue
                try:
                    start, size = int(parts[0], 16), int(parts[1], 16)
                except ValueError:
                    continue
                entries[start] = (start + size, parts[2].decode("utf-8", "replace"))
        self._starts = sorted(entries)
        self._ends = [entries[s][0] for s in self._starts]
        self._names = [entries[s][1] for s in self._starts]

    def lookup(self, addr: int) -> Optional[Tuple[str, int]]:
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and addr < self._ends[i]:
            return self._names[i], addr - self._starts[i]
        return None

    def stale(self) -> bool:
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        return (st.st_size, st.st_mtime_ns) != self.stamp


class ProcessMaps:
    """A snapshot of one process's executable mappings (see the module doc)."""

    def __init__(self, pid: int, start_time: Optional[int]) -> None:
        self.pid = pid
        self.start_time = start_time
        self.ns_pid = pid
        self.mappings: List[Mapping] = []
        self._starts: List[int] = []
        self._perf: Optional[PerfMap] = None
        # mapping -> the symbolizer's cache key of its file, once opened: how a
        # deleted or container-only file is found again after the process exits
        self.file_keys: Dict[Mapping, FileKey] = {}
        self._perf_checked = False
        self.reload()

    def reload(self) -> None:
        """Re-read ``/proc/PID/maps`` (code mapped since, e.g. ``dlopen``)."""
        maps: List[Mapping] = []
        with open(f"/proc/{self.pid}/maps", "rb") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) < 5 or b"x" not in parts[1]:
                    continue
                lo, _, hi = parts[0].partition(b"-")
                path = parts[5].rstrip(b"\n").decode("utf-8", "surrogateescape") \
                    if len(parts) > 5 else ""
                deleted = path.endswith(" (deleted)")
                if deleted:
                    path = path[:-len(" (deleted)")]
                maps.append(Mapping(int(lo, 16), int(hi, 16), int(parts[2], 16),
                                    parts[3].decode(), int(parts[4]), path, deleted))
        maps.sort()
        self.mappings = maps
        self._starts = [m.start for m in maps]
        self.ns_pid = self._read_ns_pid()
        self._perf_checked = self._perf is not None  # look again for a missing one

    def _read_ns_pid(self) -> int:
        """The pid as the process's own pid namespace numbers it (``NSpid``):
        the number in a container's ``/tmp/perf-N.map``."""
        try:
            with open(f"/proc/{self.pid}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"NSpid:"):
                        return int(line.split()[-1])
        except (OSError, ValueError):
            pass
        return self.pid

    def find(self, addr: int) -> Optional[Mapping]:
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and addr < self.mappings[i].end:
            return self.mappings[i]
        return None

    def file_candidates(self, m: Mapping) -> List[str]:
        """Where the file of mapping ``m`` can be opened, best first.

        ``/proc/PID/map_files/`` opens the very file that is mapped, even when
        it was deleted or lives in another mount namespace; ``/proc/PID/root``
        reaches a container's files by path; the bare path is the last resort
        once the process has exited.
        """
        out = [f"/proc/{self.pid}/map_files/{m.start:x}-{m.end:x}"]
        if m.path.startswith("/"):
            out.append(f"/proc/{self.pid}/root{m.path}")
            if not m.deleted:
                out.append(m.path)
        return out

    def perf_map(self) -> Optional[PerfMap]:
        """The process's ``perf-PID.map``, re-read when it has grown."""
        if self._perf is not None and self._perf.stale():
            self._perf = None
            self._perf_checked = False
        if not self._perf_checked:
            self._perf_checked = True
            for path in (f"/proc/{self.pid}/root/tmp/perf-{self.ns_pid}.map",
                         f"/tmp/perf-{self.pid}.map"):
                try:
                    self._perf = PerfMap(path)
                    break
                except OSError:
                    continue
        return self._perf
