"""Distribution groups and their members, and Get-UnifiedGroup.

Groups are recipients (RecipientTypeDetails MailUniversalDistributionGroup, MailUniversalSecurityGroup,
RoomList; GroupMailbox for Microsoft 365 groups); their members live in ``group_members``
(:class:`aobo.domain.groups.GroupStore`). Owners (ManagedBy) and the AcceptMessagesOnlyFrom*
lists are kept in the group's props as recipient names, which is how Exchange shows them.

Changing a group (Set-/Remove-DistributionGroup, Add-/Remove-DistributionGroupMember) needs the
caller to be one of its owners, or ``-BypassSecurityGroupManagerCheck``, as in Exchange Online.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

from aobo.cmdlets import texts
from aobo.cmdlets.binding import BoundParameters
from aobo.cmdlets.exchange import common
from aobo.cmdlets.exchange.mailbox_object import (
    AD_OBJECT_ID_COLLECTION,
    ENGINE_DEFAULTS,
    PROXY_ADDRESS_COLLECTION,
    STRING_COLLECTION,
    legacy_dn,
)
from aobo.cmdlets.identity import resolve_recipient
from aobo.cmdlets.parameters import (
    RECIPIENT_TYPE_DETAILS,
    ArrayType,
    BoolType,
    EnumType,
    IdentityRef,
    IdentityType,
    MultiValuedChange,
    MultiValuedUpdate,
    SmtpAddressType,
    StringType,
    SwitchType,
    UnlimitedType,
)
from aobo.cmdlets.pipeline import Invocation
from aobo.cmdlets.registry import CmdletDefinition, ConfirmImpact, Parameter, Registry, has_wildcards, wildcard
from aobo.cmdlets.results import CmdletError, EnumValue, ExchangeObject, MultiValued
from aobo.cmdlets.roles import RECIPIENT
from aobo.domain.errors import ProxyAddressConflict
from aobo.domain.models import MAILBOX_DEFAULT_PROPS, MAILBOX_TYPES, NewRecipient, Tenant

__all__ = ["DISTRIBUTION_GROUP", "REDUCED_RECIPIENT", "UNIFIED_GROUP", "register"]

DG_TYPES: Final = ("MailUniversalDistributionGroup", "MailUniversalSecurityGroup", "RoomList")
UNIFIED_TYPES: Final = ("GroupMailbox",)
_SECURITY: Final = "MailUniversalSecurityGroup"

_TASKS: Final = "Microsoft.Exchange.Configuration.Tasks"
_GROUP_ID: Final = f"{_TASKS}.DistributionGroupIdParameter"
_GROUP_MEMBER_ID: Final = f"{_TASKS}.DistributionGroupMemberIdParameter"
_UNIFIED_ID: Final = f"{_TASKS}.UnifiedGroupIdParameter"
_GENERAL_RECIPIENT_ID: Final = f"{_TASKS}.GeneralRecipientIdParameter"
_MEMBER_ID: Final = f"{_TASKS}.RecipientWithAdUserGroupIdParameter`1[{_TASKS}.RecipientIdParameter]"
_HELP: Final = "https://learn.microsoft.com/powershell/module/exchange/"

# --- errors (Exchange's texts) -----------------------------------------------------------------

MEMBER_ALREADY_EXISTS: Final = "Microsoft.Exchange.Management.Tasks.MemberAlreadyExistsException"
MEMBER_NOT_FOUND: Final = "Microsoft.Exchange.Management.Tasks.MemberNotFoundException"
GROUP_MANAGER_REQUIRED: Final = f"{_TASKS}.OperationRequiresGroupManagerException"
OBJECT_NOT_FOUND: Final = f"{_TASKS}.ManagementObjectNotFoundException"
PROXY_EXISTS: Final = "Microsoft.Exchange.Data.ProxyAddressExistsException"

ALREADY_MEMBER_TEXT: Final = 'The recipient "{member}" is already a member of the group "{group}".'
NOT_MEMBER_TEXT: Final = 'The recipient "{member}" isn\'t a member of the group "{group}".'
MANAGER_TEXT: Final = (
    "You don't have sufficient permissions. This operation can only be performed by a manager of the group."
)
RECIPIENT_NOT_FOUND_TEXT: Final = (
    'Couldn\'t find object "{id}". Please make sure that it was spelled correctly or specify a different object.'
)
NAME_TAKEN_TEXT: Final = 'The name "{name}" is already being used. Please try another name.'
SECURITY_OPEN_TEXT: Final = (
    'The {property} of a mail-enabled security group can\'t be "Open". Use "Closed" or "ApprovalRequired".'
)
ROOM_LIST_MEMBER_TEXT: Final = (
    'The recipient "{member}" can\'t be added to the room list "{group}". Only room mailboxes and room lists '
    "can be members of a room list."
)
DOMAIN_NOT_ACCEPTED_TEXT: Final = (
    'The email address "{address}" can\'t be used because "{domain}" isn\'t an accepted domain for your organization.'
)
NAME_LENGTH_TEXT: Final = (
    "The length of the property is too long. The maximum length is 64 and the length of the value provided is {n}."
)

# --- value types -------------------------------------------------------------------------------


def _enum(type_name: str, values: Mapping[str, int]) -> dict[str, EnumValue]:
    names = (type_name, "System.Enum", "System.ValueType", "System.Object")
    return {name: EnumValue(names, name, number) for name, number in values.items()}


_GROUP_TYPE_FLAGS: Final = _enum(
    "Microsoft.Exchange.Data.Directory.Recipient.GroupTypeFlags",
    {"Universal": 8, "Universal, SecurityEnabled": 8 - 2**31},
)
MEMBER_UPDATE_VALUES: Final = {"Closed": 0, "Open": 1, "ApprovalRequired": 2}
_MEMBER_UPDATE: Final = _enum("Microsoft.Exchange.Data.Directory.Recipient.MemberUpdateType", MEMBER_UPDATE_VALUES)
_ACCESS_TYPE: Final = _enum(
    "Microsoft.Exchange.Data.Directory.ModernGroupObjectType", {"None": 0, "Private": 1, "Public": 2, "Secret": 3}
)
MEMBER_UPDATE_TYPE: Final = EnumType(
    "Microsoft.Exchange.Data.Directory.Recipient.MemberUpdateType", MEMBER_UPDATE_VALUES
)
GROUP_TYPE: Final = EnumType(
    "Microsoft.Exchange.Management.RecipientTasks.GroupType", {"Distribution": 0, "Security": 1}
)

#: Multi-valued properties whose items are recipients (ADObjectId): shown as names.
_ID_LISTS: Final = frozenset(
    {
        "ManagedBy",
        "AcceptMessagesOnlyFrom",
        "AcceptMessagesOnlyFromDLMembers",
        "AcceptMessagesOnlyFromSendersOrMembers",
        "AddressListMembership",
        "AdministrativeUnits",
        "BypassModerationFromSendersOrMembers",
        "GrantSendOnBehalfTo",
        "ModeratedBy",
        "RejectMessagesFrom",
        "RejectMessagesFromDLMembers",
        "RejectMessagesFromSendersOrMembers",
        "PoliciesIncluded",
        "PoliciesExcluded",
    }
)
_STRING_LISTS: Final = frozenset(
    {
        "Description",
        "UMDtmfMap",
        "MailTipTranslations",
        "ObjectClass",
        "Capabilities",
        "ManagedByDetails",
        *(f"ExtensionCustomAttribute{i}" for i in range(1, 6)),
    }
)
_ENUMS: Final = {"MemberJoinRestriction": _MEMBER_UPDATE, "MemberDepartRestriction": _MEMBER_UPDATE}


def _value(name: str, raw: Any) -> Any:
    """A stored (JSON) property value as the object carries it."""
    if name in _ID_LISTS:
        return MultiValued(tuple(raw or ()), AD_OBJECT_ID_COLLECTION)
    if name in _STRING_LISTS:
        return MultiValued(tuple(raw or ()), STRING_COLLECTION)
    if name == "EmailAddresses":
        return MultiValued(tuple(raw or ()), PROXY_ADDRESS_COLLECTION)
    enum = _ENUMS.get(name)
    if enum is not None and isinstance(raw, str):
        return enum.get(raw, raw)
    return raw


def _template(type_names: Sequence[str], defaults: Mapping[str, Any]) -> common.ObjectTemplate:
    return common.ObjectTemplate(type_names, {k: _value(k, v) for k, v in defaults.items()})


# --- object shapes -----------------------------------------------------------------------------

_MANAGEMENT: Final = "Microsoft.Exchange.Data.Directory.Management"
_FOREST: Final = "NAMPR01A001.PROD.OUTLOOK.COM"
_CUSTOM: Final = {f"CustomAttribute{i}": "" for i in (1, 10, 11, 12, 13, 14, 15, 2, 3, 4, 5, 6, 7, 8, 9)}
_EXTENSION: Final = {f"ExtensionCustomAttribute{i}": () for i in range(1, 6)}

#: MailEnabledRecipient's properties between the group-specific head and the ADObject tail, in
#: Exchange's order; ``{name}`` placeholders are where a subclass puts its own.
_RECIPIENT_MIDDLE: Final[dict[str, Any]] = {
    "AcceptMessagesOnlyFrom": (),
    "AcceptMessagesOnlyFromDLMembers": (),
    "AcceptMessagesOnlyFromSendersOrMembers": (),
    "AddressListMembership": (),
    "AdministrativeUnits": (),
    "Alias": "",
}
_OBJECT_TAIL: Final[dict[str, Any]] = {
    "Identity": "",
    "Id": "",
    "IsValid": True,
    "ExchangeVersion": "0.10 (14.0.100.0)",
    "Name": "",
    "DistinguishedName": "",
    "ObjectCategory": f"{_FOREST}/Configuration/Schema/Group",
    "ObjectClass": ("top", "group"),
    "WhenChanged": None,
    "WhenCreated": None,
    "WhenChangedUTC": None,
    "WhenCreatedUTC": None,
    "ExchangeObjectId": None,
    "OrganizationId": "",
    "Guid": None,
    "OriginatingServer": texts.DOMAIN_CONTROLLER,
    "ObjectState": "Unchanged",
}

DISTRIBUTION_GROUP: Final = _template(
    (
        f"{_MANAGEMENT}.DistributionGroup",
        f"{_MANAGEMENT}.DistributionGroupBase",
        f"{_MANAGEMENT}.MailEnabledRecipient",
        *common.AD_PRESENTATION_BASES,
    ),
    {
        "GroupType": _GROUP_TYPE_FLAGS["Universal"],
        "SamAccountName": "",
        "BypassNestedModerationEnabled": False,
        "IsDirSynced": False,
        "ManagedBy": (),
        "MemberJoinRestriction": "Closed",
        "MemberDepartRestriction": "Open",
        "MigrationToUnifiedGroupInProgress": False,
        "HiddenGroupMembershipEnabled": False,
        "ExpansionServer": "",
        "ReportToManagerEnabled": False,
        "ReportToOriginatorEnabled": True,
        "SendOofMessageToOriginatorEnabled": False,
        "Description": (),
        **_RECIPIENT_MIDDLE,
        "ArbitrationMailbox": None,
        "BypassModerationFromSendersOrMembers": (),
        "OrganizationalUnit": "",
        **_CUSTOM,
        **_EXTENSION,
        "DisplayName": "",
        "EmailAddresses": (),
        "GrantSendOnBehalfTo": (),
        "ExternalDirectoryObjectId": "",
        "HiddenFromAddressListsEnabled": False,
        "LastExchangeChangedTime": None,
        "LegacyExchangeDN": "",
        "MaxSendSize": "Unlimited",
        "MaxReceiveSize": "Unlimited",
        "ModeratedBy": (),
        "ModerationEnabled": False,
        "PoliciesIncluded": (),
        "PoliciesExcluded": (),
        "EmailAddressPolicyEnabled": False,
        "PrimarySmtpAddress": "",
        "RecipientType": None,
        "RecipientTypeDetails": None,
        "RejectMessagesFrom": (),
        "RejectMessagesFromDLMembers": (),
        "RejectMessagesFromSendersOrMembers": (),
        "RequireSenderAuthenticationEnabled": True,
        "SimpleDisplayName": "",
        "SendModerationNotifications": "Always",
        "UMDtmfMap": (),
        "WindowsEmailAddress": "",
        "MailTip": None,
        "MailTipTranslations": (),
        **_OBJECT_TAIL,
    },
)

UNIFIED_GROUP: Final = _template(
    (
        f"{_MANAGEMENT}.UnifiedGroup",
        f"{_MANAGEMENT}.UnifiedGroupBase",
        f"{_MANAGEMENT}.DistributionGroupBase",
        f"{_MANAGEMENT}.MailEnabledRecipient",
        *common.AD_PRESENTATION_BASES,
    ),
    {
        "AccessType": _ACCESS_TYPE["Public"],
        "AuditLogAgeLimit": "90.00:00:00",
        "AutoSubscribeNewMembers": False,
        "AlwaysSubscribeMembersToCalendarEvents": False,
        "CalendarMemberReadOnly": False,
        "CalendarUrl": "",
        "Database": ENGINE_DEFAULTS["Database"],
        "ExchangeGuid": None,
        "FileNotificationsSettings": "",
        "GroupSKU": "",
        "HiddenGroupMembershipEnabled": False,
        "InboxUrl": "",
        "IsExternalResourcesPublished": False,
        "IsMailboxConfigured": True,
        "Language": "en-US",
        "MailboxProvisioningConstraint": None,
        "ManagedByDetails": (),
        "Notes": "",
        "PeopleUrl": "",
        "PhotoUrl": "",
        "ServerName": ENGINE_DEFAULTS["ServerName"],
        "SharePointSiteUrl": "",
        "SharePointDocumentsUrl": "",
        "SharePointNotebookUrl": "",
        "SubscriptionEnabled": True,
        "WelcomeMessageEnabled": True,
        "ConnectorsEnabled": False,
        "IsMembershipDynamic": False,
        "Classification": None,
        "GroupPersonification": "Group",
        "YammerEmailAddress": None,
        "GroupMemberCount": 0,
        "MailboxRegion": None,
        "GroupExternalMemberCount": 0,
        "AllowAddGuests": True,
        "WhenSoftDeleted": None,
        "HiddenFromExchangeClientsEnabled": False,
        "ExpirationTime": None,
        "DataEncryptionPolicy": None,
        "EmailAddresses": (),
        "PrimarySmtpAddress": "",
        "Name": "",
        "DisplayName": "",
        "RequireSenderAuthenticationEnabled": True,
        "ModerationEnabled": False,
        "SendModerationNotifications": "Always",
        "SendOofMessageToOriginatorEnabled": False,
        "BypassModerationFromSendersOrMembers": (),
        "ModeratedBy": (),
        "GroupType": _GROUP_TYPE_FLAGS["Universal"],
        "IsDirSynced": False,
        "ManagedBy": (),
        "MigrationToUnifiedGroupInProgress": False,
        "ExpansionServer": "",
        "ReportToManagerEnabled": False,
        "ReportToOriginatorEnabled": True,
        **_RECIPIENT_MIDDLE,
        "OrganizationalUnit": "",
        **_CUSTOM,
        **_EXTENSION,
        "GrantSendOnBehalfTo": (),
        "ExternalDirectoryObjectId": "",
        "HiddenFromAddressListsEnabled": True,
        "LastExchangeChangedTime": None,
        "LegacyExchangeDN": "",
        "MaxSendSize": MAILBOX_DEFAULT_PROPS["MaxSendSize"],
        "MaxReceiveSize": MAILBOX_DEFAULT_PROPS["MaxReceiveSize"],
        "PoliciesIncluded": (),
        "PoliciesExcluded": (),
        "EmailAddressPolicyEnabled": False,
        "RecipientType": None,
        "RecipientTypeDetails": None,
        "RejectMessagesFrom": (),
        "RejectMessagesFromDLMembers": (),
        "RejectMessagesFromSendersOrMembers": (),
        "MailTip": None,
        "MailTipTranslations": (),
        **{k: v for k, v in _OBJECT_TAIL.items() if k != "Name"},
        "ExchangeVersion": "0.20 (15.0.0.0)",
    },
)

#: Get-DistributionGroupMember's (and Get-Recipient's) object: ReducedRecipient's own properties
#: (alphabetical, as Exchange declares them), then ADObject's.
REDUCED_RECIPIENT: Final = _template(
    (f"{_MANAGEMENT}.ReducedRecipient", *common.AD_PRESENTATION_BASES),
    {
        "ActiveSyncMailboxPolicy": None,
        "ActiveSyncMailboxPolicyIsDefaulted": False,
        "AddressBookPolicy": None,
        "AddressListMembership": (),
        "AdministrativeUnits": (),
        "Alias": "",
        "ArchiveDatabase": None,
        "ArchiveGuid": uuid.UUID(int=0),
        "ArchiveRelease": "",
        "ArchiveState": "None",
        "ArchiveStatus": "None",
        "AuthenticationType": None,
        "Capabilities": (),
        "City": "",
        "Company": "",
        "CountryOrRegion": None,
        **_CUSTOM,
        "Database": None,
        "DatabaseName": "",
        "Department": "",
        "DisplayName": "",
        "EmailAddresses": (),
        "EmailAddressPolicyEnabled": False,
        "ExchangeGuid": uuid.UUID(int=0),
        "ExpansionServer": "",
        **_EXTENSION,
        "ExternalDirectoryObjectId": "",
        "ExternalEmailAddress": None,
        "FirstName": "",
        "HasActiveSyncDevicePartnership": False,
        "HiddenFromAddressListsEnabled": False,
        "IsDirSynced": False,
        "IsValidSecurityPrincipal": False,
        "LastName": "",
        "LitigationHoldEnabled": False,
        "MailboxMoveBatchName": "",
        "MailboxMoveFlags": "None",
        "MailboxMoveRemoteHostName": "",
        "MailboxMoveSourceMDB": None,
        "MailboxMoveStatus": "None",
        "MailboxMoveTargetMDB": None,
        "MailboxRelease": "",
        "ManagedBy": (),
        "ManagedFolderMailboxPolicy": None,
        "Manager": None,
        "Notes": "",
        "Office": "",
        "OrganizationalUnit": "",
        "OwaMailboxPolicy": None,
        "Phone": "",
        "PoliciesExcluded": (),
        "PoliciesIncluded": (),
        "PostalCode": "",
        "PrimarySmtpAddress": "",
        "RecipientType": None,
        "RecipientTypeDetails": None,
        "ResourceType": None,
        "RetentionPolicy": None,
        "SamAccountName": "",
        "ServerLegacyDN": "",
        "ServerName": "",
        "SharingPolicy": None,
        "SKUAssigned": None,
        "StateOrProvince": "",
        "StorageGroupName": "",
        "Title": "",
        "UMEnabled": False,
        "UMMailboxPolicy": None,
        "UMRecipientDialPlanId": None,
        "UsageLocation": "",
        "WhenMailboxCreated": None,
        "WindowsLiveID": "",
        "Identity": "",
        "IsValid": True,
        "ExchangeVersion": "0.10 (14.0.100.0)",
        "Name": "",
        "DistinguishedName": "",
        "Guid": None,
        "ObjectCategory": "",
        "ObjectClass": (),
        "WhenChanged": None,
        "WhenCreated": None,
        "WhenChangedUTC": None,
        "WhenCreatedUTC": None,
        "ExchangeObjectId": None,
        "OrganizationId": "",
        "Id": "",
        "OriginatingServer": texts.DOMAIN_CONTROLLER,
        "ObjectState": "Unchanged",
    },
)

#: Properties Set-DistributionGroup writes into props: a row without them shows the store's
#: default (the store drops a value equal to MAILBOX_DEFAULT_PROPS when writing).
_STORE_DEFAULTED: Final = {
    k: _value(k, MAILBOX_DEFAULT_PROPS[k])
    for k in (
        "RequireSenderAuthenticationEnabled",
        "AcceptMessagesOnlyFrom",
        *(f"CustomAttribute{i}" for i in range(1, 16)),
    )
}


def _sam_account_name(guid_text: str) -> str:
    hexguid = guid_text.replace("-", "").upper()
    return f"${hexguid[:6]}-{hexguid[6:18]}"


def _overlay(values: dict[str, Any], template: common.ObjectTemplate, props: Mapping[str, Any]) -> None:
    index = template.shape.index
    for key, raw in props.items():
        if key.lower() in index:
            values[key] = _value(key, raw)


def distribution_group(row: Any, tenant: Tenant) -> ExchangeObject:
    """The DistributionGroup object of a group row."""
    values = common.recipient_values(row, tenant)
    security = row.recipient_type_details == _SECURITY
    values["GroupType"] = _GROUP_TYPE_FLAGS["Universal, SecurityEnabled" if security else "Universal"]
    values["MemberDepartRestriction"] = _MEMBER_UPDATE["Closed" if security else "Open"]
    values["SamAccountName"] = _sam_account_name(row.guid)
    values["LegacyExchangeDN"] = legacy_dn(row.guid, row.alias)
    values["WindowsEmailAddress"] = row.primary_smtp_address
    values.update(_STORE_DEFAULTED)
    _overlay(values, DISTRIBUTION_GROUP, common.row_props(row))
    return DISTRIBUTION_GROUP.make(values, row.name)


def unified_group(row: Any, tenant: Tenant, members: int, external: int) -> ExchangeObject:
    """The UnifiedGroup object of a GroupMailbox row, with its member counts."""
    values = common.recipient_values(row, tenant)
    del values["HiddenFromAddressListsEnabled"]  # Microsoft 365 groups hide their mailbox from the GAL
    address, site = row.primary_smtp_address, tenant.initial_domain.split(".", 1)[0]
    owa = f"https://outlook.office365.com/owa/{address}/groupsubscription.ashx?realm={tenant.initial_domain}"
    values.update(
        {
            "ExchangeGuid": uuid.UUID(row.exchange_guid),
            "LegacyExchangeDN": legacy_dn(row.exchange_guid, row.alias),
            "CalendarUrl": f"{owa}&action=calendar",
            "InboxUrl": f"{owa}&action=conversations",
            "PeopleUrl": f"{owa}&action=people",
            "PhotoUrl": f"https://outlook.office365.com/owa/service.svc/s/GetPersonaPhoto?email={address}",
            "SharePointSiteUrl": f"https://{site}.sharepoint.com/sites/{row.alias}",
            "SharePointDocumentsUrl": f"https://{site}.sharepoint.com/sites/{row.alias}/Shared Documents",
            "GroupMemberCount": members,
            "GroupExternalMemberCount": external,
        }
    )
    values.update(_STORE_DEFAULTED)
    props = common.row_props(row)
    _overlay(values, UNIFIED_GROUP, props)
    if "AccessType" in props:
        values["AccessType"] = _ACCESS_TYPE.get(props["AccessType"], props["AccessType"])
    return UNIFIED_GROUP.make(values, row.name)


_MAILBOX_PROPS_SHOWN: Final = (
    "Department",
    "Office",
    "City",
    "Company",
    "Title",
    "Phone",
    "PostalCode",
    "StateOrProvince",
    "Notes",
    "ArchiveStatus",
    "ResourceType",
    "LitigationHoldEnabled",
    "WhenMailboxCreated",
    *(f"CustomAttribute{i}" for i in range(1, 16)),
)


#: Contact details a person's props may hold, shown on its ReducedRecipient.
_PERSON_TEXT: Final = (
    "City",
    "Company",
    "CountryOrRegion",
    "Department",
    "Office",
    "Phone",
    "PostalCode",
    "StateOrProvince",
    "Title",
)


def reduced_recipient(row: Any, tenant: Tenant) -> ExchangeObject:
    """The ReducedRecipient object of any recipient row (what Get-DistributionGroupMember lists)."""
    values = common.recipient_values(row, tenant)
    values.update(
        {
            "FirstName": row.first_name,
            "LastName": row.last_name,
            "SamAccountName": _sam_account_name(row.guid),
        }
    )
    props = common.row_props(row)
    kind = row.recipient_type_details
    if kind in MAILBOX_TYPES:
        values.update(
            {
                "ExchangeVersion": "0.20 (15.0.0.0)",
                "ExchangeGuid": uuid.UUID(row.exchange_guid),
                "Database": ENGINE_DEFAULTS["Database"],
                "DatabaseName": ENGINE_DEFAULTS["Database"],
                "ServerName": ENGINE_DEFAULTS["ServerName"],
                "ServerLegacyDN": ENGINE_DEFAULTS["ServerLegacyDN"],
                "RetentionPolicy": MAILBOX_DEFAULT_PROPS["RetentionPolicy"],
                "SharingPolicy": MAILBOX_DEFAULT_PROPS["SharingPolicy"],
                "SKUAssigned": True if kind == "UserMailbox" else None,
                "IsValidSecurityPrincipal": True,
                "ObjectCategory": f"{_FOREST}/Configuration/Schema/Person",
                "ObjectClass": _value("ObjectClass", ("top", "person", "organizationalPerson", "user")),
            }
        )
        if "ArchiveGuid" in props:
            values["ArchiveGuid"] = uuid.UUID(props["ArchiveGuid"])
    elif kind in ("MailContact", "MailUser"):
        contact = kind == "MailContact"
        external = f"SMTP:{row.primary_smtp_address}" if contact else props.get("ExternalEmailAddress")
        values["ExternalEmailAddress"] = external
        values["ObjectCategory"] = f"{_FOREST}/Configuration/Schema/Person"
        values["ObjectClass"] = _value(
            "ObjectClass", ("top", "person", "organizationalPerson", "contact" if contact else "user")
        )
    else:
        values["ObjectCategory"] = f"{_FOREST}/Configuration/Schema/Group"
        values["ObjectClass"] = _value("ObjectClass", ("top", "group"))
        values["ManagedBy"] = _value("ManagedBy", props.get("ManagedBy", ()))
        values["IsValidSecurityPrincipal"] = kind == _SECURITY
    if row.user_principal_name:
        values["WindowsLiveID"] = row.user_principal_name
    for key in _MAILBOX_PROPS_SHOWN:
        if key in props:
            values[key] = _value(key, props[key])
    for key in _PERSON_TEXT:
        if props.get(key):
            values[key] = props[key]
    return REDUCED_RECIPIENT.make(values, row.name)


# --- shared helpers ----------------------------------------------------------------------------


def _error(inv: Invocation, message: str, exception: str, target: Any) -> None:
    inv.write(common.task_error(inv, message, exception, target=str(target)))


def _resolve_recipient(inv: Invocation, identity: IdentityRef | str) -> Any | None:
    """A recipient named by a parameter other than -Identity (Member, ManagedBy...), or None after
    writing Exchange's "Couldn't find object" / ambiguous error."""
    try:
        return resolve_recipient(inv.ctx, identity, inv.definition.name)
    except CmdletError as e:
        if e.terminating:
            raise
        if "ManagementObjectAmbiguousException" in e.record.exception_type:
            inv.write(e.record)
        else:
            _error(inv, RECIPIENT_NOT_FOUND_TEXT.format(id=identity), OBJECT_NOT_FOUND, identity)
        return None


