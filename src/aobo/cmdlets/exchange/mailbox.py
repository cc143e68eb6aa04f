"""Get-Mailbox, Set-Mailbox, New-Mailbox and Remove-Mailbox.

Get-Mailbox streams: without ``-Identity`` it walks the store's keyset-paginated listing and turns
each row into a Mailbox object as the consumer asks for it, reading ``ResultSize + 1`` rows so it
knows whether to add Exchange's cut-result warning (:func:`common.result_cut_warning`) after the
last object; a ``-Filter`` goes through :func:`common.list_recipients`. Set-Mailbox computes its
changes from the row inside the write transaction, so concurrent ``@{Add=...}`` updates never lose
one another.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final

from aobo.cmdlets import roles, texts
from aobo.cmdlets.binding import BoundParameters
from aobo.cmdlets.exchange import common
from aobo.cmdlets.exchange.mailbox_object import (
    MAILBOX_SHAPE,
    MAILBOX_TYPE_NAMES,
    mailbox_factory,
    organizational_unit,
)
from aobo.cmdlets.identity import resolve_recipient
from aobo.cmdlets.parameters import (
    RECIPIENT_TYPE_DETAILS,
    UNLIMITED,
    BoolType,
    EnumType,
    IdentityRef,
    IdentityType,
    MultiValuedChange,
    MultiValuedUpdate,
    SecureStringType,
    SmtpAddressType,
    StringType,
    SwitchType,
    UnlimitedSizeType,
    UnlimitedType,
    size_text,
    size_value,
)
from aobo.cmdlets.pipeline import Invocation
from aobo.cmdlets.registry import CmdletDefinition, Parameter, Registry, has_wildcards, wildcard
from aobo.cmdlets.results import CmdletError, VerboseRecord
from aobo.domain.errors import ProxyAddressConflict
from aobo.domain.models import MAILBOX_DEFAULT_PROPS, MAILBOX_TYPES, NewRecipient, utcnow

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
    wanted = wildcard(pattern)

    def match(row: Any) -> bool:
        return any(
            wanted.match(c)
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
    bound: BoundParameters,
    predicate: Callable[[Any], bool] | None,
) -> Iterator[Any]:
    limit = common.result_limit(bound)
    # Without a predicate the store can stop for us; one row more tells whether there are more.
    fetch = None if limit is None or predicate is not None else limit + 1
    rows = inv.ctx.store.iter_mailboxes(inv.ctx.tenant.id, recipient_type_details=types, limit=fetch)
    try:
        yield from common.limited((make(row) for row in rows if predicate is None or predicate(row)), bound)
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()


def _get_mailbox(inv: Invocation) -> Iterator[Any]:
    make = mailbox_factory(inv.ctx.tenant)
    for bound in inv.each():
        if bound.is_bound("SortBy"):
            yield VerboseRecord(f"SortBy {bound['SortBy']} is accepted but not applied; results are in creation order.")
        requested = bound.get("RecipientTypeDetails")
        types: Sequence[str] = tuple(t for t in requested if t in MAILBOX_TYPES) if requested else MAILBOX_TYPES
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
        if bound.is_bound("Filter") and identity is None and not bound.get("Anr"):
            yield from common.list_recipients(inv, bound, make, types, shape=MAILBOX_SHAPE)
            continue
        predicate = None
        if identity is not None:
            predicate = _identity_pattern(identity.value)
        elif bound.get("Anr"):
            predicate = _anr(bound["Anr"])
        yield from _list(inv, make, types, bound, predicate)


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
        Parameter("Filter", StringType(), help="OPATH filter."),
        Parameter("RecipientTypeDetails", RECIPIENT_TYPE_DETAILS),
        Parameter("ResultSize", UnlimitedType(), default=common.DEFAULT_RESULT_SIZE),
        Parameter("SortBy", StringType()),
    ),
    default_parameter_set="Identity",
    output_type=(MAILBOX_TYPE_NAMES[0],),
    synopsis="Gets mailbox objects and attributes.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/get-mailbox",
)

# --- Set-Mailbox -------------------------------------------------------------------------------

QUOTAS: Final = ("IssueWarningQuota", "ProhibitSendQuota", "ProhibitSendReceiveQuota")
#: DataStrings.ErrorProperty1GtProperty2.
QUOTA_ORDER: Final = (
    "The value of property '{0}' must be less than or equal to that of property '{2}'. {0}: '{1}', {2}: '{3}'."
)
#: DataStrings.ConstraintViolationValueOutOfRange.
OUT_OF_RANGE: Final = "The property, ({2}), is out of range. The valid range is from {0} to {1}."
REMOVE_PRIMARY: Final = (
    "Cannot remove the primary SMTP address '{0}'. Please promote another valid SMTP address before removing this one."
)
MISSING_PRIMARY: Final = "There is no primary SMTP address."
#: DirectoryStrings.ExceptionADOperationFailedAlreadyExist, what a duplicate Name (CN) gets.
NAME_EXISTS: Final = "Active Directory operation failed on {0}. The object '{1}' already exists."
MAX_RECIPIENT_LIMITS: Final = 1000


_TYPES: Final = {
    "Regular": "UserMailbox",
    "Shared": "SharedMailbox",
    "Room": "RoomMailbox",
    "Equipment": "EquipmentMailbox",
}
_CONVERT_TYPE: Final = EnumType(
    "Microsoft.Exchange.Management.RecipientTasks.ConvertibleMailboxSubType",
    {"Regular": 0, "Room": 1, "Equipment": 2, "Shared": 4},
)
_PLAIN: Final[tuple[str, ...]] = (
    "DisplayName",
    "Name",
    "Alias",
    "HiddenFromAddressListsEnabled",
    "ForwardingSmtpAddress",
    "DeliverToMailboxAndForward",
    "MessageCopyForSentAsEnabled",
    "MessageCopyForSendOnBehalfEnabled",
    *(f"CustomAttribute{i}" for i in range(1, 16)),
)
_COLUMNS: Final = {
    "DisplayName": "display_name",
    "Name": "name",
    "Alias": "alias",
    "HiddenFromAddressListsEnabled": "hidden_from_address_lists_enabled",
    "ForwardingSmtpAddress": "forwarding_smtp_address",
    "ForwardingAddress": "forwarding_address",
    "DeliverToMailboxAndForward": "deliver_to_mailbox_and_forward",
    "RecipientTypeDetails": "recipient_type_details",
}
_NOT_NULL: Final = frozenset(
    {
        "DisplayName",
        "Name",
        "Alias",
        "HiddenFromAddressListsEnabled",
        "DeliverToMailboxAndForward",
        "MessageCopyForSentAsEnabled",
        "MessageCopyForSendOnBehalfEnabled",
        "LitigationHoldEnabled",
        "Type",
        "RecipientLimits",
        *QUOTAS,
    }
)


def _current(row: Any, props: dict[str, Any], name: str) -> Any:
    column = _COLUMNS.get(name)
    if column is not None:
        return getattr(row, column)
    return props.get(name, MAILBOX_DEFAULT_PROPS.get(name))


def _proxy(text: str) -> str:
    """A proxy address as stored: a bare address is an secondary ``smtp:`` one."""
    prefix, colon, _ = text.partition(":")
    return text if colon and prefix.isalnum() and len(prefix) <= 9 else f"smtp:{text}"


class _Request:
    """One Set-Mailbox input object: its parameters, with recipient identities already resolved
    (that happens before the transaction, writing Exchange's not-found errors)."""

    def __init__(self, inv: Invocation, bound: BoundParameters, identity: str) -> None:
        self.inv = inv
        self.bound = bound
        self.identity = identity
        self.forwarding: str | None = None
        self.on_behalf: MultiValuedChange | None = None

    def resolve(self) -> bool:
        """Resolve ForwardingAddress and GrantSendOnBehalfTo; False when one did not resolve."""
        bound = self.bound
        if bound.is_bound("ForwardingAddress") and bound["ForwardingAddress"] is not None:
            row = common.resolve(self.inv, bound["ForwardingAddress"], None)
            if row is None:
                return False
            self.forwarding = row.name
        if bound.is_bound("GrantSendOnBehalfTo"):
            change: MultiValuedChange = bound["GrantSendOnBehalfTo"]
            names: dict[str, tuple[str, ...]] = {}
            for part in ("replace", "add", "remove"):
                items = getattr(change, part)
                if items is None:
                    continue
                resolved = [common.resolve(self.inv, str(item), None) for item in items]
                if any(r is None for r in resolved) and part != "remove":
                    return False
                names[part] = tuple(r.name if r is not None else str(i) for r, i in zip(resolved, items, strict=True))
            self.on_behalf = MultiValuedChange(
                replace=names.get("replace"), add=names.get("add", ()), remove=names.get("remove", ())
            )
        return True

    def changes(self, row: Any) -> dict[str, Any]:
        """What to write over ``row`` (the recipient as it is inside the write transaction)."""
        bound = self.bound
        props = common.row_props(row)
        wanted: dict[str, Any] = {}
        for name in _PLAIN:
            if bound.is_bound(name):
                value = bound[name]
                wanted[name] = "" if value is None and name.startswith("CustomAttribute") else value
        if bound.is_bound("ForwardingAddress"):
            wanted["ForwardingAddress"] = self.forwarding
        if bound.is_bound("Type"):
            wanted["RecipientTypeDetails"] = _TYPES[bound["Type"]]
        if bound.is_bound("RecipientLimits"):
            limit = bound["RecipientLimits"]
            wanted["RecipientLimits"] = "Unlimited" if limit is UNLIMITED else limit
        if self.on_behalf is not None:
            current = _current(row, props, "GrantSendOnBehalfTo") or ()
            wanted["GrantSendOnBehalfTo"] = list(self.on_behalf.apply(current))
        wanted.update(self._quotas(row, props))
        wanted.update(self._hold(row, props))
        changes = {k: v for k, v in wanted.items() if common.differs(_current(row, props, k), v)}
        changes.update(self._addresses(row))
        return changes

    def _quotas(self, row: Any, props: dict[str, Any]) -> dict[str, Any]:
        given = {q: size_text(self.bound[q]) for q in QUOTAS if self.bound.is_bound(q)}
        if not given:
            return {}
        effective = {q: given.get(q, _current(row, props, q)) for q in QUOTAS}
        for low, high in itertools.pairwise(QUOTAS):
            if size_value(effective[low]) > size_value(effective[high]):
                message = QUOTA_ORDER.format(low, effective[low], high, effective[high])
                raise common.fail(self.inv, message, target=self.identity)
        return given

    def _hold(self, row: Any, props: dict[str, Any]) -> dict[str, Any]:
        if not self.bound.is_bound("LitigationHoldEnabled"):
            return {}
        enabled = self.bound["LitigationHoldEnabled"]
        if enabled == _current(row, props, "LitigationHoldEnabled"):
            return {}
        if not enabled:
            return {"LitigationHoldEnabled": False, "LitigationHoldDate": None, "LitigationHoldOwner": ""}
        return {
            "LitigationHoldEnabled": True,
            "LitigationHoldDate": utcnow().isoformat(),
            "LitigationHoldOwner": self.inv.ctx.caller.user_principal_name,
        }

    def _addresses(self, row: Any) -> dict[str, Any]:
        bound = self.bound
        current = list(json.loads(row.email_addresses))
        addresses = current
        if bound.is_bound("EmailAddresses"):
            change: MultiValuedChange = bound["EmailAddresses"]
            addresses = _apply_addresses(self.inv, self.identity, current, change)
        out: dict[str, Any] = {}
        if addresses != current:
            out["EmailAddresses"] = addresses
        if bound.is_bound("PrimarySmtpAddress"):
            primary = bound["PrimarySmtpAddress"].partition(":")[2]
            if primary != row.primary_smtp_address or out:
                out["PrimarySmtpAddress"] = primary
        return out


def _apply_addresses(inv: Invocation, identity: str, current: list[str], change: MultiValuedChange) -> list[str]:
    """EmailAddresses after ``@{Add=...; Remove=...}`` or a whole new list; an added ``SMTP:``
    address becomes the primary one, as in Exchange."""
    normalized = MultiValuedChange(
        replace=None if change.replace is None else tuple(_proxy(a) for a in change.replace),
        add=tuple(_proxy(a) for a in change.add),
        remove=tuple(_proxy(a) for a in change.remove),
    )
    if change.replace is None:
        primary = next((a for a in current if a.startswith("SMTP:")), None)
        removed = {a.lower() for a in normalized.remove}
        if primary is not None and primary.lower() in removed:
            raise common.fail(inv, REMOVE_PRIMARY.format(primary[5:]), target=identity)
    result = list(normalized.apply(current))
    primaries = [a for a in result if a.startswith("SMTP:")]
    if not primaries:
        raise common.fail(inv, MISSING_PRIMARY, target=identity)
    if len(primaries) > 1:
        keep = next((a for a in reversed(normalized.add) if a.startswith("SMTP:")), primaries[-1])
        result = [f"smtp:{a[5:]}" if a.startswith("SMTP:") and a != keep else a for a in result]
    return result


def _validate(inv: Invocation, bound: BoundParameters, identity: str) -> bool:
    """Exchange's checks that need no stored value; writes the error and returns False on failure."""
    for name in _NOT_NULL:
        if bound.is_bound(name) and bound[name] is None:
            inv.write(common.task_error(inv, f"The {name} property can't be $null.", target=identity))
            return False
    if bound.is_bound("DisplayName") and not bound["DisplayName"].strip():
        inv.write(common.task_error(inv, "The DisplayName property can't be empty.", target=identity))
        return False
    limit = bound.get("RecipientLimits")
    if limit is not None and limit is not UNLIMITED and not 1 <= limit <= MAX_RECIPIENT_LIMITS:
        inv.write(common.task_error(inv, OUT_OF_RANGE.format(1, MAX_RECIPIENT_LIMITS, limit), target=identity))
        return False
    return True


def _name_taken(inv: Invocation, name: str, exclude: int | None) -> bool:
    """Does another recipient of the tenant have this Name (its CN)? Writes Exchange's error if so."""
    row = inv.ctx.store.recipient_named(inv.ctx.tenant.id, name, exclude=exclude)
    if row is None:
        return False
    dn = row.distinguished_name
    inv.write(common.task_error(inv, NAME_EXISTS.format(texts.DOMAIN_CONTROLLER, dn), common.ALREADY_EXISTS))
    return True


def _set_mailbox(inv: Invocation) -> Iterator[Any]:
    for bound, row in common.resolve_each(inv, MAILBOX_TYPES):
        identity = str(bound["Identity"])
        if not _validate(inv, bound, identity):
            continue
        if bound.is_bound("Name") and _name_taken(inv, bound["Name"], row.id):
            continue
        request = _Request(inv, bound, identity)
        if not request.resolve():
            continue
        common.update_recipient(inv, row, identity, request.changes, f'Setting mailbox "{identity}".')
    yield from ()


_RECIPIENT_ID: Final = "Microsoft.Exchange.Configuration.Tasks.RecipientIdParameter"

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
        Parameter("Name", StringType()),
        Parameter("Alias", StringType()),
        Parameter("PrimarySmtpAddress", SmtpAddressType()),
        Parameter("EmailAddresses", MultiValuedUpdate(StringType("Microsoft.Exchange.Data.ProxyAddress"))),
        Parameter("Type", _CONVERT_TYPE),
        Parameter("HiddenFromAddressListsEnabled", BoolType()),
        Parameter("ForwardingSmtpAddress", SmtpAddressType()),
        Parameter("ForwardingAddress", IdentityType(_RECIPIENT_ID)),
        Parameter("DeliverToMailboxAndForward", BoolType()),
        *(Parameter(q, UnlimitedSizeType()) for q in QUOTAS),
        Parameter("GrantSendOnBehalfTo", MultiValuedUpdate(StringType(_RECIPIENT_ID))),
        Parameter("MessageCopyForSentAsEnabled", BoolType()),
        Parameter("MessageCopyForSendOnBehalfEnabled", BoolType()),
        Parameter("RecipientLimits", UnlimitedType("System.Int32")),
        Parameter("LitigationHoldEnabled", BoolType()),
        *(Parameter(f"CustomAttribute{i}", StringType()) for i in range(1, 16)),
    ),
    default_parameter_set="Identity",
    writes=True,
    confirm_impact="Medium",
    synopsis="Modifies the settings of existing mailboxes.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/set-mailbox",
)

