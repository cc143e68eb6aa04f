"""Directory cmdlets: Get-Recipient, Get/Set-User, the MailContact cmdlets and Get-MailUser.

Get-User sees every recipient with a user account (mailboxes and mail users) and, like Exchange
Online, the tenant's accounts that have no mailbox (RecipientTypeDetails ``User``): here the sign-in
accounts of the ``users`` table, found by their UPN. ``RemotePowerShellEnabled`` of a user that has
a sign-in account is that account's flag, so ``Set-User -RemotePowerShellEnabled $false`` really
closes the remote PowerShell endpoint to it.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, Final

from aobo.cmdlets import roles, texts
from aobo.cmdlets.binding import BoundParameters
from aobo.cmdlets.enums import RECIPIENT_TYPE_VALUES
from aobo.cmdlets.exchange import common
from aobo.cmdlets.exchange.groups import REDUCED_RECIPIENT, reduced_recipient
from aobo.cmdlets.exchange.mailbox_object import (
    RECIPIENT_TYPE,
    RECIPIENT_TYPE_DETAILS,
    organization_id,
    organizational_unit,
)
from aobo.cmdlets.parameters import (
    RECIPIENT_TYPE_DETAILS as RECIPIENT_TYPE_DETAILS_PARAMETER,
)
from aobo.cmdlets.parameters import (
    BoolType,
    EnumType,
    IdentityRef,
    MultiValuedUpdate,
    SmtpAddressType,
    StringType,
    UnlimitedType,
)
from aobo.cmdlets.pipeline import Invocation
from aobo.cmdlets.registry import CmdletDefinition, Parameter, Registry, has_wildcards, wildcard
from aobo.cmdlets.results import CmdletError, ExchangeObject
from aobo.domain.models import RECIPIENT_KINDS, USER_TYPES, NewRecipient, Tenant, User
from aobo.domain.store import DN_SUFFIX

_MANAGEMENT: Final = "Microsoft.Exchange.Data.Directory.Management"
_CUSTOM_ATTRIBUTES: Final = tuple(f"CustomAttribute{i}" for i in range(1, 16))
#: Person properties kept in props; "" when unset, as Exchange shows them.
_PERSON_TEXT: Final = (
    "City",
    "Company",
    "CountryOrRegion",
    "Department",
    "MobilePhone",
    "Office",
    "Phone",
    "PostalCode",
    "StateOrProvince",
    "StreetAddress",
    "Title",
)
ALL_KINDS: Final = tuple(RECIPIENT_KINDS)


def _props_text(props: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    return {name: props.get(name, "") or "" for name in names}


def _common_person(row: Any, tenant: Tenant) -> dict[str, Any]:
    props = common.row_props(row)
    return {
        **common.recipient_values(row, tenant),
        "FirstName": row.first_name,
        "LastName": row.last_name,
        **_props_text(props, _PERSON_TEXT),
        **_props_text(props, _CUSTOM_ATTRIBUTES),
    }


# --- Get-Recipient ---------------------------------------------------------------------------------


def _external(row: Any) -> str | None:
    """ExternalEmailAddress of a contact or mail user: its target address as ``SMTP:x``."""
    if row.recipient_type_details not in ("MailContact", "MailUser"):
        return None
    stored = common.row_props(row).get("ExternalEmailAddress")
    return stored or f"SMTP:{row.primary_smtp_address}"


def recipient_factory(tenant: Tenant) -> Callable[[Any], ExchangeObject]:
    """Get-Recipient's objects: the same ReducedRecipient Get-DistributionGroupMember lists."""
    return functools.partial(reduced_recipient, tenant=tenant)


def _anr(text: str) -> Callable[[Any], bool]:
    """Ambiguous name resolution: a prefix of a name-like attribute."""
    needle = text.strip().lower()

    def match(obj: ExchangeObject) -> bool:
        names = ("Name", "Alias", "DisplayName", "FirstName", "LastName", "PrimarySmtpAddress")
        return any(str(obj.get(n) or "").lower().startswith(needle) for n in names)

    return match


def _pattern(pattern: str) -> Callable[[ExchangeObject], bool]:
    wanted = wildcard(pattern)

    def match(obj: ExchangeObject) -> bool:
        names = ("Name", "Alias", "DisplayName", "PrimarySmtpAddress", "UserPrincipalName")
        return any(wanted.match(str(obj.get(n) or "")) for n in names)

    return match


