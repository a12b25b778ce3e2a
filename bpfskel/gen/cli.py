"""The ``bpfskel`` command: ``gen``, ``build``, ``vmlinux`` and ``inspect``.

Errors are one line, ``bpfskel: error: ...``, with exit status 2 and no
traceback; an output file is written atomically (temporary file in the same
directory, then ``rename``), so a failure never leaves a partial file and
never clobbers an existing one.  A reader of stdout that goes away
(``bpfskel gen x.bpf.o | head``) ends the command quietly with status 1.
"""

from __future__ import annotations

import argparse
import os
import shlex
import stat
import sys
from typing import TYPE_CHECKING, Any, List, NoReturn, Optional

from .. import __version__
from ..errors import Error

if TYPE_CHECKING:
    from .toolchain import ClangError

__all__ = ["main"]

PROG = "bpfskel"


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, sized as it sizes itself (``$COLUMNS``, else the
    terminal, else 80, less 2) without the ``shutil`` import it does for that
    on every ``add_argument``: a ``bpfskel build`` cache hit is timed."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: Optional[int] = None) -> None:
        if width is None:
            width = _columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)


def _columns() -> int:
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()  # type: ignore[union-attr]
                                           ).columns
        except (AttributeError, ValueError, OSError):  # no stdout, or not a terminal
            columns = 0
    return columns or 80


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

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
    import tempfile

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


def _emit(text: str, output: Optional[str], check: bool, what: str) -> int:
    """Write ``text`` to ``output`` (stdout when None), or with ``check`` only
    compare: exit 1 when the file is stale.  An unchanged file is not
    rewritten, so its mtime stays (``make`` sees nothing new)."""
    current: Optional[str] = None
    if output:
        try:
            with open(output, encoding="utf-8") as f:
                current = f.read()
        except (OSError, UnicodeDecodeError):
            current = None
    if check:
        if not output:
            _fail("--check needs -o OUT.py")
        if current != text:
            sys.stderr.write(f"{PROG}: {output} is out of date with {what}\n")
            return 1
        return 0
    if output:
        if current == text:
            return 0
        try:
            write_atomic(output, text)
        except OSError as e:
            _fail(f"{output}: {e.strerror or e}")
    else:
        sys.stdout.write(text)
    return 0


def _cflags(args: argparse.Namespace) -> List[str]:
    out: List[str] = []
    for group in args.cflags or ():
        try:
            out += shlex.split(group)
        except ValueError as e:
            _fail(f"--cflags {group!r}: {e}")
    return out


def _clang_failed(e: "ClangError") -> NoReturn:
    sys.stderr.write(e.diagnostics)  # clang's own words, verbatim
    _fail(str(e))


def _gen(args: argparse.Namespace) -> int:
    from ..names import identifier
    from .generate import default_name, generate_from_info
    from .objfile import check_btf, read_object

    data = _read(args.object)
    name = identifier(args.name) if args.name else default_name(args.object)
    info = read_object(data, args.object, name)
    if args.types_from:
        from .headertypes import types_from
        from .toolchain import ClangError, find_clang

        try:
            info.btf = types_from(info.btf, find_clang(), args.types_from, args.type or [],
                                  [*(f"-I{i}" for i in args.include or ()), *_cflags(args)])
        except ClangError as e:
            _clang_failed(e)
        check_btf(info.btf, args.object)
    elif args.type:
        _fail("--type needs --types-from HEADER")
    text = generate_from_info(info, data, args.object, name)
    return _emit(text, args.output, args.check, args.object)


