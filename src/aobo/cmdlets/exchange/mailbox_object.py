"""The Mailbox object Get-Mailbox outputs: its shape, its defaults, and the row → object hot path.

Property names and order are in :mod:`.mailbox_properties`. Values not stored per row come from
:data:`aobo.domain.models.MAILBOX_DEFAULT_PROPS`, then from this module's table of what a fresh
Exchange Online mailbox reports.

Every mailbox shares one :class:`ObjectShape`; :func:`mailbox_factory` builds, once per call, a
template holding every default plus the tenant's values, so turning a row into an object is a list
copy, a few dozen index stores and one small JSON parse (~8 µs a row).
"""

from __future__ import annotations

import json
import operator
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from aobo.cmdlets.enums import RECIPIENT_TYPE_DETAILS_VALUES, RECIPIENT_TYPE_VALUES
from aobo.cmdlets.exchange.mailbox_properties import MAILBOX_PROPERTIES, MAILBOX_TYPE_NAMES
from aobo.cmdlets.results import EnumValue, ExchangeObject, MultiValued, ObjectShape
from aobo.cmdlets.texts import DOMAIN_CONTROLLER, EXCHANGE_SERVER
from aobo.domain.models import MAILBOX_DEFAULT_PROPS, Tenant

MAILBOX_SHAPE: Final = ObjectShape(MAILBOX_TYPE_NAMES, MAILBOX_PROPERTIES)

# --- value types -------------------------------------------------------------------------------

_DATA: Final = "Microsoft.Exchange.Data, Version=15.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35"
_DIRECTORY: Final = (
    "Microsoft.Exchange.Data.Directory, Version=15.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35"
)
_MSCORLIB: Final = "mscorlib, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089"

PROXY_ADDRESS_COLLECTION: Final = (
    "Microsoft.Exchange.Data.ProxyAddressCollection",
    f"Microsoft.Exchange.Data.ProxyAddressBaseCollection`1[[Microsoft.Exchange.Data.ProxyAddress, {_DATA}]]",
    f"Microsoft.Exchange.Data.MultiValuedProperty`1[[Microsoft.Exchange.Data.ProxyAddress, {_DATA}]]",
    "Microsoft.Exchange.Data.MultiValuedPropertyBase",
    "System.Object",
)
_AD_OBJECT_ID: Final = f"Microsoft.Exchange.Data.Directory.ADObjectId, {_DIRECTORY}"
AD_OBJECT_ID_COLLECTION: Final = (
    f"Microsoft.Exchange.Data.Directory.ADMultiValuedProperty`1[[{_AD_OBJECT_ID}]]",
    f"Microsoft.Exchange.Data.MultiValuedProperty`1[[{_AD_OBJECT_ID}]]",
    "Microsoft.Exchange.Data.MultiValuedPropertyBase",
    "System.Object",
)
STRING_COLLECTION: Final = (
    f"Microsoft.Exchange.Data.MultiValuedProperty`1[[System.String, {_MSCORLIB}]]",
    "Microsoft.Exchange.Data.MultiValuedPropertyBase",
    "System.Object",
)