def _get_recipients(
    inv: Invocation, bound: BoundParameters, make: Callable[[Any], ExchangeObject], types: Sequence[str]
) -> Iterator[Any]:
    """The Get- body every directory listing shares: one recipient by -Identity, a wildcard or
    -Anr search, or the filtered list."""
    identity: IdentityRef | None = bound.get("Identity")
    if identity is not None and not (identity.guid is None and has_wildcards(identity.value)):
        row = common.resolve(inv, identity, types)
        if row is not None:
            yield make(row)
        return
    if not types:
        return
    test: Callable[[ExchangeObject], bool] | None = None
    if identity is not None:
        test = _pattern(identity.value)
    elif bound.get("Anr"):
        test = _anr(bound["Anr"])
    if test is None:
        yield from common.list_recipients(inv, bound, make, types)
        return
    rows = inv.ctx.store.iter_recipients(inv.ctx.tenant.id, recipient_type_details=types)
    objects = (obj for obj in (make(r) for r in rows) if test(obj))
    yield from common.limited(common.apply_filter(inv, bound, objects), bound)


def _selected(bound: BoundParameters, allowed: Sequence[str]) -> tuple[str, ...]:
    """-RecipientTypeDetails (and -RecipientType) narrowed to kinds the store holds and ``allowed``."""
    types = [t for t in allowed if t in RECIPIENT_KINDS]
    details = bound.get("RecipientTypeDetails")
    if details:
        types = [t for t in types if t in details]
    kinds = bound.get("RecipientType")
    if kinds:
        types = [t for t in types if RECIPIENT_KINDS[t] in kinds]
    return tuple(types)


def _get_recipient(inv: Invocation) -> Iterator[Any]:
    make = recipient_factory(inv.ctx.tenant)
    for bound in inv.each():
        yield from _get_recipients(inv, bound, make, _selected(bound, ALL_KINDS))


def _identity(id_type: str, mandatory: bool = False) -> Parameter:
    return common.identity_parameter(
        f"Microsoft.Exchange.Configuration.Tasks.{id_type}", mandatory=mandatory, parameter_sets=("Identity",)
    )


_RESULT_SIZE: Final = Parameter("ResultSize", UnlimitedType(), default=common.DEFAULT_RESULT_SIZE)
_ANR: Final = Parameter("Anr", StringType(), parameter_sets=("AnrSet",))
_FILTER: Final = Parameter("Filter", StringType())

GET_RECIPIENT: Final = CmdletDefinition(
    name="Get-Recipient",
    handler=_get_recipient,
    parameters=(
        _identity("RecipientIdParameter"),
        _ANR,
        _FILTER,
        Parameter(
            "RecipientType",
            EnumType("Microsoft.Exchange.Data.Directory.Recipient.RecipientType", RECIPIENT_TYPE_VALUES, multi=True),
        ),
        Parameter("RecipientTypeDetails", RECIPIENT_TYPE_DETAILS_PARAMETER),
        _RESULT_SIZE,
    ),
    default_parameter_set="Identity",
    output_type=(REDUCED_RECIPIENT.type_name,),
    synopsis="Views existing recipient objects in your organization.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/get-recipient",
)

# --- Get-User / Set-User ---------------------------------------------------------------------------

#: The ADObject properties every directory object here ends with, in Exchange's order.
_AD_OBJECT_TAIL: Final[dict[str, Any]] = {
    "Name": "",
    "DistinguishedName": "",
    "Identity": "",
    "Guid": None,
    "ExchangeObjectId": None,
    "OrganizationalUnit": "",
    "OrganizationId": "",
    "Id": "",
    "WhenChanged": None,
    "WhenCreated": None,
    "WhenChangedUTC": None,
    "WhenCreatedUTC": None,
    "IsValid": True,
    "ObjectState": "Unchanged",
}

USER_OBJECT: Final = common.ObjectTemplate(
    (f"{_MANAGEMENT}.User", *common.AD_PRESENTATION_BASES),
    {
        "IsSecurityPrincipal": True,
        "SamAccountName": "",
        "UserPrincipalName": "",
        "RemotePowerShellEnabled": True,
        "WindowsLiveID": "",
        "MicrosoftOnlineServicesID": "",
        "City": "",
        "Company": "",
        "CountryOrRegion": "",
        "Department": "",
        "DisplayName": "",
        "FirstName": "",
        "LastName": "",
        "Manager": None,
        "MobilePhone": "",
        "Office": "",
        "Phone": "",
        "PostalCode": "",
        "RecipientType": None,
        "RecipientTypeDetails": None,
        "StateOrProvince": "",
        "StreetAddress": "",
        "Title": "",
        "AccountDisabled": False,
        "IsDirSynced": False,
        "ExternalDirectoryObjectId": "",
        **_AD_OBJECT_TAIL,
    },
)
_USER_ID: Final = "UserIdParameter"


