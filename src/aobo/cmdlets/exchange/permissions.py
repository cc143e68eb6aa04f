"""Mailbox permissions (FullAccess), recipient permissions (SendAs) and mailbox folder permissions.

Entries every mailbox has in Exchange Online without anyone granting them are shown, not stored:
``NT AUTHORITY\\SELF`` with FullAccess/ReadPermission (Get-MailboxPermission) and SendAs
(Get-RecipientPermission), and the Default and Anonymous users of each folder (the calendar's
Default user sees availability only). Set-MailboxFolderPermission on Default/Anonymous stores an
override; removing it brings the implicit entry back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

from aobo.cmdlets import roles, texts
from aobo.cmdlets.binding import BoundParameters
from aobo.cmdlets.exchange import common
from aobo.cmdlets.identity import (
    WELL_KNOWN_FOLDERS,
    FolderIdentity,
    format_folder_identity,
    parse_folder_identity,
)
from aobo.cmdlets.parameters import (
    BoolType,
    EnumType,
    IdentityRef,
    IdentityType,
    StringType,
    SwitchType,
    UnlimitedType,
)
from aobo.cmdlets.pipeline import Invocation
from aobo.cmdlets.registry import CmdletDefinition, Parameter, Registry
from aobo.cmdlets.results import CmdletError, ErrorCategory, ExchangeObject, WarningRecord
from aobo.domain.errors import AlreadyExists, NotFound
from aobo.domain.models import MAILBOX_TYPES
from aobo.domain.permissions import SPECIAL_FOLDER_USERS, FolderEntry, PermissionEntry, Trustee

_MAILBOX_ID: Final = "Microsoft.Exchange.Configuration.Tasks.MailboxIdParameter"
_RECIPIENT_ID: Final = "Microsoft.Exchange.Configuration.Tasks.RecipientIdParameter"
_PRINCIPAL_ID: Final = "Microsoft.Exchange.Configuration.Tasks.SecurityPrincipalIdParameter"
_FOLDER_ID: Final = "Microsoft.Exchange.Configuration.Tasks.MailboxFolderIdParameter"
_FOLDER_USER_ID: Final = "Microsoft.Exchange.Configuration.Tasks.MailboxFolderUserIdParameter"
_STORE_TASKS: Final = "Microsoft.Exchange.Management.StoreTasks"

SELF: Final = "NT AUTHORITY\\SELF"
_SELF_SID: Final = "S-1-5-10"

# --- trustees --------------------------------------------------------------------------------------


def trustee_label(trustee: Trustee) -> str:
    """How Exchange Online names a trustee in permission entries: a user's UPN, else its name."""
    return trustee.user_principal_name or trustee.name


def _sid(guid: str) -> str:
    """A stable, well-formed domain SID for a recipient (Exchange shows the account's real one)."""
    digest = hashlib.sha256(guid.encode()).digest()
    parts = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 12, 4)]
    rid = 1000 + int.from_bytes(digest[12:15], "little")
    return f"S-1-5-21-{parts[0]}-{parts[1]}-{parts[2]}-{rid}"


def _resolve_trustee(inv: Invocation, ref: IdentityRef) -> Any | None:
    """A trustee must be a recipient of the session's tenant (a mailbox, mail user or group)."""
    return common.resolve(inv, ref, None)


# --- Mailbox permissions ---------------------------------------------------------------------------

#: MailboxRights, in the order Exchange lists a combined entry's rights (their flag values).
MAILBOX_RIGHTS: Final = EnumType(
    "Microsoft.Exchange.Management.RecipientTasks.MailboxRights",
    {
        "FullAccess": 1,
        "ExternalAccount": 2,
        "DeleteItem": 65536,
        "ReadPermission": 131072,
        "ChangePermission": 262144,
        "ChangeOwner": 524288,
    },
    multi=True,
)
INHERITANCE_TYPE: Final = EnumType(
    "System.DirectoryServices.ActiveDirectorySecurityInheritance",
    {"None": 0, "All": 1, "Descendents": 2, "SelfAndChildren": 3, "Children": 4},
)
_RIGHT_ORDER: Final = {name: i for i, name in enumerate(MAILBOX_RIGHTS.values)}

MAILBOX_ACE: Final = common.ObjectTemplate(
    (
        "Microsoft.Exchange.Management.RecipientTasks.MailboxAcePresentationObject",
        "Microsoft.Exchange.Management.RecipientTasks.AcePresentationObject",
        "Microsoft.Exchange.Data.ConfigurableObject",
        "System.Object",
    ),
    {
        "AccessRights": [],
        "Deny": False,
        "InheritanceType": "All",
        "User": "",
        "UserSid": "",
        "Identity": "",
        "IsInherited": False,
        "IsValid": True,
        "ObjectState": "Unchanged",
    },
)


