"""Get-Mailbox and Set-Mailbox on a real store (SQLite, seeded with the demo world)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from aobo.cmdlets.context import CmdletContext
from aobo.cmdlets.exchange.mailbox_object import (
    MAILBOX_PROPERTIES,
    MAILBOX_SHAPE,
    MAILBOX_TYPE_NAMES,
    PROXY_ADDRESS_COLLECTION,
    mailbox_factory,
)
from aobo.cmdlets.pipeline import CommandInvocation, run_pipeline
from aobo.cmdlets.registry import Registry
from aobo.cmdlets.results import (
    CmdletError,
    EnumValue,
    ErrorCategory,
    ErrorRecord,
    ExchangeObject,
    InformationalRecord,
    MultiValued,
    WarningRecord,
)

WARNING_1000 = (
    "By default, only the first 1000 items are returned. Use the ResultSize parameter to specify the "
    'number of items returned. To return all items, specify "-ResultSize Unlimited". Be aware that, '
    "depending on the actual number of items, returning all items can take a long time and consume a large "
    "amount of memory. Also, we don't recommend storing the results in a variable. Instead, pipe the results "
    "to another task or script to perform batch changes."
)
MORE_RESULTS = (
    "There are more results available than are currently displayed. To view them, increase the value for the "
    "ResultSize parameter."
)
NOT_FOUND_FQID = re.compile(
    r"^\[Server=[A-Z0-9]+,RequestId=[0-9a-f-]{36},TimeStamp=\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d\d:\d\d [AP]M\] "
    r"\[FailureCategory=Cmdlet-ManagementObjectNotFoundException\] [0-9A-F]{8},"
    r"Microsoft\.Exchange\.Management\.RecipientTasks\.GetMailbox$"
)


def cmd(name: str, *params: tuple[str | None, Any], end: bool = False) -> CommandInvocation:
    return CommandInvocation(name, list(params), end_of_statement=end)


def run(ctx: CmdletContext, registry: Registry, *commands: CommandInvocation, input: Any = None) -> list[Any]:
    return list(run_pipeline(ctx, registry, list(commands), input))


@pytest.fixture
def contoso(seeded_store: Any, partner_ctx: Callable[..., CmdletContext]) -> CmdletContext:
    return partner_ctx(seeded_store, "admin", "contoso")


@pytest.fixture
def fabrikam(seeded_store: Any, partner_ctx: Callable[..., CmdletContext]) -> CmdletContext:
    return partner_ctx(seeded_store, "admin", "fabrikam")


def adele(store: Any, ctx: CmdletContext) -> Any:
    (row,) = store.find_recipients(ctx.tenant.id, "AdeleV")
    return row


# --- the object --------------------------------------------------------------------------------


def test_mailbox_object_shape(seeded_store: Any, contoso: CmdletContext, registry: Registry) -> None:
    (mbx,) = run(contoso, registry, cmd("Get-Mailbox", ("Identity", "AdeleV")))
    assert isinstance(mbx, ExchangeObject)
    assert mbx.shape is MAILBOX_SHAPE
    assert mbx.type_names == MAILBOX_TYPE_NAMES
    assert mbx.to_string == "AdeleV"
    row = adele(seeded_store, contoso)
    assert mbx["Identity"] == mbx["Id"] == mbx["Name"] == "AdeleV"
    assert mbx["Guid"] == uuid.UUID(row.guid) == mbx["ExchangeObjectId"]
    assert mbx["ExchangeGuid"] == uuid.UUID(row.exchange_guid)
    assert mbx["ExternalDirectoryObjectId"] == row.external_directory_object_id
    assert mbx["PrimarySmtpAddress"] == "AdeleV@contoso.com"
    assert mbx["UserPrincipalName"] == "AdeleV@contoso.com"
    assert mbx["DisplayName"] == "Adele Vance"
    assert mbx["Alias"] == "AdeleV"
    emails = mbx["EmailAddresses"]
    assert isinstance(emails, MultiValued) and emails.type_names == PROXY_ADDRESS_COLLECTION
    assert emails.items[0] == "SMTP:AdeleV@contoso.com"
    assert "smtp:adele.vance@contoso.com" in emails.items
    assert mbx["RecipientType"] == EnumValue(
        (
            "Microsoft.Exchange.Data.Directory.Recipient.RecipientType",
            "System.Enum",
            "System.ValueType",
            "System.Object",
        ),
        "UserMailbox",
        2,
    )
    assert (mbx["RecipientTypeDetails"].name, mbx["RecipientTypeDetails"].value) == ("UserMailbox", 1)
    assert isinstance(mbx["WhenCreated"], datetime) and mbx["WhenCreated"].tzinfo is not None
    assert isinstance(mbx["WhenMailboxCreated"], datetime)
    # stored props overlay the defaults
    assert mbx["CustomAttribute1"] == "CC-1000"
    assert mbx["ArchiveStatus"] == "Active"
    assert isinstance(mbx["ArchiveGuid"], uuid.UUID)
    assert mbx["Office"] == "18/2111"
    # defaults, quotas as strings
    assert mbx["ProhibitSendReceiveQuota"] == "100 GB (107,374,182,400 bytes)"
    assert mbx["RecipientLimits"] == "500"
    assert mbx["CustomAttribute2"] == ""
    assert mbx["ExchangeVersion"] == "0.20 (15.0.0.0)"
    assert mbx["OrganizationId"].startswith("NAMPR01A001.PROD.OUTLOOK.COM/Microsoft Exchange Hosted Organizations/")
    assert mbx["IsValid"] is True


def test_property_names_cover_the_property_sets() -> None:
    sets = {
        "Minimum": "Alias DisplayName DistinguishedName EmailAddresses ExchangeVersion "
        "ExternalDirectoryObjectId Guid Id Name OrganizationId PrimarySmtpAddress RecipientType "
        "RecipientTypeDetails UserPrincipalName",
        "Quota": "ArchiveQuota ArchiveWarningQuota CalendarLoggingQuota IssueWarningQuota ProhibitSendQuota "
        "ProhibitSendReceiveQuota RecoverableItemsQuota RecoverableItemsWarningQuota RulesQuota "
        "UseDatabaseQuotaDefaults",
        "StatisticsSeed": "ArchiveDatabaseGuid DatabaseGuid ExchangeGuid",
        "Delivery": "ForwardingAddress ForwardingSmtpAddress DeliverToMailboxAndForward GrantSendOnBehalfTo "
        "MaxSendSize MaxReceiveSize",
        "Hold": "LitigationHoldEnabled InPlaceHolds",
        "Audit": "AuditEnabled AuditAdmin AuditDelegate AuditOwner AuditLogAgeLimit DefaultAuditSet",
        "Custom": " ".join(
            [f"CustomAttribute{i}" for i in range(1, 16)] + [f"ExtensionCustomAttribute{i}" for i in range(1, 6)]
        ),
        "SoftDelete": "WhenSoftDeleted IsInactiveMailbox",
    }
    names = set(MAILBOX_PROPERTIES)
    for name, props in sets.items():
        assert set(props.split()) <= names, name
    assert len(MAILBOX_PROPERTIES) == len(names) > 200
    # Exchange's order: Database first, the ADObject properties last.
    assert MAILBOX_PROPERTIES[0] == "Database"
    order = [MAILBOX_PROPERTIES.index(n) for n in ("Alias", "PrimarySmtpAddress", "Identity", "Name", "Guid")]
    assert order == sorted(order)


def test_row_factory_reads_plain_objects_too(seeded_store: Any, contoso: CmdletContext) -> None:
    row = adele(seeded_store, contoso)

    class Plain:
        def __init__(self, r: Any) -> None:
            self.__dict__.update(r._mapping)

    make = mailbox_factory(contoso.tenant)
    assert make(Plain(row)).values == mailbox_factory(contoso.tenant)(row).values


# --- identity ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "identity",
    [
        "AdeleV",
        "adelev",
        "Adele Vance",
        "AdeleV@contoso.com",
        "adelev@contoso.onmicrosoft.com",
        "smtp:adele.vance@contoso.com",
        "adele.vance@contoso.com",
        "CN=AdeleV,OU=contoso.onmicrosoft.com,OU=Microsoft Exchange Hosted Organizations,"
        "DC=NAMPR01A001,DC=PROD,DC=OUTLOOK,DC=COM",
    ],
)
def test_identity_forms(identity: str, contoso: CmdletContext, registry: Registry) -> None:
    (mbx,) = run(contoso, registry, cmd("Get-Mailbox", (None, identity)))
    assert mbx["Name"] == "AdeleV"


def test_identity_by_guids(seeded_store: Any, contoso: CmdletContext, registry: Registry) -> None:
    row = adele(seeded_store, contoso)
    for value in (row.guid, row.exchange_guid, row.external_directory_object_id, uuid.UUID(row.guid)):
        (mbx,) = run(contoso, registry, cmd("Get-Mailbox", ("Identity", value)))
        assert mbx["Name"] == "AdeleV"


def test_not_found(contoso: CmdletContext, registry: Registry) -> None:
    out = run(contoso, registry, cmd("Get-Mailbox", ("Identity", "nobody@contoso.com")), cmd("Measure-Object"))
    err, count = out
    assert isinstance(err, ErrorRecord)
    assert err.message == (
        "The operation couldn't be performed because object 'nobody@contoso.com' couldn't be found on "
        "'NAMPR01A001DC01.NAMPR01A001.PROD.OUTLOOK.COM'."
    )
    assert err.exception_type == "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
    assert err.category is ErrorCategory.NotSpecified
    assert NOT_FOUND_FQID.match(err.fully_qualified_error_id), err.fully_qualified_error_id
    assert count["Count"] == 0  # not terminating: the pipeline went on


def test_not_found_in_other_tenant(
    seeded_store: Any, partner_ctx: Callable[..., CmdletContext], registry: Registry
) -> None:
    # AdeleV lives in contoso; fabrikam must not see her.
    ctx = partner_ctx(seeded_store, "admin", "fabrikam")
    (err,) = run(ctx, registry, cmd("Get-Mailbox", ("Identity", "AdeleV@contoso.com")))
    assert isinstance(err, ErrorRecord)


def test_ambiguous(contoso: CmdletContext, registry: Registry) -> None:
    (err,) = run(contoso, registry, cmd("Get-Mailbox", ("Identity", "Alex Wilber")))
    assert err.message == "The operation couldn't be performed because 'Alex Wilber' matches multiple entries."
    assert err.exception_type == "Microsoft.Exchange.Configuration.Tasks.ManagementObjectAmbiguousException"
    assert "[FailureCategory=Cmdlet-ManagementObjectAmbiguousException]" in err.fully_qualified_error_id


def test_identities_from_the_pipeline(contoso: CmdletContext, registry: Registry) -> None:
    out = run(contoso, registry, cmd("Get-Mailbox"), input=["AdeleV", "nobody", {"Identity": "MeganB"}])
    assert [o["Name"] if isinstance(o, ExchangeObject) else "error" for o in out] == [
        "AdeleV",
        "error",
        "MeganB",
    ]


def test_error_action_silently_continue(contoso: CmdletContext, registry: Registry) -> None:
    out = run(contoso, registry, cmd("Get-Mailbox", ("Identity", "nobody"), ("ErrorAction", "SilentlyContinue")))
    assert out == []
    with pytest.raises(CmdletError):
        run(contoso, registry, cmd("Get-Mailbox", ("Identity", "nobody"), ("ErrorAction", "Stop")))


def test_wildcard_identity_and_anr(contoso: CmdletContext, registry: Registry) -> None:
    out = run(contoso, registry, cmd("Get-Mailbox", ("Identity", "Alex*")))
    assert {o["Name"] for o in out} == {"AlexW", "AWilber"}
    out = run(contoso, registry, cmd("Get-Mailbox", ("Anr", "wilber")))
    assert {o["Name"] for o in out} == {"AlexW", "AWilber"}


# --- listing -----------------------------------------------------------------------------------


def test_result_size_default_warning(fabrikam: CmdletContext, registry: Registry) -> None:
    out = run(fabrikam, registry, cmd("Get-Mailbox"))
    assert len(out) == 1001
    assert all(isinstance(o, ExchangeObject) for o in out[:1000])
    assert out[-1] == WarningRecord(WARNING_1000)


def test_result_size_explicit(fabrikam: CmdletContext, registry: Registry) -> None:
    out = run(fabrikam, registry, cmd("Get-Mailbox", ("ResultSize", 5)))
    assert len(out) == 6
    # The caller's own -ResultSize cut the result: Exchange's other warning, whatever the number.
    assert out[-1] == WarningRecord(MORE_RESULTS)
    assert run(fabrikam, registry, cmd("Get-Mailbox", ("ResultSize", 1000)))[-1] == WarningRecord(MORE_RESULTS)
    filtered = run(fabrikam, registry, cmd("Get-Mailbox", ("Filter", "Name -like '*'"), ("ResultSize", 5)))
    assert filtered[-1] == WarningRecord(MORE_RESULTS)
    assert run(fabrikam, registry, cmd("Get-Mailbox", ("Filter", "Name -like '*'")))[-1] == WarningRecord(WARNING_1000)
    assert len(run(fabrikam, registry, cmd("Get-Mailbox", ("ResultSize", 1500)))) == 1500
    assert len(run(fabrikam, registry, cmd("Get-Mailbox", ("ResultSize", 2000)))) == 1500


def test_result_size_unlimited(fabrikam: CmdletContext, registry: Registry) -> None:
    out = run(fabrikam, registry, cmd("Get-Mailbox", ("-ResultSize:", "Unlimited")))
    assert len(out) == 1500
    assert not any(isinstance(o, WarningRecord) for o in out)
    assert len({o["Guid"] for o in out}) == 1500


def test_warning_action_drops_the_result_size_warning(fabrikam: CmdletContext, registry: Registry) -> None:
    out = run(fabrikam, registry, cmd("Get-Mailbox", ("WarningAction", "SilentlyContinue")))
    assert len(out) == 1000


def test_recipient_type_details(contoso: CmdletContext, registry: Registry) -> None:
    shared = run(contoso, registry, cmd("Get-Mailbox", ("RecipientTypeDetails", "SharedMailbox")))
    assert len(shared) == 5 and {o["RecipientTypeDetails"].name for o in shared} == {"SharedMailbox"}
    assert all(o["IsShared"] for o in shared)
    rooms = run(contoso, registry, cmd("Get-Mailbox", ("RecipientTypeDetails", ["RoomMailbox", "EquipmentMailbox"])))
    assert {o["RecipientTypeDetails"].name for o in rooms} == {"RoomMailbox", "EquipmentMailbox"}
    assert {(o["RecipientTypeDetails"].name, o["RecipientTypeDetails"].value) for o in rooms} == {
        ("RoomMailbox", 16),
        ("EquipmentMailbox", 32),
    }
    assert all(o["IsResource"] for o in rooms)
    assert run(contoso, registry, cmd("Get-Mailbox", ("RecipientTypeDetails", "MailUser"))) == []
    everyone = run(contoso, registry, cmd("Get-Mailbox"))
    assert len(everyone) == 40


def test_filter_selects_mailboxes(contoso: CmdletContext, registry: Registry) -> None:
    out = run(contoso, registry, cmd("Get-Mailbox", ("Filter", "DisplayName -like 'Adele*'")))
    assert [o["Name"] for o in out] == ["AdeleV"]
    shared = run(
        contoso,
        registry,
        cmd(
            "Get-Mailbox",
            ("Filter", "HiddenFromAddressListsEnabled -eq $false"),
            ("RecipientTypeDetails", "SharedMailbox"),
        ),
    )
    assert shared and {str(o["RecipientTypeDetails"]) for o in shared} == {"SharedMailbox"}
    with pytest.raises(CmdletError) as info:
        run(contoso, registry, cmd("Get-Mailbox", ("Filter", "DisplayName -like")))
    assert info.value.terminating


class CountingStore:
    """Wraps the store to count how many mailbox rows the cmdlet pulled, and whether it let go."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.pulled = 0
        self.closed = False
        self.limits: list[int | None] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def iter_mailboxes(self, tenant_id: int, **kw: Any) -> Iterator[Any]:
        self.limits.append(kw.get("limit"))
        rows = self._store.iter_mailboxes(tenant_id, **kw)
        try:
            for row in rows:
                self.pulled += 1
                yield row
        finally:
            self.closed = True