def _resolve_all(inv: Invocation, identities: Iterable[Any]) -> list[Any] | None:
    """Every recipient ``identities`` names, or None (after writing each failure) when any fails."""
    rows: list[Any] = []
    ok = True
    for identity in identities:
        row = _resolve_recipient(inv, identity)
        if row is None:
            ok = False
        elif all(r.id != row.id for r in rows):
            rows.append(row)
    return rows if ok else None


def _is_manager(inv: Invocation, bound: BoundParameters, row: Any) -> bool:
    """Exchange's group-manager check: the caller must be an owner unless the command says
    -BypassSecurityGroupManagerCheck; writes OperationRequiresGroupManagerException otherwise."""
    if bound.get("BypassSecurityGroupManagerCheck"):
        return True
    owners = {name.lower() for name in common.row_props(row).get("ManagedBy", ())}
    ctx = inv.ctx
    me = ctx.store.find_recipients(ctx.tenant.id, ctx.caller.user_principal_name, limit=1)
    if me and me[0].name.lower() in owners:
        return True
    _error(inv, MANAGER_TEXT, GROUP_MANAGER_REQUIRED, bound["Identity"])
    return False


def _restriction_problem(security: bool, join: str, depart: str) -> str | None:
    if not security:
        return None
    for prop, value in (("MemberJoinRestriction", join), ("MemberDepartRestriction", depart)):
        if value == "Open":
            return SECURITY_OPEN_TEXT.format(property=prop)
    return None