@dataclass(frozen=True, slots=True)
class _Ace:
    """Entries of one trustee grouped as Exchange shows them: one object per trustee and Deny."""

    label: str
    sid: str
    trustee_id: int | None
    deny: bool
    inherited: bool
    rights: tuple[str, ...]


def _group_aces(entries: Iterable[PermissionEntry]) -> list[_Ace]:
    groups: dict[tuple[str, bool, bool], list[PermissionEntry]] = {}
    for e in entries:
        groups.setdefault((e.trustee.key, e.deny, e.inherited), []).append(e)
    aces = []
    for (_, deny, inherited), members in groups.items():
        t = members[0].trustee
        rights = tuple(sorted({e.access_right for e in members}, key=lambda r: _RIGHT_ORDER.get(r, 99)))
        aces.append(_Ace(trustee_label(t), _sid(t.guid), t.id, deny, inherited, rights))
    return aces


def _mailbox_aces(inv: Invocation, mailbox: Any) -> list[_Ace]:
    own = _Ace(SELF, _SELF_SID, None, False, False, ("FullAccess", "ReadPermission"))
    return [own, *_group_aces(inv.ctx.store.permissions.entries(inv.ctx.tenant.id, mailbox.id, "mailbox"))]


def _ace_object(mailbox: Any, ace: _Ace) -> ExchangeObject:
    return MAILBOX_ACE.make(
        {
            "AccessRights": list(ace.rights),
            "Deny": ace.deny,
            "User": ace.label,
            "UserSid": ace.sid,
            "Identity": mailbox.name,
            "IsInherited": ace.inherited,
        }
    )


def _wanted_trustee(inv: Invocation, bound: BoundParameters, parameter: str) -> tuple[bool, Any | None]:
    """``(ok, row)`` for a -User/-Trustee filter: the row it names (None when not given, or when
    it names SELF, which is matched by label); ok is False after a not-found error."""
    ref: IdentityRef | None = bound.get(parameter)
    if ref is None or ref.value.upper() == SELF:
        return True, None
    row = _resolve_trustee(inv, ref)
    return row is not None, row


def _keep(ace_label: str, ace_trustee: int | None, ref: IdentityRef | None, row: Any | None) -> bool:
    if ref is None:
        return True
    if row is None:
        return ace_label.upper() == ref.value.upper()
    return ace_trustee == row.id


def _get_mailbox_permission(inv: Invocation) -> Iterator[Any]:
    for bound, mailbox in common.resolve_each(inv, MAILBOX_TYPES):
        ok, row = _wanted_trustee(inv, bound, "User")
        if not ok:
            continue
        ref = bound.get("User")
        objects = (
            _ace_object(mailbox, ace)
            for ace in _mailbox_aces(inv, mailbox)
            if _keep(ace.label, ace.trustee_id, ref, row)
        )
        yield from common.limited(objects, bound)


def _inheritance_supported(inv: Invocation, bound: BoundParameters, identity: Any) -> bool:
    if bound.get("InheritanceType", "All") == "All":
        return True
    inv.write(
        common.task_error(
            inv,
            f"InheritanceType {bound['InheritanceType']} isn't supported by this server: mailbox permissions "
            "are always granted with InheritanceType All.",
            "System.NotSupportedException",
            target=identity,
        )
    )
    return False


def _ace_present(mailbox: Any, account: str) -> WarningRecord:
    return WarningRecord(
        f'The appropriate access control entry is already present on the object "{mailbox.distinguished_name}" '
        f'for account "{account}".'
    )


def _ace_missing(recipient: Any, account: str) -> WarningRecord:
    return WarningRecord(
        f'Can\'t remove the access control entry on the object "{recipient.distinguished_name}" for account '
        f'"{account}" because the ACE doesn\'t exist on the object.'
    )