_AD_OBJECT_ID_PROPERTIES: Final = frozenset(
    {
        "GrantSendOnBehalfTo",
        "AcceptMessagesOnlyFrom",
        "AcceptMessagesOnlyFromDLMembers",
        "AcceptMessagesOnlyFromSendersOrMembers",
        "RejectMessagesFrom",
        "RejectMessagesFromDLMembers",
        "RejectMessagesFromSendersOrMembers",
        "BypassModerationFromSendersOrMembers",
        "ModeratedBy",
        "AddressListMembership",
        "AdministrativeUnits",
        "GeneratedOfflineAddressBooks",
    }
)
MULTI_VALUED_PROPERTIES: Final = frozenset(
    {
        *_AD_OBJECT_ID_PROPERTIES,
        "MailboxProvisioningPreferences",
        "MailboxLocations",
        "AggregatedMailboxGuids",
        "Languages",
        "ProtocolSettings",
        "ResourceCustom",
        "ArchiveName",
        "UserSMimeCertificate",
        "UserCertificate",
        "PersistedCapabilities",
        "AuditAdmin",
        "AuditDelegate",
        "AuditOwner",
        "DefaultAuditSet",
        "InPlaceHolds",
        "NonCompliantDevices",
        "ExtensionCustomAttribute1",
        "ExtensionCustomAttribute2",
        "ExtensionCustomAttribute3",
        "ExtensionCustomAttribute4",
        "ExtensionCustomAttribute5",
        "PoliciesIncluded",
        "PoliciesExcluded",
        "UMDtmfMap",
        "MailTipTranslations",
        "ObjectClass",
        "EmailAddresses",
    }
)
GUID_PROPERTIES: Final = frozenset(
    {"DatabaseGuid", "ArchiveGuid", "ArchiveDatabaseGuid", "DisabledArchiveGuid", "MailboxContainerGuid"}
)
DATETIME_PROPERTIES: Final = frozenset(
    {
        "WhenMailboxCreated",
        "WhenSoftDeleted",
        "LitigationHoldDate",
        "EndDateForRetentionHold",
        "StartDateForRetentionHold",
        "InactiveMailboxRetireTime",
        "OrphanSoftDeleteTrackingTime",
        "StsRefreshTokensValidFrom",
        "LastExchangeChangedTime",
        "MailboxRegionLastUpdateTime",
    }
)
#: Unlimited<int> properties: deserialised clients see their text.
_TEXT_PROPERTIES: Final = frozenset({"RecipientLimits", "ResourceCapacity"})


def collection_type(name: str) -> tuple[str, ...]:
    if name == "EmailAddresses":
        return PROXY_ADDRESS_COLLECTION
    if name in _AD_OBJECT_ID_PROPERTIES:
        return AD_OBJECT_ID_COLLECTION
    return STRING_COLLECTION


def _enum(type_name: str, values: Mapping[str, int]) -> dict[str, EnumValue]:
    names = (type_name, "System.Enum", "System.ValueType", "System.Object")
    return {name: EnumValue(names, name, number) for name, number in values.items()}


RECIPIENT_TYPE: Final = _enum("Microsoft.Exchange.Data.Directory.Recipient.RecipientType", RECIPIENT_TYPE_VALUES)
RECIPIENT_TYPE_DETAILS: Final = _enum(
    "Microsoft.Exchange.Data.Directory.Recipient.RecipientTypeDetails", RECIPIENT_TYPE_DETAILS_VALUES
)


def prop_value(name: str, value: Any) -> Any:
    """A stored (JSON) property value as the object carries it."""
    if value is None:
        return None
    if name in MULTI_VALUED_PROPERTIES:
        items = value if isinstance(value, list | tuple) else (value,)
        return MultiValued(tuple(items), collection_type(name))
    if name in GUID_PROPERTIES:
        return uuid.UUID(value) if isinstance(value, str) else value
    if name in DATETIME_PROPERTIES:
        return datetime.fromisoformat(value) if isinstance(value, str) else value
    if name in _TEXT_PROPERTIES and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


# --- defaults ----------------------------------------------------------------------------------

_ZERO_GUID: Final = uuid.UUID(int=0)
_FOREST: Final = "NAMPR01A001.PROD.OUTLOOK.COM"

