"""JSON lines: one JSON object per line, the format log shippers take
(Vector, Fluent Bit, Filebeat, ``jq``).

:func:`to_json` turns what a generated module hands out into JSON values:
generated structs and unions become objects with their C member names
(padding left out), arrays become lists, ``char[N]`` (a ``CharArray``)
becomes text cut at the first NUL, enums become their names.  ``decoders``
replace a member's value by a readable one (``{"ret": labels.errno_name}``).

Pure standard library: no prometheus_client needed.
"""

from __future__ import annotations

import ctypes
import enum
import json
import sys
import time
from typing import IO, Any, Callable, Dict, Mapping, Optional

from .chars import CharArray
from .structs import fields_of

__all__ = ["to_json", "dumps", "JsonLines"]

Decoders = Mapping[str, Callable[[Any], Any]]


def to_json(obj: Any, decoders: Optional[Decoders] = None) -> Any:
    """A JSON-ready copy of ``obj`` (see the module doc)."""
    dec = decoders or {}
    if isinstance(obj, (ctypes.Structure, ctypes.Union)):
        out: Dict[str, Any] = {}
        for name in fields_of(type(obj)):
            value = getattr(obj, name)
            out[name] = dec[name](value) if name in dec else to_json(value)
        return out
    if isinstance(obj, enum.Enum):
        return obj.name
    if isinstance(obj, (bytes, bytearray, CharArray)):  # a C string: up to the first NUL
        return bytes(obj).split(b"\0", 1)[0].decode(errors="backslashreplace")
    if isinstance(obj, ctypes.Array):
        return [to_json(x) for x in obj]
    if isinstance(obj, (list, tuple)):
        return [to_json(x) for x in obj]
    if isinstance(obj, Mapping):
        return {str(k): dec[str(k)](v) if str(k) in dec else to_json(v) for k, v in obj.items()}
    return obj


def dumps(obj: Any, decoders: Optional[Decoders] = None, **fields: Any) -> str:
    """One line of JSON: ``obj`` (a struct or a mapping, may be None) with
    ``fields`` added; keys keep their order, no spaces, no newline inside."""
    record: Dict[str, Any] = dict(fields)
    if obj is not None:
        body = to_json(obj, decoders)
        if not isinstance(body, dict):
            raise TypeError(f"a JSON line is an object, not {type(obj).__name__}")
        record.update(body)
    return json.dumps(record, separators=(",", ":"), default=str)


class JsonLines:
    """Writes records to ``stream`` (stdout by default), one per line,
    flushed at once so that a shipper tailing the output sees each record
    whole.  With ``timestamp``, every record starts with ``"ts"``: seconds
    since the epoch, as a float."""

    def __init__(self, stream: Optional[IO[str]] = None, decoders: Optional[Decoders] = None,
                 timestamp: bool = True) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.decoders = dict(decoders or {})
        self.timestamp = timestamp

    def write(self, obj: Any = None, **fields: Any) -> None:
        head: Dict[str, Any] = {"ts": round(time.time(), 6)} if self.timestamp else {}
        head.update(fields)
        self.stream.write(dumps(obj, self.decoders, **head) + "\n")
        self.stream.flush()