def test_streaming_is_lazy(seeded_store: Any, partner_ctx: Callable[..., CmdletContext], registry: Registry) -> None:
    counting = CountingStore(seeded_store)
    ctx = partner_ctx(seeded_store, "admin", "fabrikam")
    ctx = CmdletContext(
        store=counting, caller=ctx.caller, caller_tenant=ctx.caller_tenant, tenant=ctx.tenant, roles=ctx.roles
    )  # type: ignore[arg-type]
    gen = run_pipeline(ctx, registry, [cmd("Get-Mailbox", ("ResultSize", "Unlimited"))])
    first = next(gen)
    assert isinstance(first, ExchangeObject)
    assert counting.pulled == 1
    gen.close()
    assert counting.closed

    counting = CountingStore(seeded_store)
    ctx = CmdletContext(
        store=counting, caller=ctx.caller, caller_tenant=ctx.caller_tenant, tenant=ctx.tenant, roles=ctx.roles
    )  # type: ignore[arg-type]
    out = run(ctx, registry, cmd("Get-Mailbox", ("ResultSize", "Unlimited")), cmd("Select-Object", ("First", 3)))
    assert len(out) == 3
    assert counting.pulled == 3 and counting.closed
    assert counting.limits == [None]
    run(ctx, registry, cmd("Get-Mailbox"))
    assert counting.limits[-1] == 1001  # ResultSize + 1, to know whether to warn