def _room_list_refuses(inv: Invocation, group: Any, member: Any, given: Any) -> bool:
    """Room lists hold only rooms and other room lists; writes the error for anything else."""
    if group.recipient_type_details != "RoomList" or member.recipient_type_details in ("RoomMailbox", "RoomList"):
        return False
    _error(inv, ROOM_LIST_MEMBER_TEXT.format(member=given, group=group.name), common.DATA_VALIDATION, given)
    return True


def _accepted_domain_problem(tenant: Tenant, address: str) -> str | None:
    domain = address.rpartition("@")[2].lower()
    if domain in tenant.domains:
        return None
    return DOMAIN_NOT_ACCEPTED_TEXT.format(address=address, domain=domain)


def _smtp(value: str) -> str:
    """A converted SmtpAddressType value (``smtp:x@y``) as a bare address."""
    return value[5:] if value.lower().startswith("smtp:") else value


def _name_taken(inv: Invocation, name: str, exclude: int | None = None) -> bool:
    return inv.ctx.store.recipient_named(inv.ctx.tenant.id, name, exclude=exclude) is not None


def _requested_types(bound: BoundParameters, allowed: Sequence[str]) -> tuple[str, ...]:
    requested = bound.get("RecipientTypeDetails")
    return tuple(t for t in requested if t in allowed) if requested else tuple(allowed)


