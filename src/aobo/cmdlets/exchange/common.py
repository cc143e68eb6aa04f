"""What every Exchange cmdlet family shares: object templates, recipient properties, identity
resolution per input object, listing with -ResultSize, and the write path of Set-/New-/Remove-.

A family module (``groups.py``, ``permissions.py``, ...) declares its :class:`ObjectTemplate`
(type names and properties with their defaults, in Exchange's order), builds objects from store
rows with it, and writes through :func:`update_recipient` / :func:`write_guarded`, so that
-WhatIf, -Confirm, "nothing modified" warnings and Exchange's error texts behave the same in every
cmdlet.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa

from aobo.cmdlets import texts
from aobo.cmdlets.binding import BoundParameters
from aobo.cmdlets.enums import RECIPIENT_TYPE_DETAILS_VALUES, RECIPIENT_TYPE_VALUES
from aobo.cmdlets.exchange.mailbox_object import (
    MAILBOX_DEFAULTS,
    MAILBOX_SHAPE,
    RECIPIENT_TYPE,
    RECIPIENT_TYPE_DETAILS,
    organization_id,
    organizational_unit,
)
from aobo.cmdlets.exchange.mailbox_object import PROXY_ADDRESS_COLLECTION as _PROXY_TYPES
from aobo.cmdlets.filters import (
    CompiledFilter,
    ElementRows,
    FilterError,
    FilterProperty,
    compile_filter,
    filter_error_record,
    parse_filter,
)
from aobo.cmdlets.identity import resolve_recipient
from aobo.cmdlets.parameters import UNLIMITED, IdentityRef, IdentityType
from aobo.cmdlets.pipeline import Invocation
from aobo.cmdlets.registry import Parameter
from aobo.cmdlets.results import (
    CmdletError,
    EnumValue,
    ErrorCategory,
    ErrorRecord,
    ExchangeObject,
    MultiValued,
    ObjectShape,
    WarningRecord,
)
from aobo.domain.errors import AlreadyExists, NotFound, StoreError
from aobo.domain.models import Tenant
from aobo.domain.schema import recipient_addresses, recipients

DEFAULT_RESULT_SIZE: Final = 1000

#: The base classes every directory object Exchange returns derives from, after its own.
AD_PRESENTATION_BASES: Final = (
    "Microsoft.Exchange.Data.Directory.ADPresentationObject",
    "Microsoft.Exchange.Data.Directory.ADObject",
    "Microsoft.Exchange.Data.Directory.ConfigurableObject",
    "System.Object",
)
#: Tenant configuration objects (OrganizationConfig, RemoteDomain, policies) derive from ADConfigurationObject.
AD_CONFIGURATION_BASES: Final = (
    "Microsoft.Exchange.Data.Directory.ADConfigurationObject",
    "Microsoft.Exchange.Data.Directory.ADObject",
    "Microsoft.Exchange.Data.Directory.ConfigurableObject",
    "System.Object",
)

DATA_VALIDATION: Final = "Microsoft.Exchange.Data.DataValidationException"
INVALID_OPERATION: Final = "System.InvalidOperationException"
ALREADY_EXISTS: Final = "Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException"


#: Each object shape's default values, so a -Filter on it knows every property's type.
_SHAPE_DEFAULTS: dict[int, tuple[ObjectShape, Sequence[Any]]] = {}


def register_shape(shape: ObjectShape, defaults: Sequence[Any]) -> None:
    """Tell the filter engine the value types of ``shape``'s properties (by their defaults)."""
    _SHAPE_DEFAULTS[id(shape)] = (shape, defaults)


register_shape(MAILBOX_SHAPE, MAILBOX_DEFAULTS)


class ObjectTemplate:
    """One Exchange object type: type names, property order, and the value of each property when
    nothing else is known. ``make`` fills in what a row knows; an unknown property name is a bug
    and raises ``KeyError`` (``make(..., strict=False)`` skips them, for stored props)."""

    __slots__ = ("_defaults", "shape")

    def __init__(self, type_names: Sequence[str], defaults: Mapping[str, Any]) -> None:
        self.shape = ObjectShape(tuple(type_names), tuple(defaults))
        self._defaults = list(defaults.values())
        register_shape(self.shape, self._defaults)

    @property
    def type_name(self) -> str:
        return self.shape.type_names[0]

    def make(self, values: Mapping[str, Any], to_string: str | None = None, *, strict: bool = True) -> ExchangeObject:
        v = self._defaults.copy()
        index = self.shape.index
        for name, value in values.items():
            i = index.get(name.lower())
            if i is None:
                if strict:
                    raise KeyError(f"{self.type_name} has no property {name!r}")
                continue
            v[i] = value
        return ExchangeObject(self.shape, tuple(v), to_string)


