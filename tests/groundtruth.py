"""Host-compiler ground truth for C layouts (stdlib only).

Every helper generates one small C program that includes the header under
test, compiles it with the host gcc in a single invocation and runs it.  The
answers therefore come from the C compiler, never from BTF, and can be used
to check what a BTF-driven generator produces.

The corpus headers are written so that gcc/x86_64 and clang -target bpf lay
them out identically (see tests/corpus/README.md), so host answers are valid
for the BPF objects built from them.

Public API
----------
gcc_layout(header, [(type_expr, member_path), ...])  -> [(offsetof, sizeof), ...]
gcc_bitfield(header, [(type_expr, member_path), ...]) -> [(bit_offset, bit_width, is_signed), ...]
gcc_values(header, [c_expr, ...])                     -> [int, ...]
gcc_type_info(header, [type_expr, ...])               -> [(sizeof, alignof), ...]

BPF objects of the corpus are compiled by tests/bpfcc.py (``BPFSKEL_CLANG``).
Set BPFSKEL_GCC to override the host compiler, and
BPFSKEL_GT_NOCACHE=1 to bypass the result cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

__all__ = [
    "CORPUS_DIR",
    "GroundTruthError",
    "corpus_cases",
    "corpus_header",
    "gcc_bitfield",
    "gcc_layout",
    "gcc_path",
    "gcc_type_info",
    "gcc_values",
    "have_gcc",
]

TESTS_DIR = Path(__file__).resolve().parent
CORPUS_DIR = TESTS_DIR / "corpus"


_HOST_CFLAGS = ["-std=gnu11", "-O0", "-w"]
_TIMEOUT = 120


class GroundTruthError(RuntimeError):
    """Compiling or running the generated host program failed."""


# --------------------------------------------------------------------------
# tool discovery

def gcc_path() -> Optional[str]:
    return shutil.which(os.environ.get("BPFSKEL_GCC", "gcc"))


def have_gcc() -> bool:
    return gcc_path() is not None


@lru_cache(maxsize=None)
def _gcc_identity(gcc: str) -> str:
    try:
        out = subprocess.run([gcc, "-dumpfullversion", "-dumpmachine"], capture_output=True,
                             text=True, timeout=30).stdout
    except OSError:
        out = ""
    return gcc + "|" + out.strip()


def _require_gcc() -> str:
    gcc = gcc_path()
    if gcc is None:
        raise GroundTruthError("host gcc not found (set BPFSKEL_GCC)")
    return gcc


# --------------------------------------------------------------------------
# corpus helpers

def corpus_cases() -> List[str]:
    """Names of all corpus cases (``tests/corpus/<case>.bpf.c``)."""
    return sorted(p.name[: -len(".bpf.c")] for p in CORPUS_DIR.glob("*.bpf.c"))


def corpus_header(case: str) -> Path:
    return CORPUS_DIR / (case + ".h")


# --------------------------------------------------------------------------
# input validation (queries are pasted into C source)

_TYPE_RE = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$ *]*$")
_PATH_RE = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*(?:\[\d+\]|\.[A-Za-z_$][A-Za-z0-9_$]*)*$")
_FORBIDDEN_EXPR = re.compile(r"[;{}\n\r#]|/\*|\*/|//")


def _check_type(t: str) -> str:
    t = " ".join(t.split())
    if not _TYPE_RE.match(t):
        raise ValueError("unsupported C type expression: %r" % t)
    return t


def _check_path(p: str, allow_empty: bool = True) -> str:
    p = p.strip()
    if p == "" and allow_empty:
        return p
    if not _PATH_RE.match(p):
        raise ValueError("unsupported member path: %r" % p)
    return p


def _check_expr(e: str) -> str:
    if not e.strip() or _FORBIDDEN_EXPR.search(e):
        raise ValueError("unsupported C expression: %r" % e)
    return e.strip()


# --------------------------------------------------------------------------
# cache

def _cache_dir() -> Optional[Path]:
    if os.environ.get("BPFSKEL_GT_NOCACHE"):
        return None
    d = Path(tempfile.gettempdir()) / ("bpfskel-groundtruth-%d" % os.getuid())
    try:
        d.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        return None
    return d


def _cache_key(header: Path, source: str) -> str:
    """Hash of the generated program, the header and its sibling headers.

    System headers are not part of the key (they change with the compiler,
    whose version is)."""
    h = hashlib.sha256()
    h.update(_gcc_identity(_require_gcc()).encode())
    h.update(b"\0" + source.encode())
    for p in sorted(header.parent.glob("*.h")):
        h.update(b"\0" + p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


# --------------------------------------------------------------------------
# compile & run

_PRELUDE = """\
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "%s"