def _wildcard_identity(identity: IdentityRef | None) -> bool:
    return identity is not None and identity.guid is None and has_wildcards(identity.value)


def _row_matcher(bound: BoundParameters, owner_name: str | None) -> Callable[[Any], bool] | None:
    """The -Identity wildcard, -Anr and -ManagedBy conditions on group rows (None: no condition)."""
    identity: IdentityRef | None = bound.get("Identity")
    anr = (bound.get("Anr") or "").strip().lower()
    pattern = wildcard(identity.value) if _wildcard_identity(identity) and identity is not None else None
    if pattern is None and not anr and owner_name is None:
        return None

    def match(row: Any) -> bool:
        names = (row.name, row.alias, row.display_name, row.primary_smtp_address)
        if pattern is not None and not any(pattern.match(n) for n in names):
            return False
        if anr and not any(n.lower().startswith(anr) for n in names[:3]):
            return False
        if owner_name is not None:
            owners = common.row_props(row).get("ManagedBy", ())
            return owner_name.lower() in (o.lower() for o in owners)
        return True

    return match


def _list_groups(
    inv: Invocation,
    bound: BoundParameters,
    make: Callable[[Any], ExchangeObject],
    types: Sequence[str],
    template: common.ObjectTemplate,
    match: Callable[[Any], bool] | None,
) -> Iterator[Any]:
    """Groups of ``types``: through the shared recipient listing, or, with -Identity wildcards /
    -Anr / -ManagedBy, by checking rows first and -Filter on the objects."""
    if match is None:
        yield from common.list_recipients(inv, bound, make, types, shape=template.shape)
        return
    ctx = inv.ctx
    rows = ctx.store.iter_recipients(ctx.tenant.id, recipient_type_details=types)
    objects = common.apply_filter(inv, bound, (make(row) for row in rows if match(row)))
    yield from common.limited(objects, bound)