def _add_mailbox_permission(inv: Invocation) -> Iterator[Any]:
    ctx = inv.ctx
    for bound, mailbox in common.resolve_each(inv, MAILBOX_TYPES):
        identity = bound["Identity"]
        if not _inheritance_supported(inv, bound, identity):
            continue
        trustee = _resolve_trustee(inv, bound["User"])
        if trustee is None:
            continue
        rights: tuple[str, ...] = bound["AccessRights"]
        deny = bool(bound.get("Deny", False))
        automapping = bool(bound.get("AutoMapping", True)) and "FullAccess" in rights and not deny
        label = trustee.user_principal_name or trustee.name
        added = common.write_guarded(
            inv,
            identity,
            f'Adding mailbox permission "{", ".join(rights)}" for user "{label}" on mailbox "{mailbox.name}".',
            partial(
                ctx.store.permissions.grant,
                ctx.tenant.id,
                mailbox.id,
                "mailbox",
                trustee.id,
                rights,
                deny=deny,
                automapping=automapping,
            ),
        )
        if added is None:
            continue
        if not added:
            yield _ace_present(mailbox, label)
        for ace in _mailbox_aces(inv, mailbox):
            if ace.trustee_id == trustee.id and ace.deny == deny:
                yield _ace_object(mailbox, ace)


def _remove_mailbox_permission(inv: Invocation) -> Iterator[Any]:
    ctx = inv.ctx
    for bound, mailbox in common.resolve_each(inv, MAILBOX_TYPES):
        identity = bound["Identity"]
        trustee = _resolve_trustee(inv, bound["User"])
        if trustee is None:
            continue
        rights: tuple[str, ...] = bound["AccessRights"]
        deny = bool(bound.get("Deny", False))
        label = trustee.user_principal_name or trustee.name
        removed = common.write_guarded(
            inv,
            identity,
            f'Removing mailbox permission "{", ".join(rights)}" for user "{label}" on mailbox "{mailbox.name}".',
            partial(ctx.store.permissions.revoke, ctx.tenant.id, mailbox.id, "mailbox", trustee.id, rights, deny=deny),
        )
        if removed is not None and not removed:
            yield _ace_missing(mailbox, label)


_MAILBOX_IDENTITY: Final = Parameter(
    "Identity",
    IdentityType(_MAILBOX_ID),
    mandatory=True,
    position=0,
    value_from_pipeline=True,
    value_from_pipeline_by_property_name=True,
)
_ACCESS_RIGHTS: Final = Parameter("AccessRights", MAILBOX_RIGHTS, mandatory=True)

GET_MAILBOX_PERMISSION: Final = CmdletDefinition(
    name="Get-MailboxPermission",
    handler=_get_mailbox_permission,
    parameters=(
        _MAILBOX_IDENTITY,
        Parameter("User", IdentityType(_PRINCIPAL_ID)),
        Parameter("ResultSize", UnlimitedType(), default=common.DEFAULT_RESULT_SIZE),
    ),
    output_type=(MAILBOX_ACE.type_name,),
    synopsis="Retrieves permissions on a mailbox.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/get-mailboxpermission",
)
ADD_MAILBOX_PERMISSION: Final = CmdletDefinition(
    name="Add-MailboxPermission",
    handler=_add_mailbox_permission,
    parameters=(
        _MAILBOX_IDENTITY,
        Parameter("User", IdentityType(_PRINCIPAL_ID), mandatory=True),
        _ACCESS_RIGHTS,
        Parameter("AutoMapping", BoolType()),
        Parameter("Deny", SwitchType()),
        Parameter("InheritanceType", INHERITANCE_TYPE),
    ),
    output_type=(MAILBOX_ACE.type_name,),
    writes=True,
    confirm_impact="Medium",
    synopsis="Adds permissions to a mailbox.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/add-mailboxpermission",
)
REMOVE_MAILBOX_PERMISSION: Final = CmdletDefinition(
    name="Remove-MailboxPermission",
    handler=_remove_mailbox_permission,
    parameters=(
        _MAILBOX_IDENTITY,
        Parameter("User", IdentityType(_PRINCIPAL_ID), mandatory=True),
        _ACCESS_RIGHTS,
        Parameter("Deny", SwitchType()),
        Parameter("InheritanceType", INHERITANCE_TYPE),
    ),
    writes=True,
    confirm_impact="High",
    synopsis="Removes permissions from a mailbox.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/remove-mailboxpermission",
)

# --- Recipient permissions (SendAs) ----------------------------------------------------------------

RECIPIENT_ACCESS_RIGHTS: Final = EnumType(
    "Microsoft.Exchange.Management.RecipientTasks.RecipientAccessRight", {"SendAs": 1}, multi=True
)
RECIPIENT_ACCESS_RIGHTS.dotnet_name = (
    "Microsoft.Exchange.Data.MultiValuedProperty`1[Microsoft.Exchange.Management.RecipientTasks.RecipientAccessRight]"
)

