"""Engine values as JSON (:mod:`aobo.cmdlets.results`), the way the REST InvokeCommand API returns them.

Two routes to the same text:

* :func:`plain` turns any value into plain Python (dict, list, str, int, float, bool, None), for
  ``json.dumps``: the reference, used for anything unusual and in tests;
* :class:`JsonWriter` writes the same values with orjson, converting only what orjson cannot write
  itself: the hot path of a paged Get-Mailbox (about four times the standard library's C encoder
  on a 237-property mailbox). ``json.loads`` of its output equals ``json.loads`` of
  ``json.dumps(plain(value))``, which the tests check on generated values and real objects; the
  texts may differ in spelling only (orjson writes ``1e16`` where ``json`` writes ``1e+16``, and
  non-ASCII text as UTF-8 rather than escapes).

Value forms: datetimes are ISO 8601 in UTC with a ``Z`` (naive values are UTC), ``timedelta`` is
.NET TimeSpan text (``14.00:00:00``, ``-00:00:01.5000000``), GUIDs are strings, enums go by name,
multi-valued properties and lists are arrays, dictionaries and nested objects are JSON objects,
bytes are base64, and non-finite doubles (which JSON cannot hold) are ``null``. Python enums go by
value. Dictionary keys are written as ``json`` writes them (``1`` → ``"1"``, ``True`` → ``"true"``).
"""

from __future__ import annotations

import base64
import datetime
import enum
import json
import math
import operator
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Final

import orjson

from aobo.cmdlets.results import Dictionary, EnumValue, ExchangeObject, MultiValued, ObjectShape

__all__ = ["JsonWriter", "datetime_text", "dumps_plain", "plain", "select", "timespan_text"]

_TICKS_PER_SECOND: Final = 10_000_000


def datetime_text(v: datetime.datetime) -> str:
    """ISO 8601 in UTC: ``2024-05-01T08:30:00Z``, with ``.ffffff`` when there is a fraction."""
    if v.tzinfo is not None:
        offset = v.utcoffset()
        v = (v - offset if offset else v).replace(tzinfo=None)
    return v.isoformat() + "Z"


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


def _double(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _key(key: Any) -> Any:
    """A dictionary key as JSON writes it: text, numbers, true/false/null as ``json`` spells them;
    anything else as its text."""
    if isinstance(key, str | int) or key is None:
        return key
    return str(key)  # floats too: their spelling must not depend on the encoder


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
        return plain(value.value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Dictionary):
        return {_key(k): plain(v) for k, v in value.entries}
    if isinstance(value, dict):
        return {_key(k): plain(v) for k, v in value.items()}
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


def _object_members(value: ExchangeObject) -> dict[str, Any]:
    return dict(zip(value.shape.property_names, value.values, strict=True))


def _dictionary_members(value: Dictionary) -> dict[Any, Any]:
    return {_key(k): v for k, v in value.entries}


#: Converters by exact type, for orjson's ``default`` hook (a mailbox calls it ~45 times).
_CONVERTERS: Final[dict[type, Callable[[Any], Any]]] = {
    MultiValued: operator.attrgetter("items"),
    datetime.datetime: datetime_text,
    EnumValue: operator.attrgetter("name"),
    ExchangeObject: _object_members,
    datetime.timedelta: timespan_text,
    Dictionary: _dictionary_members,
}

# Dataclasses (MultiValued, EnumValue, Dictionary) and datetimes (always written in UTC with Z,
# as datetime_text does) come to the hook rather than in orjson's own forms.
_OPTIONS: Final = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    """What orjson cannot write itself, one level down; it encodes the result in turn."""
    convert = _CONVERTERS.get(type(value))
    return convert(value) if convert is not None else plain(value)


class JsonWriter:
    """UTF-8 JSON for engine values: orjson writes text, numbers, GUIDs, lists and dicts itself, and
    the rest (objects, multi-valued properties, enums, dates) goes through one small ``default`` hook.
    Values orjson refuses (integers beyond 64 bits, lone surrogates) take the reference route."""

    def dumps(self, value: Any) -> bytes:
        try:
            return orjson.dumps(value, default=_default, option=_OPTIONS)
        except TypeError:  # orjson.JSONEncodeError
            return dumps_plain(value).encode("ascii")

    def prepare(self, shape: ObjectShape) -> None:
        """Kept for symmetry with the CLIXML writer: orjson needs nothing per shape."""