# --- Get-DistributionGroup ---------------------------------------------------------------------


def _get_distribution_group(inv: Invocation) -> Iterator[Any]:
    tenant = inv.ctx.tenant

    def make(row: Any) -> ExchangeObject:
        return distribution_group(row, tenant)

    for bound in inv.each():
        types = _requested_types(bound, DG_TYPES)
        identity: IdentityRef | None = bound.get("Identity")
        if identity is not None and not _wildcard_identity(identity):
            row = common.resolve(inv, identity, types)
            if row is not None:
                yield from common.apply_filter(inv, bound, [make(row)])
            continue
        owner_name = None
        if bound.get("ManagedBy") is not None:
            owner = _resolve_recipient(inv, bound["ManagedBy"])
            if owner is None:
                continue
            owner_name = owner.name
        if types:
            yield from _list_groups(inv, bound, make, types, DISTRIBUTION_GROUP, _row_matcher(bound, owner_name))


_RESULT_SIZE: Final = Parameter("ResultSize", UnlimitedType(), default=common.DEFAULT_RESULT_SIZE)
_FILTER: Final = Parameter("Filter", StringType(), help="OPATH filter on the group's properties.")


_BYPASS: Final = Parameter("BypassSecurityGroupManagerCheck", SwitchType())

GET_DISTRIBUTION_GROUP: Final = CmdletDefinition(
    name="Get-DistributionGroup",
    handler=_get_distribution_group,
    parameters=(
        common.identity_parameter(_GROUP_ID, mandatory=False, parameter_sets=("Identity",)),
        Parameter("Anr", StringType(), parameter_sets=("AnrSet",), help="Ambiguous name resolution."),
        Parameter("ManagedBy", IdentityType(_GENERAL_RECIPIENT_ID), parameter_sets=("ManagedBySet",)),
        _FILTER,
        Parameter("RecipientTypeDetails", RECIPIENT_TYPE_DETAILS),
        _RESULT_SIZE,
    ),
    default_parameter_set="Identity",
    output_type=(DISTRIBUTION_GROUP.type_name,),
    synopsis="Gets distribution groups and mail-enabled security groups.",
    area=RECIPIENT,
    help_uri=f"{_HELP}get-distributiongroup",
)

