"""Broken BPF objects, and the contract ``bpfskel gen`` keeps on each of them.

Shared by tests/test_fuzz.py (a fixed-seed run in CI) and tools/fuzz_gen.py
(long runs).  The contract: every case ends either in

* exit status 0 and a module that imports and opens through its own
  ``open()``, written over the output file, or
* exit status 2 and exactly one stderr line ``bpfskel: error: ...``, with the
  output file that was there before untouched,

and never in a traceback, a death by a signal, an ``internal error`` (a bug of
ours that the CLI still reports in one line) or a temporary file left behind.

Mutations are made from a seed, so a case is reproduced by its seed and index.
They aim where parsers look: ELF and section headers, symbols, relocations,
the .BTF and .BTF.ext headers and type records, with plain random bytes on
top.  Nothing here is a mock: the real CLI, the real libbpf.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import random
import signal
import struct
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from elfread import SHT_REL, SHT_SYMTAB, ElfError, ElfFile

__all__ = ["Seed", "Mutator", "truncations", "run_gen", "check_gen", "import_and_open",
           "SENTINEL", "CaseFailure"]

SENTINEL = b"# an existing file that a failed gen must leave alone\n"

_INTERESTING = (0, 1, 2, 4, 7, 8, 12, 16, 24, 0x7F, 0x80, 0xFF, 0x100, 0xFFF, 0xFFFF,
                0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF, (1 << 63), (1 << 64) - 1)


class CaseFailure(AssertionError):
    """A case broke the contract; the message says how."""


@dataclass(frozen=True)
class Seed:
    """A real object and the byte ranges worth mutating in it."""

    name: str
    data: bytes
    fields: Tuple[Tuple[int, int], ...]  # (offset, size) of header and record fields
    btf: Tuple[int, int]                 # (offset, size) of .BTF and .BTF.ext together

    @classmethod
    def of(cls, name: str, data: bytes) -> "Seed":
        elf = ElfFile(data)
        (shoff,) = struct.unpack_from("<Q", data, 40)
        fields: List[Tuple[int, int]] = [(16, 2), (18, 2), (32, 8), (40, 8), (58, 2),
                                         (60, 2), (62, 2)]
        lo, hi = len(data), 0
        for s in elf.sections:
            base = shoff + 64 * s.index
            fields += [(base + off, size) for off, size in
                       ((0, 4), (4, 4), (8, 8), (24, 8), (32, 8), (40, 4), (44, 4), (56, 8))]
            if s.is_nobits:
                continue
            if s.type == SHT_SYMTAB:
                for i in range(s.size // 24):
                    b = s.offset + 24 * i
                    fields += [(b, 4), (b + 4, 1), (b + 6, 2), (b + 8, 8), (b + 16, 8)]
            elif s.type == SHT_REL:
                for i in range(s.size // 16):
                    b = s.offset + 16 * i
                    fields += [(b, 8), (b + 8, 4), (b + 12, 4)]
            elif s.name in (".BTF", ".BTF.ext"):
                lo, hi = min(lo, s.offset), max(hi, s.offset + s.size)
                fields += [(s.offset + off, 4) for off in range(4, min(s.size, 64), 4)]
            elif s.name == ".maps":
                fields += [(s.offset + off, 4) for off in range(0, min(s.size, 128), 4)]
        return cls(name, data, tuple(f for f in fields if f[0] + f[1] <= len(data)),
                   (lo, max(hi - lo, 1)) if hi else (0, len(data)))


class Mutator:
    """``cases()`` yields ``(label, bytes)``; the same seed, the same cases."""

    def __init__(self, seeds: Sequence[Seed], seed: int) -> None:
        if not seeds:
            raise ValueError("no seed objects")
        self.seeds = list(seeds)
        self.seed = seed
        self.rng = random.Random(seed)

    def _field(self, b: bytearray, s: Seed) -> None:
        off, size = self.rng.choice(s.fields)
        if self.rng.random() < 0.25:
            value = int.from_bytes(b[off:off + size], "little") + self.rng.choice(
                (-1, 1, -8, 8, 4096))
        elif self.rng.random() < 0.7:
            value = self.rng.choice(_INTERESTING)
        else:
            value = self.rng.getrandbits(8 * size)
        b[off:off + size] = (value % (1 << (8 * size))).to_bytes(size, "little")

    def _bytes(self, b: bytearray, lo: int, n: int) -> None:
        for _ in range(self.rng.choice((1, 1, 2, 4, 8))):
            i = lo + self.rng.randrange(n)
            b[i] = b[i] ^ (1 << self.rng.randrange(8)) if self.rng.random() < 0.6 \
                else self.rng.randrange(256)

    def mutate(self, s: Seed) -> Tuple[str, bytes]:
        b = bytearray(s.data)
        how = self.rng.choice(("field", "field", "btf", "btf", "bytes", "truncate"))
        if how == "field":
            for _ in range(self.rng.choice((1, 1, 2, 3))):
                self._field(b, s)
        elif how == "btf":
            self._bytes(b, *s.btf)
        elif how == "bytes":
            self._bytes(b, 0, len(b))
        else:
            del b[self.rng.randrange(1, len(b)):]
        return how, bytes(b)

    def cases(self, count: int) -> List[Tuple[str, bytes]]:
        out = []
        for i in range(count):
            s = self.rng.choice(self.seeds)
            how, data = self.mutate(s)
            out.append((f"seed{self.seed}-{i}-{s.name}-{how}", data))
        return out


def truncations(data: bytes) -> Dict[str, int]:
    """Cut points that land in each part of an object: the ELF header, the
    first section, the BTF, just before and inside the section headers."""
    elf = ElfFile(data)
    (shoff,) = struct.unpack_from("<Q", data, 40)
    btf = next(s for s in elf.sections if s.name == ".BTF")
    return {"in_elf_header": 40, "after_elf_header": 64, "in_btf": btf.offset + btf.size // 2,
            "before_section_headers": shoff, "in_section_headers": shoff + 64 * 3 + 17,
            "last_byte_missing": len(data) - 1}


# -- running the CLI ---------------------------------------------------------------------


def run_gen(obj: Path, out: Path, *, subprocess_run: bool) -> Tuple[int, str, str]:
    """``bpfskel gen OBJ -o OUT``: (exit status or -signal, stdout, stderr)."""
    args = ["gen", str(obj), "-o", str(out)]
    if subprocess_run:
        env = dict(os.environ)
        env.pop("BPFSKEL_DEBUG", None)
        proc = subprocess.run([sys.executable, "-m", "bpfskel"] + args, capture_output=True,
                              text=True, env=env, timeout=300)
        return proc.returncode, proc.stdout, proc.stderr
    from bpfskel.gen import cli  # in-process: safe, libbpf parses in a forked child

    so, se = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
        try:
            code = cli.main(args)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:  # a traceback: exactly what must never happen
            se.write(traceback.format_exc())
            code = 1
    return code, so.getvalue(), se.getvalue()


def check_gen(label: str, obj: Path, out: Path, result: Tuple[int, str, str]) -> str:
    """Check one outcome against the contract; ``"ok"`` or ``"error"``."""
    code, stdout, stderr = result
    where = f"{label} ({obj})"
    if code < 0:
        raise CaseFailure(f"{where}: killed by {signal.Signals(-code).name}")
    if "Traceback" in stdout + stderr:
        raise CaseFailure(f"{where}: traceback:\n{stderr}")
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(".bpfskel-")]
    if leftovers:
        raise CaseFailure(f"{where}: temporary files left behind: {leftovers}")
    if code == 0:
        if stdout or stderr:
            raise CaseFailure(f"{where}: exit 0 with output: {stdout!r} {stderr!r}")
        status = import_and_open(out)
        if status != "ok":
            raise CaseFailure(f"{where}: generated, but the module does not import and "
                              f"open: {status}")
        return "ok"
    lines = stderr.splitlines()
    if code != 2 or len(lines) != 1 or not lines[0].startswith("bpfskel: error: ") or stdout:
        raise CaseFailure(f"{where}: exit {code}, stdout {stdout!r}, stderr:\n{stderr}")
    if "internal error" in lines[0]:
        raise CaseFailure(f"{where}: a bug of ours: {lines[0]}")
    if out.read_bytes() != SENTINEL:
        raise CaseFailure(f"{where}: failed, and the existing output file was changed")
    return "error"


def import_and_open(path: Path) -> str:
    """Import a generated module and open (then destroy) its skeleton, in a
    forked child so that nothing it does can take this process down.
    Returns ``"ok"``, or what went wrong (exception text or signal)."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(rfd)
        result: Optional[str] = "ok"
        try:
            import importlib.util

            spec = importlib.util.spec_from_file_location(f"fuzz_{path.stem}", path)
            assert spec is not None and spec.loader is not None
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            mod.open().destroy()
        except BaseException:
            result = traceback.format_exc(limit=-3)
        with os.fdopen(wfd, "wb") as f:
            f.write(pickle.dumps(result))
        os._exit(0)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as f:
        blob = f.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return str(pickle.loads(blob)) if blob else f"child exited {os.WEXITSTATUS(status)}"


def load_seeds(paths: Sequence[Path]) -> List[Seed]:
    seeds = []
    for p in paths:
        try:
            seeds.append(Seed.of(p.name.replace(".bpf.o", ""), p.read_bytes()))
        except (ElfError, StopIteration, struct.error):
            continue  # not an object we can aim at; the others suffice
    return seeds
