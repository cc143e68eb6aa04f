"""The mailbox family beyond Get-Mailbox: sizes and quotas, Set-Mailbox's multi-valued and type
changes, New-/Remove-Mailbox, statistics, CAS settings, automatic replies and inbox rules, on a
real store seeded with the demo world."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aobo.cmdlets.context import CmdletContext
from aobo.cmdlets.exchange.mailbox_settings import rule_description
from aobo.cmdlets.pipeline import CommandInvocation, run_pipeline
from aobo.cmdlets.registry import Registry
from aobo.cmdlets.results import CmdletError, ErrorRecord, ExchangeObject, InformationalRecord, WarningRecord
from aobo.domain.sizes import MAX_BYTES, format_size, parse_size
from aobo.domain.statistics import MailboxStatistics


def cmd(name: str, *params: tuple[str | None, Any]) -> CommandInvocation:
    return CommandInvocation(name, list(params))


def run(ctx: CmdletContext, registry: Registry, *commands: CommandInvocation) -> list[Any]:
    return list(run_pipeline(ctx, registry, list(commands)))


def one(ctx: CmdletContext, registry: Registry, *commands: CommandInvocation) -> ExchangeObject:
    out = run(ctx, registry, *commands)
    assert len(out) == 1 and isinstance(out[0], ExchangeObject), out
    return out[0]


def errors(out: list[Any]) -> list[str]:
    return [o.message for o in out if isinstance(o, ErrorRecord)]


@pytest.fixture
def contoso(store: Any, partner_ctx: Callable[..., CmdletContext]) -> CmdletContext:
    return partner_ctx(store, "admin", "contoso")


@pytest.fixture
def helpdesk(store: Any, partner_ctx: Callable[..., CmdletContext]) -> CmdletContext:
    return partner_ctx(store, "helpdesk", "contoso")


# --- ByteQuantifiedSize ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (159_449_088, "152.1 MB (159,449,088 bytes)"),
        (0, "0 B (0 bytes)"),
        (1_536, "1.5 KB (1,536 bytes)"),
        (1_288_490_189, "1.2 GB (1,288,490,189 bytes)"),
        (105_226_698_752, "98 GB (105,226,698,752 bytes)"),
        (1_048_575, "1024 KB (1,048,575 bytes)"),
        (1023, "1023 B (1,023 bytes)"),
    ],
)
def test_sizes_are_shown_as_exchange_shows_them(size: int, text: str) -> None:
    assert format_size(size) == text


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("50GB", 50 << 30),
        ("49.5 GB", int(49.5 * (1 << 30))),
        ("1073741824", 1 << 30),
        ("50 GB (53,687,091,200 bytes)", 53_687_091_200),
        ("1.5kb", 1536),
        ("10B", 10),
    ],
)
def test_sizes_parse_in_every_form_exchange_accepts(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["abc", "5 XB", "GB", "1,5 G"])
def test_unparseable_sizes_get_exchanges_text(text: str) -> None:
    with pytest.raises(ValueError, match="isn't correctly formatted"):
        parse_size(text)


@pytest.mark.parametrize("text", ["1E9999999", "1E9999999 TB", "16777216 TB"])
def test_sizes_past_the_range_get_exchanges_text(text: str) -> None:
    with pytest.raises(ValueError, match="outside the valid range"):
        parse_size(text)


@given(st.integers(min_value=0, max_value=MAX_BYTES))
def test_the_long_form_round_trips(size: int) -> None:
    assert parse_size(format_size(size)) == size


@given(st.integers(min_value=1, max_value=1 << 50))
def test_the_short_form_is_within_four_significant_digits(size: int) -> None:
    short = format_size(size).split(" (")[0]
    assert abs(parse_size(short) - size) <= size * 0.0006 + 1


# --- Set-Mailbox -------------------------------------------------------------------------------


def test_quotas_are_stored_and_shown_in_exchanges_form(contoso: CmdletContext, registry: Registry) -> None:
    out = run(
        contoso,
        registry,
        cmd(
            "Set-Mailbox",
            ("Identity", "AdeleV"),
            ("IssueWarningQuota", "49.5 GB"),
            ("ProhibitSendQuota", "50GB"),
            ("ProhibitSendReceiveQuota", "Unlimited"),
        ),
    )
    assert out == []
    mbx = one(contoso, registry, cmd("Get-Mailbox", ("Identity", "AdeleV")))
    assert mbx["IssueWarningQuota"] == "49.5 GB (53,150,220,288 bytes)"
    assert mbx["ProhibitSendQuota"] == "50 GB (53,687,091,200 bytes)"
    assert mbx["ProhibitSendReceiveQuota"] == "Unlimited"


def test_quota_order_is_enforced_with_exchanges_text(contoso: CmdletContext, registry: Registry) -> None:
    out = run(contoso, registry, cmd("Set-Mailbox", ("Identity", "AdeleV"), ("IssueWarningQuota", "99.5GB")))
    assert errors(out) == [
        "The value of property 'IssueWarningQuota' must be less than or equal to that of property "
        "'ProhibitSendQuota'. IssueWarningQuota: '99.5 GB (106,837,311,488 bytes)', ProhibitSendQuota: "
        "'99 GB (106,300,440,576 bytes)'."
    ]
    with pytest.raises(CmdletError) as info:
        run(contoso, registry, cmd("Set-Mailbox", ("Identity", "AdeleV"), ("ProhibitSendQuota", "lots")))
    assert "isn't correctly formatted" in info.value.record.message


def test_email_addresses_add_and_remove(contoso: CmdletContext, registry: Registry) -> None:
    run(
        contoso,
        registry,
        cmd(
            "Set-Mailbox",
            ("Identity", "AdeleV"),
            ("EmailAddresses", {"Add": ["adele.v@contoso.com"], "Remove": ["smtp:adele.vance@contoso.com"]}),
        ),
    )
    mbx = one(contoso, registry, cmd("Get-Mailbox", ("Identity", "AdeleV")))
    assert list(mbx["EmailAddresses"]) == [
        "SMTP:AdeleV@contoso.com",
        "smtp:AdeleV@contoso.onmicrosoft.com",
        "SIP:adelev@contoso.com",
        "smtp:adele.v@contoso.com",
    ]
    # An added SMTP: address becomes the primary one; the old primary stays as a secondary.
    run(
        contoso,
        registry,
        cmd("Set-Mailbox", ("Identity", "AdeleV"), ("EmailAddresses", {"Add": "SMTP:av@contoso.com"})),
    )
    mbx = one(contoso, registry, cmd("Get-Mailbox", ("Identity", "AdeleV")))
    assert mbx["PrimarySmtpAddress"] == "av@contoso.com"
    assert "smtp:AdeleV@contoso.com" in list(mbx["EmailAddresses"])


def test_email_address_errors(contoso: CmdletContext, registry: Registry) -> None:
    taken = run(
        contoso, registry, cmd("Set-Mailbox", ("Identity", "AdeleV"), ("EmailAddresses", {"Add": "MeganB@contoso.com"}))
    )
    assert errors(taken) == [
        'The proxy address "smtp:MeganB@contoso.com" is already being used by the proxy addresses or '
        'LegacyExchangeDN of "MeganB". Please choose another proxy address.'
    ]
    assert taken[0].exception_type == "Microsoft.Exchange.Data.ProxyAddressExistsException"
    primary = run(
        contoso,
        registry,
        cmd("Set-Mailbox", ("Identity", "AdeleV"), ("EmailAddresses", {"Remove": "AdeleV@contoso.com"})),
    )
    assert errors(primary) == [
        "Cannot remove the primary SMTP address 'AdeleV@contoso.com'. Please promote another valid SMTP address "
        "before removing this one."
    ]


def test_grant_send_on_behalf_to_is_resolved_and_shown_as_names(contoso: CmdletContext, registry: Registry) -> None:
    ambiguous = run(
        contoso,
        registry,
        cmd("Set-Mailbox", ("Identity", "AdeleV"), ("GrantSendOnBehalfTo", ["MeganB@contoso.com", "Alex Wilber"])),
    )
    assert errors(ambiguous) == ["The operation couldn't be performed because 'Alex Wilber' matches multiple entries."]
    run(
        contoso,
        registry,
        cmd("Set-Mailbox", ("Identity", "AdeleV"), ("GrantSendOnBehalfTo", ["MeganB@contoso.com", "AlexW"])),
    )
    run(
        contoso,
        registry,
        cmd("Set-Mailbox", ("Identity", "AdeleV"), ("GrantSendOnBehalfTo", {"Remove": "MeganB", "Add": "DiegoS"})),
    )
    mbx = one(contoso, registry, cmd("Get-Mailbox", ("Identity", "AdeleV")))
    assert list(mbx["GrantSendOnBehalfTo"]) == ["AlexW", "DiegoS"]
    out = run(contoso, registry, cmd("Set-Mailbox", ("Identity", "AdeleV"), ("GrantSendOnBehalfTo", {"Add": "nobody"})))
    assert "couldn't be found" in errors(out)[0]


def test_type_converts_the_mailbox(contoso: CmdletContext, registry: Registry) -> None:
    run(contoso, registry, cmd("Set-Mailbox", ("Identity", "AdeleV"), ("Type", "Room")))
    mbx = one(contoso, registry, cmd("Get-Mailbox", ("Identity", "AdeleV")))
    assert str(mbx["RecipientTypeDetails"]) == "RoomMailbox"
    assert mbx["IsResource"] is True and mbx["ResourceType"] == "Room"
    run(contoso, registry, cmd("Set-Mailbox", ("Identity", "AdeleV"), ("Type", "Shared")))
    mbx = one(contoso, registry, cmd("Get-Mailbox", ("Identity", "AdeleV")))
    assert str(mbx["RecipientTypeDetails"]) == "SharedMailbox"
    assert mbx["IsShared"] is True and mbx["IsResource"] is False


def test_forwarding_hold_and_limits(contoso: CmdletContext, registry: Registry) -> None:
    out = run(
        contoso,
        registry,
        cmd(
            "Set-Mailbox",
            ("Identity", "AdeleV"),
            ("ForwardingAddress", "MeganB@contoso.com"),
            ("LitigationHoldEnabled", True),
            ("RecipientLimits", 100),
            ("MessageCopyForSentAsEnabled", True),
        ),
    )
    assert out == []
    mbx = one(contoso, registry, cmd("Get-Mailbox", ("Identity", "AdeleV")))
    assert mbx["ForwardingAddress"] == "MeganB"
    assert mbx["LitigationHoldEnabled"] is True
    assert mbx["LitigationHoldOwner"] == "admin@northwindit.onmicrosoft.com"
    assert datetime.now(UTC) - mbx["LitigationHoldDate"] < timedelta(minutes=1)
    assert mbx["RecipientLimits"] == "100"
    assert mbx["MessageCopyForSentAsEnabled"] is True
    run(contoso, registry, cmd("Set-Mailbox", ("Identity", "AdeleV"), ("ForwardingAddress", None)))
    assert one(contoso, registry, cmd("Get-Mailbox", ("Identity", "AdeleV")))["ForwardingAddress"] is None
    out = run(contoso, registry, cmd("Set-Mailbox", ("Identity", "AdeleV"), ("RecipientLimits", 5000)))
    assert errors(out) == ["The property, (5000), is out of range. The valid range is from 1 to 1000."]


def test_concurrent_adds_to_email_addresses_all_land(store: Any, partner_ctx: Callable[..., CmdletContext]) -> None:
    from aobo.cmdlets.catalog import default_registry

    registry = default_registry()
    added = [f"extra{i}@contoso.com" for i in range(8)]
    failures: list[Any] = []

    def add(address: str) -> None:
        ctx = partner_ctx(store, "admin", "contoso")
        out = run(ctx, registry, cmd("Set-Mailbox", ("Identity", "MeganB"), ("EmailAddresses", {"Add": address})))
        failures.extend(out)

    threads = [threading.Thread(target=add, args=(a,)) for a in added]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    mbx = one(partner_ctx(store, "admin", "contoso"), registry, cmd("Get-Mailbox", ("Identity", "MeganB")))
    assert {f"smtp:{a}" for a in added} <= set(mbx["EmailAddresses"])


def test_set_mailbox_whatif_uses_should_process(contoso: CmdletContext, registry: Registry) -> None:
    out = run(contoso, registry, cmd("Set-Mailbox", ("Identity", "AdeleV"), ("Type", "Shared"), ("WhatIf", None)))
    assert out == [InformationalRecord('What if: Setting mailbox "AdeleV".')]


# --- New-Mailbox / Remove-Mailbox ------------------------------------------------------------


def test_new_and_remove_mailbox(contoso: CmdletContext, registry: Registry) -> None:
    user = one(
        contoso,
        registry,
        cmd(
            "New-Mailbox",
            ("Name", "Pat Lee"),
            ("Alias", "patl"),
            ("MicrosoftOnlineServicesID", "patl@contoso.com"),
            ("Password", "Secret-123"),
            ("FirstName", "Pat"),
            ("LastName", "Lee"),
        ),
    )
    assert user.type_names[0] == "Microsoft.Exchange.Data.Directory.Management.Mailbox"
    assert user["UserPrincipalName"] == "patl@contoso.com"
    assert str(user["RecipientTypeDetails"]) == "UserMailbox"
    assert "Secret-123" not in repr(user.values)
    room = one(contoso, registry, cmd("New-Mailbox", ("Name", "Board Room"), ("Room", None), ("Alias", "boardroom")))
    assert str(room["RecipientTypeDetails"]) == "RoomMailbox"
    dup = run(contoso, registry, cmd("New-Mailbox", ("Name", "Board Room"), ("Shared", None)))
    assert errors(dup)[0].endswith(
        "The object 'CN=Board Room,OU=contoso.onmicrosoft.com,OU=Microsoft Exchange Hosted Organizations,"
        "DC=NAMPR01A001,DC=PROD,DC=OUTLOOK,DC=COM' already exists."
    )
    taken = run(contoso, registry, cmd("New-Mailbox", ("Name", "Other"), ("Shared", None), ("Alias", "MeganB")))
    assert "is already being used by the proxy addresses" in errors(taken)[0]
    assert run(contoso, registry, cmd("Remove-Mailbox", ("Identity", "Board Room"), ("Confirm", False))) == []
    gone = run(contoso, registry, cmd("Get-Mailbox", ("Identity", "Board Room")))
    assert "couldn't be found" in errors(gone)[0]


def test_remove_mailbox_prompts_by_default(contoso: CmdletContext, registry: Registry) -> None:
    with pytest.raises(CmdletError) as info:
        run(contoso, registry, cmd("Remove-Mailbox", ("Identity", "MeganB")))
    assert 'Removing mailbox "MeganB" will remove the Active Directory user object' in info.value.record.message
    assert one(contoso, registry, cmd("Get-Mailbox", ("Identity", "MeganB")))["Name"] == "MeganB"


# --- statistics, CAS, automatic replies --------------------------------------------------------


def test_statistics_of_a_seeded_and_a_new_mailbox(contoso: CmdletContext, registry: Registry) -> None:
    stats = one(contoso, registry, cmd("Get-MailboxStatistics", ("Identity", "AdeleV")))
    assert stats.type_names[0] == "Microsoft.Exchange.Management.MapiTasks.Presentation.MailboxStatistics"
    assert stats["DisplayName"] == "Adele Vance"
    assert stats["ItemCount"] > 0
    assert stats["TotalItemSize"].endswith(" bytes)")
    piped = run(
        contoso,
        registry,
        cmd("Get-Mailbox", ("RecipientTypeDetails", "RoomMailbox")),
        cmd("Get-MailboxStatistics"),
    )
    assert piped and all(isinstance(o, ExchangeObject) for o in piped)
    run(contoso, registry, cmd("New-Mailbox", ("Name", "Fresh"), ("Shared", None)))
    fresh = one(contoso, registry, cmd("Get-MailboxStatistics", ("Identity", "Fresh")))
    assert (fresh["ItemCount"], fresh["TotalItemSize"], fresh["LastLogonTime"]) == (0, "0 B (0 bytes)", None)


# 123.98 MB: four significant digits make it "124 MB"; three decimals (aobo's old second formatter)
# made it "123.977 MB".
SIZE: Final = 130_000_000
SIZE_TEXT: Final = "124 MB (130,000,000 bytes)"


def test_one_size_is_shown_alike_by_statistics_quotas_and_transport_config(
    contoso: CmdletContext, registry: Registry
) -> None:
    run(contoso, registry, cmd("New-Mailbox", ("Name", "Sized"), ("Shared", None)))
    row = contoso.store.recipient_named(contoso.tenant.id, "Sized")
    assert row is not None
    contoso.store.statistics.add_many(contoso.tenant.id, {row.id: MailboxStatistics(total_item_size=SIZE)})
    stats = one(contoso, registry, cmd("Get-MailboxStatistics", ("Identity", "Sized")))
    assert stats["TotalItemSize"] == SIZE_TEXT

    set_quota = cmd("Set-Mailbox", ("Identity", "Sized"), ("IssueWarningQuota", SIZE))
    assert run(contoso, registry, set_quota) == []
    mbx = one(contoso, registry, cmd("Get-Mailbox", ("Identity", "Sized")))
    assert mbx["IssueWarningQuota"] == SIZE_TEXT
    assert mbx["ProhibitSendQuota"] == "99 GB (106,300,440,576 bytes)"
    assert mbx["ProhibitSendReceiveQuota"] == "100 GB (107,374,182,400 bytes)"

    assert run(contoso, registry, cmd("Set-TransportConfig", ("MaxSendSize", str(SIZE)))) == []
    config = one(contoso, registry, cmd("Get-TransportConfig"))
    assert config["MaxSendSize"] == SIZE_TEXT
    # The long form a Get- printed goes back in as the same size.
    assert run(contoso, registry, cmd("Set-TransportConfig", ("MaxReceiveSize", SIZE_TEXT))) == []
    assert one(contoso, registry, cmd("Get-TransportConfig"))["MaxReceiveSize"] == SIZE_TEXT
    assert {format_size(SIZE), format_size(parse_size(SIZE_TEXT))} == {SIZE_TEXT}


def test_transport_sizes_parse_by_exchanges_rule(contoso: CmdletContext, registry: Registry) -> None:
    with pytest.raises(CmdletError) as info:
        run(contoso, registry, cmd("Set-TransportConfig", ("MaxSendSize", "lots")))
    assert "The string 'lots' isn't correctly formatted." in info.value.record.message
    over = run(contoso, registry, cmd("Set-TransportConfig", ("MaxSendSize", "151MB")))
    assert errors(over) == [
        "The value of property 'MaxSendSize' must be less than or equal to 150 MB (157,286,400 bytes)."
    ]
    assert run(contoso, registry, cmd("Set-TransportConfig", ("MaxSendSize", "Unlimited"))) == []
    assert one(contoso, registry, cmd("Get-TransportConfig"))["MaxSendSize"] == "Unlimited"


def test_cas_mailbox(contoso: CmdletContext, helpdesk: CmdletContext, registry: Registry) -> None:
    cas = one(contoso, registry, cmd("Get-CASMailbox", ("Identity", "MeganB")))
    assert cas.type_names[0] == "Microsoft.Exchange.Data.Directory.Management.CASMailbox"
    assert (cas["PopEnabled"], cas["ImapEnabled"], cas["OWAEnabled"]) == (True, True, True)
    assert run(helpdesk, registry, cmd("Set-CASMailbox", ("Identity", "MeganB"), ("PopEnabled", False))) == []
    assert one(contoso, registry, cmd("Get-CASMailbox", ("Identity", "MeganB")))["PopEnabled"] is False
    again = run(contoso, registry, cmd("Set-CASMailbox", ("Identity", "MeganB"), ("PopEnabled", False)))
    assert again == [
        WarningRecord("The command completed successfully but no settings of 'MeganB' have been modified.")
    ]
    off = run(
        contoso, registry, cmd("Get-CASMailbox", ("Filter", "PopEnabled -eq $false"), ("ResultSize", "Unlimited"))
    )
    assert "MeganB" in {o["Name"] for o in off}


def test_auto_reply(contoso: CmdletContext, helpdesk: CmdletContext, registry: Registry) -> None:
    reply = one(contoso, registry, cmd("Get-MailboxAutoReplyConfiguration", ("Identity", "MeganB")))
    assert str(reply["AutoReplyState"]) == "Disabled"
    start, end = datetime.now(UTC) + timedelta(days=1), datetime.now(UTC) + timedelta(days=3)
    out = run(
        helpdesk,
        registry,
        cmd(
            "Set-MailboxAutoReplyConfiguration",
            ("Identity", "MeganB"),
            ("AutoReplyState", "Scheduled"),
            ("StartTime", start),
            ("EndTime", end),
            ("InternalMessage", "Away"),
            ("ExternalAudience", "None"),
        ),
    )
    assert out == []
    reply = one(contoso, registry, cmd("Get-MailboxAutoReplyConfiguration", ("Identity", "MeganB")))
    assert str(reply["AutoReplyState"]) == "Scheduled"
    assert (reply["StartTime"], reply["EndTime"], reply["InternalMessage"]) == (start, end, "Away")
    assert str(reply["ExternalAudience"]) == "None"
    bad = run(contoso, registry, cmd("Set-MailboxAutoReplyConfiguration", ("Identity", "MeganB"), ("EndTime", start)))
    assert errors(bad) == [
        "The end time that you entered occurs before the start time. The start time must occur before the end time."
    ]


# --- inbox rules -------------------------------------------------------------------------------


def test_inbox_rule_lifecycle(contoso: CmdletContext, helpdesk: CmdletContext, registry: Registry) -> None:
    rule = one(
        helpdesk,
        registry,
        cmd(
            "New-InboxRule",
            ("Name", "Leak"),
            ("Mailbox", "MeganB"),
            ("From", ["AdeleV", "boss@example.com"]),
            ("SubjectContainsWords", ["invoice", "wire"]),
            ("ForwardTo", ["someone@gmail.com"]),
            ("StopProcessingRules", True),
        ),
    )
    assert rule.type_names[0] == "Microsoft.Exchange.Management.Common.InboxRule"
    assert rule["Identity"] == f"MeganB\\{rule['RuleIdentity']}"
    assert rule["Description"] == (
        "If the message:\r\n"
        "\tthe message was received from 'Adele Vance' or 'boss@example.com'\r\n"
        "\tand the message includes specific words in the subject 'invoice' or 'wire'\r\n"
        "Take the following actions:\r\n"
        "\tforward the message to 'someone@gmail.com'\r\n"
        "\tand stop processing more rules on this message\r\n"
    )
    assert rule["ForwardTo"] == ['"someone@gmail.com" [SMTP:someone@gmail.com]']
    assert rule["From"][0].startswith('"Adele Vance" [EX:/o=ExchangeLabs/')
    second = one(
        contoso,
        registry,
        cmd(
            "New-InboxRule",
            ("Name", "Tidy"),
            ("Mailbox", "MeganB"),
            ("MoveToFolder", "MeganB:\\Archive"),
            ("Priority", 1),
        ),
    )
    assert second["MoveToFolder"] == "MeganB:\\Archive"
    listed = run(contoso, registry, cmd("Get-InboxRule", ("Mailbox", "MeganB")))
    assert [(r["Name"], r["Priority"]) for r in listed] == [("Tidy", 1), ("Leak", 2)]
    run(
        contoso,
        registry,
        cmd("Set-InboxRule", ("Identity", "MeganB\\Leak"), ("ForwardTo", None), ("DeleteMessage", True)),
    )
    run(contoso, registry, cmd("Disable-InboxRule", ("Identity", "Leak"), ("Mailbox", "MeganB")))
    leak = one(contoso, registry, cmd("Get-InboxRule", ("Identity", "MeganB\\Leak")))
    assert leak["ForwardTo"] is None and leak["DeleteMessage"] is True and leak["Enabled"] is False
    assert "delete the message" in leak["Description"]
    assert run(contoso, registry, cmd("Remove-InboxRule", ("Identity", "MeganB\\Tidy"), ("Confirm", False))) == []
    assert [r["Priority"] for r in run(contoso, registry, cmd("Get-InboxRule", ("Mailbox", "MeganB")))] == [1]


def test_inbox_rule_errors(contoso: CmdletContext, registry: Registry) -> None:
    no_action = run(contoso, registry, cmd("New-InboxRule", ("Name", "x"), ("Mailbox", "MeganB"), ("From", "AdeleV")))
    assert errors(no_action) == ["To be valid, an Inbox rule has to include at least one action."]
    with pytest.raises(CmdletError) as info:
        run(
            contoso, registry, cmd("New-InboxRule", ("Name", "x"), ("Mailbox", "MeganB"), ("ForwardTo", "not a person"))
        )
    assert info.value.record.message == (
        'The specified user "not a person" wasn\'t found or is invalid. Please make sure you have typed the name '
        "correctly."
    )
    missing = run(contoso, registry, cmd("Get-InboxRule", ("Identity", "MeganB\\nope")))
    assert errors(missing) == [
        "The operation couldn't be performed because object 'MeganB\\nope' couldn't be found on "
        "'NAMPR01A001DC01.NAMPR01A001.PROD.OUTLOOK.COM'."
    ]


def test_description_lists_are_cut_after_200_characters() -> None:
    words = [f"word{i:03d}" for i in range(40)]
    text = rule_description({"SubjectContainsWords": words, "DeleteMessage": True})
    first = text.split("\r\n")[1]
    # RuleDescription appends the delimiter and "..." right after the value that passed 200 characters.
    shown = " or ".join(f"'word{i:03d}'" for i in range(16))
    assert first == f"\tthe message includes specific words in the subject {shown}or..."


def test_seeded_rules_include_external_forwarding(store: Any, contoso: CmdletContext, registry: Registry) -> None:
    mailboxes = run(contoso, registry, cmd("Get-Mailbox", ("RecipientTypeDetails", "UserMailbox")))
    rules = [r for m in mailboxes for r in run(contoso, registry, cmd("Get-InboxRule", ("Mailbox", m["Name"])))]
    assert rules
    external = [
        r
        for r in rules
        for prop in ("ForwardTo", "RedirectTo", "ForwardAsAttachmentTo")
        if r[prop] and any("[SMTP:" in p and "contoso" not in p for p in r[prop])
    ]
    assert external
