"""Protocol-neutral records a pipeline produces.

A cmdlet yields these; each front end turns them into its own wire form (CLIXML for PSRP,
JSON for REST). Values inside objects are plain Python values or the small wrappers below:

==========================  ===========================================
Python value                CLIXML element
==========================  ===========================================
``None``                    ``<Nil/>``
``bool``                    ``<B>``
``int``                     ``<I32>`` when it fits, else ``<I64>``
:class:`Int64`              ``<I64>`` always
``float``                   ``<Db>``
``str``                     ``<S>``
``datetime.datetime``       ``<DT>`` (naive values are UTC)
``datetime.timedelta``      ``<TS>``
``uuid.UUID``               ``<G>``
``bytes``                   ``<BA>``
``list`` / ``tuple``        ``<Obj>`` ArrayList with ``<LST>``
:class:`MultiValued`        ``<Obj>`` with the given type names and ``<LST>``
:class:`EnumValue`          ``<Obj>`` enum: type names, ``<ToString>``, ``<I32>``
``dict``                    ``<Obj>`` Hashtable with ``<DCT>``
:class:`Dictionary`         ``<Obj>`` with the given type names and ``<DCT>``
:class:`ExchangeObject`     ``<Obj>`` with type names and ``<MS>`` note properties
                            (``<Props>`` adapted properties when its shape has ``adapted=True``),
                            plus ``<ToString>`` when ``to_string`` is set
==========================  ===========================================

Besides output objects a pipeline yields stream records: :class:`ErrorRecord` (non-terminating
errors), :class:`WarningRecord`, :class:`VerboseRecord`, :class:`ProgressRecord` and
:class:`InformationalRecord` (text PowerShell writes through the host, such as ``What if: ...``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any


class Int64(int):
    """An integer that is always serialised as a 64-bit value (sizes, byte counts)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class MultiValued:
    """A multi-valued Exchange property such as ``EmailAddresses`` (ProxyAddressCollection)."""

    items: tuple[Any, ...]
    type_names: tuple[str, ...] = (
        "Microsoft.Exchange.Data.MultiValuedProperty`1[[System.String]]",
        "System.Object",
    )

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True, slots=True)
class EnumValue:
    """A .NET enum value: its type names, its name and its numeric value."""

    type_names: tuple[str, ...]
    name: str
    value: int

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Dictionary:
    """A dictionary that keeps its own .NET type names, e.g. the ``Parameters`` of a CmdletInfo
    (``System.Collections.Generic.Dictionary`2[[System.String, ...],[...ParameterMetadata, ...]]``).
    Entries keep their order."""

    entries: tuple[tuple[Any, Any], ...]
    type_names: tuple[str, ...] = ("System.Collections.Hashtable", "System.Object")

    def __iter__(self) -> Iterator[Any]:
        return (k for k, _ in self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def items(self) -> Iterator[tuple[Any, Any]]:
        return iter(self.entries)


@dataclass(frozen=True, slots=True)
class ObjectShape:
    """What every object of one Exchange type shares: type names and property order.

    ``type_names`` are most-derived first and without the ``Deserialized.`` prefix (the client adds it).
    ``adapted`` marks .NET objects whose properties PowerShell serialises as adapted properties
    (``<Props>``) rather than note properties (``<MS>``), such as ``ParameterMetadata``; clients read
    both the same way, so a front end may ignore it.
    """

    type_names: tuple[str, ...]
    property_names: tuple[str, ...]
    adapted: bool = False
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", {n.lower(): i for i, n in enumerate(self.property_names)})

    def make(self, values: Sequence[Any], to_string: str | None = None) -> ExchangeObject:
        if len(values) != len(self.property_names):
            raise ValueError(f"{self.type_names[:1]} needs {len(self.property_names)} values, got {len(values)}")
        return ExchangeObject(self, tuple(values), to_string)


@dataclass(frozen=True, slots=True)
class MixedShape(ObjectShape):
    """A .NET object with both kinds of properties: the first ``adapted_count`` are its own (written as
    ``<Props>``), the rest come from the type table (``<MS>``), as for ``FormatViewDefinition``, whose
    ``InstanceId`` is a hidden code property."""

    adapted_count: int = 0

    def __post_init__(self) -> None:
        ObjectShape.__post_init__(self)  # (zero-argument super() fails in a slotted dataclass)
        if not 0 < self.adapted_count < len(self.property_names):
            raise ValueError(f"{self.type_names[:1]}: adapted_count must leave both kinds of property")


class ExchangeObject:
    """One output object: a shape plus its values in the shape's property order."""

    __slots__ = ("shape", "to_string", "values")

    def __init__(self, shape: ObjectShape, values: tuple[Any, ...], to_string: str | None = None) -> None:
        self.shape = shape
        self.values = values
        self.to_string = to_string

    @property
    def type_names(self) -> tuple[str, ...]:
        return self.shape.type_names

    def __getitem__(self, name: str) -> Any:
        return self.values[self.shape.index[name.lower()]]

    def get(self, name: str, default: Any = None) -> Any:
        i = self.shape.index.get(name.lower())
        return default if i is None else self.values[i]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self.shape.index

    def items(self) -> Iterator[tuple[str, Any]]:
        return zip(self.shape.property_names, self.values, strict=True)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.items())

    def __repr__(self) -> str:
        name = self.shape.type_names[0] if self.shape.type_names else "PSObject"
        return f"<{name} {self.to_string or ''}>"