#: What a fresh Exchange Online mailbox reports for properties aobo does not store per row.
#: MAILBOX_DEFAULT_PROPS (the store's table) wins where both name a property.
ENGINE_DEFAULTS: Final[Mapping[str, Any]] = {
    "Database": "NAMPR01DG001-db001",
    "DatabaseGuid": uuid.UUID("0b6b5d9c-3b49-4a3e-9d1a-6e1e2f3a4b5c"),
    "IsMonitoringMailbox": False,
    "MessageRecallProcessingEnabled": True,
    "MessageCopyForSMTPClientSubmissionEnabled": True,
    "UseDatabaseRetentionDefaults": False,
    "RetainDeletedItemsUntilBackup": False,
    "IsExcludedFromServingHierarchy": False,
    "IsHierarchyReady": True,
    "IsHierarchySyncEnabled": True,
    "IsPublicFolderSystemMailbox": False,
    "HasSnackyAppData": False,
    "RetentionComment": "",
    "RetentionUrl": "",
    "LitigationHoldOwner": "",
    "ElcProcessingDisabled": False,
    "ComplianceTagHoldApplied": False,
    "WasInactiveMailbox": False,
    "DelayHoldApplied": False,
    "DelayReleaseHoldApplied": False,
    "CalendarRepairDisabled": False,
    "ExchangeSecurityDescriptor": "System.Security.AccessControl.RawSecurityDescriptor",
    "ExchangeUserAccountControl": "None",
    "AdminDisplayVersion": "Version 15.20 (Build 8655.27)",
    "MessageTrackingReadStatusEnabled": True,
    "ExternalOofOptions": "External",
    "DowngradeHighPriorityMessagesEnabled": False,
    "ImListMigrationCompleted": False,
    "IsLinked": False,
    "IsRootPublicFolderMailbox": False,
    "LinkedMasterAccount": "",
    "ResetPasswordOnNextLogon": False,
    "AntispamBypassEnabled": False,
    "ServerLegacyDN": (
        "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Configuration/cn=Servers/"
        f"cn={EXCHANGE_SERVER}"
    ),
    "ServerName": EXCHANGE_SERVER.lower(),
    "UMEnabled": False,
    "ArchiveDatabaseGuid": _ZERO_GUID,
    "JournalArchiveAddress": "",
    "ArchiveState": "None",
    "AutoExpandingArchiveEnabled": False,
    "DisabledMailboxLocations": False,
    "RemoteRecipientType": "None",
    "DisabledArchiveGuid": _ZERO_GUID,
    "QueryBaseDNRestrictionEnabled": False,
    "MailboxMoveFlags": "None",
    "MailboxMoveStatus": "None",
    "MailboxRelease": "",
    "ArchiveRelease": "",
    "IsPersonToPersonTextMessagingEnabled": False,
    "IsMachineToPersonTextMessagingEnabled": True,
    "CalendarVersionStoreDisabled": False,
    "ImmutableId": "",
    "SourceAnchor": "",
    "IsSoftDeletedByRemove": False,
    "IsSoftDeletedByDisable": False,
    "IsInactiveMailbox": False,
    "IncludeInGarbageCollection": False,
    "HasPicture": False,
    "HasSpokenName": False,
    "IsDirSynced": False,
    "SimpleDisplayName": "",
    "SendModerationNotifications": "Always",
    "IsValid": True,
    "ObjectCategory": f"{_FOREST}/Configuration/Schema/Person",
    "ObjectClass": ("top", "person", "organizationalPerson", "user"),
    "OriginatingServer": DOMAIN_CONTROLLER,
    "ObjectState": "Unchanged",
}


def _base_template() -> list[Any]:
    defaults: dict[str, Any] = dict(ENGINE_DEFAULTS)
    defaults.update(MAILBOX_DEFAULT_PROPS)
    template: list[Any] = []
    for name in MAILBOX_PROPERTIES:
        value = defaults.get(name)
        if value is None and name in MULTI_VALUED_PROPERTIES:
            value = ()
        template.append(prop_value(name, value))
    return template


_BASE_TEMPLATE: Final = _base_template()
#: What a Mailbox shows when its row says nothing else (the filter engine types properties by it).
MAILBOX_DEFAULTS: Final = tuple(_BASE_TEMPLATE)
_INDEX: Final = {name: i for i, name in enumerate(MAILBOX_PROPERTIES)}


def _i(name: str) -> int:
    return _INDEX[name]


def organization_id(tenant: Tenant) -> str:
    domain = tenant.initial_domain
    return (
        f"{_FOREST}/Microsoft Exchange Hosted Organizations/{domain} - "
        f"{_FOREST}/ConfigurationUnits/{domain}/Configuration"
    )


def organizational_unit(tenant: Tenant) -> str:
    return f"{_FOREST.lower()}/Microsoft Exchange Hosted Organizations/{tenant.initial_domain}"