RECIPIENT_PERMISSION: Final = common.ObjectTemplate(
    (
        "Microsoft.Exchange.Management.RecipientTasks.RecipientPermission",
        "Microsoft.Exchange.Data.ConfigurableObject",
        "System.Object",
    ),
    {
        "Identity": "",
        "Trustee": "",
        "TrusteeSidString": "",
        "AccessControlType": "Allow",
        "AccessRights": ["SendAs"],
        "IsInherited": False,
        "InheritanceType": "None",
        "IsValid": True,
        "ObjectState": "Unchanged",
    },
)


def _recipient_aces(inv: Invocation, recipient: Any) -> list[_Ace]:
    entries = _group_aces(inv.ctx.store.permissions.entries(inv.ctx.tenant.id, recipient.id, "recipient"))
    if recipient.recipient_type_details in MAILBOX_TYPES:
        return [_Ace(SELF, _SELF_SID, None, False, False, ("SendAs",)), *entries]
    return entries


def _recipient_permission_object(recipient: Any, ace: _Ace) -> ExchangeObject:
    return RECIPIENT_PERMISSION.make(
        {
            "Identity": recipient.name,
            "Trustee": ace.label,
            "TrusteeSidString": ace.sid,
            "AccessControlType": "Deny" if ace.deny else "Allow",
            "AccessRights": list(ace.rights),
            "IsInherited": ace.inherited,
        }
    )


def _recipient_permissions_of(
    inv: Invocation, recipients: Iterable[Any], ref: IdentityRef | None, trustee: Any | None
) -> Iterator[ExchangeObject]:
    for recipient in recipients:
        for ace in _recipient_aces(inv, recipient):
            if _keep(ace.label, ace.trustee_id, ref, trustee):
                yield _recipient_permission_object(recipient, ace)


def _get_recipient_permission(inv: Invocation) -> Iterator[Any]:
    ctx = inv.ctx
    for bound in inv.each():
        ok, trustee = _wanted_trustee(inv, bound, "Trustee")
        if not ok:
            continue
        ref = bound.get("Trustee")
        identity = bound.get("Identity")
        recipients: Iterable[Any]
        if identity is not None:
            row = common.resolve(inv, identity, None)
            if row is None:
                continue
            recipients = (row,)
        elif trustee is not None:
            recipients = ctx.store.permissions.recipients_granting(ctx.tenant.id, "recipient", trustee.id)
        else:
            recipients = ctx.store.iter_recipients(ctx.tenant.id)
        objects = _recipient_permissions_of(inv, recipients, ref, trustee)
        yield from common.limited(common.apply_filter(inv, bound, objects), bound)


def _add_recipient_permission(inv: Invocation) -> Iterator[Any]:
    ctx = inv.ctx
    for bound, recipient in common.resolve_each(inv, None):
        trustee = _resolve_trustee(inv, bound["Trustee"])
        if trustee is None:
            continue
        label = trustee.user_principal_name or trustee.name
        added = common.write_guarded(
            inv,
            bound["Identity"],
            f'Adding recipient permission "SendAs" for trustee "{label}" on recipient "{recipient.name}".',
            partial(ctx.store.permissions.grant, ctx.tenant.id, recipient.id, "recipient", trustee.id, ("SendAs",)),
        )
        if added is None:
            continue
        if not added:
            yield _ace_present(recipient, label)
        for ace in _recipient_aces(inv, recipient):
            if ace.trustee_id == trustee.id:
                yield _recipient_permission_object(recipient, ace)


def _remove_recipient_permission(inv: Invocation) -> Iterator[Any]:
    ctx = inv.ctx
    for bound, recipient in common.resolve_each(inv, None):
        trustee = _resolve_trustee(inv, bound["Trustee"])
        if trustee is None:
            continue
        label = trustee.user_principal_name or trustee.name
        deny = bool(bound.get("Deny", False))
        removed = common.write_guarded(
            inv,
            bound["Identity"],
            f'Removing recipient permission "SendAs" for trustee "{label}" on recipient "{recipient.name}".',
            partial(
                ctx.store.permissions.revoke,
                ctx.tenant.id,
                recipient.id,
                "recipient",
                trustee.id,
                ("SendAs",),
                deny=deny,
            ),
        )
        if removed is not None and not removed:
            yield _ace_missing(recipient, label)


_RECIPIENT_IDENTITY: Final = Parameter(
    "Identity",
    IdentityType(_RECIPIENT_ID),
    mandatory=True,
    position=0,
    value_from_pipeline=True,
    value_from_pipeline_by_property_name=True,
)