def test_select_object_over_mailboxes(contoso: CmdletContext, registry: Registry) -> None:
    out = run(
        contoso,
        registry,
        cmd("Get-Mailbox", ("RecipientTypeDetails", "SharedMailbox")),
        cmd("Select-Object", ("Property", ["Name", "PrimarySmtpAddress"]), ("First", 2)),
    )
    assert [o.type_names[0] for o in out] == ["Selected.Microsoft.Exchange.Data.Directory.Management.Mailbox"] * 2
    assert list(out[0].as_dict()) == ["Name", "PrimarySmtpAddress"]
    expanded = run(
        contoso,
        registry,
        cmd("Get-Mailbox", ("Identity", "AdeleV")),
        cmd("Select-Object", ("ExpandProperty", "EmailAddresses")),
    )
    assert expanded[0] == "SMTP:AdeleV@contoso.com"


# --- Set-Mailbox -------------------------------------------------------------------------------


@pytest.fixture
def writable(store: Any, partner_ctx: Callable[..., CmdletContext]) -> CmdletContext:
    return partner_ctx(store, "admin", "contoso")


def get(ctx: CmdletContext, registry: Registry, identity: str) -> ExchangeObject:
    (mbx,) = run(ctx, registry, cmd("Get-Mailbox", ("Identity", identity)))
    return mbx  # type: ignore[no-any-return]


