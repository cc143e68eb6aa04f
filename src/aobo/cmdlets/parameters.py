"""Parameter types: turn what a client sent into the Python value a cmdlet works with.

Values arrive as plain Python values, as subclasses of them (psrpcore's deserialised ``PSString``,
``PSInt``, ``PSList``, ``PSDict``), as :class:`~aobo.cmdlets.results.ExchangeObject` (piped from an
earlier command) or as plain dicts (PSCustomObjects converted by a front end). Each type's
``convert`` either returns the converted value or raises :class:`ConversionError`; the binder adds
the parameter name and turns that into PowerShell's ParameterBindingException text.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

from aobo.cmdlets.enums import COMMAND_TYPES_VALUES, RECIPIENT_TYPE_DETAILS_VALUES
from aobo.cmdlets.results import EnumValue, ExchangeObject, MultiValued
from aobo.cmdlets.texts import CANNOT_CONVERT
from aobo.domain.sizes import format_size, parse_size


class ConversionError(Exception):
    """A value that does not convert. ``transform`` selects PowerShell's wording:

    * ``False``: ``Cannot bind parameter 'X'. <reason>`` (FQID ``CannotConvertArgumentNoMessage``),
      what PowerShell says when its own type conversion fails;
    * ``True``: ``Cannot process argument transformation on parameter 'X'. <reason>`` (FQID
      ``ParameterArgumentTransformationError``), what it says when an ArgumentTransformation
      attribute (Exchange's parameter types, [bool]) rejects the value.
    """

    def __init__(self, reason: str, *, transform: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transform = transform


def display(value: Any) -> str:
    """How PowerShell prints a value inside ``Cannot convert value "..."``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, ExchangeObject):
        return value.to_string or value.type_names[0]
    if isinstance(value, Mapping):
        return "System.Collections.Hashtable"
    if isinstance(value, list | tuple):
        return "System.Object[]"
    return str(value)


def cannot_convert(value: Any, type_name: str, error: str, *, transform: bool = False) -> ConversionError:
    return ConversionError(
        CANNOT_CONVERT.format(value=display(value), type=type_name, error=error), transform=transform
    )


def as_sequence(value: Any) -> list[Any]:
    """A parameter value as a list: PowerShell turns a scalar into a one-element array."""
    if isinstance(value, list | tuple | MultiValued):
        return list(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return [value]


def property_of(obj: Any, name: str) -> tuple[bool, Any]:
    """``(found, value)`` for a property of a piped object (ExchangeObject or mapping), ignoring case."""
    if isinstance(obj, ExchangeObject):
        i = obj.shape.index.get(name.lower())
        return (False, None) if i is None else (True, obj.values[i])
    if isinstance(obj, Mapping):
        if name in obj:
            return True, obj[name]
        lowered = name.lower()
        for key, value in obj.items():
            if isinstance(key, str) and key.lower() == lowered:
                return True, value
    return False, None


class ParameterType:
    """Base of every parameter type. ``dotnet_name`` is what GET_COMMAND_METADATA reports."""

    dotnet_name: str = "System.Object"
    is_switch: ClassVar[bool] = False

    def convert(self, value: Any) -> Any:
        return value

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.dotnet_name}>"


class ObjectType(ParameterType):
    """Anything, unchanged: ``-InputObject`` of the utility cmdlets."""

    def __init__(self, dotnet_name: str = "System.Management.Automation.PSObject") -> None:
        self.dotnet_name = dotnet_name


class ObjectArrayType(ParameterType):
    """``Object[]``: any values, as a tuple (``Select-Object -Property``, ``-ArgumentList``)."""

    def __init__(self, dotnet_name: str = "System.Object[]") -> None:
        self.dotnet_name = dotnet_name

    def convert(self, value: Any) -> Any:
        return None if value is None else tuple(as_sequence(value))


