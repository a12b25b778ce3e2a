"""The BPF compiler: which clang, which flags, and running it.

One source of truth for the flags a BPF object needs, used by ``bpfskel build``,
``--types-from`` and the packaging hook:

* ``-g`` (BTF, without which nothing can be generated), ``-O2`` (the verifier
  needs optimised code), ``-target bpf``;
* ``-D__TARGET_ARCH_<arch>`` for ``bpf_tracing.h``'s ``PT_REGS_*`` macros, from
  the *requested* architecture (default: this machine's);
* the multiarch include directory (``/usr/include/x86_64-linux-gnu``), where
  Debian keeps ``asm/types.h`` that ``linux/bpf.h`` includes.

clang is found as ``BPFSKEL_CLANG`` (a path or a name; never silently
ignored), then the versioned names Debian installs, newest first, then
``clang``.  A clang without the BPF backend is refused with the package to
install.  Build time only: the runtime never imports this module.
"""

from __future__ import annotations

import os
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from ..errors import Error

__all__ = ["ClangError", "Clang", "ToolchainError", "TARGET_ARCH", "bpf_flags", "find_clang",
           "host_arch", "multiarch_include", "prefix_map_flags"]

ENV_VAR = "BPFSKEL_CLANG"
DEBIAN_PACKAGE = "clang-19"
_VERSIONS = range(21, 13, -1)  # clang-21 ... clang-14: the ones with a usable BPF backend

# platform.machine() -> (the __TARGET_ARCH_ suffix bpf_tracing.h knows, GNU multiarch triplet)
TARGET_ARCH: Dict[str, Tuple[str, str]] = {
    "x86_64": ("x86", "x86_64-linux-gnu"),
    "aarch64": ("arm64", "aarch64-linux-gnu"),
    "arm64": ("arm64", "aarch64-linux-gnu"),
    "armv7l": ("arm", "arm-linux-gnueabihf"),
    "s390x": ("s390", "s390x-linux-gnu"),
    "ppc64le": ("powerpc", "powerpc64le-linux-gnu"),
    "riscv64": ("riscv", "riscv64-linux-gnu"),
    "loongarch64": ("loongarch", "loongarch64-linux-gnu"),
    "mips64": ("mips", "mips64el-linux-gnuabi64"),
}


class ToolchainError(Error, OSError):
    """No usable clang: the message names what to install or set."""


class ClangError(Error):
    """clang failed; ``diagnostics`` is its stderr, verbatim."""

    def __init__(self, message: str, diagnostics: str) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics


def host_arch() -> str:
    return os.uname().machine  # platform.machine(), without importing platform


def _arch_entry(machine: str) -> Tuple[str, str]:
    try:
        return TARGET_ARCH[machine]
    except KeyError:
        known = ", ".join(sorted(TARGET_ARCH))
        raise ToolchainError(f"unknown architecture {machine!r} (known: {known})") from None


def multiarch_include(machine: str) -> Optional[str]:
    """The host's multiarch include directory, when it exists.  For another
    architecture the host's is still right for ``asm/types.h``'s integer types,
    which are the same on every 64-bit Linux."""
    for m in (machine, host_arch()):
        d = f"/usr/include/{TARGET_ARCH.get(m, ('', ''))[1]}"
        if TARGET_ARCH.get(m) and os.path.isdir(d):
            return d
    return None


def bpf_flags(machine: Optional[str] = None) -> List[str]:
    """The flags every BPF compile gets, for ``machine`` (default: this one)."""
    machine = machine or host_arch()
    arch, _ = _arch_entry(machine)
    flags = ["-g", "-O2", "-target", "bpf", f"-D__TARGET_ARCH_{arch}"]
    inc = multiarch_include(machine)
    if inc:
        flags.append(f"-I{inc}")
    return flags


def prefix_map_flags(source: str, vmlinux_dir: Optional[str] = None) -> List[str]:
    """``-ffile-prefix-map`` flags that make the object independent of where
    the checkout is: clang ``-g`` records the compile directory and the
    source's path in DWARF and in BTF's line info, so without them the same
    source built from two directories gives two objects (and two committed
    modules that differ in nothing but a path).  A relative source path stays
    as given (the same command from any checkout records the same name); the
    working directory and
    the source's directory become ``.``, a generated ``vmlinux.h``'s cache
    directory becomes ``vmlinux``.  clang applies the last map that matches,
    so the longer (more specific) prefixes come last."""
    maps = {os.getcwd(): ".", os.path.dirname(os.path.abspath(source)): "."}
    if vmlinux_dir:
        maps[os.path.abspath(vmlinux_dir)] = "vmlinux"
    return [f"-ffile-prefix-map={old}={new}"
            for old, new in sorted(maps.items(), key=lambda kv: len(kv[0]))]


class Clang(NamedTuple):
    path: str

    def identity(self) -> str:
        """What a cache key needs: the resolved binary and its size and mtime."""
        real = os.path.realpath(self.path)
        st = os.stat(real)
        return f"{real}:{st.st_size}:{st.st_mtime_ns}"

    def run(self, args: Sequence[str], what: str) -> str:
        """Run clang; its stderr (warnings) is returned, or raised verbatim."""
        import subprocess  # a cache hit of `bpfskel build` runs no clang: not at import

        try:
            proc = subprocess.run([self.path, *args], stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, errors="replace")
        except OSError as e:
            raise ToolchainError(f"{self.path}: {e.strerror or e}") from None
        if proc.returncode != 0:
            raise ClangError(f"clang failed on {what} (exit {proc.returncode})", proc.stderr)
        return proc.stderr


def _has_bpf_target(path: str) -> bool:
    import subprocess

    try:
        out = subprocess.run([path, "-print-targets"], capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return any(line.split()[:1] == ["bpf"] for line in out.splitlines())


def _which(name: str) -> Optional[str]:
    """``shutil.which`` for a bare name on POSIX, without importing shutil
    (and the bz2/lzma it pulls in): a ``bpfskel build`` cache hit is timed."""
    for d in os.environ.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(d or ".", name)
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    return None


def find_clang(check: bool = True) -> Clang:
    """The clang to use, checked to have the BPF target (``check``: a cache
    hit only needs the clang's identity, not a run of it)."""
    explicit = os.environ.get(ENV_VAR)
    names = [explicit] if explicit else [*(f"clang-{v}" for v in _VERSIONS), "clang"]
    for name in names:
        path = _which(name) if os.sep not in name else (name if os.access(
            name, os.X_OK) else None)
        if path is None:
            if explicit:
                raise ToolchainError(f"{ENV_VAR}={explicit!r}: not an executable")
            continue
        if check and not _has_bpf_target(path):
            raise ToolchainError(f"{path} has no BPF target (clang -print-targets lists no "
                                 f"'bpf'); install Debian's {DEBIAN_PACKAGE} package "
                                 f"(apt-get install {DEBIAN_PACKAGE}) or set {ENV_VAR}")
        return Clang(path)
    raise ToolchainError(f"no clang found on PATH; install Debian's {DEBIAN_PACKAGE} package "
                         f"(apt-get install {DEBIAN_PACKAGE}) or set {ENV_VAR}")