def test_set_mailbox_writes(writable: CmdletContext, registry: Registry) -> None:
    out = run(
        writable,
        registry,
        cmd(
            "Set-Mailbox",
            (None, "AdeleV"),
            ("DisplayName", "Adele V."),
            ("CustomAttribute3", "blue"),
            ("HiddenFromAddressListsEnabled", True),
            ("ForwardingSmtpAddress", "adele@fabrikam.com"),
            ("DeliverToMailboxAndForward", True),
        ),
    )
    assert out == []
    mbx = get(writable, registry, "AdeleV")
    assert mbx["DisplayName"] == "Adele V."
    assert mbx["CustomAttribute3"] == "blue"
    assert mbx["HiddenFromAddressListsEnabled"] is True
    assert mbx["ForwardingSmtpAddress"] == "smtp:adele@fabrikam.com"
    assert mbx["DeliverToMailboxAndForward"] is True
    assert mbx["WhenChanged"] > mbx["WhenCreated"]
    run(
        writable,
        registry,
        cmd("Set-Mailbox", (None, "AdeleV"), ("ForwardingSmtpAddress", None), ("CustomAttribute3", None)),
    )
    mbx = get(writable, registry, "AdeleV")
    assert mbx["ForwardingSmtpAddress"] is None
    assert mbx["CustomAttribute3"] == ""


