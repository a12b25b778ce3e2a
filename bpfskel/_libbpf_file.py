"""Which libbpf.so.1 file bpfskel loads, named without loading it.

:mod:`bpfskel._libbpf` loads ``$BPFSKEL_LIBBPF``, else the soname
``libbpf.so.1`` through the dynamic loader.  The names live here, apart from
the bindings, because ``bpfskel build`` keys its cache on the library *file*
and a cache hit must not pay for ``ctypes`` and a ``dlopen`` (about 15 ms,
more than the rest of a hit).  No ctypes, no dlopen: only ``os``.
"""

from __future__ import annotations

import os

__all__ = ["ENV_VAR", "SONAME", "identity"]

ENV_VAR = "BPFSKEL_LIBBPF"
SONAME = "libbpf.so.1"

# Where glibc's loader finds a soname besides LD_LIBRARY_PATH: ld.so.conf's
# usual directories (Debian's multiarch ones, /usr/local) and its defaults.
_DIRS = ("/usr/local/lib", "/usr/local/lib64", "/lib64", "/usr/lib64", "/lib", "/usr/lib")
_LD_CACHE = "/etc/ld.so.cache"


def _stat_text(path: str) -> str:
    real = os.path.realpath(path)
    st = os.stat(real)
    return f"{path}->{real}:{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def identity() -> list[str]:  # no typing import: a cache hit is timed
    """What changes whenever the libbpf the runtime would load may change.

    An explicit path is identified by its resolved file (device, inode, size,
    mtime).  A soname is searched the way the loader would: every
    ``LD_LIBRARY_PATH`` and system library directory that holds a file of that
    name is identified, plus ``/etc/ld.so.cache``, which ``ldconfig`` rewrites
    when a library is installed anywhere else.  Conservative: a change to any
    candidate counts, even one the loader would not pick.
    """
    name = os.environ.get(ENV_VAR) or SONAME
    out = [name, os.environ.get("LD_LIBRARY_PATH", "")]
    if os.sep in name:
        candidates = [name]
    else:
        machine = os.uname().machine
        dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if d]
        for base in _DIRS:
            dirs += [f"{base}/{machine}-linux-gnu", base]
        candidates = [os.path.join(d, name) for d in dirs] + [_LD_CACHE]
    for path in candidates:
        try:
            out.append(_stat_text(path))
        except OSError:
            continue
    return out