def row_props(row: Any) -> dict[str, Any]:
    """A recipient's stored props (only what differs from its kind's defaults)."""
    text = row.props
    return json.loads(text) if text and text != "{}" else {}


def email_addresses(row: Any) -> MultiValued:
    return MultiValued(tuple(json.loads(row.email_addresses)), _PROXY_TYPES)


def recipient_values(row: Any, tenant: Tenant) -> dict[str, Any]:
    """The properties every recipient object (User, Recipient, DistributionGroup, MailContact...)
    computes the same way from its row; a family adds its own on top."""
    return {
        "Identity": row.name,
        "Id": row.name,
        "Name": row.name,
        "DisplayName": row.display_name,
        "Alias": row.alias,
        "Guid": uuid.UUID(row.guid),
        "ExchangeObjectId": uuid.UUID(row.guid),
        "ExternalDirectoryObjectId": row.external_directory_object_id,
        "DistinguishedName": row.distinguished_name,
        "PrimarySmtpAddress": row.primary_smtp_address,
        "EmailAddresses": email_addresses(row),
        "RecipientType": RECIPIENT_TYPE.get(row.recipient_type) or row.recipient_type,
        "RecipientTypeDetails": RECIPIENT_TYPE_DETAILS.get(row.recipient_type_details) or row.recipient_type_details,
        "HiddenFromAddressListsEnabled": row.hidden_from_address_lists_enabled,
        "OrganizationalUnit": organizational_unit(tenant),
        "OrganizationId": organization_id(tenant),
        "WhenCreated": row.when_created,
        "WhenChanged": row.when_changed,
        "WhenCreatedUTC": row.when_created,
        "WhenChangedUTC": row.when_changed,
    }


# --- errors ----------------------------------------------------------------------------------------


def task_error(
    inv: Invocation,
    message: str,
    exception: str = DATA_VALIDATION,
    *,
    target: Any = None,
    site: str = "Validation",
    category: ErrorCategory = ErrorCategory.NotSpecified,
) -> ErrorRecord:
    """An error record of the running cmdlet, in Exchange's form."""
    return texts.task_error(message, exception, inv.definition.name, site, category=category, target=target)


def fail(inv: Invocation, message: str, exception: str = DATA_VALIDATION, *, target: Any = None) -> CmdletError:
    """A non-terminating task error to raise (the engine writes it and goes on with the next object)."""
    return CmdletError(task_error(inv, message, exception, target=target), terminating=False)


# --- identities ------------------------------------------------------------------------------------


def identity_parameter(
    dotnet: str, *, mandatory: bool = False, parameter_sets: tuple[str, ...] | None = None
) -> Parameter:
    """Exchange's ``-Identity``: positional, and bound from piped objects by value and by name."""
    return Parameter(
        "Identity",
        IdentityType(dotnet),
        mandatory=mandatory,
        position=0,
        value_from_pipeline=True,
        value_from_pipeline_by_property_name=True,
        **({"parameter_sets": parameter_sets} if parameter_sets else {}),
    )


def resolve(inv: Invocation, identity: IdentityRef | str, types: Sequence[str] | None) -> Any | None:
    """The recipient row ``identity`` names among ``types`` (all kinds when None), or None after
    writing Exchange's not-found / ambiguous error for the running cmdlet."""
    try:
        return resolve_recipient(inv.ctx, identity, inv.definition.name, recipient_type_details=types)
    except CmdletError as e:
        if e.terminating:
            raise
        inv.write(e.record)
        return None


def resolve_each(
    inv: Invocation, types: Sequence[str] | None, parameter: str = "Identity"
) -> Iterator[tuple[BoundParameters, Any]]:
    """For each input object: its bound parameters and the recipient its ``parameter`` names.
    Objects whose identity does not resolve are reported and skipped."""
    for bound in inv.each():
        row = resolve(inv, bound[parameter], types)
        if row is not None:
            yield bound, row