def test_set_mailbox_whatif(writable: CmdletContext, registry: Registry) -> None:
    out = run(writable, registry, cmd("Set-Mailbox", ("Identity", "AdeleV"), ("DisplayName", "X"), ("WhatIf", None)))
    assert out == [InformationalRecord('What if: Setting mailbox "AdeleV".')]
    assert get(writable, registry, "AdeleV")["DisplayName"] == "Adele Vance"


def test_set_mailbox_nothing_modified(writable: CmdletContext, registry: Registry) -> None:
    out = run(writable, registry, cmd("Set-Mailbox", ("Identity", "AdeleV"), ("DisplayName", "Adele Vance")))
    assert out == [WarningRecord("The command completed successfully but no settings of 'AdeleV' have been modified.")]


def test_set_mailbox_from_the_pipeline(writable: CmdletContext, registry: Registry) -> None:
    out = run(
        writable,
        registry,
        cmd("Get-Mailbox", ("RecipientTypeDetails", "RoomMailbox")),
        cmd("Set-Mailbox", ("CustomAttribute5", "room")),
    )
    assert out == []
    rooms = run(writable, registry, cmd("Get-Mailbox", ("RecipientTypeDetails", "RoomMailbox")))
    assert {r["CustomAttribute5"] for r in rooms} == {"room"}


