"""Get-Mailbox and Set-Mailbox.

Get-Mailbox streams: without ``-Identity`` it walks the store's keyset-paginated listing and turns
each row into a Mailbox object as the consumer asks for it, reading ``ResultSize + 1`` rows so it
knows whether to add Exchange's "only the first N items" warning after the last object.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final

from aobo.cmdlets import texts
from aobo.cmdlets.binding import BoundParameters
from aobo.cmdlets.exchange.mailbox_object import MAILBOX_TYPE_NAMES, mailbox_factory
from aobo.cmdlets.identity import resolve_recipient
from aobo.cmdlets.parameters import (
    RECIPIENT_TYPE_DETAILS,
    UNLIMITED,
    BoolType,
    IdentityRef,
    IdentityType,
    SmtpAddressType,
    StringType,
    UnlimitedType,
)
from aobo.cmdlets.pipeline import Invocation
from aobo.cmdlets.registry import CmdletDefinition, Parameter, Registry, has_wildcards, wildcard
from aobo.cmdlets.results import (
    CmdletError,
    ErrorCategory,
    InformationalRecord,
    VerboseRecord,
    WarningRecord,
)
from aobo.domain.models import MAILBOX_DEFAULT_PROPS, MAILBOX_TYPES

DEFAULT_RESULT_SIZE: Final = 1000
_MAILBOX_ID: Final = "Microsoft.Exchange.Configuration.Tasks.MailboxIdParameter"

# --- Get-Mailbox -------------------------------------------------------------------------------


def _anr(text: str) -> Callable[[Any], bool]:
    """Ambiguous name resolution: a prefix of a name-like attribute, or of "First Last"."""
    needle = text.strip().lower()

    def match(row: Any) -> bool:
        first, last = (row.first_name or "").lower(), (row.last_name or "").lower()
        candidates = (
            row.name,
            row.alias,
            row.display_name,
            row.user_principal_name or "",
            row.primary_smtp_address,
        )
        return (
            any(c.lower().startswith(needle) for c in candidates)
            or first.startswith(needle)
            or last.startswith(needle)
            or f"{first} {last}".startswith(needle)
            or f"{last} {first}".startswith(needle)
        )

    return match


def _identity_pattern(pattern: str) -> Callable[[Any], bool]:
    """A wildcard ``-Identity`` (``Alex*``): matched against the identity-like attributes."""
    regex = wildcard(pattern)

    def match(row: Any) -> bool:
        return any(
            regex.match(c) is not None
            for c in (
                row.name,
                row.alias,
                row.display_name,
                row.primary_smtp_address,
                row.user_principal_name or "",
            )
        )

    return match


def _list(
    inv: Invocation,
    make: Callable[[Any], Any],
    types: Sequence[str] | None,
    result_size: Any,
    predicate: Callable[[Any], bool] | None,
) -> Iterator[Any]:
    limit = None if result_size is UNLIMITED else int(result_size)
    # Without a predicate the store can stop for us; one row more tells whether there are more.
    fetch = None if limit is None or predicate is not None else limit + 1
    rows = inv.ctx.store.iter_mailboxes(inv.ctx.tenant.id, recipient_type_details=types, limit=fetch)
    more = False
    count = 0
    try:
        for row in rows:
            if predicate is not None and not predicate(row):
                continue
            if limit is not None and count >= limit:
                more = True
                break
            count += 1
            yield make(row)
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()
    if more:
        # Exchange writes the warning after the items.
        yield WarningRecord(texts.RESULT_SIZE_WARNING.format(n=limit))


def _get_mailbox(inv: Invocation) -> Iterator[Any]:
    make = mailbox_factory(inv.ctx.tenant)
    for bound in inv.each():
        if bound.is_bound("Filter"):
            raise CmdletError(texts.not_supported(texts.FILTER_NOT_SUPPORTED, "Get-Mailbox"), terminating=True)
        if bound.is_bound("SortBy"):
            yield VerboseRecord(f"SortBy {bound['SortBy']} is accepted but not applied; results are in creation order.")
        requested = bound.get("RecipientTypeDetails")
        types: Sequence[str] = tuple(t for t in requested if t in MAILBOX_TYPES) if requested else MAILBOX_TYPES
        result_size = bound.get("ResultSize", DEFAULT_RESULT_SIZE)
        identity: IdentityRef | None = bound.get("Identity")
        if identity is not None and not (identity.guid is None and has_wildcards(identity.value)):
            try:
                row = resolve_recipient(inv.ctx, identity, "Get-Mailbox", recipient_type_details=types)
            except CmdletError as e:
                if e.terminating:
                    raise
                yield e.record
                continue
            yield make(row)
            continue
        if not types:
            continue
        predicate = None
        if identity is not None:
            predicate = _identity_pattern(identity.value)
        elif bound.get("Anr"):
            predicate = _anr(bound["Anr"])
        yield from _list(inv, make, types, result_size, predicate)


GET_MAILBOX: Final = CmdletDefinition(
    name="Get-Mailbox",
    handler=_get_mailbox,
    parameters=(
        Parameter(
            "Identity",
            IdentityType(_MAILBOX_ID),
            position=0,
            parameter_sets=("Identity",),
            value_from_pipeline=True,
            value_from_pipeline_by_property_name=True,
            help="The mailbox: name, alias, display name, DN, UPN, email address, GUID or ExchangeGuid.",
        ),
        Parameter("Anr", StringType(), parameter_sets=("AnrSet",), help="Ambiguous name resolution."),
        Parameter("Filter", StringType(), help="OPATH filter (not supported yet)."),
        Parameter("RecipientTypeDetails", RECIPIENT_TYPE_DETAILS),
        Parameter("ResultSize", UnlimitedType(), default=DEFAULT_RESULT_SIZE),
        Parameter("SortBy", StringType()),
    ),
    default_parameter_set="Identity",
    output_type=(MAILBOX_TYPE_NAMES[0],),
    synopsis="Gets mailbox objects and attributes.",
    area="recipient",
    help_uri="https://learn.microsoft.com/powershell/module/exchange/get-mailbox",
)

# --- Set-Mailbox -------------------------------------------------------------------------------

_SETTABLE: Final[tuple[str, ...]] = (
    "DisplayName",
    "HiddenFromAddressListsEnabled",
    "ForwardingSmtpAddress",
    "DeliverToMailboxAndForward",
    *(f"CustomAttribute{i}" for i in range(1, 16)),
)
_COLUMNS: Final = {
    "DisplayName": "display_name",
    "HiddenFromAddressListsEnabled": "hidden_from_address_lists_enabled",
    "ForwardingSmtpAddress": "forwarding_smtp_address",
    "DeliverToMailboxAndForward": "deliver_to_mailbox_and_forward",
}


def _current(row: Any, props: dict[str, Any], name: str) -> Any:
    column = _COLUMNS.get(name)
    if column is not None:
        return getattr(row, column)
    return props.get(name, MAILBOX_DEFAULT_PROPS.get(name))


def _changes(bound: BoundParameters) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in _SETTABLE:
        if not bound.is_bound(name):
            continue
        value = bound[name]
        if name.startswith("CustomAttribute") and value is None:
            value = ""  # $null clears it; Exchange then reports an empty string
        changes[name] = value
    return changes


def _invalid(message: str, identity: str) -> Any:
    return texts.task_error(
        message,
        "Microsoft.Exchange.Data.DataValidationException",
        "Set-Mailbox",
        "Validation",
        category=ErrorCategory.NotSpecified,
        target=identity,
    )


def _set_mailbox(inv: Invocation) -> Iterator[Any]:
    ctx = inv.ctx
    for bound in inv.each():
        identity: IdentityRef = bound["Identity"]
        try:
            row = resolve_recipient(ctx, identity, "Set-Mailbox", recipient_type_details=MAILBOX_TYPES)
        except CmdletError as e:
            if e.terminating:
                raise
            yield e.record
            continue
        changes = _changes(bound)
        problem = _validate(changes)
        if problem is not None:
            yield _invalid(problem, str(identity))
            continue
        if inv.whatif:
            yield InformationalRecord(texts.WHATIF_SET_MAILBOX.format(id=identity))
            continue
        props = json.loads(row.props or "{}")
        if all(_current(row, props, k) == v for k, v in changes.items()):
            yield WarningRecord(texts.NOTHING_MODIFIED.format(id=identity))
            continue
        try:
            ctx.store.update_recipient(ctx.tenant.id, row.id, changes)
        except ValueError as e:
            yield _invalid(str(e), str(identity))


def _validate(changes: dict[str, Any]) -> str | None:
    """What Exchange's property validation would refuse before writing, if anything."""
    if "DisplayName" in changes and not (changes["DisplayName"] or "").strip():
        return "The DisplayName property can't be empty."
    for flag in ("HiddenFromAddressListsEnabled", "DeliverToMailboxAndForward"):
        if flag in changes and changes[flag] is None:
            return f"The {flag} property can't be $null."
    return None


SET_MAILBOX: Final = CmdletDefinition(
    name="Set-Mailbox",
    handler=_set_mailbox,
    parameters=(
        Parameter(
            "Identity",
            IdentityType(_MAILBOX_ID),
            mandatory=True,
            position=0,
            parameter_sets=("Identity",),
            value_from_pipeline=True,
            value_from_pipeline_by_property_name=True,
        ),
        Parameter("DisplayName", StringType()),
        Parameter("HiddenFromAddressListsEnabled", BoolType()),
        Parameter("ForwardingSmtpAddress", SmtpAddressType()),
        Parameter("DeliverToMailboxAndForward", BoolType()),
        *(Parameter(f"CustomAttribute{i}", StringType()) for i in range(1, 16)),
    ),
    default_parameter_set="Identity",
    writes=True,
    confirm_impact="Medium",
    synopsis="Modifies the settings of existing mailboxes.",
    area="recipient",
    help_uri="https://learn.microsoft.com/powershell/module/exchange/set-mailbox",
)

MAILBOX_CMDLETS: Final = (GET_MAILBOX, SET_MAILBOX)


def register_mailbox_cmdlets(registry: Registry) -> None:
    for definition in MAILBOX_CMDLETS:
        registry.register(definition)