_LEGACY_DN_PREFIX: Final = "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn="


def legacy_dn(guid_text: str, alias: str) -> str:
    """A recipient's LegacyExchangeDN, from its (Exchange) GUID and alias."""
    return f"{_LEGACY_DN_PREFIX}{guid_text.replace('-', '')}-{alias}"


# Indexes of the properties set per row, resolved once.
_I_DELIVER = _i("DeliverToMailboxAndForward")
_I_EXCHANGE_GUID = _i("ExchangeGuid")
_I_FORWARDING = _i("ForwardingAddress")
_I_FORWARDING_SMTP = _i("ForwardingSmtpAddress")
_I_SAM = _i("SamAccountName")
_I_UPN = _i("UserPrincipalName")
_I_NETID = _i("NetID")
_I_LIVEID = _i("WindowsLiveID")
_I_MSOID = _i("MicrosoftOnlineServicesID")
_I_STS = _i("StsRefreshTokensValidFrom")
_I_ALIAS = _i("Alias")
_I_OU = _i("OrganizationalUnit")
_I_DISPLAY = _i("DisplayName")
_I_EMAILS = _i("EmailAddresses")
_I_EXTERNAL_ID = _i("ExternalDirectoryObjectId")
_I_HIDDEN = _i("HiddenFromAddressListsEnabled")
_I_LEGACY_DN = _i("LegacyExchangeDN")
_I_PRIMARY = _i("PrimarySmtpAddress")
_I_RT = _i("RecipientType")
_I_RTD = _i("RecipientTypeDetails")
_I_WINDOWS_EMAIL = _i("WindowsEmailAddress")
_I_IDENTITY = _i("Identity")
_I_ID = _i("Id")
_I_NAME = _i("Name")
_I_DN = _i("DistinguishedName")
_I_CHANGED = _i("WhenChanged")
_I_CREATED = _i("WhenCreated")
_I_CHANGED_UTC = _i("WhenChangedUTC")
_I_CREATED_UTC = _i("WhenCreatedUTC")
_I_OBJECT_ID = _i("ExchangeObjectId")
_I_ORG_ID = _i("OrganizationId")
_I_GUID = _i("Guid")

# Values that follow from RecipientTypeDetails: (index, value) pairs.
_BY_TYPE: Final[dict[str, tuple[tuple[int, Any], ...]]] = {
    rtd: (
        (_i("IsShared"), rtd == "SharedMailbox"),
        (_i("AccountDisabled"), rtd != "UserMailbox"),
        (_i("SKUAssigned"), True if rtd == "UserMailbox" else None),
    )
    for rtd in RECIPIENT_TYPE_DETAILS_VALUES
}
_PROXY_TYPES = PROXY_ADDRESS_COLLECTION
_loads = json.loads
_new = object.__new__
_setattr = object.__setattr__
_UUID = uuid.UUID
_UNKNOWN = uuid.SafeUUID.unknown


def _guid(text: str) -> uuid.UUID:
    """``uuid.UUID(text)`` for the store's canonical 36-character GUIDs, in two thirds of the time
    (UUID's constructor validates every input form; the store only holds one)."""
    u = _new(_UUID)
    _setattr(u, "int", int(text.replace("-", ""), 16))
    _setattr(u, "is_safe", _UNKNOWN)
    return u


if _guid("0b6b5d9c-3b49-4a3e-9d1a-6e1e2f3a4b5c") != _UUID("0b6b5d9c-3b49-4a3e-9d1a-6e1e2f3a4b5c"):  # pragma: no cover
    _guid = _UUID  # type: ignore[assignment]  # a future uuid module laid out differently


def _addresses(text: str) -> tuple[str, ...]:
    """The email_addresses JSON list; without escapes (nearly always) a split is exact and ~10x faster."""
    if "\\" in text:
        return tuple(_loads(text))
    inner = text.strip()[2:-2]
    return tuple(inner.split('","')) if inner else ()