GET_RECIPIENT_PERMISSION: Final = CmdletDefinition(
    name="Get-RecipientPermission",
    handler=_get_recipient_permission,
    parameters=(
        Parameter(
            "Identity",
            IdentityType(_RECIPIENT_ID),
            position=0,
            value_from_pipeline=True,
            value_from_pipeline_by_property_name=True,
        ),
        Parameter("Trustee", IdentityType(_PRINCIPAL_ID)),
        Parameter("AccessRights", RECIPIENT_ACCESS_RIGHTS),
        Parameter("Filter", StringType()),
        Parameter("ResultSize", UnlimitedType(), default=common.DEFAULT_RESULT_SIZE),
    ),
    output_type=(RECIPIENT_PERMISSION.type_name,),
    synopsis="Views information about SendAs permissions.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/get-recipientpermission",
)
ADD_RECIPIENT_PERMISSION: Final = CmdletDefinition(
    name="Add-RecipientPermission",
    handler=_add_recipient_permission,
    parameters=(
        _RECIPIENT_IDENTITY,
        Parameter("Trustee", IdentityType(_PRINCIPAL_ID), mandatory=True),
        Parameter("AccessRights", RECIPIENT_ACCESS_RIGHTS, mandatory=True),
    ),
    output_type=(RECIPIENT_PERMISSION.type_name,),
    writes=True,
    confirm_impact="High",
    synopsis="Adds SendAs permission to users.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/add-recipientpermission",
)
REMOVE_RECIPIENT_PERMISSION: Final = CmdletDefinition(
    name="Remove-RecipientPermission",
    handler=_remove_recipient_permission,
    parameters=(
        _RECIPIENT_IDENTITY,
        Parameter("Trustee", IdentityType(_PRINCIPAL_ID), mandatory=True),
        Parameter("AccessRights", RECIPIENT_ACCESS_RIGHTS, mandatory=True),
        Parameter("Deny", SwitchType()),
    ),
    writes=True,
    confirm_impact="High",
    synopsis="Removes SendAs permission from users.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/remove-recipientpermission",
)

# --- Mailbox folder permissions --------------------------------------------------------------------

# Individual rights in flag order (how Exchange lists a combination that is no role).
_FOLDER_RIGHTS: Final = (
    "ReadItems",
    "CreateItems",
    "EditOwnedItems",
    "DeleteOwnedItems",
    "EditAllItems",
    "DeleteAllItems",
    "CreateSubfolders",
    "FolderOwner",
    "FolderContact",
    "FolderVisible",
)
_CALENDAR_ONLY: Final = ("AvailabilityOnly", "LimitedDetails")
#: Roles → the individual rights they stand for; the calendar-only roles carry free/busy markers.
FOLDER_ROLES: Final[dict[str, frozenset[str]]] = {
    "None": frozenset(),
    "Owner": frozenset(
        {
            "CreateItems",
            "CreateSubfolders",
            "DeleteAllItems",
            "DeleteOwnedItems",
            "EditAllItems",
            "EditOwnedItems",
            "FolderContact",
            "FolderOwner",
            "FolderVisible",
            "ReadItems",
        }
    ),
    "PublishingEditor": frozenset(
        {
            "CreateItems",
            "CreateSubfolders",
            "DeleteAllItems",
            "DeleteOwnedItems",
            "EditAllItems",
            "EditOwnedItems",
            "FolderVisible",
            "ReadItems",
        }
    ),
    "Editor": frozenset(
        {
            "CreateItems",
            "DeleteAllItems",
            "DeleteOwnedItems",
            "EditAllItems",
            "EditOwnedItems",
            "FolderVisible",
            "ReadItems",
        }
    ),
    "PublishingAuthor": frozenset(
        {"CreateItems", "CreateSubfolders", "DeleteOwnedItems", "EditOwnedItems", "FolderVisible", "ReadItems"}
    ),
    "Author": frozenset({"CreateItems", "DeleteOwnedItems", "EditOwnedItems", "FolderVisible", "ReadItems"}),
    "NonEditingAuthor": frozenset({"CreateItems", "DeleteOwnedItems", "FolderVisible", "ReadItems"}),
    "Reviewer": frozenset({"FolderVisible", "ReadItems"}),
    "Contributor": frozenset({"CreateItems", "FolderVisible"}),
    "AvailabilityOnly": frozenset({"FreeBusySimple"}),
    "LimitedDetails": frozenset({"FreeBusySimple", "FreeBusyDetailed"}),
}
FOLDER_ACCESS_RIGHTS: Final = EnumType(
    f"{_STORE_TASKS}.MailboxFolderAccessRight",
    {name: i for i, name in enumerate(dict.fromkeys((*FOLDER_ROLES, *_FOLDER_RIGHTS)))},
    multi=True,
)
SHARING_PERMISSION_FLAGS: Final = EnumType(
    "Microsoft.Exchange.Data.Storage.MailboxFolderPermissionFlags",
    {"None": 0, "Delegate": 1, "CanViewPrivateItems": 2},
    multi=True,
)
SHARING_PERMISSION_FLAGS.dotnet_name = SHARING_PERMISSION_FLAGS.enum_name