def _account_of(inv: Invocation, upn: str | None) -> User | None:
    """The session tenant's sign-in account with this UPN, if there is one."""
    if not upn:
        return None
    account = inv.ctx.store.find_user(upn)
    return account if account is not None and account.tenant_id == inv.ctx.tenant.id else None


def user_factory(inv: Invocation) -> Callable[[Any], ExchangeObject]:
    tenant = inv.ctx.tenant

    def make(row: Any) -> ExchangeObject:
        values = _common_person(row, tenant)
        for name in ("Alias", "PrimarySmtpAddress", "EmailAddresses", "HiddenFromAddressListsEnabled", "ExchangeGuid"):
            values.pop(name, None)
        for name in _CUSTOM_ATTRIBUTES:
            values.pop(name)
        upn = row.user_principal_name or ""
        account = _account_of(inv, upn)
        stored = common.row_props(row).get("RemotePowerShellEnabled", True)
        values.update(
            UserPrincipalName=upn,
            WindowsLiveID=upn,
            MicrosoftOnlineServicesID=upn,
            SamAccountName=row.alias,
            RemotePowerShellEnabled=account.remote_powershell_enabled if account is not None else stored,
        )
        return USER_OBJECT.make(values, row.name)

    return make


def _account_user(inv: Invocation, account: User) -> ExchangeObject:
    """A sign-in account without a mailbox, as Exchange Online shows an unlicensed user."""
    tenant = inv.ctx.tenant
    upn = account.user_principal_name
    name = upn.partition("@")[0]
    return USER_OBJECT.make(
        {
            "SamAccountName": name,
            "UserPrincipalName": upn,
            "WindowsLiveID": upn,
            "MicrosoftOnlineServicesID": upn,
            "RemotePowerShellEnabled": account.remote_powershell_enabled,
            "DisplayName": account.display_name,
            "RecipientType": RECIPIENT_TYPE["User"],
            "RecipientTypeDetails": RECIPIENT_TYPE_DETAILS["User"],
            "ExternalDirectoryObjectId": str(account.guid),
            "Name": name,
            "Identity": name,
            "Id": name,
            "DistinguishedName": f"CN={name},OU={tenant.initial_domain},{DN_SUFFIX}",
            "Guid": account.guid,
            "ExchangeObjectId": account.guid,
            "OrganizationalUnit": organizational_unit(tenant),
            "OrganizationId": organization_id(tenant),
        },
        name,
    )


def _resolve_user(inv: Invocation, identity: IdentityRef) -> tuple[Any | None, User | None] | None:
    """``(recipient row, sign-in account)`` for -Identity of Get-/Set-User; None after not-found.
    A UPN that only a sign-in account of the tenant has resolves to that account alone."""
    found = inv.ctx.store.find_recipients(inv.ctx.tenant.id, identity.value, recipient_type_details=USER_TYPES)
    if not found and "@" in identity.value:
        account = _account_of(inv, identity.value)
        if account is not None:
            return None, account
    row = common.resolve(inv, identity, USER_TYPES)
    if row is None:
        return None
    return row, _account_of(inv, row.user_principal_name)


def _get_user(inv: Invocation) -> Iterator[Any]:
    make = user_factory(inv)
    for bound in inv.each():
        identity: IdentityRef | None = bound.get("Identity")
        if identity is not None and not has_wildcards(identity.value):
            found = _resolve_user(inv, identity)
            if found is not None:
                row, account = found
                if row is not None:
                    yield make(row)
                elif account is not None:
                    yield _account_user(inv, account)
            continue
        yield from _get_recipients(inv, bound, make, _selected(bound, USER_TYPES))


_USER_SETTABLE: Final = ("DisplayName", "FirstName", "LastName", *_PERSON_TEXT)


