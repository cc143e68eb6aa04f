"""Immutable values the store hands out and accepts. No database code here."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final, Literal

from aobo.domain.sizes import GB, KB, MB, format_size

__all__ = [
    "MAILBOX_DEFAULT_PROPS",
    "MAILBOX_TYPES",
    "PARTNER_ROLE_GROUPS",
    "RECIPIENT_KINDS",
    "AccessAssignment",
    "AppCertificate",
    "AppRegistration",
    "AppSecret",
    "AuditEntry",
    "GdapRelationship",
    "NewMailbox",
    "NewRecipient",
    "Relationship",
    "RelationshipState",
    "Tenant",
    "User",
    "utcnow",
]

#: RecipientTypeDetails values of the four mailbox kinds; RecipientType is "UserMailbox" for all of them.
MAILBOX_TYPES: Final = ("UserMailbox", "SharedMailbox", "RoomMailbox", "EquipmentMailbox")

#: Every RecipientTypeDetails the store holds → its RecipientType. Mailboxes, mail users and mail
#: contacts are people; the rest are groups (GroupMailbox is a Microsoft 365 group).
RECIPIENT_KINDS: Final[Mapping[str, str]] = MappingProxyType(
    {
        **{t: "UserMailbox" for t in MAILBOX_TYPES},
        "MailUser": "MailUser",
        "MailContact": "MailContact",
        "MailUniversalDistributionGroup": "MailUniversalDistributionGroup",
        "MailUniversalSecurityGroup": "MailUniversalSecurityGroup",
        "RoomList": "MailUniversalDistributionGroup",
        "GroupMailbox": "MailUniversalDistributionGroup",
    }
)
#: Kinds that have a user account (a UPN, Get-User sees them).
USER_TYPES: Final = (*MAILBOX_TYPES, "MailUser")
GROUP_TYPES: Final = (
    "MailUniversalDistributionGroup",
    "MailUniversalSecurityGroup",
    "RoomList",
    "GroupMailbox",
)

#: DAP groups in a partner tenant: AdminAgents act as Global Admin, HelpdeskAgents as helpdesk.
PARTNER_ROLE_GROUPS: Final = frozenset({"AdminAgents", "HelpdeskAgents"})

RelationshipState = Literal["active", "removed"]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Tenant:
    id: int
    guid: uuid.UUID
    name: str
    initial_domain: str
    #: Every accepted domain in lower case, the initial (.onmicrosoft.com) one first.
    domains: tuple[str, ...]
    #: Domain new mailboxes get their primary SMTP address in; the initial domain unless set.
    default_domain: str = ""

    def __post_init__(self) -> None:
        if not self.default_domain:
            object.__setattr__(self, "default_domain", self.initial_domain)


@dataclass(frozen=True, slots=True)
class User:
    """A sign-in account (not a mailbox): partner agents and tenant admins."""

    id: int
    tenant_id: int
    guid: uuid.UUID
    user_principal_name: str
    display_name: str
    remote_powershell_enabled: bool
    role_groups: frozenset[str]
    locked_out: bool


@dataclass(frozen=True, slots=True)
class Relationship:
    id: int
    partner_tenant_id: int
    customer_tenant_id: int
    kind: Literal["DAP"]
    state: RelationshipState
    created: datetime
    removed: datetime | None = None

    @property
    def active(self) -> bool:
        return self.state == "active"


#: A GDAP relationship's status as stored; ``expired`` is never stored but read from the clock.
GdapStatus = Literal["created", "approvalPending", "active", "expired", "terminated"]


@dataclass(frozen=True, slots=True)
class GdapRelationship:
    """A granular delegated admin relationship, shaped like Graph's delegatedAdminRelationship.

    ``status`` and ``end`` are the *effective* ones at the time the store read the row: an active
    relationship past its end is ``expired`` (or extended, with auto-extension) without any job
    having run.
    """

    id: int
    guid: uuid.UUID
    display_name: str
    partner_tenant_id: int
    customer_tenant_id: int
    #: Entra role template ids, sorted.
    roles: tuple[str, ...]
    duration_days: int
    auto_extend_days: int
    status: GdapStatus
    created: datetime
    last_modified: datetime
    activated: datetime | None = None
    #: When an active relationship ends (after any auto-extension), or a closed one ended.
    end: datetime | None = None
    #: When an approvalPending request lapses if the customer does nothing (90 days).
    request_expires: datetime | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True, slots=True)
class AccessAssignment:
    """Roles of a GDAP relationship given to one security group of the partner tenant."""

    id: int
    guid: uuid.UUID
    relationship_id: int
    #: The partner security group: a user is a member when the name is among its role groups.
    group: str
    #: Graph's accessContainerId: a stable GUID of the partner tenant and the group name.
    group_id: uuid.UUID
    roles: tuple[str, ...]
    status: Literal["active", "deleted"]
    created: datetime
    last_modified: datetime


@dataclass(frozen=True, slots=True)
class AppRegistration:
    """An application that signs in as itself (client credentials), registered in its home tenant."""

    id: int
    tenant_id: int
    #: The client id (``appId``) applications send as ``client_id``.
    app_id: uuid.UUID
    #: The service principal's object id: the ``oid``/``sub`` of its tokens.
    object_id: uuid.UUID
    display_name: str
    created: datetime


@dataclass(frozen=True, slots=True)
class AppSecret:
    """A client secret as Entra lists it: never the value, only its first characters (``hint``)."""

    key_id: uuid.UUID
    hint: str
    end_date_time: datetime
    created: datetime

    @property
    def expired(self) -> bool:
        return self.end_date_time <= utcnow()


@dataclass(frozen=True, slots=True)
class AppCertificate:
    """The public part of a certificate credential; the thumbprints are lower-case hex."""

    key_id: uuid.UUID
    sha1_thumbprint: str
    sha256_thumbprint: str
    certificate_pem: str
    end_date_time: datetime
    created: datetime

    @property
    def expired(self) -> bool:
        return self.end_date_time <= utcnow()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One cmdlet run. ``parameters`` should already be redacted; the store redacts again anyway."""

    caller: str
    caller_tenant_id: int | None
    target_tenant_id: int | None
    session_id: str
    cmdlet: str
    parameters: Mapping[str, Any]
    succeeded: bool
    error: str | None = None
    run_date: datetime = field(default_factory=utcnow)
    #: Assigned by the store; ``None`` on entries not read back from it.
    id: int | None = None
    #: What the command acted on (its -Identity as given): Search-AdminAuditLog's ObjectModified.
    object_id: str | None = None