# --- New-DistributionGroup ---------------------------------------------------------------------

_ALIAS_DROP: Final = frozenset(' ()<>[]\\,;:"@')


def _alias_from(name: str) -> str:
    """Exchange's alias for a group created without -Alias: the name without spaces and the
    characters an alias can't hold."""
    return "".join(c for c in name if c not in _ALIAS_DROP)[:64] or "group"


def _new_distribution_group(inv: Invocation) -> Iterator[Any]:
    ctx = inv.ctx
    for bound in inv.each():
        name: str = (bound["Name"] or "").strip()
        if len(name) > 64:
            _error(inv, NAME_LENGTH_TEXT.format(n=len(name)), common.DATA_VALIDATION, name)
            continue
        room_list = bool(bound.get("RoomList"))
        security = bound.get("Type") == "Security" and not room_list
        kind = "RoomList" if room_list else (_SECURITY if security else "MailUniversalDistributionGroup")
        join = bound.get("MemberJoinRestriction") or "Closed"
        depart = bound.get("MemberDepartRestriction") or ("Closed" if security else "Open")
        problem = _restriction_problem(security, join, depart)
        primary = _smtp(bound["PrimarySmtpAddress"]) if bound.get("PrimarySmtpAddress") else None
        if problem is None and primary is not None:
            problem = _accepted_domain_problem(ctx.tenant, primary)
        if problem is not None:
            _error(inv, problem, common.DATA_VALIDATION, name)
            continue
        if _name_taken(inv, name):
            _error(inv, NAME_TAKEN_TEXT.format(name=name), common.ALREADY_EXISTS, name)
            continue
        owners = _resolve_all(inv, bound.get("ManagedBy") or ())
        members = _resolve_all(inv, bound.get("Members") or ())
        if owners is None or members is None:
            continue
        if bound.get("CopyOwnerToMember"):
            members += [o for o in owners if all(o.id != m.id for m in members)]
        group_stub = _Named(name, kind)
        if any(_room_list_refuses(inv, group_stub, m, m.name) for m in members):
            continue
        props: dict[str, Any] = {
            "RequireSenderAuthenticationEnabled": bound.get("RequireSenderAuthenticationEnabled", True),
            "MemberJoinRestriction": join,
            "MemberDepartRestriction": depart,
            "ManagedBy": [o.name for o in owners],
        }
        if bound.get("Notes"):
            props["Notes"] = bound["Notes"]
        recipient = NewRecipient(
            name=name,
            alias=bound.get("Alias") or _alias_from(name),
            display_name=bound.get("DisplayName") or name,
            recipient_type_details=kind,
            primary_smtp_address=primary,
            props=props,
        )
        row = common.write_guarded(
            inv,
            name,
            f'Creating distribution group "{name}".',
            lambda r=recipient, m=members: _create(inv, r, [x.id for x in m]),
        )
        if row is not None:
            yield distribution_group(row, ctx.tenant)


class _Named:
    """A group not created yet, as the room-list check sees it."""

    __slots__ = ("name", "recipient_type_details")

    def __init__(self, name: str, recipient_type_details: str) -> None:
        self.name = name
        self.recipient_type_details = recipient_type_details


def _create(inv: Invocation, recipient: NewRecipient, member_ids: list[int]) -> Any:
    """The group and its members in one transaction."""
    ctx = inv.ctx
    try:
        with ctx.store.transaction() as tx:
            row = tx.add_recipient(ctx.tenant.id, recipient)
            tx.groups.add_members(ctx.tenant.id, row.id, member_ids)
            return row
    except ProxyAddressConflict as e:
        raise common.fail(inv, str(e), PROXY_EXISTS, target=recipient.name) from None


def _identities(dotnet: str) -> MultiValuedUpdate:
    """A Set- cmdlet's MultiValuedProperty of recipient identities (``@{Add=..; Remove=..}`` or a list)."""
    return MultiValuedUpdate(IdentityType(dotnet), f"Microsoft.Exchange.Data.MultiValuedProperty`1[{dotnet}]")


def _identity_list(dotnet: str) -> ArrayType:
    """A New- cmdlet's MultiValuedProperty of recipient identities: the whole list."""
    return ArrayType(IdentityType(dotnet), f"Microsoft.Exchange.Data.MultiValuedProperty`1[{dotnet}]")


NEW_DISTRIBUTION_GROUP: Final = CmdletDefinition(
    name="New-DistributionGroup",
    handler=_new_distribution_group,
    parameters=(
        Parameter("Name", StringType(), mandatory=True, position=0),
        Parameter("Alias", StringType()),
        Parameter("CopyOwnerToMember", SwitchType()),
        Parameter("DisplayName", StringType()),
        Parameter("ManagedBy", _identity_list(_GENERAL_RECIPIENT_ID)),
        Parameter("MemberDepartRestriction", MEMBER_UPDATE_TYPE),
        Parameter("MemberJoinRestriction", MEMBER_UPDATE_TYPE),
        Parameter("Members", _identity_list(f"{_TASKS}.RecipientWithAdUserGroupIdParameter")),
        Parameter("Notes", StringType()),
        Parameter("PrimarySmtpAddress", SmtpAddressType()),
        Parameter("RequireSenderAuthenticationEnabled", BoolType()),
        Parameter("RoomList", SwitchType()),
        Parameter("Type", GROUP_TYPE),
    ),
    output_type=(DISTRIBUTION_GROUP.type_name,),
    writes=True,
    confirm_impact="Medium",
    synopsis="Creates distribution groups and mail-enabled security groups.",
    area=RECIPIENT,
    help_uri=f"{_HELP}new-distributiongroup",
)


def _change_names(change: MultiValuedChange | None, names: Mapping[str, str]) -> MultiValuedChange | None:
    """``change`` with its identities replaced by the names they resolved to."""
    if change is None:
        return None

    def conv(items: tuple[Any, ...]) -> tuple[str, ...]:
        return tuple(names[str(i)] for i in items)

    return MultiValuedChange(
        replace=None if change.replace is None else conv(change.replace),
        add=conv(change.add),
        remove=conv(change.remove),
    )


def _resolve_change(inv: Invocation, change: MultiValuedChange | None) -> tuple[bool, dict[str, Any]]:
    """Resolve every identity in a MultiValuedUpdate of recipients: (ok, identity → recipient row)."""
    if change is None:
        return True, {}
    items = [*(change.replace or ()), *change.add, *change.remove]
    rows: dict[str, Any] = {}
    ok = True
    for item in items:
        row = _resolve_recipient(inv, item)
        if row is None:
            ok = False
        else:
            rows[str(item)] = row
    return ok, rows


