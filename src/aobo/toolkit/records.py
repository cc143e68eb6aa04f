"""What the client hands to its callers: output records, enum values and stream records.

A :class:`Record` is one deserialised PowerShell object (an Exchange ``Mailbox``, an error record,
...): a read-only mapping of its properties in wire order, with attribute access, its type names
as the wire gave them and its ``<ToString>``. The stream record types (:class:`ErrorRecord`,
:class:`ProgressRecord`, :class:`PipelineState`) are typed views over such records, built by
:func:`error_record`, :func:`progress_record` and :func:`pipeline_state`.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "PIPELINE_STATES",
    "EnumValue",
    "ErrorRecord",
    "PipelineState",
    "ProgressRecord",
    "Record",
    "SecureString",
    "error_record",
    "informational_text",
    "pipeline_state",
    "plain",
    "progress_record",
]

_DESERIALIZED: Final = "Deserialized."
#: Properties a repr prefers to show, in this order, when an object has them.
_REPR_KEYS: Final = ("Identity", "Name", "DisplayName", "PrimarySmtpAddress", "Message")


class Record(Mapping[str, Any]):
    """One PowerShell object: its properties (wire order), type names and ``ToString`` text.

    ``rec["Name"]`` and ``rec.Name`` read a property; both fall back to a case-insensitive match,
    as PowerShell's member lookup does. Properties from ``<MS>`` (extended) come before those from
    ``<Props>`` (adapted), and on a name in both the ``<MS>`` value wins, as in PowerShell.
    """

    __slots__ = ("_lower", "_props", "adapted_names", "to_string", "type_names")

    _props: dict[str, Any]
    _lower: dict[str, str] | None
    type_names: tuple[str, ...]
    to_string: str | None
    adapted_names: frozenset[str]

    def __init__(
        self,
        properties: Mapping[str, Any] | None = None,
        type_names: tuple[str, ...] = (),
        to_string: str | None = None,
        adapted_names: frozenset[str] = frozenset(),
    ) -> None:
        self._props = dict(properties or {})
        self._lower = None
        self.type_names = tuple(type_names)
        self.to_string = to_string
        self.adapted_names = adapted_names

    # --- mapping ---------------------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        try:
            return self._props[key]
        except KeyError:
            return self._props[self._fold(key)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._props)

    def __len__(self) -> int:
        return len(self._props)

    def __contains__(self, key: object) -> bool:
        if key in self._props:
            return True
        try:
            self._fold(key)  # type: ignore[arg-type]
        except (KeyError, AttributeError):
            return False
        return True

    def _fold(self, key: str) -> str:
        """The stored spelling of ``key`` matched case-insensitively (PowerShell names are)."""
        if self._lower is None:
            self._lower = {k.lower(): k for k in reversed(self._props)}  # first spelling wins
        return self._lower[key.lower()]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{self.type_name or 'Record'} has no property {name!r}") from None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Record):
            return (
                self.type_names == other.type_names
                and self.to_string == other.to_string
                and list(self._props.items()) == list(other._props.items())
            )
        if isinstance(other, Mapping):
            return dict(self._props) == dict(other)
        return NotImplemented

    # Identity hash: records can be Hashtable keys, as PowerShell objects can.
    __hash__ = object.__hash__

    # --- views -----------------------------------------------------------------------------------

    @property
    def type_name(self) -> str | None:
        """The first type name without PowerShell's ``Deserialized.`` prefix (``...Mailbox``)."""
        if not self.type_names:
            return None
        return self.type_names[0].removeprefix(_DESERIALIZED)

    def to_dict(self) -> dict[str, Any]:
        """Plain values, recursively (for JSON/CSV writers): see :func:`plain`."""
        return {k: plain(v) for k, v in self._props.items()}

    def __str__(self) -> str:
        return self.to_string if self.to_string is not None else repr(self)

    def __repr__(self) -> str:
        shown = [k for k in _REPR_KEYS if k in self._props][:3] or list(self._props)[:3]
        fields = " ".join(f"{k}={self._props[k]!r}" for k in shown)
        more = len(self._props) - len(shown)
        tail = f" (+{more} more)" if more > 0 else ""
        name = (self.type_name or "Record").rsplit(".", 1)[-1]
        return f"<{name} {fields}{tail}>" if fields else f"<{name}{tail}>"

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *(k for k in self._props if k.isidentifier())})