def _user_changes(inv: Invocation, bound: BoundParameters, *, with_rps: bool) -> Callable[[Any], dict[str, Any]]:
    def changes(row: Any) -> dict[str, Any]:
        props = common.row_props(row)
        current = {"DisplayName": row.display_name, "FirstName": row.first_name, "LastName": row.last_name}
        out: dict[str, Any] = {}
        for name in _USER_SETTABLE:
            if bound.is_bound(name):
                value = bound[name] or ""
                if common.differs(current.get(name, props.get(name, "")), value):
                    out[name] = value
        if with_rps and bound.is_bound("RemotePowerShellEnabled"):
            value = bool(bound["RemotePowerShellEnabled"])
            if props.get("RemotePowerShellEnabled", True) != value:
                out["RemotePowerShellEnabled"] = value
        if "DisplayName" in out and not out["DisplayName"].strip():
            raise common.fail(inv, "The DisplayName property can't be empty.", target=str(bound["Identity"]))
        return out

    return changes


def _may_gate_remote_powershell(inv: Invocation) -> bool:
    """RemotePowerShellEnabled belongs to recipient administrators, not to the User Options role
    Help Desk has: RBAC hides the parameter from those who may not use it."""
    return any(g.writes and roles.RECIPIENT in g.areas for g in roles.grants(inv.ctx.roles))


def _set_user(inv: Invocation) -> Iterator[Any]:
    ctx = inv.ctx
    if inv.bound.is_bound("RemotePowerShellEnabled") and not _may_gate_remote_powershell(inv):
        raise CmdletError(
            texts.binding_error(
                texts.NAMED_PARAMETER_NOT_FOUND.format(name="RemotePowerShellEnabled"),
                "NamedParameterNotFound",
                "Set-User",
            )
        )
    for bound in inv.each():
        identity: IdentityRef = bound["Identity"]
        found = _resolve_user(inv, identity)
        if found is None:
            continue
        row, account = found
        what_if = f'Setting user "{identity}".'
        others = [n for n in _USER_SETTABLE if bound.is_bound(n)]
        rps = bound.get("RemotePowerShellEnabled")
        rps_change = account is not None and rps is not None and account.remote_powershell_enabled != bool(rps)
        if row is None and others:
            inv.write(
                common.task_error(
                    inv,
                    f"{', '.join(others)} can't be set on '{identity}': this server keeps only "
                    "RemotePowerShellEnabled for users without a mailbox.",
                    common.INVALID_OPERATION,
                    target=str(identity),
                )
            )
            continue
        if rps_change and account is not None:
            done = common.write_guarded(
                inv, identity, what_if, partial(ctx.store.set_remote_powershell_enabled, account.id, bool(rps))
            )
            if done is None and inv.whatif:
                continue
        if row is None or (rps_change and not others):
            if not rps_change:
                inv.write(common.nothing_modified(identity))
            continue
        changes = _user_changes(inv, bound, with_rps=account is None)
        if rps_change and not changes(row):
            continue
        common.update_recipient(inv, row, identity, changes, what_if)
    yield from ()


SET_USER: Final = CmdletDefinition(
    name="Set-User",
    handler=_set_user,
    parameters=(
        _identity(_USER_ID, mandatory=True),
        *(Parameter(name, StringType()) for name in _USER_SETTABLE),
        Parameter("RemotePowerShellEnabled", BoolType()),
    ),
    default_parameter_set="Identity",
    writes=True,
    confirm_impact="Medium",
    synopsis="Modifies user attributes.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/set-user",
)
GET_USER: Final = CmdletDefinition(
    name="Get-User",
    handler=_get_user,
    parameters=(
        _identity(_USER_ID),
        _ANR,
        _FILTER,
        Parameter("RecipientTypeDetails", RECIPIENT_TYPE_DETAILS_PARAMETER),
        _RESULT_SIZE,
    ),
    default_parameter_set="Identity",
    output_type=(USER_OBJECT.type_name,),
    synopsis="Views existing user objects in your organization.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/get-user",
)

# --- MailContact / MailUser ------------------------------------------------------------------------

_MAIL_ENABLED: Final = (f"{_MANAGEMENT}.MailEnabledOrgPerson", f"{_MANAGEMENT}.MailEnabledRecipient")


def _mail_person_defaults() -> dict[str, Any]:
    return {
        "ExternalEmailAddress": None,
        "MessageBodyFormat": "TextAndHtml",
        "MessageFormat": "Mime",
        "UsePreferMessageFormat": False,
        "Alias": "",
        **dict.fromkeys(_CUSTOM_ATTRIBUTES, ""),
        "DisplayName": "",
        "EmailAddresses": [],
        "ExternalDirectoryObjectId": "",
        "FirstName": "",
        "LastName": "",
        "HiddenFromAddressListsEnabled": False,
        "PrimarySmtpAddress": "",
        "RecipientType": None,
        "RecipientTypeDetails": None,
        "WindowsEmailAddress": "",
        **_AD_OBJECT_TAIL,
    }


