"""Records as columns: numpy dtypes from the generated layout, bulk record copies.

numpy is optional (``bpfskel[numpy]``): every function here works without it
and returns ctypes arrays instead; numpy is imported on first use only.

**dtypes come from our layout, never from ctypes.**  ``numpy.ctypeslib``
(and ``np.dtype(ctypes_type)``) re-derives a layout from ctypes and gets
packed structs and bitfields wrong.  A generated class already states the
BTF layout: ``_pack_ = 1`` with explicit padding, so each member's offset is
the sum of the sizes before it in a struct (0 in a union), and the import-time
layout check has compared those offsets and the size with BTF.  The dtype
names each C member at that offset with ``itemsize = sizeof(type)``:
anonymous members are flattened into their parent, ``char[N]`` becomes
``S{N}``, arrays become sub-arrays and nested structs nested dtypes.
Bitfields and ``__int128`` members have no numpy type: they are not fields
of the dtype (their bytes stay in place); :func:`bitfield_column` extracts a
bitfield as an integer column.
"""

from __future__ import annotations

import ctypes
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .structs import fields_of

__all__ = ["numpy_or_none", "record_dtype", "scalar_format", "bitfield_column", "copy_strided",
           "records_array", "run_length", "strided_records", "concatenate"]

_INT_CODES = {"b", "B", "h", "H", "i", "I", "l", "L", "q", "Q"}
_dtypes: Dict[type, Any] = {}


def numpy_or_none() -> Any:
    """The numpy module, or None when it is not installed."""
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def scalar_format(ctype: Any) -> Optional[str]:
    code = getattr(ctype, "_type_", None)
    if not isinstance(code, str):
        return None
    size = ctypes.sizeof(ctype)
    if code in _INT_CODES:
        return f"<{'i' if code.islower() else 'u'}{size}"
    return {"f": "<f4", "d": "<f8", "?": "?", "c": "S1"}.get(code)


def _member_format(ctype: Any) -> Any:
    """A dtype spec for one member type, or None if numpy has no such type."""
    from .chars import CharArray

    if _is_class(ctype, CharArray):
        return f"S{ctype._length_}"
    if _is_class(ctype, ctypes.Array):
        shape: List[int] = []
        t = ctype
        while _is_class(t, ctypes.Array) and not _is_class(t, CharArray):
            shape.append(t._length_)
            t = t._type_
        if 0 in shape:  # a flexible array member: no bytes in the record
            return None
        inner = _member_format(t)
        return None if inner is None else (inner, tuple(shape))
    if _is_class(ctype, (ctypes.Structure, ctypes.Union)):
        return record_dtype(ctype)
    return scalar_format(ctype)


def _is_class(obj: Any, base: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, base)


def _fields(cls: Any, base: int, out: Tuple[List[str], List[Any], List[int]]) -> None:
    union = issubclass(cls, ctypes.Union)
    anonymous = getattr(cls, "_anonymous_", ())
    members = set(fields_of(cls))  # padding and accessor storage are no columns
    offset = base
    for field in cls._fields_:
        name, ctype = field[0], field[1]
        if name in anonymous:
            _fields(ctype, offset, out)
        elif name in members:
            fmt = _member_format(ctype)
            if fmt is not None and name not in out[0]:
                out[0].append(name)
                out[1].append(fmt)
                out[2].append(offset)
        if not union:
            offset += ctypes.sizeof(ctype)


def record_dtype(cls: Any) -> Any:
    """The numpy dtype of a generated struct or union (see the module docstring)."""
    dt = _dtypes.get(cls)
    if dt is None:
        import numpy

        names: List[str] = []
        formats: List[Any] = []
        offsets: List[int] = []
        _fields(cls, 0, (names, formats, offsets))
        dt = numpy.dtype({"names": names, "formats": formats, "offsets": offsets,
                          "itemsize": ctypes.sizeof(cls)})
        _dtypes[cls] = dt
    return dt


