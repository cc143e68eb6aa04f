"""Translate the engine's records into psrpcore objects and back (for pipeline input)."""

from __future__ import annotations

from typing import Any

from psrpcore.types import (
    ErrorCategory,
    ErrorCategoryInfo,
    ErrorRecord,
    NETException,
    PSObject,
)

from aobo.cmdlets import results

# psrpcore serialises the exception with these base types after the specific one.
_EXCEPTION_BASES = ["System.Exception", "System.Object"]


def to_net_exception(record: results.ErrorRecord) -> NETException:
    exc = NETException(Message=record.message, HResult=-2146233087)
    names = [record.exception_type] if record.exception_type else []
    exc.PSObject.type_names = [*names, *(n for n in _EXCEPTION_BASES if n not in names)]
    return exc


def to_category_info(record: results.ErrorRecord) -> ErrorCategoryInfo:
    return ErrorCategoryInfo(
        Category=ErrorCategory(int(record.category)),
        Activity=record.activity or None,
        Reason=record.reason or record.exception_type.rsplit(".", 1)[-1] or None,
        TargetName=record.target_name or None,
        TargetType=record.target_type or None,
    )


def to_error_record(record: results.ErrorRecord) -> ErrorRecord:
    return ErrorRecord(
        Exception=to_net_exception(record),
        CategoryInfo=to_category_info(record),
        TargetObject=record.target_object if isinstance(record.target_object, str | int | bool) else None,
        FullyQualifiedErrorId=record.fully_qualified_error_id,
    )


def from_psobject(value: Any) -> Any:
    """Pipeline input as the engine wants it: primitives stay, custom objects become dicts."""
    if isinstance(value, PSObject) and not isinstance(value, str | int | float | bool | list | dict):
        props: dict[str, Any] = {}
        for prop in (*value.PSObject.adapted_properties, *value.PSObject.extended_properties):
            props[prop.name] = from_psobject(prop.get_value(value))
        return props
    if isinstance(value, list):
        return [from_psobject(v) for v in value]
    return value