static void gt_dump(const void *p, size_t n)
{
\tconst unsigned char *b = p;
\tfor (size_t i = 0; i < n; i++)
\t\tprintf("%%02x", b[i]);
\tprintf("\\n");
}

static void gt_print_int(int neg, unsigned __int128 mag)
{
\tprintf("%%s%%016llx%%016llx\\n", neg ? "-" : "",
\t       (unsigned long long)(mag >> 64), (unsigned long long)mag);
}
"""


def _run_program(header: Path, body_lines: List[str], globals_: Sequence[str] = ()) -> str:
    """Compile prelude + globals + main(body) with gcc, run it, return stdout.

    Results are cached on disk keyed by the full program text and headers."""
    header = Path(header).resolve()
    if not header.is_file():
        raise FileNotFoundError(header)
    source = (_PRELUDE % header.name + "\n".join(globals_) + "\nint main(void)\n{\n"
              + "\n".join(body_lines) + "\n\treturn 0;\n}\n")
    cache = _cache_dir()
    key = _cache_key(header, source)
    if cache is not None:
        hit = cache / (key + ".out")
        if hit.is_file():
            return hit.read_text()
    gcc = _require_gcc()
    with tempfile.TemporaryDirectory(prefix="bpfskel-gt-") as tmp:
        c_file = Path(tmp) / "gt.c"
        exe = Path(tmp) / "gt"
        c_file.write_text(source)
        cmd = [gcc, *_HOST_CFLAGS, "-I", str(header.parent), str(c_file), "-o", str(exe)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT)
        if proc.returncode != 0:
            raise _CompileError(source, proc.stderr)
        run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=_TIMEOUT)
        if run.returncode != 0:
            raise GroundTruthError("ground-truth program exited with %d:\n%s"
                                   % (run.returncode, run.stderr))
        out = run.stdout
    if cache is not None:
        tmp_out = cache / ("%s.%d.tmp" % (key, os.getpid()))
        tmp_out.write_text(out)
        os.replace(tmp_out, cache / (key + ".out"))
    return out


class _CompileError(GroundTruthError):
    def __init__(self, source: str, stderr: str):
        self.source = source
        self.stderr = stderr
        numbered = "\n".join("%4d  %s" % (n, line) for n, line in enumerate(source.splitlines(), 1))
        super().__init__("host compile failed:\n%s\n--- program ---\n%s" % (stderr, numbered))

    def error_lines(self) -> Dict[int, str]:
        """1-based line number in gt.c -> first error message on that line."""
        out: Dict[int, str] = {}
        for m in re.finditer(r"gt\.c:(\d+):\d+: error: (.*)", self.stderr):
            out.setdefault(int(m.group(1)), m.group(2))
        return out


def _prelude_lines(header: Path, globals_: Sequence[str]) -> int:
    text = _PRELUDE % Path(header).name + "\n".join(globals_) + "\nint main(void)\n{\n"
    return text.count("\n")


def _parse_lines(out: str, n: int, what: str) -> List[str]:
    lines = out.splitlines()
    if len(lines) != n:
        raise GroundTruthError("%s: expected %d output lines, got %d" % (what, n, len(lines)))
    return lines


# --------------------------------------------------------------------------
# public helpers

def gcc_layout(header: Path, queries: Sequence[Tuple[str, str]]) -> List[Tuple[int, int]]:
    """(offsetof(type, path), sizeof(member)) for each (type_expr, member_path).

    An empty path means the whole type: (0, sizeof(type)).  Paths may use
    member access and constant indices ("a.b[2].c"); members of anonymous
    structs/unions are named directly, as in C.  A flexible array member
    (incomplete type) reports size 0: this costs one extra gcc run, only
    when such a member is queried.
    """
    qs = [(_check_type(t), _check_path(p)) for t, p in queries]
    if not qs:
        return []

    def body(zero_size: Sequence[int]) -> List[str]:
        lines = []
        for i, (t, p) in enumerate(qs):
            if p == "":
                lines.append('\tprintf("0 %%zu\\n", sizeof(%s));' % t)
            elif i in zero_size:
                lines.append('\tprintf("%%zu 0\\n", (size_t)offsetof(%s, %s));' % (t, p))
            else:
                lines.append('\tprintf("%%zu %%zu\\n", (size_t)offsetof(%s, %s), '
                             'sizeof(((%s *)0)->%s));' % (t, p, t, p))
        return lines

    out = _run_with_incomplete_retry(header, qs, body)
    res = []
    for line in _parse_lines(out, len(qs), "gcc_layout"):
        off, size = line.split()
        res.append((int(off), int(size)))
    return res


def _run_with_incomplete_retry(header: Path, qs: Sequence[Tuple[str, str]],
                               body: Callable[[Sequence[int]], List[str]]) -> str:
    try:
        return _run_program(header, body(()))
    except _CompileError as e:
        first = _prelude_lines(header, ()) + 1
        bad = e.error_lines()
        zero = set()
        for line, msg in bad.items():
            idx = line - first
            if 0 <= idx < len(qs) and "incomplete type" in msg and "sizeof" in msg:
                zero.add(idx)
        if not zero or len(zero) != len(bad):
            raise
    return _run_program(header, body(sorted(zero)))


def gcc_bitfield(header: Path, queries: Sequence[Tuple[str, str]]
                 ) -> List[Tuple[int, int, bool]]:
    """(bit_offset, bit_width, is_signed) for each bitfield (type_expr, member_path).

    Determined at run time: a zeroed object of the type gets the field set
    to all ones, the object bytes are dumped and the single contiguous run
    of set bits is located (little-endian bit numbering: bit k of byte i is
    bit 8*i+k).  Signedness: assign -1 and test whether it reads back < 0.
    Also works for ordinary integer members (then width = 8*sizeof).
    """
    qs = [(_check_type(t), _check_path(p, allow_empty=False)) for t, p in queries]
    if not qs:
        return []
    lines: List[str] = []
    for i, (t, p) in enumerate(qs):
        lines.append(
            "\t{ static unsigned char gt_b%d[sizeof(%s)] __attribute__((aligned(64)));"
            " %s *gt_p = (%s *)gt_b%d; int gt_neg;"
            " memset(gt_b%d, 0, sizeof(gt_b%d)); gt_p->%s = ~0;"
            " gt_dump(gt_b%d, sizeof(gt_b%d));"
            " memset(gt_b%d, 0, sizeof(gt_b%d)); gt_p->%s = -1; gt_neg = gt_p->%s < 0;"
            ' printf("%%d\\n", gt_neg); }'
            % (i, t, t, t, i, i, i, p, i, i, i, i, p, p))
    out = _run_program(header, lines)
    raw = _parse_lines(out, 2 * len(qs), "gcc_bitfield")
    res = []
    for i, (t, p) in enumerate(qs):
        blob = bytes.fromhex(raw[2 * i])
        value = int.from_bytes(blob, "little")
        if value == 0:
            raise GroundTruthError("%s.%s: setting the field to ~0 set no bits" % (t, p))
        lo = (value & -value).bit_length() - 1
        width = value.bit_length() - lo
        if value >> lo != (1 << width) - 1:
            raise GroundTruthError("%s.%s: set bits are not contiguous: %s" % (t, p, blob.hex()))
        res.append((lo, width, raw[2 * i + 1].strip() == "1"))
    return res


def gcc_values(header: Path, exprs: Sequence[str]) -> List[int]:
    """Evaluate integer C expressions on the host (e.g. enumerators, sizeof).

    Handles anything that fits in (unsigned) __int128."""
    es = [_check_expr(e) for e in exprs]
    if not es:
        return []
    lines = []
    for e in es:
        lines.append("\t{ __typeof__((%s)) gt_v = (%s); if (gt_v < 0) "
                     "gt_print_int(1, -(unsigned __int128)gt_v); "
                     "else gt_print_int(0, (unsigned __int128)gt_v); }" % (e, e))
    out = _run_program(header, lines)
    res = []
    for line in _parse_lines(out, len(es), "gcc_values"):
        line = line.strip()
        neg = line.startswith("-")
        mag = int(line.lstrip("-"), 16)
        res.append(-mag if neg else mag)
    return res


def gcc_type_info(header: Path, types: Sequence[str]) -> List[Tuple[int, int]]:
    """(sizeof, _Alignof) for each type expression."""
    ts = [_check_type(t) for t in types]
    if not ts:
        return []
    lines = ['\tprintf("%%zu %%zu\\n", sizeof(%s), (size_t)_Alignof(%s));' % (t, t) for t in ts]
    out = _run_program(header, lines)
    res = []
    for line in _parse_lines(out, len(ts), "gcc_type_info"):
        s, a = line.split()
        res.append((int(s), int(a)))
    return res


def _main(argv: Sequence[str]) -> int:
    """Tiny CLI for poking at layouts: python tests/groundtruth.py HEADER TYPE [PATH...]"""
    if len(argv) < 3:
        print("usage: groundtruth.py HEADER TYPE [PATH...]", file=sys.stderr)
        return 2
    header, typ, paths = Path(argv[1]), argv[2], list(argv[3:]) or [""]
    for p, (off, size) in zip(paths, gcc_layout(header, [(typ, p) for p in paths])):
        print(json.dumps({"type": typ, "path": p, "offset": off, "size": size}))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
