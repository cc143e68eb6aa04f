"""What every Exchange cmdlet family shares: object templates, recipient properties, identity
resolution per input object, listing with -ResultSize, and the write path of Set-/New-/Remove-.

A family module (``groups.py``, ``permissions.py``, ...) declares its :class:`ObjectTemplate`
(type names and properties with their defaults, in Exchange's order), builds objects from store
rows with it, and writes through :func:`update_recipient` / :func:`write_guarded`, so that
-WhatIf, -Confirm, "nothing modified" warnings and Exchange's error texts behave the same in every
cmdlet.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final

from aobo.cmdlets import texts
from aobo.cmdlets.binding import BoundParameters
from aobo.cmdlets.exchange.mailbox_object import PROXY_ADDRESS_COLLECTION as _PROXY_TYPES
from aobo.cmdlets.exchange.mailbox_object import (
    RECIPIENT_TYPE,
    RECIPIENT_TYPE_DETAILS,
    organization_id,
    organizational_unit,
)
from aobo.cmdlets.identity import resolve_recipient
from aobo.cmdlets.parameters import UNLIMITED, IdentityRef
from aobo.cmdlets.pipeline import Invocation
from aobo.cmdlets.results import (
    CmdletError,
    ErrorCategory,
    ErrorRecord,
    ExchangeObject,
    MultiValued,
    ObjectShape,
    WarningRecord,
)
from aobo.domain.configuration import ConfigObject
from aobo.domain.errors import AlreadyExists, NotFound, StoreError
from aobo.domain.models import Tenant

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


class ObjectTemplate:
    """One Exchange object type: type names, property order, and the value of each property when
    nothing else is known. ``make`` fills in what a row knows; an unknown property name is a bug
    and raises ``KeyError`` (``make(..., strict=False)`` skips them, for stored props)."""

    __slots__ = ("_defaults", "shape")

    def __init__(self, type_names: Sequence[str], defaults: Mapping[str, Any]) -> None:
        self.shape = ObjectShape(tuple(type_names), tuple(defaults))
        self._defaults = list(defaults.values())

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


def resolve_config(inv: Invocation, kind: str, identity: IdentityRef | str) -> ConfigObject | None:
    """The tenant configuration object of ``kind`` that ``identity`` names (name or GUID), or None
    after writing the not-found / ambiguous error."""
    text = str(identity)
    found = inv.ctx.store.config.find(inv.ctx.tenant.id, kind, text)
    if len(found) == 1:
        return found[0]
    record = (
        texts.object_not_found(text, inv.definition.name)
        if not found
        else texts.object_ambiguous(text, inv.definition.name)
    )
    inv.write(record)
    return None


# --- listing ---------------------------------------------------------------------------------------


def result_limit(bound: BoundParameters, default: int = DEFAULT_RESULT_SIZE) -> int | None:
    """``-ResultSize`` as a row limit; None for Unlimited."""
    size = bound.get("ResultSize", default)
    return None if size is UNLIMITED else int(size)


def limited(items: Iterator[Any], limit: int | None) -> Iterator[Any]:
    """``items`` up to ``limit``, then Exchange's "only the first N items" warning when there were more."""
    if limit is None:
        yield from items
        return
    for count, item in enumerate(items):
        if count >= limit:
            close = getattr(items, "close", None)
            if close is not None:
                close()
            yield WarningRecord(texts.RESULT_SIZE_WARNING.format(n=limit))
            return
        yield item


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
