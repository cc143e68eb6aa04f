"""Statistics, CAS settings, automatic replies and inbox rules end to end: pypsrp against the real
server, as an admin agent and as a help desk agent (who holds the User Options cmdlets)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pypsrp.powershell import PSInvocationState

from tests.e2e.helpers import (
    PARTNER_ADMIN,
    PARTNER_HELPDESK,
    Endpoint,
    errors_of,
    invoke,
    objects_of,
    run,
    visible_cmdlets,
)

ORG = "contoso.onmicrosoft.com"


def test_mailbox_statistics_by_identity_and_from_the_pipeline(rps: Endpoint) -> None:
    with rps.pool(PARTNER_HELPDESK, ORG) as pool:
        [stats] = objects_of(invoke(pool, "Get-MailboxStatistics", Identity="AdeleV"))
        assert stats["DisplayName"] == "Adele Vance"
        assert stats["ItemCount"] > 0
        assert stats["TotalItemSize"].endswith(" bytes)")
        ps = run(pool, "Get-MailboxStatistics", input=objects_of(invoke(pool, "Get-Mailbox", ResultSize=3)))
        assert not ps.had_errors
        assert len(ps.output) == 3
        missing = invoke(pool, "Get-MailboxStatistics", Identity="nobody")
        assert errors_of(missing) == [
            "The operation couldn't be performed because object 'nobody' couldn't be found on "
            "'NAMPR01A001DC01.NAMPR01A001.PROD.OUTLOOK.COM'."
        ]


def test_cas_mailbox_read_and_changed_by_help_desk(surface_rw: Endpoint) -> None:
    with surface_rw.pool(PARTNER_HELPDESK, ORG) as pool:
        [cas] = objects_of(invoke(pool, "Get-CASMailbox", Identity="DiegoS"))
        assert (cas["PopEnabled"], cas["ImapEnabled"]) == (True, True)
        assert not invoke(pool, "Set-CASMailbox", Identity="DiegoS", ImapEnabled=False).had_errors
        [cas] = objects_of(invoke(pool, "Get-CASMailbox", Identity="DiegoS"))
        assert cas["ImapEnabled"] is False
        off = objects_of(invoke(pool, "Get-CASMailbox", Filter="ImapEnabled -eq $false"))
        assert "DiegoS" in {c["Name"] for c in off}


def test_auto_reply_schedule_and_its_error(surface_rw: Endpoint) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    end = start + timedelta(days=7)
    with surface_rw.pool(PARTNER_HELPDESK, ORG) as pool:
        ps = invoke(
            pool,
            "Set-MailboxAutoReplyConfiguration",
            Identity="DiegoS",
            AutoReplyState="Scheduled",
            StartTime=start.isoformat(),
            EndTime=end.isoformat(),
            InternalMessage="On leave",
            ExternalMessage="On leave",
        )
        assert errors_of(ps) == []
        [reply] = objects_of(invoke(pool, "Get-MailboxAutoReplyConfiguration", Identity="DiegoS"))
        assert reply["AutoReplyState"] == "Scheduled"
        assert reply["InternalMessage"] == "On leave"
        bad = invoke(
            pool,
            "Set-MailboxAutoReplyConfiguration",
            Identity="DiegoS",
            EndTime=(start - timedelta(hours=1)).isoformat(),
        )
        assert errors_of(bad) == [
            "The end time that you entered occurs before the start time. The start time must occur before the end time."
        ]


def test_inbox_rules_forwarding_outside(surface_rw: Endpoint) -> None:
    with surface_rw.pool(PARTNER_HELPDESK, ORG) as pool:
        ps = invoke(
            pool,
            "New-InboxRule",
            Name="Payments",
            Mailbox="DiegoS",
            SubjectContainsWords=["payment"],
            RedirectTo=["diego.private@gmail.com"],
        )
        [rule] = objects_of(ps)
        assert rule["Description"] == (
            "If the message:\r\n"
            "\tthe message includes specific words in the subject 'payment'\r\n"
            "Take the following actions:\r\n"
            "\tredirect the message to 'diego.private@gmail.com'\r\n"
        )
        assert rule["RedirectTo"] == ['"diego.private@gmail.com" [SMTP:diego.private@gmail.com]']
        identity = rule["Identity"]
        assert identity == f"DiegoS\\{rule['RuleIdentity']}"
        assert not invoke(pool, "Disable-InboxRule", Identity=identity).had_errors
        [rule] = objects_of(invoke(pool, "Get-InboxRule", Identity=identity))
        assert rule["Enabled"] is False
        assert not invoke(pool, "Set-InboxRule", Identity=identity, DeleteMessage=True, RedirectTo=None).had_errors
        [rule] = objects_of(invoke(pool, "Get-InboxRule", Identity=identity))
        assert rule["RedirectTo"] is None and rule["DeleteMessage"] is True
        assert not invoke(pool, "Remove-InboxRule", Identity=identity, Confirm=False).had_errors
        assert identity not in {r["Identity"] for r in objects_of(invoke(pool, "Get-InboxRule", Mailbox="DiegoS"))}
        bad = invoke(pool, "New-InboxRule", Name="x", Mailbox="DiegoS", SubjectContainsWords=["x"])
        assert errors_of(bad) == ["To be valid, an Inbox rule has to include at least one action."]


def test_role_table_covers_the_family(surface: Endpoint) -> None:
    with surface.pool(PARTNER_HELPDESK, ORG) as pool:
        names = visible_cmdlets(pool)
        assert {"Get-MailboxStatistics", "Set-CASMailbox", "New-InboxRule", "Remove-InboxRule"} <= names
        assert "New-Mailbox" not in names
    if surface.frontend == "rest":
        return  # REST never prompts, so the removal below would run (tests/e2e/test_rest_portals.py)
    with surface.pool(PARTNER_ADMIN, ORG) as pool:
        [rule, *_] = objects_of(invoke(pool, "Get-InboxRule", Mailbox="DiegoS"))
        ps = invoke(pool, "Remove-InboxRule", Identity=rule["Identity"])
        # High impact: without -Confirm:$false a client with no host cannot be asked, and nothing changes.
        assert ps.state == PSInvocationState.FAILED
        assert "Removing inbox rule" in errors_of(ps)[0]
        still = objects_of(invoke(pool, "Get-InboxRule", Identity=rule["Identity"]))
        assert [r["Identity"] for r in still] == [rule["Identity"]]
