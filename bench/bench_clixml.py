"""Times the CLIXML routes for mailbox-sized objects.

    .venv/bin/python bench/bench_clixml.py [N] [--profile]

Builds N Get-Mailbox-shaped objects (~150 properties: strings, bools, GUIDs, datetimes, sizes,
a MultiValued of three addresses, two enums; one in eight has an "&" in its display name) and
prints CPU µs per object for

* the fast writer (``ClixmlWriter.dumps``), overall and split by whether a string needs escaping,
* the generic route (``generic_dumps``: psrpcore PSObject build + serialise),
* pypsrp deserialising the fast writer's output (what a Python client pays to read it).

``--profile`` runs the fast writer under cProfile and prints the top functions.
"""

from __future__ import annotations

import cProfile
import datetime
import pstats
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from pypsrp.serializer import Serializer

from aobo.cmdlets.results import EnumValue, ExchangeObject, Int64, MultiValued, ObjectShape
from aobo.frontends.psrp.clixml import ClixmlWriter
from aobo.frontends.psrp.generic import generic_dumps

MAILBOX_TYPES = (
    "Microsoft.Exchange.Data.Directory.Management.Mailbox",
    "Microsoft.Exchange.Data.Directory.Management.MailEnabledOrgPerson",
    "Microsoft.Exchange.Data.Directory.Management.MailEnabledRecipient",
    "Microsoft.Exchange.Data.Directory.ADPresentationObject",
    "Microsoft.Exchange.Data.Directory.ADObject",
    "Microsoft.Exchange.Data.Directory.ADRawEntry",
    "Microsoft.Exchange.Data.ConfigurableObject",
    "System.Object",
)
RECIPIENT_TYPE_DETAILS = (
    "Microsoft.Exchange.Data.Directory.Recipient.RecipientTypeDetails",
    "System.Enum",
    "System.ValueType",
    "System.Object",
)
RECIPIENT_TYPE = (
    "Microsoft.Exchange.Data.Directory.Recipient.RecipientType",
    "System.Enum",
    "System.ValueType",
    "System.Object",
)
PROXY_ADDRESSES = (
    "Microsoft.Exchange.Data.ProxyAddressCollection",
    "Microsoft.Exchange.Data.MultiValuedProperty`1[[Microsoft.Exchange.Data.ProxyAddress]]",
    "System.Object",
)