# --- New-Mailbox / Remove-Mailbox --------------------------------------------------------------

_KINDS: Final = {"Shared": "SharedMailbox", "Room": "RoomMailbox", "Equipment": "EquipmentMailbox"}


def _new_recipient(bound: BoundParameters, kind: str) -> NewRecipient:
    name = bound["Name"].strip()
    alias = bound.get("Alias") or re.sub(r"[^A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]", "", name) or "mailbox"
    upn = bound.get("MicrosoftOnlineServicesID")
    primary = bound.get("PrimarySmtpAddress")
    return NewRecipient(
        name=name,
        alias=alias,
        display_name=bound.get("DisplayName") or name,
        first_name=bound.get("FirstName") or "",
        last_name=bound.get("LastName") or "",
        recipient_type_details=kind,
        user_principal_name=upn.partition(":")[2] if upn else None,
        primary_smtp_address=primary.partition(":")[2] if primary else None,
    )


def _add(inv: Invocation, recipient: NewRecipient) -> Any:
    try:
        return inv.ctx.store.add_recipient(inv.ctx.tenant.id, recipient)
    except ProxyAddressConflict as e:
        raise common.fail(inv, str(e), "Microsoft.Exchange.Data.ProxyAddressExistsException") from None


def _new_mailbox(inv: Invocation) -> Iterator[Any]:
    make = mailbox_factory(inv.ctx.tenant)
    for bound in inv.each():
        kind = next((t for switch, t in _KINDS.items() if bound.get(switch)), "UserMailbox")
        recipient = _new_recipient(bound, kind)
        if _name_taken(inv, recipient.name, None):
            continue
        ou = organizational_unit(inv.ctx.tenant)
        upn = recipient.user_principal_name or f"{recipient.alias}@{inv.ctx.tenant.initial_domain}"
        if kind == "UserMailbox":
            what_if = (
                f'Creating mailbox "{recipient.name}" with User Principal Name "{upn}" in organizational unit "{ou}".'
            )
        elif kind == "SharedMailbox":
            what_if = (
                f'Creating mailbox "{recipient.name}" with shared "True" and User Principal Name "{upn}" in '
                f'organizational unit "{ou}".'
            )
        else:
            what_if = (
                f'Creating mailbox "{recipient.name}" with resource type "{kind.removesuffix("Mailbox")}", user '
                f'principal name "{upn}", and organizational unit "{ou}".'
            )
        row = common.write_guarded(inv, recipient.name, what_if, lambda r=recipient: _add(inv, r))
        if row is not None:
            yield make(row)


