"""The ``bpfskel`` command: ``gen`` and ``inspect``.

Errors are one line, ``bpfskel: error: ...``, with exit status 2 and no
traceback; an output file is written atomically (temporary file in the same
directory, then ``rename``), so a failure never leaves a partial file and
never clobbers an existing one.  A reader of stdout that goes away
(``bpfskel gen x.bpf.o | head``) ends the command quietly with status 1.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import tempfile
from typing import List, NoReturn, Optional

from . import __version__
from .errors import Error

__all__ = ["main"]

PROG = "bpfskel"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        self.exit(2, f"{PROG}: error: {message}\n")


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"{PROG}: error: {' '.join(message.split())}\n")
    raise SystemExit(2)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        _fail(f"{path}: {e.strerror or e}")


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and ``rename``.

    Something that exists and is not a regular file (``-o /dev/stdout``, a
    FIFO) is written in place: a rename would replace the device or pipe.  A
    symlink is followed, so the file it names is replaced and the link kept.
    """
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        regular = True
    if not regular:
        with open(path, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        return
    path = os.path.realpath(path)
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".bpfskel-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if os.path.exists(path):
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _gen(args: argparse.Namespace) -> int:
    from .generate import default_name, generate
    from .names import identifier

    data = _read(args.object)
    name = identifier(args.name) if args.name else default_name(args.object)
    text = generate(data, args.object, name)
    if args.check:
        if not args.output:
            _fail("--check needs -o OUT.py")
        try:
            with open(args.output, encoding="utf-8") as f:
                current = f.read()
        except OSError:
            current = None
        if current != text:
            sys.stderr.write(f"{PROG}: {args.output} is out of date with {args.object}\n")
            return 1
        return 0
    if args.output:
        try:
            write_atomic(args.output, text)
        except OSError as e:
            _fail(f"{args.output}: {e.strerror or e}")
    else:
        sys.stdout.write(text)
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from .generate import default_name
    from .inspect import render
    from .objfile import read_object

    data = _read(args.object)
    info = read_object(data, args.object, default_name(args.object))
    sys.stdout.write(render(info))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Generate typed Python skeletons for eBPF objects.")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    g = sub.add_parser("gen", help="generate a Python module from a BPF object",
                       description="Generate a Python skeleton module from a clang-compiled "
                                   "BPF object (needs BTF: compile with -g).")
    g.add_argument("object", metavar="OBJ", help="the BPF object file (prog.bpf.o)")
    g.add_argument("-o", "--output", metavar="OUT.py", help="write here (default: stdout)")
    g.add_argument("--name", help="object name (default: from the file name, foo.bpf.o -> foo)")
    g.add_argument("--check", action="store_true",
                   help="exit 1 if OUT.py would change (for CI), write nothing")
    g.set_defaults(func=_gen)
    i = sub.add_parser("inspect", help="print sections, variables and types with layout",
                       description="Print every data section and variable with its offset, "
                                   "size and C type, and the types available, like pahole.")
    i.add_argument("object", metavar="OBJ")
    i.set_defaults(func=_inspect)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except Error as e:
        _fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
    except KeyboardInterrupt:
        _fail("interrupted")
    except BrokenPipeError:  # stdout's reader left (| head): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the exit-time flush cannot fail
        return 1
    except Exception as e:  # a bug of ours: still one line, unless debugging
        if os.environ.get("BPFSKEL_DEBUG"):
            raise
        _fail(f"internal error ({type(e).__name__}: {e}); set BPFSKEL_DEBUG=1 for details")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