# (name, kind) in Get-Mailbox order; kinds pick a value generator below.
_PROPERTIES: list[tuple[str, str]] = [
    ("Database", "str"),
    ("MailboxProvisioningConstraint", "nil"),
    ("IsMonitoringMailbox", "bool"),
    ("MailboxRegion", "nil"),
    ("MailboxRegionLastUpdateTime", "nil"),
    ("MessageCopyForSentAsEnabled", "bool"),
    ("MessageCopyForSendOnBehalfEnabled", "bool"),
    ("MailboxProvisioningPreferences", "nil"),
    ("UseDatabaseRetentionDefaults", "bool"),
    ("RetainDeletedItemsUntilBackup", "bool"),
    ("DeliverToMailboxAndForward", "bool"),
    ("IsExcludedFromServingHierarchy", "bool"),
    ("IsHierarchyReady", "bool"),
    ("IsHierarchySyncEnabled", "bool"),
    ("IsPublicFolderSystemMailbox", "bool"),
    ("HasSnackyAppData", "bool"),
    ("LitigationHoldEnabled", "bool"),
    ("SingleItemRecoveryEnabled", "bool"),
    ("RetentionHoldEnabled", "bool"),
    ("EndDateForRetentionHold", "nil"),
    ("StartDateForRetentionHold", "nil"),
    ("RetentionComment", "str"),
    ("RetentionUrl", "str"),
    ("LitigationHoldDate", "nil"),
    ("LitigationHoldOwner", "str"),
    ("ElcProcessingDisabled", "bool"),
    ("ComplianceTagHoldApplied", "bool"),
    ("WasInactiveMailbox", "bool"),
    ("DelayHoldApplied", "bool"),
    ("DelayReleaseHoldApplied", "bool"),
    ("PitrEnabled", "bool"),
    ("PitrCopyIntervalInSeconds", "int"),
    ("LitigationHoldDuration", "str"),
    ("ManagedFolderMailboxPolicy", "nil"),
    ("RetentionPolicy", "str"),
    ("AddressBookPolicy", "nil"),
    ("CalendarRepairDisabled", "bool"),
    ("ExchangeGuid", "guid"),
    ("MailboxContainerGuid", "nil"),
    ("UnifiedMailbox", "nil"),
    ("MailboxLocations", "str"),
    ("AggregatedMailboxGuids", "str"),
    ("ExchangeSecurityDescriptor", "str"),
    ("ExchangeUserAccountControl", "str"),
    ("AdminDisplayVersion", "str"),
    ("MessageTrackingReadStatusEnabled", "bool"),
    ("ExternalOofOptions", "str"),
    ("ForwardingAddress", "nil"),
    ("ForwardingSmtpAddress", "nil"),
    ("RetainDeletedItemsFor", "str"),
    ("IsMailboxEnabled", "bool"),
    ("Languages", "str"),
    ("OfflineAddressBook", "nil"),
    ("ProhibitSendQuota", "str"),
    ("ProhibitSendReceiveQuota", "str"),
    ("RecoverableItemsQuota", "str"),
    ("RecoverableItemsWarningQuota", "str"),
    ("CalendarLoggingQuota", "str"),
    ("DowngradeHighPriorityMessagesEnabled", "bool"),
    ("ProtocolSettings", "str"),
    ("RecipientLimits", "str"),
    ("ImListMigrationCompleted", "bool"),
    ("SiloName", "nil"),
    ("IsResource", "bool"),
    ("IsLinked", "bool"),
    ("IsShared", "bool"),
    ("IsRootPublicFolderMailbox", "bool"),
    ("LinkedMasterAccount", "str"),
    ("ResetPasswordOnNextLogon", "bool"),
    ("ResourceCapacity", "nil"),
    ("ResourceCustom", "str"),
    ("ResourceType", "nil"),
    ("RoomMailboxAccountEnabled", "nil"),
    ("SamAccountName", "str"),
    ("SCLDeleteThreshold", "nil"),
    ("SCLDeleteEnabled", "nil"),
    ("SCLRejectThreshold", "nil"),
    ("SCLRejectEnabled", "nil"),
    ("SCLQuarantineThreshold", "nil"),
    ("SCLQuarantineEnabled", "nil"),
    ("SCLJunkThreshold", "nil"),
    ("SCLJunkEnabled", "nil"),
    ("AntispamBypassEnabled", "bool"),
    ("ServerLegacyDN", "str"),
    ("ServerName", "str"),
    ("UseDatabaseQuotaDefaults", "bool"),
    ("IssueWarningQuota", "str"),
    ("RulesQuota", "str"),
    ("Office", "str"),
    ("UserPrincipalName", "upn"),
    ("UMEnabled", "bool"),
    ("MaxSafeSenders", "nil"),
    ("MaxBlockedSenders", "nil"),
    ("NetID", "str"),
    ("ReconciliationId", "nil"),
    ("WindowsLiveID", "upn"),
    ("MicrosoftOnlineServicesID", "upn"),
    ("ThrottlingPolicy", "nil"),
    ("RoleAssignmentPolicy", "str"),
    ("DefaultPublicFolderMailbox", "nil"),
    ("EffectivePublicFolderMailbox", "str"),
    ("SharingPolicy", "str"),
    ("RemoteAccountPolicy", "nil"),
    ("MailboxPlan", "str"),
    ("ArchiveDatabase", "nil"),
    ("ArchiveGuid", "guid"),
    ("ArchiveName", "str"),
    ("JournalArchiveAddress", "str"),
    ("ArchiveQuota", "str"),
    ("ArchiveWarningQuota", "str"),
    ("ArchiveDomain", "nil"),
    ("ArchiveStatus", "str"),
    ("ArchiveState", "str"),
    ("AutoExpandingArchiveEnabled", "bool"),
    ("DisabledMailboxLocations", "bool"),
    ("RemoteRecipientType", "str"),
    ("DisabledArchiveDatabase", "nil"),
    ("DisabledArchiveGuid", "guid"),
    ("QueryBaseDN", "nil"),
    ("QueryBaseDNRestrictionEnabled", "bool"),
    ("MailboxMoveTargetMDB", "nil"),
    ("MailboxMoveSourceMDB", "nil"),
    ("MailboxMoveFlags", "str"),
    ("MailboxMoveRemoteHostName", "str"),
    ("MailboxMoveBatchName", "str"),
    ("MailboxMoveStatus", "str"),
    ("MailboxRelease", "str"),
    ("ArchiveRelease", "str"),
    ("IsPersonToPersonTextMessagingEnabled", "bool"),
    ("IsMachineToPersonTextMessagingEnabled", "bool"),
    ("CalendarVersionStoreDisabled", "bool"),
    ("ProhibitSendQuotaBytes", "i64"),
    ("ArchiveQuotaBytes", "i64"),
    ("AuditEnabled", "bool"),
    ("AuditLogAgeLimit", "str"),
    ("Alias", "alias"),
    ("DisplayName", "display"),
    ("EmailAddresses", "addresses"),
    ("PrimarySmtpAddress", "upn"),
    ("RecipientType", "rtype"),
    ("RecipientTypeDetails", "rtypedetails"),
    ("HiddenFromAddressListsEnabled", "bool"),
    ("Identity", "alias"),
    ("IsValid", "bool"),
    ("ExchangeVersion", "str"),
    ("Name", "alias"),
    ("DistinguishedName", "dn"),
    ("Guid", "guid"),
    ("ObjectCategory", "str"),
    ("WhenChanged", "dt"),
    ("WhenCreated", "dt"),
    ("WhenChangedUTC", "dtutc"),
    ("WhenCreatedUTC", "dtutc"),
    ("ExchangeObjectId", "guid"),
    ("OrganizationId", "str"),
    ("Id", "alias"),
    ("OriginatingServer", "str"),
]

