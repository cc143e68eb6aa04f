"""Get-MessageTrace, Get-MessageTraceV2 and Search-AdminAuditLog on the seeded demo store."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aobo.cmdlets.audit import audit_entries, object_id
from aobo.cmdlets.context import CmdletContext
from aobo.cmdlets.exchange.reports import MORE_RESULTS, START_DATE_TOO_OLD
from aobo.cmdlets.pipeline import CommandInvocation, run_pipeline
from aobo.cmdlets.registry import Registry
from aobo.cmdlets.results import CmdletError, ErrorRecord, ExchangeObject, WarningRecord
from aobo.domain.message_trace import TraceRecord
from aobo.domain.models import AuditEntry

TRACE_PROPERTIES = [
    "Organization",
    "MessageId",
    "Received",
    "SenderAddress",
    "RecipientAddress",
    "Subject",
    "Status",
    "ToIP",
    "FromIP",
    "Size",
    "MessageTraceId",
    "StartDate",
    "EndDate",
]
_CONTINUATION = re.compile(r'-EndDate "([^"]+)" -StartingRecipientAddress "([^"]+)"')


def run(ctx: CmdletContext, registry: Registry, name: str, *params: tuple[str | None, Any]) -> list[Any]:
    return list(run_pipeline(ctx, registry, [CommandInvocation(name, list(params))]))


def objects(out: list[Any]) -> list[ExchangeObject]:
    return [o for o in out if isinstance(o, ExchangeObject)]


def errors(out: list[Any]) -> list[str]:
    return [o.message for o in out if isinstance(o, ErrorRecord)]


@pytest.fixture
def admin(seeded_store: Any, partner_ctx: Callable[..., CmdletContext]) -> CmdletContext:
    return partner_ctx(seeded_store, "admin", "contoso")


def iso(value: datetime) -> str:
    return value.isoformat()


# --- Get-MessageTrace -----------------------------------------------------------------------------


def test_get_message_trace_defaults_to_the_last_48_hours_newest_first(admin: CmdletContext, registry: Registry) -> None:
    now = datetime.now(UTC)
    found = objects(
        run(admin, registry, "Get-MessageTrace", ("StartDate", iso(now - timedelta(days=9))), ("EndDate", iso(now)))
    )
    default = objects(run(admin, registry, "Get-MessageTrace"))
    assert found, "the seeded contoso trace has records in the last 9 days"
    first = found[0]
    assert first.type_names[0] == "Microsoft.Exchange.Management.FfoReporting.MessageTrace"
    assert list(first.as_dict())[: len(TRACE_PROPERTIES)] == TRACE_PROPERTIES
    assert first["Organization"] == "contoso.onmicrosoft.com"
    assert isinstance(first["MessageTraceId"], uuid.UUID)
    received = [o["Received"] for o in found]
    assert received == sorted(received, reverse=True)
    assert [o["Index"] for o in found] == list(range(len(found)))
    assert all(o["Received"] >= now - timedelta(hours=48, minutes=1) for o in default)
    assert [o["MessageTraceId"] for o in default] == [
        o["MessageTraceId"] for o in found if o["Received"] >= default[-1]["Received"]
    ][: len(default)]


def test_page_and_page_size_walk_the_same_rows(admin: CmdletContext, registry: Registry) -> None:
    now = datetime.now(UTC)
    window = (("StartDate", iso(now - timedelta(days=10))), ("EndDate", iso(now)))
    whole = objects(run(admin, registry, "Get-MessageTrace", *window, ("PageSize", 5000)))
    paged: list[ExchangeObject] = []
    for page in range(1, 1000):
        got = objects(run(admin, registry, "Get-MessageTrace", *window, ("PageSize", 37), ("Page", page)))
        paged += got
        if len(got) < 37:
            break
    assert len(whole) > 37
    assert [(o["Received"], o["RecipientAddress"]) for o in paged] == [
        (o["Received"], o["RecipientAddress"]) for o in whole
    ]
    assert [o["Index"] for o in paged] == list(range(len(whole)))


def test_date_validation_texts(admin: CmdletContext, registry: Registry) -> None:
    now = datetime.now(UTC)
    old = run(admin, registry, "Get-MessageTrace", ("StartDate", iso(now - timedelta(days=11))), ("EndDate", iso(now)))
    assert errors(old) == ["Invalid StartDate value. The StartDate can't be older than 10 days from today."]
    assert errors(old) == [START_DATE_TOO_OLD.format(days=10)]
    record = next(o for o in old if isinstance(o, ErrorRecord))
    assert record.exception_type.endswith("InvalidExpressionException")
    assert "[FailureCategory=Cmdlet-InvalidExpressionException]" in record.fully_qualified_error_id
    reversed_ = run(
        admin, registry, "Get-MessageTrace", ("StartDate", iso(now)), ("EndDate", iso(now - timedelta(days=1)))
    )
    assert errors(reversed_) == ["Invalid EndDate value. The EndDate can't be earlier than the StartDate."]
    only_start = run(admin, registry, "Get-MessageTrace", ("StartDate", iso(now - timedelta(days=1))))
    assert len(errors(only_start)) == 1 and not objects(only_start)


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("PageSize", 5001, "The 5001 argument is greater than the maximum allowed range of 5000."),
        ("Page", 0, "The 0 argument is less than the minimum allowed range of 1."),
        ("Page", 1001, "The 1001 argument is greater than the maximum allowed range of 1000."),
    ],
)
def test_page_ranges(admin: CmdletContext, registry: Registry, name: str, value: int, text: str) -> None:
    with pytest.raises(CmdletError) as info:
        run(admin, registry, "Get-MessageTrace", (name, value))
    assert info.value.record.message.startswith(f"Cannot validate argument on parameter '{name}'. {text}")
    assert info.value.record.fully_qualified_error_id == "ParameterArgumentValidationError,Get-MessageTrace"


def test_address_status_and_message_id_filters(admin: CmdletContext, registry: Registry) -> None:
    now = datetime.now(UTC)
    window = (("StartDate", iso(now - timedelta(days=10))), ("EndDate", iso(now)), ("PageSize", 5000))
    everything = objects(run(admin, registry, "Get-MessageTrace", *window))
    gmail = objects(run(admin, registry, "Get-MessageTrace", *window, ("SenderAddress", "*@GMAIL.com")))
    assert gmail and len(gmail) == sum(o["SenderAddress"].endswith("@gmail.com") for o in everything)
    sample = everything[3]
    exact = objects(
        run(admin, registry, "Get-MessageTrace", *window, ("RecipientAddress", [sample["RecipientAddress"].upper()]))
    )
    assert exact and all(o["RecipientAddress"] == sample["RecipientAddress"] for o in exact)
    bare_id = sample["MessageId"].strip("<>")
    by_id = objects(run(admin, registry, "Get-MessageTrace", *window, ("MessageId", bare_id)))
    assert {o["MessageId"] for o in by_id} == {sample["MessageId"]}
    delivered = objects(run(admin, registry, "Get-MessageTrace", *window, ("Status", "delivered")))
    assert delivered and {o["Status"] for o in delivered} == {"Delivered"}
    bad = run(admin, registry, "Get-MessageTrace", *window, ("Status", "Bounced"))
    assert errors(bad) and "Bounced" in errors(bad)[0] and not objects(bad)
    mixed = run(admin, registry, "Get-MessageTrace", ("SenderAddress", ["*@gmail.com", "a@b.com"]))
    assert errors(mixed) and not objects(mixed)


# --- Get-MessageTraceV2 ---------------------------------------------------------------------------


def test_v2_pages_through_rows_sharing_a_received_time_exactly_once(
    store: Any, partner_ctx: Callable[..., CmdletContext], registry: Registry
) -> None:
    ctx = partner_ctx(store, "admin", "contoso")
    when = (datetime.now(UTC) - timedelta(days=30)).replace(microsecond=123000)
    burst = [
        TraceRecord(
            uuid.uuid4(),
            f"<burst{i}@contoso.com>",
            when,
            "adelev@contoso.com",
            f"r{i:02d}@fabrikam.com",
            "All hands",
            "Delivered",
            9000,
        )
        for i in range(25)
    ]
    store.message_trace.bulk_insert(ctx.tenant.id, burst)
    start, end = when - timedelta(days=2), when + timedelta(days=1)
    params = [("StartDate", iso(start)), ("EndDate", iso(end))]
    whole = objects(run(ctx, registry, "Get-MessageTraceV2", *params, ("ResultSize", 5000)))
    keys = [(o["Received"], o["RecipientAddress"]) for o in whole]
    assert sum(1 for r, _ in keys if r == when) == 25

    seen: list[tuple[datetime, str]] = []
    command = [*params, ("ResultSize", 4)]
    pages = 0
    while True:
        out = run(ctx, registry, "Get-MessageTraceV2", *command)
        page = objects(out)
        seen += [(o["Received"], o["RecipientAddress"]) for o in page]
        warnings = [o.message for o in out if isinstance(o, WarningRecord)]
        pages += 1
        if not warnings:
            break
        assert warnings[0].startswith(MORE_RESULTS.format(command='Get-MessageTraceV2 -StartDate "'))
        end_text, recipient = _CONTINUATION.search(warnings[0]).groups()  # type: ignore[union-attr]
        assert end_text.endswith("0Z") and recipient == page[-1]["RecipientAddress"]
        assert datetime.fromisoformat(end_text[:-2] + "+00:00") == page[-1]["Received"]
        command = [
            ("StartDate", iso(start)),
            ("EndDate", end_text),
            ("StartingRecipientAddress", recipient),
            ("ResultSize", 4),
        ]
    assert pages > 7
    assert seen == keys and len(set(seen)) == len(seen)


def test_v2_windows_and_subject_filter(admin: CmdletContext, registry: Registry) -> None:
    now = datetime.now(UTC)
    too_long = run(
        admin, registry, "Get-MessageTraceV2", ("StartDate", iso(now - timedelta(days=20))), ("EndDate", iso(now))
    )
    assert errors(too_long) and "10 days" in errors(too_long)[0]
    too_old = run(
        admin,
        registry,
        "Get-MessageTraceV2",
        ("StartDate", iso(now - timedelta(days=95))),
        ("EndDate", iso(now - timedelta(days=89))),
    )
    assert errors(too_old) == ["Invalid StartDate value. The StartDate can't be older than 90 days from today."]
    window = (
        ("StartDate", iso(now - timedelta(days=80))),
        ("EndDate", iso(now - timedelta(days=70))),
        ("ResultSize", 5000),
    )
    old = objects(run(admin, registry, "Get-MessageTraceV2", *window))
    assert old and old[0].type_names[0] == "Microsoft.Exchange.Management.FfoReporting.MessageTraceV2"
    invoices = objects(
        run(admin, registry, "Get-MessageTraceV2", *window, ("Subject", "invoice"), ("SubjectFilterType", "StartsWith"))
    )
    assert invoices and len(invoices) == sum(o["Subject"].lower().startswith("invoice") for o in old)
    with pytest.raises(CmdletError):
        run(admin, registry, "Get-MessageTraceV2", ("ResultSize", 5001))
    default = run(admin, registry, "Get-MessageTraceV2", ("ResultSize", 1))
    assert all(o["Received"] >= now - timedelta(hours=48, minutes=1) for o in objects(default))


# --- roles ----------------------------------------------------------------------------------------


def test_help_desk_cannot_trace_recipient_management_can(
    seeded_store: Any,
    partner_ctx: Callable[..., CmdletContext],
    tenant_ctx: Callable[..., CmdletContext],
    registry: Registry,
) -> None:
    helpdesk = partner_ctx(seeded_store, "helpdesk", "contoso")
    for name in ("Get-MessageTrace", "Get-MessageTraceV2", "Search-AdminAuditLog"):
        with pytest.raises(CmdletError) as info:
            run(helpdesk, registry, name)
        assert "CmdletAccessDenied" in info.value.record.fully_qualified_error_id
    recipients = tenant_ctx(seeded_store, "contoso", ["Recipient Management"])
    assert not errors(run(recipients, registry, "Get-MessageTraceV2"))
    with pytest.raises(CmdletError):
        run(recipients, registry, "Search-AdminAuditLog")
    view_only = tenant_ctx(seeded_store, "contoso", ["View-Only Organization Management"])
    assert not errors(run(view_only, registry, "Search-AdminAuditLog"))


# --- audit ----------------------------------------------------------------------------------------


def test_object_id_is_the_identity_as_given(admin: CmdletContext) -> None:
    assert object_id(CommandInvocation("Set-Mailbox", [("-Identity:", "AdeleV"), ("DisplayName", "A")])) == "AdeleV"
    assert (
        object_id(CommandInvocation("Set-Mailbox", [(None, "alexw@contoso.com"), ("DisplayName", "A")]))
        == "alexw@contoso.com"
    )
    assert object_id(CommandInvocation("Set-Mailbox", [("identity", {"Identity": "Megan Bowen"})])) == "Megan Bowen"
    assert object_id(CommandInvocation("Get-Mailbox", [("ResultSize", 5)])) is None
    [entry] = audit_entries(admin, [CommandInvocation("Set-Mailbox", [("Identity", "PattiF")])], None)
    assert entry.object_id == "PattiF"


def _audit(store: Any, target: int, caller_tenant: int, cmdlet: str, days_ago: float, **kw: Any) -> None:
    store.write_audit(
        AuditEntry(
            caller=kw.pop("caller", "admin@northwindit.onmicrosoft.com"),
            caller_tenant_id=caller_tenant,
            target_tenant_id=target,
            session_id="s",
            cmdlet=cmdlet,
            parameters=kw.pop("parameters", {"Identity": kw.get("object_id") or "x"}),
            succeeded=kw.pop("succeeded", True),
            run_date=datetime.now(UTC) - timedelta(days=days_ago),
            **kw,
        )
    )


def test_search_admin_audit_log_filters_and_isolation(
    store: Any, partner_ctx: Callable[..., CmdletContext], registry: Registry
) -> None:
    ctx = partner_ctx(store, "admin", "contoso")
    contoso, partner = ctx.tenant.id, ctx.caller_tenant.id
    fabrikam = store.resolve_tenant("fabrikam.onmicrosoft.com").id
    _audit(
        store,
        contoso,
        partner,
        "Set-Mailbox",
        1,
        object_id="AdeleV",
        parameters={"Identity": "AdeleV", "DisplayName": "Adele"},
    )
    _audit(store, contoso, contoso, "Set-Mailbox", 2, object_id="AlexW", caller="admin@contoso.onmicrosoft.com")
    _audit(store, contoso, partner, "Remove-InboxRule", 3, object_id="MeganB\\Junk", succeeded=False, error="Nope")
    _audit(store, contoso, partner, "Set-Mailbox", 40, object_id="OldOne")
    _audit(store, contoso, partner, "Get-Mailbox", 1, object_id="AdeleV")
    _audit(store, fabrikam, partner, "Set-Mailbox", 1, object_id="FabrikamUser")

    def search(*params: tuple[str, Any]) -> list[ExchangeObject]:
        out = run(ctx, registry, "Search-AdminAuditLog", *params)
        assert not errors(out), errors(out)
        return objects(out)

    default = search()
    assert [e["ObjectModified"] for e in default] == ["AdeleV", "AlexW", "MeganB\\Junk"]
    first = default[0]
    assert first.type_names[0] == "Microsoft.Exchange.Management.SystemConfigurationTasks.AdminAuditLogEvent"
    assert first["CmdletName"] == "Set-Mailbox" and first["Caller"] == "admin@northwindit.onmicrosoft.com"
    assert first["ExternalAccess"] is True and default[1]["ExternalAccess"] is False
    assert [(p["Name"], p["Value"]) for p in first["CmdletParameters"]] == [
        ("Identity", "AdeleV"),
        ("DisplayName", "Adele"),
    ]
    assert default[2]["Succeeded"] is False and default[2]["Error"] == "Nope"

    assert [e["ObjectModified"] for e in search(("ObjectIds", ["adelev", "OldOne"]))] == ["AdeleV"]
    assert [e["ObjectModified"] for e in search(("Cmdlets", "remove-inboxrule"))] == ["MeganB\\Junk"]
    assert [e["ObjectModified"] for e in search(("UserIds", "ADMIN@contoso.onmicrosoft.com"))] == ["AlexW"]
    assert [e["ObjectModified"] for e in search(("IsSuccess", False))] == ["MeganB\\Junk"]
    assert [e["ObjectModified"] for e in search(("ExternalAccess", False))] == ["AlexW"]
    assert [e["ObjectModified"] for e in search(("Cmdlets", "Set-Mailbox"), ("Parameters", "displayname"))] == [
        "AdeleV"
    ]
    now = datetime.now(UTC)
    ranged = search(("StartDate", iso(now - timedelta(days=45))), ("EndDate", iso(now - timedelta(days=30))))
    assert [e["ObjectModified"] for e in ranged] == ["OldOne"]
    assert [e["ObjectModified"] for e in search(("ResultSize", 1), ("StartIndex", 1))] == ["AlexW"]
    assert "FabrikamUser" not in {
        e["ObjectModified"] for e in search(("StartDate", iso(now - timedelta(days=80))), ("EndDate", iso(now)))
    }

    without_cmdlets = run(ctx, registry, "Search-AdminAuditLog", ("Parameters", "DisplayName"))
    assert errors(without_cmdlets) and not objects(without_cmdlets)
    reversed_ = run(
        ctx, registry, "Search-AdminAuditLog", ("StartDate", iso(now)), ("EndDate", iso(now - timedelta(days=1)))
    )
    assert errors(reversed_) and "later than" in errors(reversed_)[0]
    with pytest.raises(CmdletError):
        run(ctx, registry, "Search-AdminAuditLog", ("ResultSize", 250001))