@dataclass(frozen=True, slots=True)
class NewRecipient:
    """What :meth:`Store.add_recipients` needs; everything else is derived.

    ``recipient_type_details`` is any key of :data:`RECIPIENT_KINDS`. Mailboxes, mail users and
    groups get an address in the initial domain besides their primary one; a mail contact only has
    its external address (give it as ``primary_smtp_address``). Only mailboxes and mail users have a
    user principal name.

    ``extra_addresses`` are proxy addresses beyond the primary SMTP and the initial-domain one,
    written as Exchange does (``smtp:x@y``, ``SIP:x@y``, ``X500:/o=...``); a bare address means smtp.
    ``guid`` / ``exchange_guid`` / ``external_directory_object_id`` / ``when_created`` are only for
    callers that need reproducible data (the seeders); normally they are left to the store.
    """

    name: str
    alias: str
    display_name: str
    first_name: str = ""
    last_name: str = ""
    recipient_type_details: str = "UserMailbox"
    user_principal_name: str | None = None
    primary_smtp_address: str | None = None
    extra_addresses: Sequence[str] = ()
    props: Mapping[str, Any] = field(default_factory=dict)
    hidden_from_address_lists_enabled: bool = False
    guid: uuid.UUID | None = None
    exchange_guid: uuid.UUID | None = None
    external_directory_object_id: uuid.UUID | None = None
    when_created: datetime | None = None


