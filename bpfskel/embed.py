"""The BPF object embedded in a generated module: one codec, both sides.

Shared by build time (:mod:`bpfskel.gen.codegen` packs) and run time (the
generated module unpacks through :mod:`bpfskel.runtime`), so it imports
neither: the two ends of the format live in one file and cannot drift.
The text is base64 of the zlib-compressed ELF bytes (pure ASCII, so a
generated module stays ASCII), through :mod:`binascii` (the ``base64``
module adds only an import and a copy of the text on the start-up path).
"""

from __future__ import annotations

import binascii
import functools
import zlib
from typing import Mapping

__all__ = ["pack_object", "unpack_object", "object_for_machine"]


def pack_object(data: bytes) -> str:
    """The embedded text for the object ``data``."""
    # Level 6, zlib's default: on a 650 KB object with vmlinux types, level 9
    # took 6x as long (120 ms, most of `bpfskel gen`) to save 0.05%.
    return binascii.b2a_base64(zlib.compress(data, 6), newline=False).decode("ascii")


@functools.lru_cache(maxsize=8)
def unpack_object(text: str) -> bytes:
    """Decode the embedded object (zlib-compressed, base64).

    Cached: every ``open()`` of a module needs the same bytes, and decoding a
    large object (vmlinux types make it hundreds of KB) costs milliseconds.
    """
    return zlib.decompress(binascii.a2b_base64(text))  # base64's module: not needed


def object_for_machine(objects: Mapping[str, str]) -> bytes:
    """The embedded object compiled for this machine's architecture (a module
    built with one object per architecture, keyed by
    ``platform.machine()``, which is ``uname -m``; :data:`bpfskel.arch.MACHINE`
    is this machine's, the one architecture seam)."""
    from . import arch

    here = arch.MACHINE
    text = objects.get(here)
    if text is None:
        from .errors import NotSupportedError

        raise NotSupportedError(f"this module embeds BPF objects for "
                                f"{', '.join(sorted(objects))}, not for {here}")
    return unpack_object(text)