def _build(args: argparse.Namespace) -> int:
    from ..names import identifier
    from .build import BuildRequest, build, build_project, read_project
    from .toolchain import ClangError

    if args.project:
        if args.source or args.output or args.check or args.types_from or args.cflags:
            _fail("--project takes its settings from [tool.bpfskel], not from options")
        try:
            for _path, rel in build_project(args.project, read_project(args.project)):
                sys.stderr.write(f"{PROG}: built {rel}\n")
        except ClangError as e:
            _clang_failed(e)
        return 0
    if not args.source:
        _fail("build needs SRC (or --project DIR)")
    if args.type and not args.types_from:
        _fail("--type needs --types-from HEADER")
    if not os.path.isfile(args.source):
        what = "not a regular file" if os.path.exists(args.source) else "no such file"
        _fail(f"{args.source}: {what}")
    base = os.path.basename(args.source)
    for suffix in (".c", ".bpf"):
        base = base[: -len(suffix)] if base.endswith(suffix) else base
    name = identifier(args.name or base or "bpf")
    output = args.output or os.path.join(os.path.dirname(args.source), f"{name}_skel.py")
    req = BuildRequest(args.source, name, _cflags(args), list(args.include or ()),
                       list(args.types_from or ()), list(args.type or ()),
                       arches=list(args.arch or ()))
    try:
        result = build(req, use_cache=not args.no_cache)
    except ClangError as e:
        _clang_failed(e)
    if result.warnings:
        sys.stderr.write(result.warnings)
    return _emit(result.module, output, args.check, args.source)


def _vmlinux(args: argparse.Namespace) -> int:
    from .vmlinux import DEFAULT_BTF, dump_c

    path = args.btf or DEFAULT_BTF
    try:
        text = dump_c(path, args.base_btf)
    except OSError as e:
        _fail(str(e) if str(e) else f"{path}: {e.strerror}")
    return _emit(text, args.output, False, path)


def _inspect(args: argparse.Namespace) -> int:
    from .generate import default_name
    from .listing import render
    from .objfile import read_object

    data = _read(args.object)
    info = read_object(data, args.object, default_name(args.object))
    sys.stdout.write(render(info))
    return 0


def _types_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--types-from", action="append", metavar="HEADER",
                   help="add classes for the structs, unions and enums this C header "
                        "defines (or those named with --type), compiled to BTF by clang")
    p.add_argument("--type", action="append", metavar="NAME",
                   help="a struct, union, enum or typedef name from --types-from (repeatable)")
    p.add_argument("-I", dest="include", action="append", metavar="DIR",
                   help="include directory for clang (repeatable)")
    p.add_argument("--cflags", action="append", metavar="FLAGS",
                   help="more clang flags, one shell-quoted string (repeatable)")


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
    _types_args(g)
    g.set_defaults(func=_gen)
    b = sub.add_parser("build", help="compile a .bpf.c and generate its module, cached",
                       description="Compile a BPF C source with clang (-g -O2 -target bpf "
                                   "-D__TARGET_ARCH_<arch>, the multiarch include) and "
                                   "generate its Python module.  Unchanged inputs take "
                                   "the module from the cache.")
    b.add_argument("source", metavar="SRC", nargs="?", help="the BPF C source (prog.bpf.c)")
    b.add_argument("--project", metavar="DIR",
                   help="build every source [tool.bpfskel] in DIR/pyproject.toml names, as "
                        "the hatchling hook does")
    b.add_argument("-o", "--output", metavar="OUT.py",
                   help="write here (default: <name>_skel.py next to SRC)")
    b.add_argument("--name", help="object name (default: from the file name, foo.bpf.c -> foo)")
    b.add_argument("--check", action="store_true",
                   help="exit 1 if OUT.py would change (for CI), write nothing")
    b.add_argument("--no-cache", action="store_true", help="compile even if cached")
    b.add_argument("--arch", action="append", metavar="MACHINE",
                   help="also compile for this architecture (platform.machine() name: "
                        "x86_64, aarch64, ...); where the objects differ, the module "
                        "embeds one per architecture and picks at open (repeatable)")
    _types_args(b)
    b.set_defaults(func=_build)
    v = sub.add_parser("vmlinux", help="write vmlinux.h from kernel BTF (no bpftool)",
                       description="Write the C header of every type in a BTF file, as "
                                   "bpftool btf dump file ... format c does, through "
                                   "libbpf's btf_dump.")
    v.add_argument("-o", "--output", metavar="vmlinux.h", help="write here (default: stdout)")
    v.add_argument("--btf", metavar="PATH",
                   help="BTF file, raw or ELF (default: /sys/kernel/btf/vmlinux)")
    v.add_argument("--base-btf", metavar="PATH",
                   help="base BTF of a split BTF (a module's: --base-btf /sys/kernel/btf/vmlinux)")
    v.set_defaults(func=_vmlinux)
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