class ErrorCategory(enum.IntEnum):
    """System.Management.Automation.ErrorCategory."""

    NotSpecified = 0
    OpenError = 1
    CloseError = 2
    DeviceError = 3
    DeadlockDetected = 4
    InvalidArgument = 5
    InvalidData = 6
    InvalidOperation = 7
    InvalidResult = 8
    InvalidType = 9
    MetadataError = 10
    NotImplemented = 11
    NotInstalled = 12
    ObjectNotFound = 13
    OperationStopped = 14
    OperationTimeout = 15
    SyntaxError = 16
    ParserError = 17
    PermissionDenied = 18
    ResourceBusy = 19
    ResourceExists = 20
    ResourceUnavailable = 21
    ReadError = 22
    WriteError = 23
    FromStdErr = 24
    SecurityError = 25
    ProtocolError = 26
    ConnectionError = 27
    AuthenticationError = 28
    LimitsExceeded = 29
    QuotaExceeded = 30
    NotEnabled = 31


@dataclass(frozen=True, slots=True)
class ErrorRecord:
    """An error as PowerShell reports it.

    ``exception_type`` is the .NET exception's full name (``Microsoft.Exchange.Configuration.Tasks.
    ManagementObjectNotFoundException``); ``fully_qualified_error_id`` is e.g.
    ``NamedParameterNotFound,Get-Mailbox``; ``activity`` is the cmdlet name shown in CategoryInfo.
    """

    message: str
    exception_type: str
    fully_qualified_error_id: str
    category: ErrorCategory = ErrorCategory.NotSpecified
    activity: str = ""
    reason: str = ""
    target_name: str = ""
    target_type: str = ""
    target_object: Any = None


@dataclass(frozen=True, slots=True)
class WarningRecord:
    message: str


@dataclass(frozen=True, slots=True)
class VerboseRecord:
    message: str


@dataclass(frozen=True, slots=True)
class ProgressRecord:
    activity: str
    status: str
    activity_id: int = 0
    percent_complete: int = -1
    seconds_remaining: int = -1
    current_operation: str = ""
    completed: bool = False


@dataclass(frozen=True, slots=True)
class InformationalRecord:
    """Text PowerShell writes through the host rather than a stream, e.g. ``What if: Setting mailbox
    "alice".`` for ``-WhatIf``. PSRP renders it as a host ``WriteLine`` call (or an INFORMATION_RECORD
    tagged ``PSHOST`` for protocol 2.3 clients); REST has no host and may drop it or list it as a
    warning."""

    message: str


#: Anything a pipeline may emit besides output objects.
StreamRecord = ErrorRecord | WarningRecord | VerboseRecord | ProgressRecord | InformationalRecord
#: The same, for isinstance checks.
STREAM_RECORD_TYPES: tuple[type, ...] = (
    ErrorRecord,
    WarningRecord,
    VerboseRecord,
    ProgressRecord,
    InformationalRecord,
)


class CmdletError(Exception):
    """Raised inside the engine to end a command with an error record.

    ``terminating=True`` fails the whole pipeline (PowerShell's ThrowTerminatingError and
    parameter-binding errors); otherwise the record goes to the error stream and the pipeline goes on.
    """

    def __init__(self, record: ErrorRecord, *, terminating: bool = True) -> None:
        super().__init__(record.message)
        self.record = record
        self.terminating = terminating