def normalise_folder_rights(given: Sequence[str]) -> tuple[str, ...]:
    """What Exchange stores and shows for ``-AccessRights``: the role the rights amount to, else the
    individual rights in flag order (``ReadItems, FolderVisible`` → ``Reviewer``)."""
    rights: set[str] = set()
    for name in given:
        rights |= FOLDER_ROLES.get(name, frozenset({name}))
    for role, members in FOLDER_ROLES.items():
        if members == rights:
            return (role,)
    return tuple(r for r in _FOLDER_RIGHTS if r in rights)


MAILBOX_FOLDER_PERMISSION: Final = common.ObjectTemplate(
    (f"{_STORE_TASKS}.MailboxFolderPermission", "Microsoft.Exchange.Data.ConfigurableObject", "System.Object"),
    {
        "FolderName": "",
        "User": "",
        "AccessRights": [],
        "SharingPermissionFlags": None,
        "Identity": "",
        "IsValid": True,
        "ObjectState": "Unchanged",
    },
)


def _implicit_rights(folder: FolderIdentity, user: str) -> tuple[str, ...]:
    return ("AvailabilityOnly",) if user == "Default" and folder.is_calendar else ("None",)


def _folder_entries(inv: Invocation, mailbox: Any, folder: FolderIdentity) -> list[FolderEntry]:
    """Default and Anonymous first (stored override or implicit), then the stored users."""
    stored = inv.ctx.store.permissions.folder_entries(inv.ctx.tenant.id, mailbox.id, folder.folder)
    special = {e.trustee.key: e for e in stored if e.trustee.id is None}
    result = []
    for user in SPECIAL_FOLDER_USERS:
        implicit = FolderEntry(
            folder.folder, Trustee(None, user, user, user, None, "", ""), _implicit_rights(folder, user), ()
        )
        result.append(special.get(user, implicit))
    return result + [e for e in stored if e.trustee.id is not None]


def _folder_object(mailbox: Any, folder: FolderIdentity, entry: FolderEntry) -> ExchangeObject:
    return MAILBOX_FOLDER_PERMISSION.make(
        {
            "FolderName": folder.folder_name,
            "User": entry.trustee.display_name,
            "AccessRights": list(entry.access_rights),
            "SharingPermissionFlags": ", ".join(entry.sharing_permission_flags) or None,
            "Identity": format_folder_identity(mailbox.name, folder.folder),
        }
    )


def _resolve_folder(inv: Invocation, ref: IdentityRef) -> tuple[Any, FolderIdentity] | None:
    """The mailbox and folder ``ref`` names; folders outside the well-known tree are not found."""
    folder = parse_folder_identity(ref.value)
    top = folder.folder.split("\\", 1)[0]
    if top and top not in WELL_KNOWN_FOLDERS:
        inv.write(texts.object_not_found(str(folder), inv.definition.name))
        return None
    mailbox = common.resolve(inv, IdentityRef(folder.mailbox, ref.guid), MAILBOX_TYPES)
    return None if mailbox is None else (mailbox, folder)


def _each_folder(inv: Invocation) -> Iterator[tuple[BoundParameters, Any, FolderIdentity]]:
    for bound in inv.each():
        found = _resolve_folder(inv, bound["Identity"])
        if found is not None:
            yield bound, *found


def _folder_user(inv: Invocation, ref: IdentityRef) -> tuple[int | str, str] | None:
    """``(store key, label)`` of a -User: "Default"/"Anonymous", or a recipient of the tenant."""
    for special in SPECIAL_FOLDER_USERS:
        if ref.value.lower() == special.lower():
            return special, special
    row = _resolve_trustee(inv, ref)
    return None if row is None else (row.id, row.display_name)


def _no_entry(inv: Invocation, label: str, target: Any) -> Any:
    return common.task_error(
        inv,
        f"There is no existing permission entry found for user: {label}.",
        f"{_STORE_TASKS}.UserNotFoundInPermissionEntryException",
        target=target,
        category=ErrorCategory.NotSpecified,
    )


