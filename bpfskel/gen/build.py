"""``bpfskel build``: ``prog.bpf.c`` to ``prog_skel.py`` in one step, cached.

The compile is :mod:`.toolchain`'s (clang, the BPF flags, the multiarch
include); the module is :mod:`.generate`'s, from the object's bytes, exactly
as ``bpfskel gen`` makes it.

**Cache.**  A build is keyed by everything its output depends on: the
source's path, the flags, the include directories, ``--types-from``/``--type``,
the clang binary, the bpfskel version and its generator's files, the libbpf
file the runtime would load (libbpf fixes the BTF up before the generator
reads it; identified by path, inode, size and mtime, so that a cache hit
never loads it), and the architecture.  Under that key the cache keeps the
object, the module and the list of files clang read (its ``-MD`` depfile: the
source and every header, ``vmlinux.h`` included) with their sizes, mtimes and
BLAKE2b digests.  A rebuild stats those files, hashes only the ones whose size or
mtime moved, and, when all match, copies the module without running clang or
libbpf.  A header that appears later in an earlier include directory is not
noticed: that would take a compile.

``vmlinux.h``: a source that includes ``"vmlinux.h"`` with none on its include
path gets one generated from ``/sys/kernel/btf/vmlinux`` (:mod:`.vmlinux`) into
the cache, keyed by the running kernel.

The cache is ``$BPFSKEL_CACHE_DIR``, else ``$XDG_CACHE_HOME/bpfskel``, else
``~/.cache/bpfskel``.  Build time only: the runtime never imports this module.
"""

from __future__ import annotations

import glob
import json
import os
import re
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from .. import __version__, _libbpf_file

try:  # hashlib's own blake2b, without the OpenSSL that importing hashlib loads (ms)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a Python built without it
    from hashlib import blake2b
from ..errors import Error
from .cli import write_atomic
from .toolchain import Clang, bpf_flags, find_clang, host_arch, prefix_map_flags

__all__ = ["BuildRequest", "BuildResult", "ConfigError", "build", "build_project",
           "cache_dir", "read_project", "uses_vmlinux_h"]

CACHE_ENV = "BPFSKEL_CACHE_DIR"
_VMLINUX_INCLUDE = re.compile(rb'^\s*#\s*include\s*[<"]vmlinux\.h[>"]', re.M)


class BuildRequest(NamedTuple):
    """What to build.  (NamedTuples here, not dataclasses: ``dataclasses``
    would cost every ``bpfskel build`` cache hit its import.)"""

    source: str
    name: str
    cflags: Sequence[str] = ()
    includes: Sequence[str] = ()
    types_from: Sequence[str] = ()
    types: Sequence[str] = ()
    arch: Optional[str] = None   # platform.machine() spelling; None: this machine
    # more architectures to compile for (platform.machine() spellings); when their
    # objects differ (the source uses __TARGET_ARCH_*), the module embeds one each
    arches: Sequence[str] = ()


class BuildResult(NamedTuple):
    module: str          # the generated module's source
    object_path: str     # the cached object
    cached: bool         # True: nothing was compiled or generated
    warnings: str        # clang's stderr from the compile (replayed on a cache hit)


def cache_dir() -> str:
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "bpfskel")


def uses_vmlinux_h(source_bytes: bytes) -> bool:
    return bool(_VMLINUX_INCLUDE.search(source_bytes))


def _digest(path: str) -> str:
    h = blake2b(digest_size=32)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _generator_signature() -> List[Tuple[str, int, int]]:
    """The package's own files, bpfskel/gen/ and the shared modules next to
    it (names, btf, uapi, ...): a changed generator invalidates every entry,
    also between two commits that share a version number."""
    gen = os.path.dirname(os.path.abspath(__file__))
    out = []
    for here, prefix in ((os.path.dirname(gen), "../"), (gen, "")):
        with os.scandir(here) as entries:
            for e in entries:
                if e.name.endswith(".py"):
                    st = e.stat()
                    out.append((prefix + e.name, st.st_size, st.st_mtime_ns))
    out.sort()
    return out


def _parse_depfile(text: str) -> List[str]:
    body = text.replace("\\\n", " ").split(":", 1)[-1]
    paths = re.findall(r"(?:\\ |[^\s])+", body)
    return [os.path.abspath(p.replace("\\ ", " ")) for p in paths]


def _deps_record(paths: Sequence[str]) -> List[Tuple[str, int, int, str]]:
    out = []
    for p in sorted(set(paths)):
        st = os.stat(p)
        out.append((p, st.st_size, st.st_mtime_ns, _digest(p)))
    return out


def _deps_unchanged(deps: Sequence[Sequence[object]]) -> bool:
    for path, size, mtime, digest in deps:
        try:
            st = os.stat(str(path))
        except OSError:
            return False
        if st.st_size == size and st.st_mtime_ns == mtime:
            continue
        if st.st_size != size or _digest(str(path)) != digest:
            return False
    return True