SHAPE = ObjectShape(MAILBOX_TYPES, tuple(name for name, _ in _PROPERTIES))
_LOCAL = datetime.timezone(datetime.timedelta(hours=2))


def _value(kind: str, i: int) -> Any:
    alias = f"user{i:05d}"
    match kind:
        case "str":
            return f"Value for {alias}"
        case "nil":
            return None
        case "bool":
            return i % 3 == 0
        case "int":
            return 300
        case "i64":
            return Int64(107_374_182_400)
        case "guid":
            return uuid.uuid4()
        case "upn":
            return f"{alias}@contoso.onmicrosoft.com"
        case "alias":
            return alias
        case "display":
            return f"User {i} (Sales & Marketing)" if i % 8 == 0 else f"User {i}"
        case "dn":
            return f"CN={alias},OU=contoso.onmicrosoft.com,OU=Microsoft Exchange Hosted Organizations,DC=EURPR01A001"
        case "dt":
            return datetime.datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=_LOCAL)
        case "dtutc":
            return datetime.datetime(2024, 3, 1, 10, 30, 15, 123456)
        case "addresses":
            return MultiValued(
                (
                    f"SMTP:{alias}@contoso.com",
                    f"smtp:{alias}@contoso.onmicrosoft.com",
                    f"SIP:{alias}@contoso.com",
                ),
                PROXY_ADDRESSES,
            )
        case "rtype":
            return EnumValue(RECIPIENT_TYPE, "UserMailbox", 1)
        case "rtypedetails":
            return EnumValue(RECIPIENT_TYPE_DETAILS, "UserMailbox", 1)
    raise ValueError(kind)


def make_mailboxes(n: int) -> list[ExchangeObject]:
    return [SHAPE.make([_value(kind, i) for _, kind in _PROPERTIES], f"user{i:05d}") for i in range(n)]


def _time(fn: Callable[[], object], count: int, repeat: int = 5) -> float:
    """Best-of-``repeat`` CPU µs per object.

    CPU time of this process rather than wall time, and the best run: other work on the machine
    (two cores, shared with builds and test runs) then disturbs the figure least.
    """
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best / count * 1e6


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 2000
    mailboxes = make_mailboxes(n)
    writer = ClixmlWriter()
    # Templates and the generated renderer are made once per shape, not per object.
    writer.dumps_many(mailboxes[:20])
    size = len(writer.dumps(mailboxes[1]))
    print(f"{n} mailboxes of {len(SHAPE.property_names)} properties, ~{size} bytes of CLIXML each")

    if "--profile" in sys.argv:
        profile = cProfile.Profile()
        profile.runcall(writer.dumps_many, mailboxes)
        pstats.Stats(profile).sort_stats("tottime").print_stats(12)

    fast = _time(lambda: writer.dumps_many(mailboxes), n)
    plain = [m for i, m in enumerate(mailboxes) if i % 8]
    escaping = [m for i, m in enumerate(mailboxes) if not i % 8]
    fast_plain = _time(lambda: writer.dumps_many(plain), len(plain))
    fast_escaping = _time(lambda: writer.dumps_many(escaping), len(escaping))
    subset = mailboxes[: max(1, n // 10)]  # the generic route is ~100x slower
    generic = _time(lambda: [generic_dumps(m) for m in subset], len(subset), repeat=3)
    texts = [x.decode() for x in writer.dumps_many(subset)]
    pypsrp_read = _time(lambda: [Serializer().deserialize(t) for t in texts], len(texts), repeat=3)

    print(f"fast dumps:              {fast:8.1f} µs/object  (1 in 8 has a display name to escape)")
    print(f"  nothing to escape:     {fast_plain:8.1f} µs/object")
    print(f"  a string to escape:    {fast_escaping:8.1f} µs/object")
    print(f"generic (psrpcore):      {generic:8.1f} µs/object  ({generic / fast:.0f}x the fast writer)")
    print(f"pypsrp deserialise:      {pypsrp_read:8.1f} µs/object")


if __name__ == "__main__":
    main()