def _checked_rights(
    inv: Invocation, bound: BoundParameters, folder: FolderIdentity
) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The normalised -AccessRights and -SharingPermissionFlags, or None after Exchange's refusal."""
    rights = normalise_folder_rights(bound["AccessRights"])
    flags = tuple(f for f in bound.get("SharingPermissionFlags") or () if f != "None")
    problem = None
    if not folder.is_calendar and any(r in _CALENDAR_ONLY for r in rights):
        problem = "The AvailabilityOnly and LimitedDetails permissions can only be applied to calendar folders."
    elif flags and (not folder.is_calendar or rights != ("Editor",)):
        problem = "SharingPermissionFlags can only be set on calendar folders, together with the Editor access right."
    elif "CanViewPrivateItems" in flags and "Delegate" not in flags:
        problem = "CanViewPrivateItems can only be set together with Delegate."
    if problem is not None:
        inv.write(common.task_error(inv, problem, target=str(bound["Identity"])))
        return None
    return rights, flags


def _get_mailbox_folder_permission(inv: Invocation) -> Iterator[Any]:
    for bound, mailbox, folder in _each_folder(inv):
        entries = _folder_entries(inv, mailbox, folder)
        ref: IdentityRef | None = bound.get("User")
        if ref is not None:
            user = _folder_user(inv, ref)
            if user is None:
                continue
            key = user[0]
            entries = [e for e in entries if (e.trustee.id if isinstance(key, int) else e.trustee.key) == key]
            if not entries:
                inv.write(_no_entry(inv, user[1], str(folder)))
                continue
        for entry in entries:
            yield _folder_object(mailbox, folder, entry)


def _folder_write(
    inv: Invocation,
    what_if: Callable[[FolderIdentity, str], str],
    action: Callable[[Any, FolderIdentity, int | str, tuple[str, ...], tuple[str, ...]], Any],
    *,
    with_rights: bool,
) -> Iterator[Any]:
    """The shared body of Add-/Set-/Remove-MailboxFolderPermission."""
    for bound, mailbox, folder in _each_folder(inv):
        user = _folder_user(inv, bound["User"])
        if user is None:
            continue
        rights: tuple[str, ...] = ()
        flags: tuple[str, ...] = ()
        if with_rights:
            checked = _checked_rights(inv, bound, folder)
            if checked is None:
                continue
            rights, flags = checked
        key, label = user
        done = common.write_guarded(
            inv, str(folder), what_if(folder, label), partial(action, mailbox, folder, key, rights, flags)
        )
        if done is None:
            continue
        for entry in _folder_entries(inv, mailbox, folder) if done else ():
            if (entry.trustee.id if isinstance(key, int) else entry.trustee.key) == key:
                yield _folder_object(mailbox, folder, entry)


def _add_mailbox_folder_permission(inv: Invocation) -> Iterator[Any]:
    ctx = inv.ctx

    def add(
        mailbox: Any, folder: FolderIdentity, key: int | str, rights: tuple[str, ...], flags: tuple[str, ...]
    ) -> bool:
        if isinstance(key, str):
            raise common.fail(
                inv, f"An existing permission entry was found for user: {key}.", _ALREADY, target=str(folder)
            )
        try:
            ctx.store.permissions.add_folder(ctx.tenant.id, mailbox.id, folder.folder, key, rights, flags)
        except AlreadyExists:
            name = ctx.store.get_recipient(ctx.tenant.id, key).display_name
            raise common.fail(
                inv, f"An existing permission entry was found for user: {name}.", _ALREADY, target=str(folder)
            ) from None
        return True

    yield from _folder_write(
        inv, lambda f, u: f'Adding mailbox folder permission for user "{u}" on "{f}".', add, with_rights=True
    )


def _set_mailbox_folder_permission(inv: Invocation) -> Iterator[Any]:
    ctx = inv.ctx

    def change(
        mailbox: Any, folder: FolderIdentity, key: int | str, rights: tuple[str, ...], flags: tuple[str, ...]
    ) -> bool:
        try:
            changed = ctx.store.permissions.set_folder(ctx.tenant.id, mailbox.id, folder.folder, key, rights, flags)
        except NotFound:
            name = ctx.store.get_recipient(ctx.tenant.id, int(key)).display_name
            raise CmdletError(_no_entry(inv, name, str(folder)), terminating=False) from None
        if not changed:
            inv.write(common.nothing_modified(str(folder)))
        return False

    yield from _folder_write(
        inv, lambda f, u: f'Setting mailbox folder permission for user "{u}" on "{f}".', change, with_rights=True
    )