def _vmlinux_dir(cache: str) -> str:
    """A directory holding a ``vmlinux.h`` for the running kernel's BTF."""
    from .vmlinux import DEFAULT_BTF, dump_c

    st = os.stat(DEFAULT_BTF)
    uname = os.uname()
    key = blake2b(f"{uname.release}|{uname.version}|{st.st_size}|{__version__}".encode(),
                  digest_size=12).hexdigest()
    d = os.path.join(cache, "vmlinux", key)
    header = os.path.join(d, "vmlinux.h")
    if not os.path.exists(header):
        os.makedirs(d, exist_ok=True)
        write_atomic(header, dump_c(DEFAULT_BTF))
    return d


def _needs_generated_vmlinux(src: bytes, req: BuildRequest) -> bool:
    if not uses_vmlinux_h(src):
        return False
    dirs = [os.path.dirname(os.path.abspath(req.source)), *req.includes]
    dirs += [f[2:] for f in req.cflags if f.startswith("-I") and len(f) > 2]
    return not any(os.path.exists(os.path.join(d, "vmlinux.h")) for d in dirs)


def build(req: BuildRequest, use_cache: bool = True) -> BuildResult:
    """Compile ``req.source`` and generate its module, or take both from the cache."""
    source = os.path.abspath(req.source)
    with open(source, "rb") as f:
        src = f.read()
    cache = cache_dir()
    clang = find_clang(check=False)
    arch = req.arch or host_arch()
    key_material = json.dumps([
        __version__, _generator_signature(), _libbpf_file.identity(), clang.identity(),
        source, req.name, req.cflags, [os.path.abspath(i) for i in req.includes],
        [os.path.abspath(h) for h in req.types_from], req.types, arch, sorted(set(req.arches)),
    ])
    key = blake2b(key_material.encode(), digest_size=16).hexdigest()
    entry = os.path.join(cache, "build", key)
    manifest_path = os.path.join(entry, "manifest.json")
    module_path = os.path.join(entry, f"{req.name}_skel.py")
    object_path = os.path.join(entry, f"{req.name}.bpf.o")
    if use_cache:
        try:
            with open(manifest_path, encoding="utf-8") as mf:
                manifest = json.load(mf)
            if _deps_unchanged(manifest["deps"]):
                with open(module_path, encoding="utf-8") as m:
                    return BuildResult(m.read(), object_path, True, manifest["warnings"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return _compile(req, source, src, find_clang(), arch, entry, object_path, module_path,
                    manifest_path)


def _layout_text(module: str) -> str:
    """A module without its object and hashes: what must agree between arches."""
    head = module.split("\n_OBJECT = (", 1)[0]
    return "\n".join(line for line in head.splitlines()
                     if not line.startswith(("# sha256: ", "OBJECT_SHA256 = ")))


def _per_arch(req: BuildRequest, clang: Clang, extra_flags: List[str], arch: str, data: bytes,
              others: List[str], tmp: str) -> Optional[Dict[str, bytes]]:
    """Objects for ``arch`` and ``others``, or None when they are all the same
    bytes (a source that does not use ``__TARGET_ARCH_*``: one object serves)."""
    from .generate import generate

    objects = {arch: data}
    for machine in others:
        out = os.path.join(tmp, f"{machine}.bpf.o")
        clang.run([*bpf_flags(machine), *extra_flags, "-c", req.source, "-o", out],
                  f"{req.source} for {machine}")
        with open(out, "rb") as f:
            objects[machine] = f.read()
    if len(set(objects.values())) == 1:
        return None
    mine = _layout_text(generate(data, req.source, req.name))
    for machine in others:
        if _layout_text(generate(objects[machine], req.source, req.name)) != mine:
            raise Error(f"{req.source}: its types or globals differ between {arch} and "
                        f"{machine}; one module cannot serve both (build one per arch)")
    return objects


def _compile(req: BuildRequest, source: str, src: bytes, clang: Clang, arch: str, entry: str,
             object_path: str, module_path: str, manifest_path: str) -> BuildResult:
    from .generate import generate_from_info
    from .objfile import check_btf, read_object

    os.makedirs(entry, exist_ok=True)
    flags = bpf_flags(arch) + [f"-I{os.path.abspath(i)}" for i in req.includes]
    vmlinux_dir = None
    if _needs_generated_vmlinux(src, req):
        vmlinux_dir = _vmlinux_dir(os.path.dirname(os.path.dirname(entry)))
        flags.append(f"-I{vmlinux_dir}")
    flags += [*req.cflags, *prefix_map_flags(source, vmlinux_dir)]
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bpfskel-build-", dir=entry) as tmp:
        dep = os.path.join(tmp, "deps.d")
        obj_tmp = os.path.join(tmp, "prog.bpf.o")
        # the path as the user gave it, so that diagnostics name it the same way
        warnings = clang.run([*flags, "-MD", "-MF", dep, "-c", req.source, "-o", obj_tmp],
                             req.source)
        with open(dep, encoding="utf-8", errors="surrogateescape") as f:
            deps = _parse_depfile(f.read())
        with open(obj_tmp, "rb") as f:
            data = f.read()
        info = read_object(data, req.source, req.name)
        if req.types_from:
            from .headertypes import types_from

            info.btf = types_from(info.btf, clang, req.types_from, req.types,
                                  flags[len(bpf_flags(arch)):], arch, prelude=[source],
                                  included=deps)
            check_btf(info.btf, req.source)
            deps += [os.path.abspath(h) for h in req.types_from]
        others = sorted(set(req.arches) - {arch})
        per_arch = _per_arch(req, clang, flags[len(bpf_flags(arch)):], arch, data, others, tmp) \
            if others else None
        text = generate_from_info(info, data, req.source, req.name, per_arch)
        os.replace(obj_tmp, object_path)
    write_atomic(module_path, text)
    manifest: Dict[str, object] = {"deps": _deps_record(deps), "warnings": warnings}
    write_atomic(manifest_path, json.dumps(manifest))
    return BuildResult(text, object_path, False, warnings)


class ConfigError(Error, ValueError):
    """``[tool.bpfskel]`` is not what the hook understands."""


def _strings(config: Mapping[str, Any], key: str) -> List[str]:
    value = config.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"[tool.bpfskel] {key} must be a list of strings")
    return list(value)


_STEM = "{stem}"   # in include/types-from: the source's stem, as make's $*


def build_project(root: str, config: Mapping[str, Any]) -> List[Tuple[str, str]]:
    """Build every source ``[tool.bpfskel]`` names; ``(path, path relative to
    root)`` of each generated module.  clang's diagnostics are raised in the
    error, so pip shows them.

    ``{stem}`` in an ``include`` or ``types-from`` entry is each source's own
    stem (``prog`` for ``prog.bpf.c``), as ``$*`` in a make pattern rule: one
    glob of sources, each with its own header (``"src/bpf/{stem}.h"``), or its
    event types declared in itself (``"src/bpf/{stem}.bpf.c"``)."""
    from ..names import identifier

    # absolute, so that clang records every source as ./<name>.bpf.c (the
    # source's directory maps to .): the same object from the hook, whose root
    # is absolute, and from `bpfskel build --project .`
    root = os.path.abspath(root)
    unknown = set(config) - {"sources", "cflags", "include", "types-from", "types", "arches"}
    if unknown:
        raise ConfigError(f"[tool.bpfskel] has unknown keys: {', '.join(sorted(unknown))}")
    patterns = _strings(config, "sources")
    if not patterns:
        raise ConfigError("[tool.bpfskel] sources is empty: name the .bpf.c files")
    out: List[Tuple[str, str]] = []
    for pattern in patterns:
        matches = sorted(glob.glob(os.path.join(root, pattern)))
        if not matches:
            raise ConfigError(f"[tool.bpfskel] sources: {pattern!r} matches no file")
        for source in matches:
            stem = os.path.basename(source)
            for suffix in (".c", ".bpf"):
                stem = stem[: -len(suffix)] if stem.endswith(suffix) else stem

            def paths(key: str, stem: str = stem) -> List[str]:
                return [os.path.join(root, p.replace(_STEM, stem)) for p in _strings(config, key)]

            name = identifier(stem)
            req = BuildRequest(source, name, _strings(config, "cflags"), paths("include"),
                               paths("types-from"), _strings(config, "types"),
                               arches=_strings(config, "arches"))
            result = build(req)
            target = os.path.join(os.path.dirname(source), f"{name}_skel.py")
            try:
                with open(target, encoding="utf-8") as f:
                    current = f.read()
            except OSError:
                current = None
            if current != result.module:
                write_atomic(target, result.module)
            out.append((target, os.path.relpath(target, root)))
    return out


def read_project(root: str) -> Mapping[str, Any]:
    """``[tool.bpfskel]`` of ``root/pyproject.toml``."""
    try:
        import tomllib  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # Python < 3.11
        try:
            import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]
        except ImportError:
            raise ConfigError("reading pyproject.toml needs Python 3.11 or the tomli "
                              "package") from None
    path = os.path.join(root, "pyproject.toml")
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror or e}") from None
    except ValueError as e:
        raise ConfigError(f"{path}: {e}") from None
    config = data.get("tool", {}).get("bpfskel")
    if not isinstance(config, dict):
        raise ConfigError(f"{path} has no [tool.bpfskel] table")
    return config