#: recipients columns the factory reads, in the order it unpacks them.
ROW_COLUMNS: Final = (
    "guid",
    "exchange_guid",
    "external_directory_object_id",
    "name",
    "alias",
    "display_name",
    "user_principal_name",
    "primary_smtp_address",
    "recipient_type",
    "recipient_type_details",
    "distinguished_name",
    "hidden_from_address_lists_enabled",
    "forwarding_address",
    "forwarding_smtp_address",
    "deliver_to_mailbox_and_forward",
    "email_addresses",
    "props",
    "when_created",
    "when_changed",
)


def _columns_reader(sample: Any) -> Callable[[Any], tuple[Any, ...]]:
    """How to read ROW_COLUMNS from rows like ``sample``: by position for SQLAlchemy rows and
    named tuples (attribute access on a Row costs ~8x an index), else by attribute."""
    fields = getattr(sample, "_fields", None)
    if fields is not None:
        positions = [fields.index(c) for c in ROW_COLUMNS]
        getter = operator.itemgetter(*positions)
        return getter  # type: ignore[no-any-return]
    return operator.attrgetter(*ROW_COLUMNS)


def mailbox_factory(tenant: Tenant) -> Callable[[Any], ExchangeObject]:
    """A function turning one recipients row of ``tenant`` into its Mailbox object."""
    template = list(_BASE_TEMPLATE)
    template[_I_OU] = organizational_unit(tenant)
    template[_I_ORG_ID] = organization_id(tenant)
    shape = MAILBOX_SHAPE
    index = _INDEX
    by_type = _BY_TYPE
    rt_enum = RECIPIENT_TYPE
    rtd_enum = RECIPIENT_TYPE_DETAILS
    reader: Callable[[Any], tuple[Any, ...]] | None = None

    def make(row: Any) -> ExchangeObject:
        nonlocal reader
        if reader is None:
            reader = _columns_reader(row)
        (
            guid_text,
            exchange_guid_text,
            external_id,
            name,
            alias,
            display_name,
            upn,
            primary,
            rt,
            rtd,
            dn,
            hidden,
            forwarding,
            forwarding_smtp,
            deliver,
            emails,
            props,
            created,
            changed,
        ) = reader(row)
        v = template.copy()
        guid = _guid(guid_text)
        exchange_guid = _guid(exchange_guid_text)
        v[_I_DELIVER] = deliver
        v[_I_EXCHANGE_GUID] = exchange_guid
        v[_I_FORWARDING] = forwarding
        v[_I_FORWARDING_SMTP] = forwarding_smtp
        hexguid = guid_text.replace("-", "").upper()
        v[_I_SAM] = f"${hexguid[:6]}-{hexguid[6:18]}"
        v[_I_UPN] = upn
        v[_I_NETID] = hexguid[16:32]
        v[_I_LIVEID] = upn
        v[_I_MSOID] = upn
        v[_I_STS] = created
        v[_I_ALIAS] = alias
        v[_I_DISPLAY] = display_name
        v[_I_EMAILS] = MultiValued(_addresses(emails), _PROXY_TYPES)
        v[_I_EXTERNAL_ID] = external_id
        v[_I_HIDDEN] = hidden
        v[_I_LEGACY_DN] = legacy_dn(exchange_guid_text, alias)
        v[_I_PRIMARY] = primary
        v[_I_RT] = rt_enum.get(rt) or rt
        v[_I_RTD] = rtd_enum.get(rtd) or rtd
        v[_I_WINDOWS_EMAIL] = primary
        v[_I_IDENTITY] = name
        v[_I_ID] = name
        v[_I_NAME] = name
        v[_I_DN] = dn
        v[_I_CHANGED] = changed
        v[_I_CREATED] = created
        v[_I_CHANGED_UTC] = changed
        v[_I_CREATED_UTC] = created
        v[_I_OBJECT_ID] = guid
        v[_I_GUID] = guid
        for i, value in by_type.get(rtd, ()):
            v[i] = value
        if props and props != "{}":
            for key, value in _loads(props).items():
                i = index.get(key)
                if i is not None:
                    v[i] = prop_value(key, value)
        return ExchangeObject(shape, tuple(v), name)

    return make
