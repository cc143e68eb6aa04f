"""The generic route: results.py values as psrpcore objects, serialised by psrpcore.

This is the reference :mod:`aobo.frontends.psrp.clixml` is tested against, and the fallback for
values that writer does not know. It is slow (psrpcore rebuilds a property dict on every attribute
access of a PSObject, and ``add_note_property`` scans all earlier properties), so output goes through
the fast writer whenever it can.

Where psrpcore's defaults differ from what PowerShell writes, the values are shaped here so that
psrpcore's output means the same thing:

* ``float`` becomes :class:`PSDouble` (psrpcore would write a lossy ``<Sg>`` Single); ``int``
  becomes :class:`PSInt` or :class:`PSInt64` by range (psrpcore writes ``<I32>`` for any negative
  number); :class:`Int64` always :class:`PSInt64`.
* naive datetimes get UTC (psrpcore would write no zone, which .NET reads as "unspecified"), and
  offsets .NET cannot carry (seconds, beyond 14 h) are converted to UTC.
* psrpcore writes ``<T>`` and ``<ToString>`` text without PowerShell's ``_xHHHH_`` encoding, so
  type names and ToString values are encoded before psrpcore sees them.
* an :class:`EnumValue` becomes a fresh enum member per occurrence: psrpcore tracks object
  identity, and a shared member would be written as a ``<Ref>`` to its first occurrence.
* :class:`MultiValued` and :class:`Dictionary` become ``PSList``/``PSDict`` carrying their own
  type names; properties of an ``adapted`` shape go in as adapted properties (``<Props>``), and
  the first ``adapted_count`` of a ``MixedShape``.

Known psrpcore 0.3.1 faults that cannot be shaped away (the fast writer is right, the tests step
around them): a TimeSpan whose seconds are a multiple of ten loses a zero (10 s is written
``PT1S``); years before 1000 are written with fewer than four digits; U+FFFE/U+FFFF are written
raw, which makes the XML ill-formed; NaN is written ``NAN``, which .NET Framework does not parse.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from typing import Any, Final, cast
from xml.etree import ElementTree

from psrpcore.types import (
    PSCryptoProvider,
    PSDict,
    PSDouble,
    PSInt,
    PSInt64,
    PSList,
    PSObject,
    add_note_property,
    serialize,
)
from psrpcore.types._base import PSNoteProperty, PSObjectMeta

# psrpcore's implementation of PowerShell's EncodeString, used for the two places psrpcore skips it.
from psrpcore.types._serializer import _serialize_string

from aobo.cmdlets.results import Dictionary, EnumValue, ExchangeObject, Int64, MixedShape, MultiValued

__all__ = ["generic_dumps", "to_psobject"]

_I32_MIN: Final = PSInt.MinValue
_I32_MAX: Final = PSInt.MaxValue
_MAX_OFFSET: Final = datetime.timedelta(hours=14)
_TIMESPAN_MAX_MICROSECONDS: Final = (2**63 - 1) // 10

# SecureStrings are never among our values, so the serialiser's cipher is never asked for anything.
_NO_CIPHER: Final = PSCryptoProvider()


class _DotNetEnum(enum.Enum):
    """Carrier for one :class:`EnumValue`; psrpcore serialises any ``enum.Enum`` as a .NET enum.

    It has no members: each value gets its own instance, made the way Enum makes members, with the
    name, number and ``PSObject`` type names psrpcore reads.
    """


def _enum_member(value: EnumValue) -> _DotNetEnum:
    member: Any = object.__new__(_DotNetEnum)
    number = int(value.value)
    member._value_ = PSInt(number) if _I32_MIN <= number <= _I32_MAX else PSInt64(number)
    member._name_ = _serialize_string(value.name)
    member.PSObject = PSObjectMeta([_serialize_string(t) for t in value.type_names], rehydrate=False)
    return cast(_DotNetEnum, member)


def _datetime(value: datetime.datetime) -> datetime.datetime:
    offset = value.utcoffset()
    if offset is None:
        return value.replace(tzinfo=datetime.UTC)
    if offset.seconds % 60 or offset.microseconds or abs(offset) > _MAX_OFFSET:
        return value.astimezone(datetime.UTC)
    return value


def _list(items: Any, type_names: tuple[str, ...] | None = None) -> PSList:
    result = PSList([to_psobject(i) for i in items])
    if type_names is not None:
        result.PSObject.type_names = [_serialize_string(t) for t in type_names]
    return result


def _dict(entries: Any, type_names: tuple[str, ...] | None = None) -> PSDict:
    result = PSDict()
    for key, item in entries:
        result[to_psobject(key)] = to_psobject(item)
    if type_names is not None:
        result.PSObject.type_names = [_serialize_string(t) for t in type_names]
    return result


def to_psobject(value: Any) -> Any:
    """``value`` (see :mod:`aobo.cmdlets.results`) as the object psrpcore serialises the same way.

    psrpcore objects and Python enums pass through unchanged; anything else unknown raises
    :class:`TypeError`; integers and timedeltas .NET cannot hold raise :class:`ValueError`.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, ExchangeObject):
        obj = PSObject()
        obj.PSObject.type_names = [_serialize_string(t) for t in value.type_names]
        if value.to_string:
            obj.PSObject.to_string = _serialize_string(value.to_string)
        if isinstance(value.shape, MixedShape):
            # The first adapted_count properties are adapted (<Props>), the rest note properties (<MS>).
            items = list(value.items())
            n = value.shape.adapted_count
            obj.PSObject.adapted_properties.extend(PSNoteProperty(k, to_psobject(v)) for k, v in items[:n])
            for name, item in items[n:]:
                add_note_property(obj, name, to_psobject(item))
        elif value.shape.adapted:
            # add_note_property only adds extended (<MS>) properties.
            obj.PSObject.adapted_properties.extend(
                PSNoteProperty(name, to_psobject(item)) for name, item in value.items()
            )
        else:
            for name, item in value.items():
                add_note_property(obj, name, to_psobject(item))
        return obj
    if isinstance(value, EnumValue):
        return _enum_member(value)
    if isinstance(value, MultiValued):
        return _list(value.items, value.type_names)
    if isinstance(value, Dictionary):
        return _dict(value.entries, value.type_names)
    if isinstance(value, PSObject | enum.Enum):
        return value
    if isinstance(value, Int64):
        return PSInt64(int(value))
    if isinstance(value, int):
        return PSInt(value) if _I32_MIN <= value <= _I32_MAX else PSInt64(int(value))
    if isinstance(value, float):
        return PSDouble(value)
    if isinstance(value, str):
        return str.__str__(value)  # the text itself, whatever a subclass's __str__ says
    if isinstance(value, datetime.datetime):
        return _datetime(value)
    if isinstance(value, datetime.timedelta):
        if abs(value // datetime.timedelta(microseconds=1)) > _TIMESPAN_MAX_MICROSECONDS:
            raise ValueError(f"timedelta {value!r} is outside the range of System.TimeSpan")
        return value
    if isinstance(value, uuid.UUID | bytes | decimal.Decimal):
        return value
    if isinstance(value, list | tuple):
        return _list(value)
    if isinstance(value, dict):
        return _dict(value.items())
    raise TypeError(f"to_psobject cannot convert {type(value).__module__}.{type(value).__qualname__}")


def generic_dumps(value: Any) -> bytes:
    """The UTF-8 CLIXML psrpcore writes for ``value``: the slow reference for ``clixml.dumps``."""
    xml: bytes = ElementTree.tostring(serialize(to_psobject(value), _NO_CIPHER), encoding="utf-8")
    return xml