# --- listing ---------------------------------------------------------------------------------------


def result_limit(bound: BoundParameters, default: int = DEFAULT_RESULT_SIZE) -> int | None:
    """``-ResultSize`` as a row limit; None for Unlimited."""
    size = bound.get("ResultSize", default)
    return None if size is UNLIMITED else int(size)


def result_cut_warning(bound: BoundParameters, limit: int) -> WarningRecord:
    """The warning after a result cut at ``limit`` items, the one rule for every -ResultSize cmdlet.

    Exchange's GetTaskBase.WriteResult writes it when one more object would pass the limit:
    ``WarningDefaultResultSizeReached`` ("By default, only the first 1000 items...") when the caller
    gave no -ResultSize, ``WarningMoreResultsAvailable`` ("There are more results available...") when
    the caller's own -ResultSize cut the result, even one equal to the default.
    """
    if bound.is_bound("ResultSize"):
        return WarningRecord(texts.MORE_RESULTS_AVAILABLE)
    return WarningRecord(texts.RESULT_SIZE_WARNING.format(n=limit))


def limited(items: Iterator[Any], bound: BoundParameters) -> Iterator[Any]:
    """``items`` up to ``-ResultSize`` (:func:`result_limit`), then :func:`result_cut_warning` when there were more."""
    limit = result_limit(bound)
    if limit is None:
        yield from items
        return
    for count, item in enumerate(items):
        if count >= limit:
            close = getattr(items, "close", None)
            if close is not None:
                close()
            yield result_cut_warning(bound, limit)
            return
        yield item


# --- -Filter --------------------------------------------------------------------------------------

_r = recipients.c
#: Recipient properties that have a column: a filter on them becomes SQL (and uses the indexes on
#: lower(column) where there is one). Everything else is checked on the built object.
_RECIPIENT_COLUMNS: Final[dict[str, FilterProperty]] = {
    p.name.lower(): p
    for p in (
        *(
            FilterProperty(name, "string", _r[column], lower_indexed=True)
            for name, column in (
                ("Name", "name"),
                ("Alias", "alias"),
                ("DisplayName", "display_name"),
                ("UserPrincipalName", "user_principal_name"),
                ("PrimarySmtpAddress", "primary_smtp_address"),
                ("WindowsEmailAddress", "primary_smtp_address"),
                ("DistinguishedName", "distinguished_name"),
                ("Identity", "name"),
            )
        ),
        FilterProperty("FirstName", "string", _r.first_name),
        FilterProperty("LastName", "string", _r.last_name),
        FilterProperty("ForwardingSmtpAddress", "string", _r.forwarding_smtp_address),
        FilterProperty("ForwardingAddress", "string", _r.forwarding_address),
        FilterProperty(
            "RecipientTypeDetails",
            "enum",
            _r.recipient_type_details,
            enum_names=tuple(RECIPIENT_TYPE_DETAILS_VALUES),
            dotnet_type="Microsoft.Exchange.Data.Directory.Recipient.RecipientTypeDetails",
        ),
        FilterProperty(
            "RecipientType",
            "enum",
            _r.recipient_type,
            enum_names=tuple(RECIPIENT_TYPE_VALUES),
            dotnet_type="Microsoft.Exchange.Data.Directory.Recipient.RecipientType",
        ),
        FilterProperty("HiddenFromAddressListsEnabled", "bool", _r.hidden_from_address_lists_enabled),
        FilterProperty("DeliverToMailboxAndForward", "bool", _r.deliver_to_mailbox_and_forward),
        FilterProperty("WhenCreated", "datetime", _r.when_created),
        FilterProperty("WhenChanged", "datetime", _r.when_changed),
        FilterProperty("WhenCreatedUTC", "datetime", _r.when_created),
        FilterProperty("WhenChangedUTC", "datetime", _r.when_changed),
        FilterProperty("Guid", "guid", _r.guid),
        FilterProperty("ExchangeGuid", "guid", _r.exchange_guid),
        FilterProperty("ExternalDirectoryObjectId", "guid", _r.external_directory_object_id),
    )
}


