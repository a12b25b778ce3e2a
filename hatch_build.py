"""bpfskel's own wheel is built by bpfskel's own build hook.

hatchling loads this file for ``[tool.hatch.build.hooks.custom]`` in
pyproject.toml.  It hands the build to :class:`bpfskel.gen.hatch.BpfskelBuildHook`,
the hook apps use, imported from this source tree: the tools' BPF sources
(``[tool.bpfskel]``) are compiled and generated into the modules the wheel
ships by the generator of the very version being built, whose runtime will
open them.  There is no installed bpfskel to take the hook from, and an
installed one (another version, or a hatch plugin hatchling already loaded
from an environment that has it) must not be the one that runs.
"""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))


def get_build_hook() -> type:
    """hatchling's lookup for a custom hook script: the hook class."""
    loaded = sys.modules.get("bpfskel")
    if loaded is not None and os.path.dirname(os.path.dirname(
            os.path.abspath(loaded.__file__ or ""))) != ROOT:
        for name in [m for m in sys.modules if m == "bpfskel" or m.startswith("bpfskel.")]:
            del sys.modules[name]
    sys.path[:] = [ROOT] + [p for p in sys.path if p != ROOT]
    from bpfskel.gen.hatch import BpfskelBuildHook

    return BpfskelBuildHook