def bitfield_column(array: Any, cls: Any, name: str) -> Any:
    """The bitfield ``name`` of ``cls`` for every record of ``array`` (a numpy
    structured array of ``record_dtype(cls)``), as an int64/uint64 column."""
    import numpy

    for acc in getattr(cls, "_accessors_", ()):
        if acc[0] == name:
            _, offset, nbytes, shift, bits, signed = acc
            break
    else:
        raise KeyError(f"{cls.__name__} has no bitfield {name!r}")
    if bits > 64:
        raise TypeError(f"{cls.__name__}.{name} is {bits} bits wide: no numpy integer holds it")
    raw = numpy.ascontiguousarray(array).view(numpy.uint8).reshape(len(array), -1)
    word = numpy.zeros(len(array), numpy.uint64)
    for i in range(nbytes):
        word |= raw[:, offset + i].astype(numpy.uint64) << numpy.uint64(8 * i)
    value = (word >> numpy.uint64(shift)) & numpy.uint64((1 << bits) - 1 if bits < 64
                                                        else 2**64 - 1)
    if not signed:
        return value
    value = value.astype(numpy.int64)
    if bits < 64:
        value = numpy.where(value >= 1 << (bits - 1), value - (1 << bits), value)
    return value


def copy_strided(buf: Any, start: int, count: int, stride: int, size: int) -> bytearray:
    """``count`` records of ``size`` bytes at ``start``, ``start + stride``, ...
    of ``buf``, packed back to back: one strided slice copy per word of the
    record (8-, 4-, 2- or 1-byte words, whichever divides both sizes)."""
    out = bytearray(count * size)
    if not count:
        return out
    word = next(w for w in (8, 4, 2, 1) if size % w == 0 and stride % w == 0 and start % w == 0)
    fmt: Any = {8: "Q", 4: "I", 2: "H", 1: "B"}[word]
    src: Any = memoryview(buf)[start:start + (count - 1) * stride + size].cast(fmt)
    dst: Any = memoryview(out).cast(fmt)
    step, per = stride // word, size // word
    for w in range(per):
        dst[w::per] = src[w::step]
    return out


def run_length(buf: Any, start: int, n: int, stride: int,
               want: Sequence[Tuple[int, int, int]], np: Any) -> int:
    """How many of the ``n`` records at ``start``, ``start + stride``, ... of
    ``buf`` (an mmap) begin a run in which every record holds, for each
    ``(offset, nbytes, value)`` of ``want``, the little-endian ``value`` at
    ``offset``: the headers of same-size records.  Vectorized: numpy compares
    strided views; without it, ``buf[a:b:stride]`` byte columns are compared
    with ``lstrip``; no per-record Python code either way."""
    if n <= 0:
        return 0
    if np is not None:
        bad = None
        for off, nbytes, value in want:
            col = np.ndarray((n,), f"<u{nbytes}", buf, start + off, (stride,))
            diff = col != value
            bad = diff if bad is None else bad | diff
            del col
        assert bad is not None
        return int(bad.argmax()) if bad.any() else n
    run = n
    span = (n - 1) * stride + 1
    for off, nbytes, value in want:
        for j, byte in enumerate(value.to_bytes(nbytes, "little")):
            a = start + off + j
            run = min(run, n - len(buf[a:a + span:stride].lstrip(bytes((byte,)))))
    return run


def strided_records(cls: Any, buf: Any, start: int, count: int, stride: int, np: Any) -> Any:
    """``count`` records of ``cls`` at ``start`` every ``stride`` bytes of
    ``buf``, copied into one array (see :func:`records_array`)."""
    size = ctypes.sizeof(cls)
    if np is not None:
        # copied as opaque records (a structured strided copy goes field by
        # field, 3x slower), then retyped
        view = np.ndarray((count,), f"V{size}", buf, start, (stride,))
        out = view.copy().view(record_dtype(cls))
        del view
        return out
    return records_array(cls, copy_strided(buf, start, count, stride, size), count)


def records_array(cls: Any, data: Any, count: int) -> Any:
    """``count`` packed records of ``cls`` in ``data`` (bytes-like) as a numpy
    array of :func:`record_dtype` when numpy is installed, else a ctypes
    ``cls * count`` array (both own a copy or ``data`` itself)."""
    np = numpy_or_none()
    if np is not None:
        return np.frombuffer(data, dtype=record_dtype(cls), count=count)
    if isinstance(data, bytearray):
        return (cls * count).from_buffer(data)
    return (cls * count).from_buffer_copy(data)


def concatenate(cls: Any, parts: Sequence[Any]) -> Any:
    """Join arrays made by :func:`records_array` into one."""
    np = numpy_or_none()
    if np is not None:
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts) if parts else np.empty(0, dtype=record_dtype(cls))
    if len(parts) == 1:
        return parts[0]
    total = sum(len(p) for p in parts)
    return (cls * total).from_buffer_copy(b"".join(bytes(p) for p in parts))