class EnumValue(int):
    """A .NET enum value: an ``int`` (its number) whose ``str`` is its name (``ToString``).

    Flags enums keep PowerShell's text (``"A, B"``) as the name.
    """

    name: str
    type_names: tuple[str, ...]

    def __new__(cls, value: int, name: str, type_names: tuple[str, ...] = ()) -> EnumValue:
        self = super().__new__(cls, value)
        self.name = name
        self.type_names = type_names
        return self

    @property
    def type_name(self) -> str | None:
        return self.type_names[0].removeprefix(_DESERIALIZED) if self.type_names else None

    def __str__(self) -> str:
        return self.name

    def __format__(self, spec: str) -> str:
        return format(self.name, spec) if not spec or spec[-1] not in "bcdoxXn" else int.__format__(self, spec)

    def __repr__(self) -> str:
        kind = (self.type_name or "Enum").rsplit(".", 1)[-1]
        return f"<{kind}.{self.name}: {int(self)}>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (EnumValue, (int(self), self.name, self.type_names))


class SecureString:
    """A ``<SS>`` value: encrypted with the session key, which this client never negotiates.

    It never shows its content (there is none to show): str, repr and JSON give a mask.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "<SecureString>"

    def __str__(self) -> str:
        return "********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecureString)

    def __hash__(self) -> int:
        return hash(SecureString)


_PLAIN_LEAVES = (
    str,
    int,
    float,
    bool,
    type(None),
    decimal.Decimal,
    datetime.datetime,
    datetime.timedelta,
    uuid.UUID,
    bytes,
)


def plain(value: Any) -> Any:
    """``value`` with records as dicts, enums as their names and containers rebuilt, recursively.

    Scalars (str, int, float, Decimal, datetime, timedelta, UUID, bytes, None) stay as they are;
    a :class:`SecureString` becomes its mask.
    """
    if isinstance(value, EnumValue):
        return value.name
    if isinstance(value, _PLAIN_LEAVES):
        return value
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {(k.name if isinstance(k, EnumValue) else k): plain(v) for k, v in value.items()}
    if isinstance(value, SecureString):
        return str(value)
    return value


# --- stream records ---------------------------------------------------------------------------

#: PSInvocationState numbers (MS-PSRP 2.2.3.4).
PIPELINE_STATES: Final = {
    0: "NotStarted",
    1: "Running",
    2: "Stopping",
    3: "Stopped",
    4: "Completed",
    5: "Failed",
    6: "Disconnected",
}

#: ErrorCategory names by number (MS-PSRP 2.2.3.9).
_ERROR_CATEGORIES: Final = [
    "NotSpecified",
    "OpenError",
    "CloseError",
    "DeviceError",
    "DeadlockDetected",
    "InvalidArgument",
    "InvalidData",
    "InvalidOperation",
    "InvalidResult",
    "InvalidType",
    "MetadataError",
    "NotImplemented",
    "NotInstalled",
    "ObjectNotFound",
    "OperationStopped",
    "OperationTimeout",
    "SyntaxError",
    "ParserError",
    "PermissionDenied",
    "ResourceBusy",
    "ResourceExists",
    "ResourceUnavailable",
    "ReadError",
    "WriteError",
    "FromStdErr",
    "SecurityError",
    "ProtocolError",
    "ConnectionError",
    "AuthenticationError",
    "LimitsExceeded",
    "QuotaExceeded",
    "NotEnabled",
]


@dataclass(frozen=True, slots=True)
class ErrorRecord:
    """An error record (MS-PSRP 2.2.3.15) as a caller wants it; ``record`` keeps everything."""

    message: str
    fully_qualified_error_id: str | None
    category: str
    exception_type: str | None
    target_object: Any
    reason: str | None
    target_name: str | None
    activity: str | None
    record: Record | None

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class ProgressRecord:
    """A progress record (MS-PSRP 2.2.3.16)."""

    activity: str | None
    activity_id: int
    status_description: str | None
    current_operation: str | None
    parent_activity_id: int
    percent_complete: int
    seconds_remaining: int
    record_type: str


@dataclass(frozen=True, slots=True)
class PipelineState:
    """A PIPELINE_STATE message: the state's name and number, and the error of a failed pipeline."""

    state: str
    code: int
    error: ErrorRecord | None

    @property
    def finished(self) -> bool:
        return self.code in (3, 4, 5)