#: Text properties kept in a recipient's props JSON that Exchange lets every recipient cmdlet filter
#: on, whether or not the output object shows them (Get-Mailbox -Filter "Department -eq 'Sales'").
_PROPS_TEXT: Final = (
    "Department",
    "Office",
    "Company",
    "City",
    "Title",
    "StateOrProvince",
    "CountryOrRegion",
    *(f"CustomAttribute{i}" for i in range(1, 16)),
)


def _props_text(key: str) -> Any:
    return sa.type_coerce(_r.props, sa.JSON)[key].as_string()


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, uuid.UUID):
        return "guid"
    if isinstance(value, EnumValue):
        return "enum"
    if isinstance(value, MultiValued | list | tuple):
        return "multi"
    return "string"


@functools.cache
def _filterable(shape: ObjectShape, with_columns: bool) -> dict[str, FilterProperty]:
    """Every property of ``shape`` as a filterable property, typed by its default value; recipient
    columns carry their SQL expression when ``with_columns``."""
    known = _SHAPE_DEFAULTS.get(id(shape))
    defaults: Sequence[Any] = known[1] if known is not None else [None] * len(shape.property_names)
    properties: dict[str, FilterProperty] = {}
    for name, default in zip(shape.property_names, defaults, strict=True):
        column = _RECIPIENT_COLUMNS.get(name.lower()) if with_columns else None
        if with_columns and name in _PROPS_TEXT:
            properties[name.lower()] = FilterProperty(name, "string", _props_text(name))
        elif column is not None:
            properties[name.lower()] = replace(column, name=name)
        elif isinstance(default, EnumValue):
            enum_type = default.type_names[0]
            properties[name.lower()] = FilterProperty(name, "enum", dotnet_type=enum_type)
        else:
            properties[name.lower()] = FilterProperty(name, _kind(default))
    if with_columns:
        for name in _PROPS_TEXT:
            properties.setdefault(name.lower(), FilterProperty(name, "string", _props_text(name)))
    return properties


def _with_addresses(properties: dict[str, FilterProperty], tenant_id: int) -> dict[str, FilterProperty]:
    """EmailAddresses tested in SQL through recipient_addresses (one row per proxy address, lower
    case, indexed by tenant and address), scoped to the tenant so the index serves."""
    known = properties.get("emailaddresses")
    if known is None:
        return properties
    a = recipient_addresses.c

    def ids(condition: Any) -> Any:
        return sa.select(a.recipient_id).where(a.tenant_id == tenant_id, condition)

    elements = ElementRows(owner=_r.id, prefix=a.prefix, value=a.address_lower, ids=ids)
    return {**properties, "emailaddresses": replace(known, elements=elements)}


def _compile(inv: Invocation, text: str, properties: Mapping[str, FilterProperty]) -> CompiledFilter:
    try:
        return compile_filter(parse_filter(text, properties), properties)
    except FilterError as e:
        raise CmdletError(filter_error_record(e, inv.definition.name), terminating=True) from None


def apply_filter(inv: Invocation, bound: BoundParameters, objects: Iterable[Any]) -> Iterator[Any]:
    """``objects`` that pass the command's ``-Filter`` (all of them when it has none), evaluated
    on the objects themselves: for lists that do not come from the recipients table."""
    text = bound.get("Filter")
    if text is None:
        yield from objects
        return
    compiled: CompiledFilter | None = None
    for obj in objects:
        if not isinstance(obj, ExchangeObject):
            yield obj
            continue
        if compiled is None:
            compiled = _compile(inv, text, _filterable(obj.shape, False))
        if compiled.matches(obj):
            yield obj


def list_recipients(
    inv: Invocation,
    bound: BoundParameters,
    make: Callable[[Any], ExchangeObject],
    types: Sequence[str] | None,
    *,
    shape: ObjectShape | None = None,
) -> Iterator[Any]:
    """The tenant's recipients of ``types`` as objects, honouring ``-Filter`` and ``-ResultSize``.

    The filter's column conditions go to SQL (so a filter on Name, Alias, addresses or
    RecipientTypeDetails uses the indexes and never scans in Python); the rest is checked on each
    object. ``shape`` is the objects' shape; without it one row is read to learn it.
    """
    ctx = inv.ctx
    limit = result_limit(bound)
    text = bound.get("Filter")
    where: list[Any] = []
    residual: Callable[[Any], bool] | None = None
    if text is not None:
        if shape is None:
            probe = list(ctx.store.iter_recipients(ctx.tenant.id, recipient_type_details=types, limit=1))
            if not probe:
                # Nothing to filter; the syntax is still checked, as Exchange parses before it reads.
                _compile(inv, text, {})
                return
            shape = make(probe[0]).shape
        compiled = _compile(inv, text, _with_addresses(_filterable(shape, True), ctx.tenant.id))
        if compiled.sql is not None:
            where.append(compiled.sql)
        residual = compiled.residual
    fetch = None if limit is None or residual is not None else limit + 1
    rows = ctx.store.iter_recipients(ctx.tenant.id, recipient_type_details=types, limit=fetch, where=where)
    objects = (make(row) for row in rows)
    if residual is not None:
        objects = (obj for obj in objects if residual(obj))
    yield from limited(objects, bound)


