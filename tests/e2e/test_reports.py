"""Get-MessageTrace, Get-MessageTraceV2 and Search-AdminAuditLog over the real endpoint with pypsrp."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from pypsrp.powershell import PSInvocationState

from aobo.domain.passwords import hash_password
from tests.e2e.conftest import PASSWORD
from tests.e2e.helpers import (
    PARTNER_ADMIN,
    PARTNER_HELPDESK,
    Endpoint,
    errors_of,
    is_type,
    objects_of,
    run,
    visible_cmdlets,
)

CONTOSO = "contoso.onmicrosoft.com"
_CONTINUATION = re.compile(r'-EndDate "([^"]+)" -StartingRecipientAddress "([^"]+)"')


def utc(value: Any) -> datetime:
    """A deserialised DateTime (pypsrp leaves it as its CLIXML text) as an aware UTC datetime."""
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(parsed, datetime)
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso(value: datetime) -> str:
    """pypsrp cannot send DateTime values; scripts' ``.ToString("O")`` text binds the same."""
    return value.isoformat()


def test_get_message_trace_main_path_and_validation(surface: Endpoint) -> None:
    now = datetime.now(UTC)
    with surface.pool(PARTNER_ADMIN, CONTOSO) as pool:
        ps = run(
            pool,
            "Get-MessageTrace",
            ("StartDate", iso(now - timedelta(days=10))),
            ("EndDate", iso(now)),
            ("PageSize", 50),
        )
        assert not ps.had_errors
        assert is_type(ps, "Microsoft.Exchange.Management.FfoReporting.MessageTrace")
        rows = objects_of(ps)
        assert len(rows) == 50
        assert rows[0]["Organization"] == CONTOSO and rows[0]["Index"] == 0 and rows[-1]["Index"] == 49
        received = [utc(r["Received"]) for r in rows]
        assert received == sorted(received, reverse=True)
        assert {"MessageId", "SenderAddress", "RecipientAddress", "Subject", "Status", "Size", "MessageTraceId"} <= set(
            rows[0]
        )

        old = run(pool, "Get-MessageTrace", ("StartDate", iso(now - timedelta(days=12))), ("EndDate", iso(now)))
        assert errors_of(old) == ["Invalid StartDate value. The StartDate can't be older than 10 days from today."]
        assert old.output == []
        too_big = run(pool, "Get-MessageTrace", ("PageSize", 5001))
        assert too_big.state == PSInvocationState.FAILED
        assert "greater than the maximum allowed range of 5000" in errors_of(too_big)[0]


def test_get_message_trace_v2_pages_with_the_warning(surface: Endpoint) -> None:
    now = datetime.now(UTC)
    start = iso(now - timedelta(days=10))
    with surface.pool(PARTNER_ADMIN, CONTOSO) as pool:
        whole = objects_of(
            run(pool, "Get-MessageTraceV2", ("StartDate", start), ("EndDate", iso(now)), ("ResultSize", 5000))
        )
        assert len(whole) > 60
        seen: list[tuple[datetime, str]] = []
        params: list[tuple[str, object]] = [("StartDate", start), ("EndDate", iso(now)), ("ResultSize", 60)]
        while True:
            ps = run(pool, "Get-MessageTraceV2", *params)
            page = objects_of(ps)
            seen += [(utc(r["Received"]), r["RecipientAddress"]) for r in page]
            warnings = [w.message for w in ps.streams.warning]
            if not warnings:
                break
            assert warnings[0].startswith("There are more results, use the following command to get more. ")
            end_text, recipient = _CONTINUATION.search(warnings[0]).groups()  # type: ignore[union-attr]
            assert recipient == page[-1]["RecipientAddress"]
            assert datetime.fromisoformat(end_text[:-2] + "+00:00") == utc(page[-1]["Received"])
            # Scripts feed the last row back: its Received (as .ToString("O")) and RecipientAddress.
            params = [
                ("StartDate", start),
                ("EndDate", iso(utc(page[-1]["Received"]))),
                ("StartingRecipientAddress", page[-1]["RecipientAddress"]),
                ("ResultSize", 60),
            ]
        assert seen == [(utc(r["Received"]), r["RecipientAddress"]) for r in whole]
        assert len(set(seen)) == len(seen)

        wide = run(pool, "Get-MessageTraceV2", ("StartDate", iso(now - timedelta(days=30))), ("EndDate", iso(now)))
        assert errors_of(wide) and "10 days" in errors_of(wide)[0] and wide.output == []


