"""Engine values as JSON (:mod:`aobo.cmdlets.results`), the way the REST InvokeCommand API returns them.

Two routes to the same text:

* :func:`plain` turns any value into plain Python (dict, list, str, int, float, bool, None), for
  ``json.dumps``: the reference, used for anything unusual and in tests;
* :class:`JsonWriter` writes JSON text directly, with one compiled writer per object shape (its
  quoted property names computed once) and per value type: the hot path of a paged Get-Mailbox.
  ``json.loads`` of its output equals :func:`plain` of the value, which the tests check.

Value forms: datetimes are ISO 8601 in UTC with a ``Z`` (naive values are UTC), ``timedelta`` is
.NET TimeSpan text (``14.00:00:00``, ``-00:00:01.5000000``), GUIDs are strings, enums go by name,
multi-valued properties and lists are arrays, dictionaries and nested objects are JSON objects,
bytes are base64, and non-finite doubles (which JSON cannot hold) are their .NET names as strings.
"""

from __future__ import annotations

import base64
import datetime
import enum
import json
import math
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from aobo.cmdlets.results import Dictionary, EnumValue, ExchangeObject, Int64, MultiValued, ObjectShape

__all__ = ["JsonWriter", "datetime_text", "dumps_plain", "plain", "select", "timespan_text"]

# ASCII-only output: every string is valid JSON in any encoding, lone surrogates included.
_encode_str: Final[Callable[[str], str]] = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]
_TICKS_PER_SECOND: Final = 10_000_000
_UTC: Final = datetime.UTC


def datetime_text(v: datetime.datetime) -> str:
    """ISO 8601 in UTC: ``2024-05-01T08:30:00Z``, with ``.ffffff`` when there is a fraction."""
    if v.tzinfo is not None:
        v = v.astimezone(_UTC).replace(tzinfo=None)
    text = v.isoformat()
    return text + "Z"


def timespan_text(v: datetime.timedelta) -> str:
    """.NET ``TimeSpan.ToString()``: ``[-][d.]hh:mm:ss[.fffffff]``."""
    ticks = (v.days * 86_400 + v.seconds) * _TICKS_PER_SECOND + v.microseconds * 10
    sign = "-" if ticks < 0 else ""
    ticks = abs(ticks)
    seconds, fraction = divmod(ticks, _TICKS_PER_SECOND)
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = (
        f"{sign}{days}.{hours:02d}:{minutes:02d}:{seconds:02d}"
        if days
        else f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}"
    )
    return f"{text}.{fraction:07d}" if fraction else text


def _double(v: float) -> float | str:
    if math.isfinite(v):
        return v
    return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")


def plain(value: Any) -> Any:
    """``value`` as plain JSON-able Python: the reference form of every value."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _double(value)
    if isinstance(value, ExchangeObject):
        return {name: plain(v) for name, v in value.items()}
    if isinstance(value, datetime.datetime):
        return datetime_text(value)
    if isinstance(value, datetime.timedelta):
        return timespan_text(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, EnumValue):
        return value.name
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Dictionary):
        return {str(k): plain(v) for k, v in value.entries}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, MultiValued | list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return str(value)


def select(obj: ExchangeObject, names: Sequence[str]) -> dict[str, Any]:
    """``$select``: only the named properties, in the order asked, with the shape's spelling;
    names the object does not have are left out."""
    out: dict[str, Any] = {}
    index = obj.shape.index
    for name in names:
        i = index.get(name.lower())
        if i is not None:
            out[obj.shape.property_names[i]] = plain(obj.values[i])
    return out


# --- fast writer ---------------------------------------------------------------------------------


def dumps_plain(value: Any) -> str:
    """The reference text: ``json.dumps`` of :func:`plain`, compact; the fast writer's output equals it."""
    return json.dumps(plain(value), separators=(",", ":"))


_scalar = dumps_plain


class JsonWriter:
    """JSON text for engine values, with cached per-shape and per-type writers (thread-safe: the
    caches only ever gain entries, and a lost race computes the same entry twice)."""

    def __init__(self) -> None:
        self._keys: dict[ObjectShape, tuple[str, ...]] = {}
        self._writers: dict[type, Callable[[Any], str]] = {
            str: _encode_str,
            bool: lambda v: "true" if v else "false",
            int: int.__repr__,
            Int64: int.__repr__,
            float: lambda v: float.__repr__(v) if math.isfinite(v) else _scalar(v),
            type(None): lambda v: "null",
            datetime.datetime: lambda v: '"' + datetime_text(v) + '"',
            datetime.timedelta: lambda v: '"' + timespan_text(v) + '"',
            uuid.UUID: lambda v: '"' + str(v) + '"',
            EnumValue: lambda v: _encode_str(v.name),
            MultiValued: self._array,
            list: self._array,
            tuple: self._array,
            ExchangeObject: self._object,
            dict: lambda v: self._mapping(v.items()),
            Dictionary: lambda v: self._mapping(v.entries),
        }

    def _resolve(self, t: type) -> Callable[[Any], str]:
        writer = self._writers.get(t)
        if writer is None:
            # Subclasses (an IntEnum, a str subclass) and rare types: the reference route.
            writer = _scalar
            self._writers[t] = writer
        return writer

    def dumps(self, value: Any) -> str:
        writers = self._writers
        w = writers.get(type(value))
        return w(value) if w is not None else self._resolve(type(value))(value)

    def prepare(self, shape: ObjectShape) -> None:
        """Compute a shape's quoted keys before the first object of it (a listing's first page)."""
        self._keys_of(shape)

    def _keys_of(self, shape: ObjectShape) -> tuple[str, ...]:
        keys = self._keys.get(shape)
        if keys is None:
            keys = tuple(_encode_str(n) + ":" for n in shape.property_names)
            self._keys[shape] = keys
        return keys

    def _object(self, obj: ExchangeObject) -> str:
        keys = self._keys.get(obj.shape) or self._keys_of(obj.shape)
        writers = self._writers
        parts = []
        append = parts.append
        for key, v in zip(keys, obj.values, strict=True):
            w = writers.get(type(v))
            append(key + (w(v) if w is not None else self._resolve(type(v))(v)))
        return "{" + ",".join(parts) + "}"

    def _array(self, items: Iterable[Any]) -> str:
        writers = self._writers
        parts = []
        for v in items:
            w = writers.get(type(v))
            parts.append(w(v) if w is not None else self._resolve(type(v))(v))
        return "[" + ",".join(parts) + "]"

    def _mapping(self, entries: Iterable[tuple[Any, Any]]) -> str:
        # Through a dict, as the reference does: keys equal as text keep the last value, once.
        merged = {str(k): v for k, v in entries}
        return "{" + ",".join(_encode_str(k) + ":" + self.dumps(v) for k, v in merged.items()) + "}"
