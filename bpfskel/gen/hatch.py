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
                                         # ({stem}: each source's own, "src/myapp/bpf/{stem}.h")
    arches = ["x86_64", "aarch64"]       # optional: --arch, one object per arch if they differ

Each source is built exactly as ``bpfskel build`` builds it (same flags, same
cache), next to itself (:func:`bpfskel.build.build_project`, which
``bpfskel build --project DIR`` runs too).  For a wheel the generated modules are force-included,
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

bpfskel's own wheel is built by this hook too (its ``hatch_build.py`` takes
it from the source tree): the tools' objects are compiled at wheel-build time.

Build time only: imported by hatchling, never by the runtime.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List

from hatchling.builders.hooks.plugin.interface import BuildHookInterface
from hatchling.plugin import hookimpl

from .build import build_project
from .toolchain import ClangError

__all__ = ["BpfskelBuildHook", "hatch_register_build_hook"]


class BpfskelBuildHook(BuildHookInterface[Any]):
    PLUGIN_NAME = "bpfskel"

    def initialize(self, version: str, build_data: Dict[str, Any]) -> None:
        if self.target_name not in ("wheel", "editable"):
            return  # an sdist ships the sources
        config = self.metadata.config.get("tool", {}).get("bpfskel", {})
        try:
            generated = build_project(self.root, config)
        except ClangError as e:  # pip shows the message: let it carry clang's words
            raise ClangError(f"{e}\n{e.diagnostics}", e.diagnostics) from None
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


@hookimpl
def hatch_register_build_hook() -> type:
    return BpfskelBuildHook