# --- Set-DistributionGroup ---------------------------------------------------------------------

_SET_SCALARS: Final = (
    "DisplayName",
    "Name",
    "Alias",
    "HiddenFromAddressListsEnabled",
    "MemberJoinRestriction",
    "MemberDepartRestriction",
    "RequireSenderAuthenticationEnabled",
    *(f"CustomAttribute{i}" for i in range(1, 16)),
)


def _current(row: Any, props: Mapping[str, Any], name: str) -> Any:
    """What Set-DistributionGroup compares a new value with."""
    if name in ("MemberJoinRestriction", "MemberDepartRestriction"):
        closed = name == "MemberJoinRestriction" or row.recipient_type_details == _SECURITY
        return props.get(name, "Closed" if closed else "Open")
    column = {"DisplayName": "display_name", "Name": "name", "Alias": "alias"}.get(name)
    if column is not None:
        return getattr(row, column)
    if name == "HiddenFromAddressListsEnabled":
        return row.hidden_from_address_lists_enabled
    return props.get(name, MAILBOX_DEFAULT_PROPS.get(name))


def _set_changes(
    inv: Invocation, bound: BoundParameters, owners: Mapping[str, Any], senders: Mapping[str, Any]
) -> Callable[[Any], dict[str, Any]]:
    """The Set-DistributionGroup read-modify-write, applied to the row as it is in the transaction."""

    def changes(row: Any) -> dict[str, Any]:
        props = common.row_props(row)
        out: dict[str, Any] = {}
        for name in _SET_SCALARS:
            if bound.is_bound(name):
                value = bound[name]
                if name.startswith("CustomAttribute") and value is None:
                    value = ""
                if _current(row, props, name) != value:
                    out[name] = value
        if "Name" in out and _name_taken(inv, out["Name"], exclude=row.id):
            raise common.fail(inv, NAME_TAKEN_TEXT.format(name=out["Name"]), common.ALREADY_EXISTS, target=row.name)
        join = out.get("MemberJoinRestriction", _current(row, props, "MemberJoinRestriction"))
        depart = out.get("MemberDepartRestriction", _current(row, props, "MemberDepartRestriction"))
        problem = _restriction_problem(row.recipient_type_details == _SECURITY, join, depart)
        if problem is not None:
            raise common.fail(inv, problem, target=row.name)
        _multi_changes(bound, row, props, owners, senders, out)
        return out

    return changes


def _multi_changes(
    bound: BoundParameters,
    row: Any,
    props: Mapping[str, Any],
    owners: Mapping[str, Any],
    senders: Mapping[str, Any],
    out: dict[str, Any],
) -> None:
    """ManagedBy, AcceptMessagesOnlyFromSendersOrMembers (and the two lists Exchange derives from
    it), EmailAddresses and PrimarySmtpAddress."""
    managed = _change_names(bound.get("ManagedBy"), {k: v.name for k, v in owners.items()})
    if managed is not None:
        new = list(managed.apply(props.get("ManagedBy", ())))
        if common.differs(props.get("ManagedBy", ()), new):
            out["ManagedBy"] = new
    accept = _change_names(bound.get("AcceptMessagesOnlyFromSendersOrMembers"), {k: v.name for k, v in senders.items()})
    if accept is not None:
        new = list(accept.apply(props.get("AcceptMessagesOnlyFromSendersOrMembers", ())))
        if common.differs(props.get("AcceptMessagesOnlyFromSendersOrMembers", ()), new):
            groups = {v.name for v in senders.values() if v.recipient_type_details in (*DG_TYPES, *UNIFIED_TYPES)}
            out["AcceptMessagesOnlyFromSendersOrMembers"] = new
            out["AcceptMessagesOnlyFrom"] = [n for n in new if n not in groups]
            out["AcceptMessagesOnlyFromDLMembers"] = [n for n in new if n in groups]
    emails = bound.get("EmailAddresses")
    if emails is not None:
        current = list(common.email_addresses(row))
        new = list(emails.apply(current))
        if common.differs(current, new):
            out["EmailAddresses"] = new
    if bound.get("PrimarySmtpAddress"):
        address = _smtp(bound["PrimarySmtpAddress"])
        if address.lower() != row.primary_smtp_address.lower():
            out["PrimarySmtpAddress"] = address


def _set_distribution_group(inv: Invocation) -> Iterator[Any]:
    for bound, row in common.resolve_each(inv, DG_TYPES):
        identity = bound["Identity"]
        if not _is_manager(inv, bound, row):
            continue
        ok_owners, owners = _resolve_change(inv, bound.get("ManagedBy"))
        ok_senders, senders = _resolve_change(inv, bound.get("AcceptMessagesOnlyFromSendersOrMembers"))
        if not (ok_owners and ok_senders):
            continue
        if bound.get("PrimarySmtpAddress"):
            problem = _accepted_domain_problem(inv.ctx.tenant, _smtp(bound["PrimarySmtpAddress"]))
            if problem is not None:
                _error(inv, problem, common.DATA_VALIDATION, identity)
                continue
        common.update_recipient(
            inv, row, identity, _set_changes(inv, bound, owners, senders), f'Setting distribution group "{identity}".'
        )
    yield from ()


SET_DISTRIBUTION_GROUP: Final = CmdletDefinition(
    name="Set-DistributionGroup",
    handler=_set_distribution_group,
    parameters=(
        common.identity_parameter(_GROUP_ID, mandatory=True),
        Parameter(
            "AcceptMessagesOnlyFromSendersOrMembers",
            _identities(f"{_TASKS}.RecipientIdParameter"),
        ),
        Parameter("Alias", StringType()),
        _BYPASS,
        *(Parameter(f"CustomAttribute{i}", StringType()) for i in range(1, 16)),
        Parameter("DisplayName", StringType()),
        Parameter(
            "EmailAddresses",
            MultiValuedUpdate(
                StringType("Microsoft.Exchange.Data.ProxyAddress"), "Microsoft.Exchange.Data.ProxyAddressCollection"
            ),
        ),
        Parameter("HiddenFromAddressListsEnabled", BoolType()),
        Parameter("ManagedBy", _identities(_GENERAL_RECIPIENT_ID)),
        Parameter("MemberDepartRestriction", MEMBER_UPDATE_TYPE),
        Parameter("MemberJoinRestriction", MEMBER_UPDATE_TYPE),
        Parameter("Name", StringType()),
        Parameter("PrimarySmtpAddress", SmtpAddressType()),
        Parameter("RequireSenderAuthenticationEnabled", BoolType()),
    ),
    writes=True,
    confirm_impact="Medium",
    synopsis="Modifies distribution groups and mail-enabled security groups.",
    area=RECIPIENT,
    help_uri=f"{_HELP}set-distributiongroup",
)