def _get(record: Record, name: str, default: Any = None) -> Any:
    value = record._props.get(name, default)
    return default if value is None else value


def _category(record: Record) -> str:
    raw = record._props.get("ErrorCategory_Category")
    if isinstance(raw, EnumValue):
        return raw.name
    if isinstance(raw, int) and 0 <= raw < len(_ERROR_CATEGORIES):
        return _ERROR_CATEGORIES[raw]
    return "NotSpecified" if raw is None else str(raw)


def error_record(value: Any) -> ErrorRecord:
    """The :class:`ErrorRecord` an ERROR_RECORD message (or an ``ExceptionAsErrorRecord``) holds."""
    if not isinstance(value, Record):
        return ErrorRecord(str(value), None, "NotSpecified", None, None, None, None, None, None)
    exception = value._props.get("Exception")
    exception_type = None
    message = _get(value, "ErrorDetails_Message")
    if isinstance(exception, Record):
        exception_type = exception.type_name
        message = message or _get(exception, "Message")
    elif isinstance(exception, str):
        message = message or exception
    if not message:
        message = value.to_string or ""
    return ErrorRecord(
        message=str(message),
        fully_qualified_error_id=_get(value, "FullyQualifiedErrorId"),
        category=_category(value),
        exception_type=exception_type,
        target_object=value._props.get("TargetObject"),
        reason=_get(value, "ErrorCategory_Reason"),
        target_name=_get(value, "ErrorCategory_TargetName"),
        activity=_get(value, "ErrorCategory_Activity"),
        record=value,
    )


def informational_text(value: Any) -> str:
    """The text of a WARNING/VERBOSE/DEBUG record, or the message data of an INFORMATION record."""
    if isinstance(value, Record):
        for key in ("InformationalRecord_Message", "MessageData"):
            if key in value._props:
                data = value._props[key]
                if isinstance(data, Record):  # HostInformationMessage: {Message, NoNewLine, ...}
                    inner = data._props.get("Message")
                    return str(inner) if inner is not None else str(data)
                return "" if data is None else str(data)
        return value.to_string or ""
    return "" if value is None else str(value)


def progress_record(value: Record) -> ProgressRecord:
    """The :class:`ProgressRecord` a PROGRESS_RECORD message holds."""
    kind = value._props.get("Type")
    return ProgressRecord(
        activity=_get(value, "Activity"),
        activity_id=int(_get(value, "ActivityId", 0)),
        status_description=_get(value, "StatusDescription"),
        current_operation=_get(value, "CurrentOperation"),
        parent_activity_id=int(_get(value, "ParentActivityId", -1)),
        percent_complete=int(_get(value, "PercentComplete", -1)),
        seconds_remaining=int(_get(value, "SecondsRemaining", -1)),
        record_type=kind.name if isinstance(kind, EnumValue) else ("Completed" if kind == 1 else "Processing"),
    )


def pipeline_state(value: Record) -> PipelineState:
    """The :class:`PipelineState` a PIPELINE_STATE message holds."""
    code = int(value._props.get("PipelineState", 0))
    error = value._props.get("ExceptionAsErrorRecord")
    return PipelineState(
        state=PIPELINE_STATES.get(code, str(code)),
        code=code,
        error=error_record(error) if error is not None else None,
    )