MAIL_CONTACT: Final = common.ObjectTemplate(
    (f"{_MANAGEMENT}.MailContact", *_MAIL_ENABLED, *common.AD_PRESENTATION_BASES), _mail_person_defaults()
)
MAIL_USER: Final = common.ObjectTemplate(
    (f"{_MANAGEMENT}.MailUser", *_MAIL_ENABLED, *common.AD_PRESENTATION_BASES),
    {"UserPrincipalName": "", "ExchangeGuid": None, **_mail_person_defaults()},
)


def _mail_person(template: common.ObjectTemplate, tenant: Tenant) -> Callable[[Any], ExchangeObject]:
    def make(row: Any) -> ExchangeObject:
        values = {k: v for k, v in common.recipient_values(row, tenant).items() if k.lower() in template.shape.index}
        values.update(
            ExternalEmailAddress=_external(row),
            FirstName=row.first_name,
            LastName=row.last_name,
            WindowsEmailAddress=row.primary_smtp_address,
            **_props_text(common.row_props(row), _CUSTOM_ATTRIBUTES),
        )
        if "userprincipalname" in template.shape.index:
            values.update(UserPrincipalName=row.user_principal_name or "", ExchangeGuid=uuid.UUID(row.exchange_guid))
        return template.make(values, row.name)

    return make


def _get_mail_contact(inv: Invocation) -> Iterator[Any]:
    make = _mail_person(MAIL_CONTACT, inv.ctx.tenant)
    for bound in inv.each():
        yield from _get_recipients(inv, bound, make, ("MailContact",))


def _get_mail_user(inv: Invocation) -> Iterator[Any]:
    make = _mail_person(MAIL_USER, inv.ctx.tenant)
    for bound in inv.each():
        yield from _get_recipients(inv, bound, make, ("MailUser",))


_ALIAS_INVALID: Final = re.compile(r"[^A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]")


def alias_from_name(name: str) -> str:
    """The alias Exchange derives from a name when none is given: its characters valid in an alias."""
    return (_ALIAS_INVALID.sub("", name).strip(".") or "contact")[:64]


def _address(value: str) -> str:
    """``smtp:x@y`` (SmtpAddressType's form) → ``x@y``."""
    return value.split(":", 1)[1]


def _new_mail_contact(inv: Invocation) -> Iterator[Any]:
    ctx = inv.ctx
    make = _mail_person(MAIL_CONTACT, ctx.tenant)
    for bound in inv.each():
        name: str = bound["Name"].strip()
        external = _address(bound["ExternalEmailAddress"])
        taken = ctx.store.recipient_named(ctx.tenant.id, name)
        if taken is not None:
            inv.write(
                common.task_error(
                    inv,
                    f"Active Directory operation failed on {texts.DOMAIN_CONTROLLER}. The object "
                    f"'{taken.distinguished_name}' already exists.",
                    common.ALREADY_EXISTS,
                    target=name,
                )
            )
            continue
        recipient = NewRecipient(
            name=name,
            alias=bound.get("Alias") or alias_from_name(name),
            display_name=bound.get("DisplayName") or name,
            first_name=bound.get("FirstName") or "",
            last_name=bound.get("LastName") or "",
            recipient_type_details="MailContact",
            primary_smtp_address=external,
        )
        row = common.write_guarded(
            inv,
            name,
            f'Creating mail contact "{name}" with external email address "SMTP:{external}".',
            partial(ctx.store.add_recipient, ctx.tenant.id, recipient),
        )
        if row is not None:
            yield make(row)


_CONTACT_SETTABLE: Final = ("DisplayName", "Alias", "HiddenFromAddressListsEnabled", *_CUSTOM_ATTRIBUTES)


def _contact_changes(inv: Invocation, bound: BoundParameters) -> Callable[[Any], dict[str, Any]]:
    def changes(row: Any) -> dict[str, Any]:
        props = common.row_props(row)
        current = {
            "DisplayName": row.display_name,
            "Alias": row.alias,
            "HiddenFromAddressListsEnabled": row.hidden_from_address_lists_enabled,
        }
        out: dict[str, Any] = {}
        for name in _CONTACT_SETTABLE:
            if not bound.is_bound(name):
                continue
            value = bound[name]
            if name.startswith("CustomAttribute"):
                value = value or ""
            elif value is None or (isinstance(value, str) and not value.strip()):
                raise common.fail(inv, f"The {name} property can't be empty.", target=str(bound["Identity"]))
            if common.differs(current.get(name, props.get(name, "")), value):
                out[name] = value
        if bound.is_bound("ExternalEmailAddress"):
            external = _address(bound["ExternalEmailAddress"])
            if external.lower() != row.primary_smtp_address.lower():
                out["PrimarySmtpAddress"] = external
        if bound.is_bound("EmailAddresses"):
            addresses = list(bound["EmailAddresses"].apply(json.loads(row.email_addresses)))
            if common.differs(json.loads(row.email_addresses), addresses):
                out["EmailAddresses"] = addresses
        return out

    return changes


