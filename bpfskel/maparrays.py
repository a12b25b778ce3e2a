"""Whole maps as arrays: keys and values straight from the batch buffers.

``items()`` builds two Python objects per entry; these functions hand the
kernel's flat key and value buffers (``BPF_MAP_LOOKUP_BATCH``) to numpy as
they are (or to ctypes arrays without numpy), so reading a 10,000-entry map
costs the syscalls and one copy.  Dtypes come from the generated layout
(:mod:`bpfskel.columns`).  Per-CPU values are ``(entries, possible CPUs)``:
the kernel's 8-byte slots are unpadded into a plain array.

Maps whose type has no batch commands are read key by key (as ``items()``
does) and packed into the same arrays.
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any, List, Tuple

from . import batch
from .codec import Codec
from .columns import copy_strided, numpy_or_none, record_dtype, scalar_format

if TYPE_CHECKING:
    from .maps import Map

__all__ = ["items_array", "to_numpy", "to_pandas", "percpu_sum"]


def _ctype(codec: Codec) -> Any:
    return codec.ctype if codec.ctype is not None else ctypes.c_ubyte * codec.size


def column_dtype(codec: Codec) -> Any:
    """The numpy dtype of one key or value of a map side."""
    import numpy

    t = codec.ctype
    if t is None:
        return numpy.dtype({1: "u1", 2: "<u2", 4: "<u4", 8: "<u8"}.get(codec.size,
                                                                     f"V{codec.size}"))
    if isinstance(t, type) and issubclass(t, (ctypes.Structure, ctypes.Union)):
        return record_dtype(t)
    fmt = scalar_format(t)
    return numpy.dtype(fmt if fmt is not None else f"V{codec.size}")


def _raw(m: "Map[Any, Any]") -> Tuple[bytes, bytes, int, Codec, Codec, int]:
    """(keys, values, n, key codec, value codec, CPUs or 0): the whole map as
    flat buffers, per-CPU values still in the kernel's 8-byte slots."""
    fd, kc, vc, per_entry, ncpu = m._dict_op("read as arrays")
    keys: List[bytes] = []
    values: List[bytes] = []
    n = 0
    if m._batch_ok:
        try:
            # one walk of the whole map: start with chunks as large as the map
            first = max(batch.FIRST_CHUNK, min(m.max_entries, batch.MAX_CHUNK))
            for kbuf, vbuf, count in batch.lookup_batches(fd, kc.size, per_entry, m._what(),
                                                          chunk=first):
                keys.append(kbuf.raw[:count * kc.size] if count * kc.size < len(kbuf)
                            else kbuf.raw)
                values.append(vbuf.raw[:count * per_entry])
                n += count
            return b"".join(keys), b"".join(values), n, kc, vc, ncpu
        except batch.BatchUnsupported:
            m._batch_ok = False
    for key, value in m.items():
        keys.append(kc.encode(key))
        values.append(bytes(m._encode_value(vc, value, ncpu, per_entry)))
        n += 1
    return b"".join(keys), b"".join(values), n, kc, vc, ncpu


def items_array(m: "Map[Any, Any]") -> Tuple[Any, Any]:
    """``(keys, values)``; see :meth:`bpfskel.maps.Map.items_array`."""
    kraw, vraw, n, kc, vc, ncpu = _raw(m)
    slot = (vc.size + 7) & ~7
    np = numpy_or_none()
    if np is not None:
        keys = np.frombuffer(kraw, column_dtype(kc), count=n)
        vdt = column_dtype(vc)
        if not ncpu:
            return keys, np.frombuffer(vraw, vdt, count=n)
        if n == 0:
            return keys, np.empty((0, ncpu), vdt)
        strided = np.ndarray((n, ncpu), np.dtype(f"V{vc.size}"), vraw, 0, (ncpu * slot, slot))
        return keys, np.ascontiguousarray(strided).view(vdt)
    kt, vt = _ctype(kc), _ctype(vc)
    keys_c = (kt * n).from_buffer_copy(kraw) if n else (kt * 0)()
    if not ncpu:
        return keys_c, (vt * n).from_buffer_copy(vraw) if n else (vt * 0)()
    packed = copy_strided(vraw, 0, n * ncpu, slot, vc.size) if slot != vc.size \
        else bytearray(vraw)
    return keys_c, ((vt * ncpu) * n).from_buffer(packed)


def to_numpy(m: "Map[Any, Any]") -> Any:
    """One structured array with fields ``key`` and ``value``."""
    import numpy

    keys, values = items_array(m)
    vshape = values.shape[1:]
    # zeros, not empty: field assignment leaves padding bytes untouched
    out = numpy.zeros(len(keys), numpy.dtype([("key", keys.dtype),
                                              ("value", values.dtype, vshape)]))
    out["key"] = keys
    out["value"] = values
    return out


def _columns(prefix: str, arr: Any) -> List[Tuple[str, Any]]:
    names = arr.dtype.names
    if not names:
        return [(prefix, arr)]
    return [(name, arr[name]) for name in names]


def to_pandas(m: "Map[Any, Any]") -> Any:
    """A DataFrame: one column per key member and per value member (``key``
    and ``value`` for scalars); per-CPU values are summed over the CPUs."""
    import importlib

    try:  # untyped (no stubs needed): the frame is returned as Any
        pandas: Any = importlib.import_module("pandas")
    except ImportError:
        from .errors import NotSupportedError

        raise NotSupportedError("to_pandas() needs pandas (pip install 'bpfskel[pandas]')") \
            from None
    keys, values = items_array(m)
    if values.ndim > 1:
        values = percpu_sum(values)
    kcols, vcols = _columns("key", keys), _columns("value", values)
    clash = {name for name, _ in kcols} & {name for name, _ in vcols}
    data = {}
    for prefix, cols in (("key", kcols), ("value", vcols)):
        for name, col in cols:
            label = f"{prefix}.{name}" if name in clash else name
            data[label] = list(col) if col.ndim > 1 or col.dtype.kind == "V" else col
    return pandas.DataFrame(data)


def percpu_sum(values: Any) -> Any:
    """Sum ``(entries, CPUs)`` per-CPU values over the CPUs: numbers add up,
    structs field by field (numeric fields only)."""
    np = numpy_or_none()
    if np is None:
        return _sum_ctypes(values)
    names = values.dtype.names
    if not names:
        if values.dtype.kind not in "iufb":
            raise TypeError(f"cannot sum per-CPU values of dtype {values.dtype}")
        return values.sum(axis=1, dtype=values.dtype if values.dtype.kind != "b" else None)
    out = np.zeros(values.shape[0], values.dtype)
    for name in names:
        col = values[name]
        if col.dtype.kind not in "iuf":
            raise TypeError(f"cannot sum the per-CPU field {name!r} ({col.dtype})")
        out[name] = col.sum(axis=1, dtype=col.dtype)
    return out


def _sum_ctypes(values: Any) -> Any:
    row_type = values._type_
    vt = row_type._type_
    if not isinstance(getattr(vt, "_type_", None), str) or vt._type_ not in "bBhHiIlLqQfd":
        raise TypeError("without numpy, only per-CPU integer and float values can be summed")
    n = len(values)
    out = (vt * n)()
    for i in range(n):
        out[i] = sum(values[i])  # ctypes wraps integers as C would
    return out