def test_help_desk_is_refused_the_trace(surface: Endpoint) -> None:
    with surface.pool(PARTNER_HELPDESK, CONTOSO) as pool:
        names = visible_cmdlets(pool)
        assert not names & {"Get-MessageTrace", "Get-MessageTraceV2", "Search-AdminAuditLog"}
        for cmdlet in ("Get-MessageTrace", "Get-MessageTraceV2", "Search-AdminAuditLog"):
            ps = run(pool, cmdlet)
            assert ps.state == PSInvocationState.FAILED
            assert "isn't assigned to any management roles" in errors_of(ps)[0]


def test_recipient_management_traces_but_cannot_read_the_audit_log(surface_rw: Endpoint) -> None:
    store = surface_rw.store
    contoso = store.resolve_tenant(CONTOSO)
    upn = f"recipients@{CONTOSO}"
    if store.find_user(upn) is None:
        store.create_user(
            contoso.id,
            upn,
            "Recipient Admin",
            password_hash=hash_password(PASSWORD),
            role_groups=("Recipient Management",),
        )
    with surface_rw.pool(upn, None) as pool:
        ps = run(pool, "Get-MessageTraceV2", ("ResultSize", 5))
        assert not ps.had_errors and all(r["Organization"] == CONTOSO for r in objects_of(ps))
        audit = run(pool, "Search-AdminAuditLog")
        assert audit.state == PSInvocationState.FAILED


def _search(pool: Any, *params: tuple[str, object]) -> list[dict[str, Any]]:
    """Search-AdminAuditLog at once: a command's audit entry is written before the client sees it end."""
    ps = run(pool, "Search-AdminAuditLog", *params)
    assert not ps.had_errors, errors_of(ps)
    return objects_of(ps)


def test_search_admin_audit_log_finds_a_change_by_object_and_keeps_tenants_apart(surface_rw: Endpoint) -> None:
    with surface_rw.pool(PARTNER_ADMIN, CONTOSO) as pool:
        ps = run(pool, "Set-Mailbox", ("Identity", "MeganB"), ("CustomAttribute7", "audited"))
        assert not ps.had_errors, errors_of(ps)
        found = _search(pool, ("ObjectIds", "meganb"))
        # Newest first; other tests may have acted on MeganB before (e.g. refused Help Desk attempts).
        assert found and all(e["ObjectModified"] == "MeganB" for e in found)
        event = found[0]
        assert event["CmdletName"] == "Set-Mailbox" and event["ObjectModified"] == "MeganB"
        assert event["Caller"] == PARTNER_ADMIN and event["ExternalAccess"] is True and event["Succeeded"] is True
        parameters = {p["Name"]: p["Value"] for p in event["CmdletParameters"]}
        assert parameters == {"Identity": "MeganB", "CustomAttribute7": "audited"}
        ps = run(pool, "Search-AdminAuditLog", ("Cmdlets", "Set-Mailbox"), ("UserIds", PARTNER_ADMIN))
        assert ps.output and is_type(ps, "Microsoft.Exchange.Management.SystemConfigurationTasks.AdminAuditLogEvent")
        # Reads are not audited.
        assert _search(pool, ("Cmdlets", "Get-Mailbox")) == []
    with surface_rw.pool(PARTNER_ADMIN, "tailspintoys.onmicrosoft.com") as pool:
        assert _search(pool, ("ObjectIds", "MeganB")) == []
        assert all(e["ObjectModified"] != "MeganB" for e in _search(pool))
