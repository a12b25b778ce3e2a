"""The hatchling build hook: ``pip install .`` compiles and generates.

An app declares its BPF sources in its own ``pyproject.toml``::

    [build-system]
    requires = ["hatchling", "bpfskel"]
    build-backend = "hatchling.build"

    [tool.hatch.build.hooks.bpfskel]     # turns the hook on

    [tool.bpfskel]
    sources = ["src/myapp/bpf/*.bpf.c"]  # each becomes src/myapp/bpf/<name>_skel.py
    cflags = ["-Wall"]
    include = ["src/myapp/bpf/include"]  # optional: -I directories
    types-from = ["src/myapp/bpf/events.h"]  # optional: --types-from for every source

Each source is built exactly as ``bpfskel build`` builds it (same flags, same
cache), next to itself.  For a wheel the generated modules are force-included,
so a ``.gitignore``d ``*_skel.py`` still ships, and the wheel's machines need
no clang: the objects are embedded.  An editable install (``pip install -e .``)
generates them in the source tree, where the package is imported from.  An
sdist ships the sources, not the generated modules.

Why hatchling: its build hooks are a documented plugin interface reached
through an entry point (``[project.entry-points.hatch]``), run for ``pip
install``, ``pip install -e`` and ``python -m build`` alike, and are turned on
by one table in the app's pyproject.  setuptools would need a ``setup.py``
with a ``cmdclass`` in every app, because its ``pyproject.toml`` has no way
to add a build step.

Build time only: imported by hatchling, never by the runtime.
"""

from __future__ import annotations

import glob
import os
from typing import Any, Dict, List, Mapping, Tuple

from hatchling.builders.hooks.plugin.interface import BuildHookInterface
from hatchling.plugin import hookimpl

from .errors import Error

__all__ = ["BpfskelBuildHook", "ConfigError", "build_sources", "hatch_register_build_hook"]


class ConfigError(Error, ValueError):
    """``[tool.bpfskel]`` is not what the hook understands."""


def _strings(config: Mapping[str, Any], key: str) -> List[str]:
    value = config.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"[tool.bpfskel] {key} must be a list of strings")
    return list(value)


def build_sources(root: str, config: Mapping[str, Any]) -> List[Tuple[str, str]]:
    """Build every source ``[tool.bpfskel]`` names; ``(path, path relative to
    root)`` of each generated module.  clang's diagnostics are raised in the
    error, so pip shows them."""
    from .build import BuildRequest, build
    from .names import identifier
    from .toolchain import ClangError

    unknown = set(config) - {"sources", "cflags", "include", "types-from", "types"}
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
            base = os.path.basename(source)
            for suffix in (".c", ".bpf"):
                base = base[: -len(suffix)] if base.endswith(suffix) else base
            name = identifier(base)
            req = BuildRequest(source, name, _strings(config, "cflags"),
                               [os.path.join(root, d) for d in _strings(config, "include")],
                               [os.path.join(root, h) for h in _strings(config, "types-from")],
                               _strings(config, "types"))
            try:
                result = build(req)
            except ClangError as e:
                raise ConfigError(f"{e}\n{e.diagnostics}") from None
            target = os.path.join(os.path.dirname(source), f"{name}_skel.py")
            try:
                with open(target, encoding="utf-8") as f:
                    current = f.read()
            except OSError:
                current = None
            if current != result.module:
                from .cli import write_atomic

                write_atomic(target, result.module)
            out.append((target, os.path.relpath(target, root)))
    return out


class BpfskelBuildHook(BuildHookInterface):  # type: ignore[misc]
    PLUGIN_NAME = "bpfskel"

    def initialize(self, version: str, build_data: Dict[str, Any]) -> None:
        if self.target_name not in ("wheel", "editable"):
            return  # an sdist ships the sources
        config = self.metadata.config.get("tool", {}).get("bpfskel", {})
        generated = build_sources(self.root, config)
        if version == "editable":
            return
        force = build_data.setdefault("force_include", {})
        packages = self.build_config.target_config.get("packages") or []
        for path, rel in generated:
            force[path] = _wheel_path(rel, packages)


def _wheel_path(rel: str, packages: List[str]) -> str:
    """Where a generated file sits in the wheel: under its package, so
    ``src/myapp/bpf/x_skel.py`` becomes ``myapp/bpf/x_skel.py``."""
    rel = rel.replace(os.sep, "/")
    for pkg in packages:
        pkg = pkg.rstrip("/")
        if rel.startswith(pkg + "/"):
            return f"{pkg.rsplit('/', 1)[-1]}/{rel[len(pkg) + 1:]}"
    return rel[len("src/"):] if rel.startswith("src/") else rel


@hookimpl  # type: ignore[misc]
def hatch_register_build_hook() -> type:
    return BpfskelBuildHook