def _set_mail_contact(inv: Invocation) -> Iterator[Any]:
    for bound, row in common.resolve_each(inv, ("MailContact",)):
        identity = bound["Identity"]
        common.update_recipient(inv, row, identity, _contact_changes(inv, bound), f'Setting mail contact "{identity}".')
    yield from ()


def _remove_mail_contact(inv: Invocation) -> Iterator[Any]:
    for bound, row in common.resolve_each(inv, ("MailContact",)):
        identity = bound["Identity"]
        common.remove_recipient(inv, row, identity, f'Removing mail contact "{identity}".')
    yield from ()


_CONTACT_ID: Final = "MailContactIdParameter"

GET_MAIL_CONTACT: Final = CmdletDefinition(
    name="Get-MailContact",
    handler=_get_mail_contact,
    parameters=(_identity(_CONTACT_ID), _ANR, _FILTER, _RESULT_SIZE),
    default_parameter_set="Identity",
    output_type=(MAIL_CONTACT.type_name,),
    synopsis="Views existing mail contacts.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/get-mailcontact",
)
NEW_MAIL_CONTACT: Final = CmdletDefinition(
    name="New-MailContact",
    handler=_new_mail_contact,
    parameters=(
        Parameter("Name", StringType(), mandatory=True, position=0),
        Parameter("ExternalEmailAddress", SmtpAddressType(), mandatory=True),
        Parameter("Alias", StringType()),
        Parameter("DisplayName", StringType()),
        Parameter("FirstName", StringType()),
        Parameter("LastName", StringType()),
    ),
    output_type=(MAIL_CONTACT.type_name,),
    writes=True,
    confirm_impact="Medium",
    synopsis="Creates mail contacts.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/new-mailcontact",
)
SET_MAIL_CONTACT: Final = CmdletDefinition(
    name="Set-MailContact",
    handler=_set_mail_contact,
    parameters=(
        _identity(_CONTACT_ID, mandatory=True),
        Parameter("DisplayName", StringType()),
        Parameter("Alias", StringType()),
        Parameter("ExternalEmailAddress", SmtpAddressType()),
        Parameter("HiddenFromAddressListsEnabled", BoolType()),
        Parameter("EmailAddresses", MultiValuedUpdate(StringType(), "Microsoft.Exchange.Data.ProxyAddressCollection")),
        *(Parameter(name, StringType()) for name in _CUSTOM_ATTRIBUTES),
    ),
    default_parameter_set="Identity",
    writes=True,
    confirm_impact="Medium",
    synopsis="Modifies mail contacts.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/set-mailcontact",
)
REMOVE_MAIL_CONTACT: Final = CmdletDefinition(
    name="Remove-MailContact",
    handler=_remove_mail_contact,
    parameters=(_identity(_CONTACT_ID, mandatory=True),),
    default_parameter_set="Identity",
    writes=True,
    confirm_impact="High",
    synopsis="Removes mail contacts.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/remove-mailcontact",
)
GET_MAIL_USER: Final = CmdletDefinition(
    name="Get-MailUser",
    handler=_get_mail_user,
    parameters=(_identity("MailUserIdParameter"), _ANR, _FILTER, _RESULT_SIZE),
    default_parameter_set="Identity",
    output_type=(MAIL_USER.type_name,),
    synopsis="Views existing mail users.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/get-mailuser",
)

DIRECTORY_CMDLETS: Final = (
    GET_RECIPIENT,
    GET_USER,
    SET_USER,
    GET_MAIL_CONTACT,
    NEW_MAIL_CONTACT,
    SET_MAIL_CONTACT,
    REMOVE_MAIL_CONTACT,
    GET_MAIL_USER,
)


def register(registry: Registry) -> None:
    """Add this module's cmdlets to ``registry``."""
    for definition in DIRECTORY_CMDLETS:
        registry.register(definition)