class StringType(ParameterType):
    """``String``, and .NET types that travel as their text."""

    def __init__(self, dotnet_name: str = "System.String") -> None:
        self.dotnet_name = dotnet_name

    def convert(self, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return None if value is None else str(value)
        if isinstance(value, list | tuple | MultiValued):
            # PowerShell joins arrays with $OFS (a space) when it must make one string.
            return " ".join(display(v) for v in value)
        return display(value)


class VersionType(StringType):
    """``System.Version``: two to four dot-separated non-negative numbers (as a tuple); anything else
    is refused with the binder's text, as PowerShell refuses it."""

    def __init__(self) -> None:
        super().__init__("System.Version")

    def convert(self, value: Any) -> Any:
        text = super().convert(value)
        if text is None:
            return None
        parts = text.strip().split(".")
        if not 2 <= len(parts) <= 4:
            raise cannot_convert(value, self.dotnet_name, "Version string portion was too short or too long.")
        if not all(p.strip().isascii() and p.strip().isdigit() for p in parts):
            raise cannot_convert(value, self.dotnet_name, "Input string was not in a correct format.")
        # Each part is an Int32 (and int() refuses over 4,300 digits).
        if any(len(p.strip()) > 10 or int(p) > 2**31 - 1 for p in parts):
            raise cannot_convert(value, self.dotnet_name, "Value was either too large or too small for an Int32.")
        return tuple(int(p) for p in parts)


class ArrayType(ParameterType):
    """An array of another type (``Int32[]``): each element converted by ``item``."""

    def __init__(self, item: ParameterType, dotnet_name: str | None = None) -> None:
        self.item = item
        self.dotnet_name = dotnet_name or f"{item.dotnet_name}[]"

    def convert(self, value: Any) -> Any:
        if value is None:
            return None
        return tuple(self.item.convert(v) for v in as_sequence(value))


class StringArrayType(ParameterType):
    dotnet_name = "System.String[]"

    def __init__(self, dotnet_name: str = "System.String[]") -> None:
        self.dotnet_name = dotnet_name

    def convert(self, value: Any) -> Any:
        if value is None:
            return None
        return tuple(display(v) for v in as_sequence(value))


_INT_RANGES: Final = {
    "System.Int32": (-(2**31), 2**31 - 1),
    "System.Int64": (-(2**63), 2**63 - 1),
    "System.UInt32": (0, 2**32 - 1),
}


class IntegerType(ParameterType):
    def __init__(self, dotnet_name: str = "System.Int32") -> None:
        self.dotnet_name = dotnet_name
        self.low, self.high = _INT_RANGES[dotnet_name]

    def _parse(self, value: str) -> int:
        text = value.strip()
        # Python's int() also takes "1_000"; .NET does not.
        if "_" not in text:
            try:
                return int(text, 16) if text.lower().startswith("0x") else int(text)
            except ValueError:
                pass
            try:
                # PowerShell converts "1e3" or "2.0" through double.
                return round(float(text))
            except (ValueError, OverflowError):
                pass
        raise cannot_convert(value, self.dotnet_name, "Input string was not in a correct format.")

    def convert(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, int):  # bool included: $true is 1
            number = int(value)
        elif isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                raise cannot_convert(value, self.dotnet_name, "Value was either too large or too small.")
            number = round(value)  # .NET rounds half to even, as Python does
        elif isinstance(value, str):
            number = self._parse(value)
        else:
            raise cannot_convert(
                value,
                self.dotnet_name,
                f'Cannot convert the "{display(value)}" value of '
                f'type "{type(value).__name__}" to type "{self.dotnet_name}".',
            )
        if not self.low <= number <= self.high:
            short = self.dotnet_name.rsplit(".", 1)[-1]
            raise cannot_convert(value, self.dotnet_name, f"Value was either too large or too small for an {short}.")
        return number


_TRUE_WORDS: Final = frozenset({"true", "$true", "1"})
_FALSE_WORDS: Final = frozenset({"false", "$false", "0"})


def _truth(value: Any) -> bool | None:
    """The boolean a [bool] or switch parameter reads from ``value``, or None if it has none."""
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in _TRUE_WORDS | _FALSE_WORDS:
        return value.strip().lower() in _TRUE_WORDS
    if isinstance(value, Mapping | ExchangeObject):
        found, present = property_of(value, "IsPresent")
        if found:
            return bool(present)
    return None


class BoolType(ParameterType):
    """``[bool]``: PowerShell accepts only booleans and numbers here.

    Strings ``true``/``false``/``$true``/``$false`` are accepted as well, because JEA-style clients
    that tokenise a command line (evil-winrm) send them as text; anything else gets PowerShell's text.
    """

    dotnet_name = "System.Boolean"

    def convert(self, value: Any) -> Any:
        if value is None:
            return None
        truth = _truth(value)
        if truth is not None:
            return truth
        type_name = "System.String" if isinstance(value, str) else display(value)
        raise ConversionError(
            f'Cannot convert value "{type_name}" to type "System.Boolean". Boolean parameters accept only '
            "Boolean values and numbers, such as $True, $False, 1 or 0.",
            transform=True,
        )


class SwitchType(ParameterType):
    """``SwitchParameter``: given without a value (``None``) it is present."""

    dotnet_name = "System.Management.Automation.SwitchParameter"
    is_switch = True

    def convert(self, value: Any) -> Any:
        if value is None:
            return True
        truth = _truth(value)
        if truth is not None:
            return truth
        raise cannot_convert(
            value,
            self.dotnet_name,
            f'Cannot convert the "{display(value)}" value of type "{type(value).__name__}" to type '
            f'"{self.dotnet_name}".',
        )


class _UnlimitedValue:
    """``Unlimited`` of Exchange's ``Unlimited<T>``: compares greater than any number."""

    _instance: ClassVar[_UnlimitedValue | None] = None

    def __new__(cls) -> _UnlimitedValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Unlimited"

    __str__ = __repr__

    def __gt__(self, other: object) -> bool:
        return other is not self

    def __lt__(self, other: object) -> bool:
        return False


UNLIMITED: Final = _UnlimitedValue()


class UnlimitedType(ParameterType):
    """``Unlimited<UInt32>`` (``-ResultSize``): the word ``Unlimited`` or a positive integer."""

    def __init__(self, inner: str = "System.UInt32") -> None:
        self.dotnet_name = f"Microsoft.Exchange.Data.Unlimited`1[{inner}]"
        self._int = IntegerType(inner)

    def convert(self, value: Any) -> Any:
        if value is None or value is UNLIMITED:
            return value
        if isinstance(value, str) and value.strip().lower() == "unlimited":
            return UNLIMITED
        try:
            number = self._int.convert(value)
        except ConversionError:
            raise cannot_convert(
                value,
                self.dotnet_name,
                f'The value "{display(value)}" isn\'t valid. Specify "Unlimited" or a positive integer.',
                transform=True,
            ) from None
        if number <= 0:
            raise cannot_convert(
                value,
                self.dotnet_name,
                f'The value "{display(value)}" isn\'t valid. Specify "Unlimited" or a positive integer.',
                transform=True,
            )
        return number


class UnlimitedSizeType(ParameterType):
    """``Unlimited<ByteQuantifiedSize>`` (mailbox quotas, message size limits): ``Unlimited``, a byte
    count, ``50GB``, ``49.5 GB`` or the long form Exchange shows, parsed by ByteQuantifiedSize's own
    rule (:func:`~aobo.domain.sizes.parse_size`, with its error text). Converted to a byte count or
    :data:`UNLIMITED`; with ``as_text``, to the text Exchange shows (:func:`size_text`), for
    configuration objects that store their values as shown."""

    dotnet_name = "Microsoft.Exchange.Data.Unlimited`1[Microsoft.Exchange.Data.ByteQuantifiedSize]"

    def __init__(self, *, as_text: bool = False) -> None:
        self.as_text = as_text

    def convert(self, value: Any) -> Any:
        if value is None:
            return None
        if value is UNLIMITED:
            size: Any = UNLIMITED
        else:
            try:
                size = size_value(display(value))
            except ValueError as e:
                raise cannot_convert(value, self.dotnet_name, str(e), transform=True) from None
        return size_text(size) if self.as_text else size


def size_text(size: Any) -> str:
    """An ``Unlimited<ByteQuantifiedSize>`` as Exchange shows it: ``Unlimited`` or ``99 GB (106,300,440,576 bytes)``."""
    return "Unlimited" if size is UNLIMITED else format_size(int(size))


def size_value(text: str) -> Any:
    """The byte count (or :data:`UNLIMITED`) of a size as :func:`size_text` shows it or a caller types it."""
    text = text.strip()
    return UNLIMITED if text.lower() == "unlimited" else parse_size(text)


class EnumType(ParameterType):
    """A .NET enum by name, case-insensitive, returned in canonical casing.

    ``multi=True`` is an array of it (``RecipientTypeDetails[]``): a list, or a comma-separated
    string, gives a tuple of names without duplicates, in the order given.
    """

    def __init__(self, dotnet_name: str, values: Mapping[str, int], *, multi: bool = False) -> None:
        self.enum_name = dotnet_name
        self.dotnet_name = dotnet_name + ("[]" if multi else "")
        self.values = dict(values)
        self.multi = multi
        self._by_lower = {name.lower(): name for name in values}
        self._by_number = {number: name for name, number in values.items()}

    def _one(self, value: Any, original: Any) -> str:
        if isinstance(value, EnumValue):
            value = value.name
        if isinstance(value, bool):
            raise self._error(original)
        if isinstance(value, int) and int(value) in self._by_number:
            return self._by_number[int(value)]
        text = str(value).strip()
        name = self._by_lower.get(text.lower())
        if name is None and text.isdigit() and int(text) in self._by_number:
            name = self._by_number[int(text)]
        if name is None:
            raise self._error(original)
        return name

    def _error(self, value: Any) -> ConversionError:
        names = ", ".join(self.values)
        return cannot_convert(
            value,
            self.dotnet_name,
            f"Unable to match the identifier name {display(value)} to a valid enumerator name. Specify one "
            f"of the following enumerator names and try again:\n{names}",
        )

    def convert(self, value: Any) -> Any:
        if value is None:
            return None
        if not self.multi:
            if isinstance(value, list | tuple) and len(value) == 1:
                value = value[0]
            return self._one(value, value)
        names: list[str] = []
        for item in as_sequence(value):
            parts = item.split(",") if isinstance(item, str) else [item]
            for part in parts:
                name = self._one(part, part)
                if name not in names:
                    names.append(name)
        return tuple(names)


@dataclass(frozen=True, slots=True)
class IdentityRef:
    """What an Identity parameter names: the text to resolve, and a GUID when the caller piped an
    object that carries one (resolving by GUID cannot be ambiguous). ``str()`` is what Exchange
    prints for it in messages."""

    value: str
    guid: uuid.UUID | None = None

    def __str__(self) -> str:
        return self.value


_IDENTITY_KEYS: Final = ("Identity", "Name", "DistinguishedName", "PrimarySmtpAddress")


class IdentityType(ParameterType):
    """An Exchange ``*IdParameter``: a string, a GUID, or an object (piped Exchange object, or a
    client-side PSCustomObject as a mapping) whose Guid and Identity are taken."""

    def __init__(self, dotnet_name: str = "Microsoft.Exchange.Configuration.Tasks.MailboxIdParameter") -> None:
        self.dotnet_name = dotnet_name

    def convert(self, value: Any) -> Any:
        if value is None or isinstance(value, IdentityRef):
            return value
        if isinstance(value, uuid.UUID):
            return IdentityRef(str(value), value)
        if isinstance(value, str):
            return IdentityRef(str(value).strip())
        if isinstance(value, ExchangeObject | Mapping):
            guid = None
            found, raw = property_of(value, "Guid")
            if found and raw:
                try:
                    guid = raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
                except ValueError:
                    guid = None
            for key in _IDENTITY_KEYS:
                found, text = property_of(value, key)
                if found and text:
                    return IdentityRef(display(text), guid)
            if guid is not None:
                return IdentityRef(str(guid), guid)
        if isinstance(value, list | tuple) and len(value) == 1:
            return self.convert(value[0])
        raise cannot_convert(
            value,
            self.dotnet_name,
            f'Cannot convert the "{display(value)}" value of type "{type(value).__name__}" to type '
            f'"{self.dotnet_name}".',
            transform=True,
        )


_SMTP_RE: Final = re.compile(r"^[^@\s]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")


class SmtpAddressType(ParameterType):
    """``ProxyAddress`` limited to SMTP (``-ForwardingSmtpAddress``): ``x@y`` or ``smtp:x@y``,
    returned as ``smtp:x@y`` the way Exchange stores it."""

    dotnet_name = "Microsoft.Exchange.Data.ProxyAddress"

    def convert(self, value: Any) -> Any:
        if value is None:
            return None
        text = display(value).strip()
        if not text:
            return None
        address = text[5:] if text.lower().startswith("smtp:") else text
        if not _SMTP_RE.match(address):
            raise cannot_convert(
                value,
                self.dotnet_name,
                f"The address '{text}' is invalid: \"{address}\" isn't a valid SMTP address.",
                transform=True,
            )
        return f"smtp:{address}"


@dataclass(frozen=True, slots=True)
class MultiValuedChange:
    """A change to a multi-valued property: ``replace`` the whole value, or ``add``/``remove`` items
    (Exchange's ``@{Add=...; Remove=...}`` syntax)."""

    replace: tuple[Any, ...] | None = None
    add: tuple[Any, ...] = ()
    remove: tuple[Any, ...] = ()

    def apply(self, current: Iterable[Any]) -> tuple[Any, ...]:
        if self.replace is not None:
            return self.replace
        lowered_remove = {_fold(v) for v in self.remove}
        result = [v for v in current if _fold(v) not in lowered_remove]
        seen = {_fold(v) for v in result}
        for v in self.add:
            if _fold(v) not in seen:
                result.append(v)
                seen.add(_fold(v))
        return tuple(result)


def _fold(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


class MultiValuedUpdate(ParameterType):
    """``MultiValuedProperty<T>`` on a Set- cmdlet: a whole new value, or a hashtable with Add and/or
    Remove keys (any case). Items are converted with ``item``."""

    def __init__(self, item: ParameterType | None = None, dotnet_name: str | None = None) -> None:
        self.item = item or StringType()
        element = self.item.dotnet_name
        self.dotnet_name = dotnet_name or f"Microsoft.Exchange.Data.MultiValuedProperty`1[{element}]"

    def _items(self, value: Any) -> tuple[Any, ...]:
        if value is None:
            return ()
        return tuple(self.item.convert(v) for v in as_sequence(value) if v is not None)

    def convert(self, value: Any) -> Any:
        if value is None:
            return MultiValuedChange(replace=())
        if isinstance(value, Mapping):
            keys = {str(k).lower(): k for k in value}
            unknown = set(keys) - {"add", "remove"}
            if unknown or not keys:
                raise cannot_convert(
                    value,
                    self.dotnet_name,
                    "A hash table can only contain the keys Add and Remove.",
                    transform=True,
                )
            add = self._items(value[keys["add"]]) if "add" in keys else ()
            remove = self._items(value[keys["remove"]]) if "remove" in keys else ()
            return MultiValuedChange(add=add, remove=remove)
        return MultiValuedChange(replace=self._items(value))


_DATE_FORMATS: Final = (
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d",
)


class DateTimeType(ParameterType):
    """``System.DateTime``: datetimes as they are, ISO 8601 or US-culture strings (the culture Exchange
    Online's runspace uses). Naive values are taken as UTC."""

    dotnet_name = "System.DateTime"

    def convert(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, str):
            text = value.strip()
            parsed: datetime | None = None
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                for fmt in _DATE_FORMATS:
                    try:
                        parsed = datetime.strptime(text, fmt)
                        break
                    except ValueError:
                        continue
            if parsed is not None:
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        raise cannot_convert(value, self.dotnet_name, "String was not recognized as a valid DateTime.")


class SecureStringType(ParameterType):
    """``SecureString``: passed through unchanged (psrpcore has decrypted it already); the audit
    log redacts it."""

    dotnet_name = "System.Security.SecureString"


ACTION_PREFERENCE: Final = EnumType(
    "System.Management.Automation.ActionPreference",
    {
        "SilentlyContinue": 0,
        "Stop": 1,
        "Continue": 2,
        "Inquire": 3,
        "Ignore": 4,
        "Suspend": 5,
    },
)

RECIPIENT_TYPE_DETAILS: Final = EnumType(
    "Microsoft.Exchange.Data.Directory.Recipient.RecipientTypeDetails",
    RECIPIENT_TYPE_DETAILS_VALUES,
    multi=True,
)

COMMAND_TYPES: Final = EnumType("System.Management.Automation.CommandTypes", COMMAND_TYPES_VALUES, multi=True)


def command_type_flags(names: Sequence[str] | None) -> int:
    """The flags of a converted ``-CommandType`` value; everything when none was given."""
    if not names:
        return COMMAND_TYPES_VALUES["All"]
    flags = 0
    for name in names:
        flags |= COMMAND_TYPES_VALUES[name]
    return flags