#: The name most callers know it by.
NewMailbox = NewRecipient

_AUDIT_ACTIONS_COMMON = (
    "Update",
    "MoveToDeletedItems",
    "SoftDelete",
    "HardDelete",
    "UpdateFolderPermissions",
    "UpdateInboxRules",
    "ApplyRecord",
    "MailItemsAccessed",
)

# Values a fresh Exchange Online mailbox reports. Recipient rows store only what differs, so the
# props JSON of a typical mailbox stays a few bytes; the cmdlet layer overlays a row's props on
# this. Read-only (a shared default mutated by one request would leak into all others), and
# multi-valued properties are tuples for the same reason.
MAILBOX_DEFAULT_PROPS: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "ExchangeVersion": "0.20 (15.0.0.0)",
        "UseDatabaseQuotaDefaults": False,
        "IssueWarningQuota": format_size(98 * GB),
        "ProhibitSendQuota": format_size(99 * GB),
        "ProhibitSendReceiveQuota": format_size(100 * GB),
        "RecoverableItemsQuota": format_size(30 * GB),
        "RecoverableItemsWarningQuota": format_size(20 * GB),
        "CalendarLoggingQuota": format_size(6 * GB),
        "RulesQuota": format_size(256 * KB),
        "ArchiveQuota": format_size(100 * GB),
        "ArchiveWarningQuota": format_size(90 * GB),
        "ArchiveStatus": "None",
        "ArchiveGuid": "00000000-0000-0000-0000-000000000000",
        "ArchiveName": (),
        "MaxSendSize": format_size(35 * MB),
        "MaxReceiveSize": format_size(36 * MB),
        "RecipientLimits": 500,
        "GrantSendOnBehalfTo": (),
        "AcceptMessagesOnlyFrom": (),
        "RejectMessagesFrom": (),
        "RequireSenderAuthenticationEnabled": False,
        "MessageCopyForSentAsEnabled": False,
        "MessageCopyForSendOnBehalfEnabled": False,
        "LitigationHoldEnabled": False,
        "LitigationHoldDuration": "Unlimited",
        "InPlaceHolds": (),
        "RetentionHoldEnabled": False,
        "SingleItemRecoveryEnabled": True,
        "RetainDeletedItemsFor": "14.00:00:00",
        "RetentionPolicy": "Default MRM Policy",
        "SharingPolicy": "Default Sharing Policy",
        "RoleAssignmentPolicy": "Default Role Assignment Policy",
        "AddressBookPolicy": None,
        "EmailAddressPolicyEnabled": False,
        "ModerationEnabled": False,
        "IsMailboxEnabled": True,
        "IsResource": False,
        "ResourceType": None,
        "ResourceCapacity": None,
        "AuditEnabled": True,
        "AuditLogAgeLimit": "90.00:00:00",
        "DefaultAuditSet": ("Admin", "Delegate", "Owner"),
        "AuditAdmin": (
            *_AUDIT_ACTIONS_COMMON,
            "SendAs",
            "SendOnBehalf",
            "Create",
            "UpdateCalendarDelegation",
        ),
        "AuditDelegate": (*_AUDIT_ACTIONS_COMMON, "SendAs", "SendOnBehalf", "Create"),
        "AuditOwner": (*_AUDIT_ACTIONS_COMMON, "UpdateCalendarDelegation", "Send"),
        "MailTip": None,
        "Languages": (),
        "Office": "",
        "Department": "",
        **{f"CustomAttribute{i}": "" for i in range(1, 16)},
        **{f"ExtensionCustomAttribute{i}": () for i in range(1, 6)},
        "WhenMailboxCreated": None,
    }
)