# --- Remove-DistributionGroup ------------------------------------------------------------------


def _remove_distribution_group(inv: Invocation) -> Iterator[Any]:
    for bound, row in common.resolve_each(inv, DG_TYPES):
        identity = bound["Identity"]
        if _is_manager(inv, bound, row):
            common.remove_recipient(inv, row, identity, f'Removing distribution group "{identity}".')
    yield from ()


REMOVE_DISTRIBUTION_GROUP: Final = CmdletDefinition(
    name="Remove-DistributionGroup",
    handler=_remove_distribution_group,
    parameters=(common.identity_parameter(_GROUP_ID, mandatory=True), _BYPASS),
    writes=True,
    confirm_impact="High",
    synopsis="Removes distribution groups and mail-enabled security groups.",
    area=RECIPIENT,
    help_uri=f"{_HELP}remove-distributiongroup",
)

# --- Get-DistributionGroupMember ---------------------------------------------------------------


def _get_distribution_group_member(inv: Invocation) -> Iterator[Any]:
    ctx = inv.ctx
    for bound, group in common.resolve_each(inv, DG_TYPES):
        limit = common.result_limit(bound)
        rows = ctx.store.groups.iter_members(ctx.tenant.id, group.id, limit=None if limit is None else limit + 1)
        yield from common.limited((reduced_recipient(r, ctx.tenant) for r in rows), bound)


GET_DISTRIBUTION_GROUP_MEMBER: Final = CmdletDefinition(
    name="Get-DistributionGroupMember",
    handler=_get_distribution_group_member,
    parameters=(common.identity_parameter(_GROUP_MEMBER_ID, mandatory=True), _RESULT_SIZE),
    output_type=(REDUCED_RECIPIENT.type_name,),
    synopsis="Gets the members of distribution groups and mail-enabled security groups.",
    area=RECIPIENT,
    help_uri=f"{_HELP}get-distributiongroupmember",
)

# --- Add-/Remove-DistributionGroupMember -------------------------------------------------------


def _member_change(adding: bool) -> Callable[[Invocation], Iterator[Any]]:
    def handler(inv: Invocation) -> Iterator[Any]:
        ctx = inv.ctx
        for bound, group in common.resolve_each(inv, DG_TYPES):
            given = bound.get("Member")
            if given is None or not _is_manager(inv, bound, group):
                continue
            member = _resolve_recipient(inv, given)
            if member is None or (adding and _room_list_refuses(inv, group, member, given)):
                continue
            identity = bound["Identity"]
            if adding:
                what_if = f'Adding recipient "{given}" to distribution group "{identity}".'
                done = common.write_guarded(
                    inv,
                    identity,
                    what_if,
                    lambda g=group, m=member: ctx.store.groups.add_member(ctx.tenant.id, g.id, m.id),
                )
                if done is False:
                    _error(
                        inv, ALREADY_MEMBER_TEXT.format(member=given, group=identity), MEMBER_ALREADY_EXISTS, identity
                    )
            else:
                what_if = f'Removing recipient "{given}" from distribution group "{identity}".'
                done = common.write_guarded(
                    inv,
                    identity,
                    what_if,
                    lambda g=group, m=member: ctx.store.groups.remove_member(ctx.tenant.id, g.id, m.id),
                )
                if done is False:
                    _error(inv, NOT_MEMBER_TEXT.format(member=given, group=identity), MEMBER_NOT_FOUND, identity)
        yield from ()

    return handler


def _member_cmdlet(verb: str, impact: ConfirmImpact, synopsis: str) -> CmdletDefinition:
    return CmdletDefinition(
        name=f"{verb}-DistributionGroupMember",
        handler=_member_change(verb == "Add"),
        parameters=(
            common.identity_parameter(_GROUP_ID, mandatory=True),
            _BYPASS,
            Parameter("Member", IdentityType(_MEMBER_ID), value_from_pipeline=True),
        ),
        writes=True,
        confirm_impact=impact,
        synopsis=synopsis,
        area=RECIPIENT,
        help_uri=f"{_HELP}{verb.lower()}-distributiongroupmember",
    )


ADD_DISTRIBUTION_GROUP_MEMBER: Final = _member_cmdlet(
    "Add", "Medium", "Adds a recipient to distribution groups and mail-enabled security groups."
)
REMOVE_DISTRIBUTION_GROUP_MEMBER: Final = _member_cmdlet(
    "Remove", "High", "Removes a member from distribution groups and mail-enabled security groups."
)

# --- Get-UnifiedGroup --------------------------------------------------------------------------


def _get_unified_group(inv: Invocation) -> Iterator[Any]:
    ctx = inv.ctx
    tenant = ctx.tenant

    def make(row: Any) -> ExchangeObject:
        members = ctx.store.groups.count_members(tenant.id, row.id)
        external = ctx.store.groups.count_members(tenant.id, row.id, outside_domains=tenant.domains)
        return unified_group(row, tenant, members, external)

    for bound in inv.each():
        identity: IdentityRef | None = bound.get("Identity")
        if identity is not None and not _wildcard_identity(identity):
            row = common.resolve(inv, identity, UNIFIED_TYPES)
            if row is not None:
                yield make(row)
            continue
        yield from _list_groups(inv, bound, make, UNIFIED_TYPES, UNIFIED_GROUP, _row_matcher(bound, None))


GET_UNIFIED_GROUP: Final = CmdletDefinition(
    name="Get-UnifiedGroup",
    handler=_get_unified_group,
    parameters=(
        common.identity_parameter(_UNIFIED_ID, mandatory=False, parameter_sets=("Identity",)),
        Parameter("Anr", StringType(), parameter_sets=("AnrSet",), help="Ambiguous name resolution."),
        _FILTER,
        _RESULT_SIZE,
    ),
    default_parameter_set="Identity",
    output_type=(UNIFIED_GROUP.type_name,),
    synopsis="Gets Microsoft 365 groups.",
    area=RECIPIENT,
    help_uri=f"{_HELP}get-unifiedgroup",
)

GROUP_CMDLETS: Final = (
    GET_DISTRIBUTION_GROUP,
    NEW_DISTRIBUTION_GROUP,
    SET_DISTRIBUTION_GROUP,
    REMOVE_DISTRIBUTION_GROUP,
    GET_DISTRIBUTION_GROUP_MEMBER,
    ADD_DISTRIBUTION_GROUP_MEMBER,
    REMOVE_DISTRIBUTION_GROUP_MEMBER,
    GET_UNIFIED_GROUP,
)


def register(registry: Registry) -> None:
    """Add this module's cmdlets to ``registry``."""
    for definition in GROUP_CMDLETS:
        registry.register(definition)