def _remove_mailbox_folder_permission(inv: Invocation) -> Iterator[Any]:
    ctx = inv.ctx

    def remove(mailbox: Any, folder: FolderIdentity, key: int | str, *_: Any) -> bool:
        if not ctx.store.permissions.remove_folder(ctx.tenant.id, mailbox.id, folder.folder, key):
            name = key if isinstance(key, str) else ctx.store.get_recipient(ctx.tenant.id, key).display_name
            raise CmdletError(_no_entry(inv, name, str(folder)), terminating=False)
        return False

    yield from _folder_write(
        inv, lambda f, u: f'Removing mailbox folder permission for user "{u}" on "{f}".', remove, with_rights=False
    )


_ALREADY: Final = f"{_STORE_TASKS}.UserAlreadyExistsInPermissionEntryException"
_FOLDER_IDENTITY: Final = Parameter(
    "Identity",
    IdentityType(_FOLDER_ID),
    mandatory=True,
    position=0,
    value_from_pipeline=True,
    value_from_pipeline_by_property_name=True,
)
_FOLDER_USER: Final = Parameter("User", IdentityType(_FOLDER_USER_ID), mandatory=True)
_FOLDER_RIGHTS_PARAMETER: Final = Parameter("AccessRights", FOLDER_ACCESS_RIGHTS, mandatory=True)
_SHARING_FLAGS: Final = Parameter("SharingPermissionFlags", SHARING_PERMISSION_FLAGS)
_SEND_NOTIFICATION: Final = Parameter("SendNotificationToUser", BoolType())

GET_MAILBOX_FOLDER_PERMISSION: Final = CmdletDefinition(
    name="Get-MailboxFolderPermission",
    handler=_get_mailbox_folder_permission,
    parameters=(_FOLDER_IDENTITY, Parameter("User", IdentityType(_FOLDER_USER_ID))),
    output_type=(MAILBOX_FOLDER_PERMISSION.type_name,),
    synopsis="Views folder-level permissions in mailboxes.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/get-mailboxfolderpermission",
)
ADD_MAILBOX_FOLDER_PERMISSION: Final = CmdletDefinition(
    name="Add-MailboxFolderPermission",
    handler=_add_mailbox_folder_permission,
    parameters=(_FOLDER_IDENTITY, _FOLDER_USER, _FOLDER_RIGHTS_PARAMETER, _SHARING_FLAGS, _SEND_NOTIFICATION),
    output_type=(MAILBOX_FOLDER_PERMISSION.type_name,),
    writes=True,
    confirm_impact="Medium",
    synopsis="Adds folder-level permissions for users in mailboxes.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/add-mailboxfolderpermission",
)
SET_MAILBOX_FOLDER_PERMISSION: Final = CmdletDefinition(
    name="Set-MailboxFolderPermission",
    handler=_set_mailbox_folder_permission,
    parameters=(_FOLDER_IDENTITY, _FOLDER_USER, _FOLDER_RIGHTS_PARAMETER, _SHARING_FLAGS, _SEND_NOTIFICATION),
    writes=True,
    confirm_impact="Medium",
    synopsis="Modifies folder-level permissions for users in mailboxes.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/set-mailboxfolderpermission",
)
REMOVE_MAILBOX_FOLDER_PERMISSION: Final = CmdletDefinition(
    name="Remove-MailboxFolderPermission",
    handler=_remove_mailbox_folder_permission,
    parameters=(_FOLDER_IDENTITY, _FOLDER_USER, _SEND_NOTIFICATION),
    writes=True,
    confirm_impact="High",
    synopsis="Removes folder-level permissions for users in mailboxes.",
    area=roles.RECIPIENT,
    help_uri="https://learn.microsoft.com/powershell/module/exchange/remove-mailboxfolderpermission",
)

PERMISSION_CMDLETS: Final = (
    GET_MAILBOX_PERMISSION,
    ADD_MAILBOX_PERMISSION,
    REMOVE_MAILBOX_PERMISSION,
    GET_RECIPIENT_PERMISSION,
    ADD_RECIPIENT_PERMISSION,
    REMOVE_RECIPIENT_PERMISSION,
    GET_MAILBOX_FOLDER_PERMISSION,
    ADD_MAILBOX_FOLDER_PERMISSION,
    SET_MAILBOX_FOLDER_PERMISSION,
    REMOVE_MAILBOX_FOLDER_PERMISSION,
)


def register(registry: Registry) -> None:
    """Add this module's cmdlets to ``registry``."""
    for definition in PERMISSION_CMDLETS:
        registry.register(definition)