def _remove_mailbox(inv: Invocation) -> Iterator[Any]:
    for bound, row in common.resolve_each(inv, MAILBOX_TYPES):
        identity = str(bound["Identity"])
        common.remove_recipient(
            inv,
            row,
            identity,
            f'Removing mailbox "{identity}" will remove the Active Directory user object and mark the mailbox and '
            "the archive (if present) in the database for removal.",
        )
    yield from ()


def _new_parameters() -> tuple[Parameter, ...]:
    """New-Mailbox's parameters: a user mailbox by default, -Shared/-Room/-Equipment each a set."""
    sets = ("User", *_KINDS)
    return (
        Parameter("Name", StringType(), mandatory=True, position=0),
        Parameter(
            "MicrosoftOnlineServicesID",
            SmtpAddressType(),
            parameter_sets=("User",),
            aliases=("UserPrincipalName",),
        ),
        Parameter("Password", SecureStringType(), parameter_sets=("User",)),
        *(Parameter(switch, SwitchType(), mandatory=True, parameter_sets=(switch,)) for switch in _KINDS),
        Parameter("DisplayName", StringType(), parameter_sets=sets),
        Parameter("FirstName", StringType(), parameter_sets=("User",)),
        Parameter("LastName", StringType(), parameter_sets=("User",)),
        Parameter("Alias", StringType(), parameter_sets=sets),
        Parameter("PrimarySmtpAddress", SmtpAddressType(), parameter_sets=sets),
    )


NEW_MAILBOX: Final = CmdletDefinition(
    name="New-Mailbox",
    handler=_new_mailbox,
    parameters=_new_parameters(),
    default_parameter_set="User",
    output_type=(MAILBOX_TYPE_NAMES[0],),
    writes=True,
    confirm_impact="Medium",
    synopsis="Creates mailboxes: user, shared, room and equipment.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/new-mailbox",
)
REMOVE_MAILBOX: Final = CmdletDefinition(
    name="Remove-Mailbox",
    handler=_remove_mailbox,
    parameters=(
        Parameter(
            "Identity",
            IdentityType(_MAILBOX_ID),
            mandatory=True,
            position=0,
            value_from_pipeline=True,
            value_from_pipeline_by_property_name=True,
        ),
    ),
    writes=True,
    confirm_impact="High",
    synopsis="Deletes mailboxes and their user accounts.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/remove-mailbox",
)

MAILBOX_CMDLETS: Final = (GET_MAILBOX, SET_MAILBOX, NEW_MAILBOX, REMOVE_MAILBOX)


def register_mailbox_cmdlets(registry: Registry) -> None:
    for definition in MAILBOX_CMDLETS:
        registry.register(definition)