# --- writes ----------------------------------------------------------------------------------------


def nothing_modified(identity: Any) -> WarningRecord:
    return WarningRecord(texts.NOTHING_MODIFIED.format(id=identity))


def differs(current: Any, wanted: Any) -> bool:
    """Would writing ``wanted`` over ``current`` change anything a client can see?"""
    if isinstance(current, list | tuple | MultiValued) or isinstance(wanted, list | tuple | MultiValued):
        return list(current or ()) != list(wanted or ())
    if isinstance(current, str) and isinstance(wanted, str):
        return current != wanted
    return bool(current != wanted)


def update_recipient(
    inv: Invocation,
    row: Any,
    identity: Any,
    changes: Callable[[Any], Mapping[str, Any]],
    what_if: str,
) -> Any | None:
    """Change one recipient the way every Set- cmdlet does.

    ``changes`` gets the recipient's row as it is inside the write transaction and returns the
    properties to write (Exchange names; only those that really change: an empty result writes
    nothing and warns "no settings ... have been modified"). Honours -WhatIf/-Confirm via
    ``what_if`` (Exchange's sentence, e.g. ``Setting mailbox "x".``). Returns the new row, or None
    when nothing was written; validation errors raised by ``changes`` as :class:`CmdletError`, and
    store conflicts (a proxy address already in use), are written as the cmdlet's errors.
    """
    if not inv.should_process(what_if):
        return None
    ctx = inv.ctx
    try:
        new = ctx.store.update_recipient(ctx.tenant.id, row.id, changes)
    except CmdletError as e:
        if e.terminating:
            raise
        inv.write(e.record)
        return None
    except AlreadyExists as e:
        inv.write(task_error(inv, str(e), "Microsoft.Exchange.Data.ProxyAddressExistsException", target=identity))
        return None
    except ValueError as e:
        inv.write(task_error(inv, str(e), target=identity))
        return None
    except NotFound:
        inv.write(texts.object_not_found(str(identity), inv.definition.name))
        return None
    except StoreError as e:
        inv.write(task_error(inv, str(e), INVALID_OPERATION, target=identity))
        return None
    if new is row or new.when_changed == row.when_changed:
        inv.write(nothing_modified(identity))
        return None
    return new


def write_guarded(inv: Invocation, identity: Any, what_if: str, action: Callable[[], Any]) -> Any | None:
    """Run one write (``action``) behind -WhatIf/-Confirm, turning the store's refusals into the
    cmdlet's errors. Returns what ``action`` returned, or None when it did not run or failed."""
    if not inv.should_process(what_if):
        return None
    try:
        return action()
    except CmdletError as e:
        if e.terminating:
            raise
        inv.write(e.record)
    except AlreadyExists as e:
        inv.write(task_error(inv, str(e), ALREADY_EXISTS, target=identity))
    except NotFound:
        inv.write(texts.object_not_found(str(identity), inv.definition.name))
    except ValueError as e:
        inv.write(task_error(inv, str(e), target=identity))
    except StoreError as e:
        inv.write(task_error(inv, str(e), INVALID_OPERATION, target=identity))
    return None


def remove_recipient(inv: Invocation, row: Any, identity: Any, what_if: str) -> None:
    """The Remove- path of every recipient kind: behind -WhatIf/-Confirm, the recipient goes with
    everything that hangs off it (addresses, memberships, permissions, rules, statistics)."""
    ctx = inv.ctx
    write_guarded(inv, identity, what_if, lambda: ctx.store.delete_recipient(ctx.tenant.id, row.id))