def test_set_mailbox_errors(writable: CmdletContext, registry: Registry) -> None:
    (err,) = run(writable, registry, cmd("Set-Mailbox", ("Identity", "nobody"), ("DisplayName", "x")))
    assert err.exception_type.endswith("ManagementObjectNotFoundException")
    assert err.fully_qualified_error_id.endswith(",Microsoft.Exchange.Management.RecipientTasks.SetMailbox")
    with pytest.raises(CmdletError) as info:
        run(
            writable,
            registry,
            cmd("Set-Mailbox", ("Identity", "AdeleV"), ("ForwardingSmtpAddress", "no way")),
        )
    assert info.value.record.fully_qualified_error_id == "ParameterArgumentTransformationError,Set-Mailbox"
    (err,) = run(writable, registry, cmd("Set-Mailbox", ("Identity", "AdeleV"), ("DisplayName", " ")))
    assert isinstance(err, ErrorRecord) and "DisplayName" in err.message


def test_set_mailbox_denied_to_helpdesk(
    store: Any, partner_ctx: Callable[..., CmdletContext], registry: Registry
) -> None:
    ctx = partner_ctx(store, "helpdesk", "contoso")
    assert len(run(ctx, registry, cmd("Get-Mailbox", ("Identity", "AdeleV")))) == 1
    with pytest.raises(CmdletError) as info:
        run(ctx, registry, cmd("Set-Mailbox", ("Identity", "AdeleV"), ("DisplayName", "x")))
    r = info.value.record
    assert r.message == (
        '[FailureCategory=AuthZ-CmdletAccessDeniedException] The user "northwindit.onmicrosoft.com\\'
        "helpdesk@northwindit.onmicrosoft.com\" isn't assigned to any management roles that allow running "
        '"Set-Mailbox".'
    )
    assert r.category is ErrorCategory.PermissionDenied
    assert get(ctx, registry, "AdeleV")["DisplayName"] == "Adele Vance"


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("Organization Management", True),
        ("Recipient Management", True),
        ("View-Only Organization Management", False),
    ],
)
def test_set_mailbox_by_role(
    store: Any, tenant_ctx: Callable[..., CmdletContext], registry: Registry, role: str, allowed: bool
) -> None:
    ctx = tenant_ctx(store, "contoso", [role])
    command = cmd("Set-Mailbox", ("Identity", "MeganB"), ("CustomAttribute1", "x"))
    if allowed:
        assert run(ctx, registry, command) == []
    else:
        with pytest.raises(CmdletError):
            run(ctx, registry, command)
