"""Records as tables and listings: column choice per Exchange type, values as PowerShell shows them,
truncation, streaming widths, Format-List."""

from __future__ import annotations

import datetime
import io
import re
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from aobo.toolkit.formatting import (
    FormatSpec,
    OutputWriter,
    TableWriter,
    default_columns,
    display_value,
    fit_widths,
    grow_widths,
    list_view,
    select_properties,
    truncate,
    type_key,
)
from aobo.toolkit.records import EnumValue, Record

from .conftest import CONTOSO, LiveServer

EXCHANGE = "Microsoft.Exchange."


def record(type_name: str, **props: object) -> Record:
    return Record(props, (f"Deserialized.{type_name}", "Deserialized.System.Object"))


def mailbox(i: int, **extra: object) -> Record:
    props: dict[str, object] = {
        "Database": "NAMPR01DG001-db001",
        "DatabaseGuid": uuid.UUID(int=i),
        "EmailAddresses": [f"SMTP:user{i}@contoso.com", f"smtp:user{i}@contoso.onmicrosoft.com"],
        "Alias": f"user{i}",
        "Name": f"User {i}",
        "PrimarySmtpAddress": f"user{i}@contoso.com",
        "RecipientTypeDetails": EnumValue(1, "UserMailbox"),
    }
    return record(f"{EXCHANGE}Data.Directory.Management.Mailbox", **{**props, **extra})


def console(width: int = 120) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=width, color_system=None, highlight=False), out


def rows(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


# ------------------------------------------------------------------------------------------------ columns


@pytest.mark.parametrize(
    ("type_name", "props", "expected"),
    [
        (
            f"{EXCHANGE}Data.Directory.Management.Mailbox",
            ["Database", "Alias", "Name", "PrimarySmtpAddress", "RecipientTypeDetails", "Guid"],
            ["Name", "Alias", "RecipientTypeDetails", "PrimarySmtpAddress"],
        ),
        (
            f"{EXCHANGE}Management.MapiTasks.Presentation.MailboxStatistics",
            ["AssociatedItemCount", "DisplayName", "ItemCount", "LastLogonTime", "TotalItemSize", "Identity"],
            ["DisplayName", "ItemCount", "TotalItemSize", "LastLogonTime"],
        ),
        (
            f"{EXCHANGE}Management.FfoReporting.MessageTrace",
            ["Organization", "MessageId", "Received", "SenderAddress", "RecipientAddress", "Subject", "Status", "Size"],
            ["Received", "SenderAddress", "RecipientAddress", "Subject", "Status"],
        ),
        (
            f"{EXCHANGE}Management.Common.InboxRule",
            ["Actions", "Description", "Enabled", "Identity", "Name", "Priority", "RuleIdentity"],
            ["Name", "Enabled", "Priority", "Description"],
        ),
        (
            f"{EXCHANGE}Management.RecipientTasks.MailboxAcePresentationObject",
            ["AccessRights", "Deny", "InheritanceType", "User", "UserSid", "Identity", "IsInherited"],
            ["Identity", "User", "AccessRights", "IsInherited", "Deny"],
        ),
        (
            f"{EXCHANGE}Management.RecipientTasks.RecipientPermission",
            ["Identity", "Trustee", "TrusteeSidString", "AccessControlType", "AccessRights", "IsInherited"],
            ["Identity", "Trustee", "AccessControlType", "AccessRights"],
        ),
        (
            f"{EXCHANGE}Management.StoreTasks.MailboxFolderPermission",
            ["FolderName", "User", "AccessRights", "SharingPermissionFlags", "Identity"],
            ["FolderName", "User", "AccessRights"],
        ),
        (
            f"{EXCHANGE}Data.Directory.Management.ReducedRecipient",
            ["Alias", "DisplayName", "Name", "PrimarySmtpAddress", "RecipientType", "RecipientTypeDetails"],
            ["Name", "RecipientType", "RecipientTypeDetails", "PrimarySmtpAddress"],
        ),
        (
            f"{EXCHANGE}Data.Directory.Management.User",
            ["SamAccountName", "UserPrincipalName", "DisplayName", "Name", "RecipientTypeDetails"],
            ["Name", "DisplayName", "RecipientTypeDetails", "UserPrincipalName"],
        ),
        (
            f"{EXCHANGE}Data.Directory.Management.DistributionGroup",
            ["GroupType", "SamAccountName", "DisplayName", "Name", "PrimarySmtpAddress"],
            ["Name", "DisplayName", "GroupType", "PrimarySmtpAddress"],
        ),
    ],
)
def test_default_columns_per_type(type_name: str, props: list[str], expected: list[str]) -> None:
    rec = record(type_name, **{p: "x" for p in props})
    assert default_columns(rec) == expected


def test_a_derived_type_is_found_by_any_of_its_type_names() -> None:
    rec = Record(
        {"Name": "a", "Alias": "a", "PrimarySmtpAddress": "a@x", "RecipientTypeDetails": "SharedMailbox"},
        ("Deserialized.Contoso.Custom.SpecialMailbox", f"Deserialized.{EXCHANGE}Data.Directory.Management.Mailbox"),
    )
    assert type_key(rec) == "Mailbox"
    assert default_columns(rec) == ["Name", "Alias", "RecipientTypeDetails", "PrimarySmtpAddress"]


def test_fallback_is_the_first_scalar_properties_with_names_first() -> None:
    rec = record(
        "Contoso.Unknown",
        Members=["a", "b"],
        Count=3,
        Nested=Record({"X": 1}),
        Identity="id-1",
        When=datetime.datetime(2026, 1, 1),
        Flag=True,
        Extra1="e1",
        Extra2="e2",
        Name="n",
    )
    assert default_columns(rec) == ["Name", "Identity", "Count", "When", "Flag"]


def test_a_known_type_missing_its_columns_falls_back() -> None:
    rec = record(f"{EXCHANGE}Data.Directory.Management.Mailbox", Foo="a", Bar="b")
    assert default_columns(rec) == ["Foo", "Bar"]


def test_select_properties_wildcards_case_and_missing_names() -> None:
    rec = mailbox(1)
    assert select_properties(rec, ["name", "Email*", "Nope"]) == ["Name", "EmailAddresses", "Nope"]
    assert select_properties(rec, ["*smtp*", "primarysmtpaddress"]) == ["PrimarySmtpAddress"]
    assert select_properties(rec, ["*"]) == list(rec)


# ------------------------------------------------------------------------------------------------ values


def test_values_are_shown_as_powershell_shows_them() -> None:
    assert display_value(["SMTP:a@x", "smtp:b@x"]) == "{SMTP:a@x, smtp:b@x}"
    assert display_value([]) == "{}"
    assert display_value(None) == ""
    assert display_value(True) == "True"
    assert display_value(EnumValue(2, "SharedMailbox")) == "SharedMailbox"
    assert display_value(datetime.datetime(2026, 11, 17, 4, 11, 11, 658993)) == "2026-11-17 04:11:11"
    assert display_value(datetime.timedelta(days=14)) == "14.00:00:00"
    assert display_value(datetime.timedelta(hours=-1, seconds=-0.5)) == "-01:00:00.5000000"
    assert display_value({"Add": "x", "Remove": ["y", "z"]}) == "{Add=x; Remove={y, z}}"
    assert display_value(Record({"Name": "Inbox"}, to_string="contoso\\Inbox")) == "contoso\\Inbox"
    assert display_value(Record({"DisplayName": "Adele"})) == "Adele"
    assert display_value(b"\x00\x01") == "{2 bytes}"
    assert display_value("line 1\r\nline 2\n", one_line=True) == "line 1 line 2"


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(), lambda c: st.lists(c, max_size=4)))
def test_a_table_cell_is_always_one_line(value: object) -> None:
    assert "\n" not in display_value(value, one_line=True)
    assert "\r" not in display_value(value, one_line=True)


def test_truncate() -> None:
    assert truncate("abcdef", 6) == "abcdef"
    assert truncate("abcdefg", 6) == "abcde…"
    assert truncate("abc", 0) == ""


# ------------------------------------------------------------------------------------------------ widths


@given(
    st.lists(st.tuples(st.integers(1, 80), st.integers(1, 15)), min_size=1, max_size=8),
    st.integers(0, 300),
)
def test_fit_widths_fits_narrowing_the_widest(columns: list[tuple[int, int]], available: int) -> None:
    natural = [n for n, _ in columns]
    minimum = [min(m, n) for n, m in columns]
    widths = fit_widths(natural, minimum, available)
    assert all(m <= w <= n for w, n, m in zip(widths, natural, minimum, strict=True))
    if sum(minimum) <= available:
        assert sum(widths) <= available
    if sum(natural) <= available:
        assert widths == natural
    # one cap narrows the widest columns: those cut above their minimum share one width, and only a
    # column held at its minimum is wider
    cut = {w for w, n, m in zip(widths, natural, minimum, strict=True) if m < w < n}
    assert len(cut) <= 1
    if cut:
        cap = cut.pop()
        assert all(w <= cap or w == m for w, m in zip(widths, minimum, strict=True))


@given(
    st.lists(st.tuples(st.integers(1, 40), st.integers(0, 40)), min_size=1, max_size=8),
    st.integers(0, 300),
)
def test_grow_widths_stays_within_limits_and_room(columns: list[tuple[int, int]], available: int) -> None:
    widths = [w for w, _ in columns]
    limits = [w + extra for w, extra in columns]
    grown = grow_widths(widths, limits, available)
    assert all(w <= g <= limit for w, g, limit in zip(widths, grown, limits, strict=True))
    assert sum(grown) <= max(available, sum(widths))
    assert sum(grown) == min(sum(limits), max(available, sum(widths)))


# ------------------------------------------------------------------------------------------------ tables


def test_table_of_mailboxes_with_default_columns() -> None:
    con, out = console()
    writer = OutputWriter(con)
    writer.write([mailbox(1), mailbox(2)])
    writer.close()
    lines = rows(out.getvalue())
    assert lines[0].split() == ["Name", "Alias", "RecipientTypeDetails", "PrimarySmtpAddress"]
    assert set(lines[1]) == {"─"}
    assert re.fullmatch(r"User 1 +user1 +UserMailbox +user1@contoso\.com", lines[2])
    assert len(lines) == 4
    assert "Database" not in out.getvalue() and out.getvalue().endswith("\n\n")


def test_ft_selects_columns_and_joins_multi_valued_properties() -> None:
    con, out = console()
    writer = OutputWriter(con, FormatSpec("table", ("Name", "EmailAddresses")))
    writer.write([mailbox(1)])
    writer.close()
    lines = rows(out.getvalue())
    assert lines[0].split() == ["Name", "EmailAddresses"]
    assert lines[2] == "User 1   {SMTP:user1@contoso.com, smtp:user1@contoso.onmicrosoft.com}"


def test_long_values_are_truncated_to_the_column_cap_and_the_terminal() -> None:
    rule = record(
        f"{EXCHANGE}Management.Common.InboxRule",
        Name="Move newsletters",
        Enabled=True,
        Priority=1,
        Description="If the message:\r\n\tincludes 'newsletter' in the subject\r\nTake the following actions: "
        + "x" * 200,
    )
    con2, out2 = console(200)
    writer = OutputWriter(con2)
    writer.write([rule])
    writer.close()
    line = rows(out2.getvalue())[2]
    description = re.split(r"   +", line)[-1]
    assert description.startswith("If the message: includes 'newsletter' in the subj")  # line breaks folded
    assert description.endswith("…") and len(description) == 50
    narrow, narrow_out = console(40)
    writer = OutputWriter(narrow)
    writer.write([mailbox(123456789, Name="A very long display name for a mailbox")])
    writer.close()
    assert all(len(line) <= 40 for line in narrow_out.getvalue().splitlines())
    assert "…" in narrow_out.getvalue()


def test_a_streamed_table_keeps_the_widths_of_its_first_rows() -> None:
    con, out = console()
    table = TableWriter(con, ["Name", "Alias"], first_rows=2, first_wait=3600)
    table.add(mailbox(1))
    table.flush()
    assert out.getvalue() == ""  # waits for the first rows to measure them
    table.add(mailbox(2))
    table.flush()
    first = out.getvalue()
    assert rows(first)[0].split() == ["Name", "Alias"] and len(rows(first)) == 4
    table.add(mailbox(3, Name="A much longer name than the first rows had, and then some more"))
    table.close()
    later = rows(out.getvalue()[len(first) :])
    assert len(later) == 1 and "Name" not in later[0]  # no second header
    assert later[0].index("user3") == rows(first)[2].index("user1")  # same column position
    assert "…" not in later[0] or len(later[0].split("   ")[0]) > len("User 1")  # room was left for longer rows


def test_a_new_type_starts_a_new_table_and_scalars_print_as_lines() -> None:
    con, out = console()
    stats = record(
        f"{EXCHANGE}Management.MapiTasks.Presentation.MailboxStatistics",
        DisplayName="User 1",
        ItemCount=17367,
        TotalItemSize="1.212 GB (1,301,239,804 bytes)",
        LastLogonTime=None,
    )
    writer = OutputWriter(con)
    writer.write([mailbox(1), stats, "plain text", 42])
    writer.close()
    lines = rows(out.getvalue())
    assert lines[0].split()[0] == "Name"
    assert lines[3].split() == ["DisplayName", "ItemCount", "TotalItemSize", "LastLogonTime"]
    assert lines[-2:] == ["plain text", "42"]
    assert writer.count == 4


# ------------------------------------------------------------------------------------------------ lists


def test_format_list_shows_every_property_aligned_and_whole() -> None:
    rec = mailbox(1, Notes="n" * 150)
    assert (
        "EmailAddresses       : {SMTP:user1@contoso.com, smtp:user1@contoso.onmicrosoft.com}"
        in list_view(rec, width=100).splitlines()
    )
    text = list_view(rec, width=80)
    lines = text.splitlines()
    names = [line.split(" : ", 1)[0].rstrip() for line in lines if " : " in line]
    assert names == list(rec)
    colons = {line.index(" : ") for line in lines if " : " in line}
    assert colons == {len("RecipientTypeDetails")}
    assert "EmailAddresses       : {SMTP:user1@contoso.com," in lines  # wrapped after a separator
    assert " " * 23 + "smtp:user1@contoso.onmicrosoft.com}" in lines
    assert all(len(line) <= 80 for line in lines)
    notes = text.split("Notes                : ", 1)[1].splitlines()
    assert "".join(part.strip() for part in notes[: len(notes)]).startswith("n" * 150)
    assert notes[1].startswith(" " * 23)  # continuation under the value column


def test_format_list_with_properties_through_the_writer() -> None:
    con, out = console()
    writer = OutputWriter(con, FormatSpec("list", ("Name", "*Smtp*")))
    writer.write([mailbox(1), mailbox(2)])
    writer.close()
    assert rows(out.getvalue()) == [
        "Name               : User 1",
        "PrimarySmtpAddress : user1@contoso.com",
        "Name               : User 2",
        "PrimarySmtpAddress : user2@contoso.com",
    ]
    assert "\n\nName" in out.getvalue()  # an empty line between objects


# ------------------------------------------------------------------------------------------------ real records


def test_real_server_records_get_their_default_columns(live: LiveServer) -> None:
    from aobo.toolkit.session import connect

    with connect(CONTOSO, live.credential(), live.url, ca_file=live.ca_file) as session:
        mailboxes = session.invoke("Get-Mailbox", ResultSize=2)
        stats = session.invoke("Get-MailboxStatistics", Identity=str(mailboxes[0]["PrimarySmtpAddress"]))
        trace = session.invoke("Get-MessageTrace")
    assert default_columns(mailboxes[0]) == ["Name", "Alias", "RecipientTypeDetails", "PrimarySmtpAddress"]
    assert default_columns(stats[0]) == ["DisplayName", "ItemCount", "TotalItemSize", "LastLogonTime"]
    assert default_columns(trace[0]) == ["Received", "SenderAddress", "RecipientAddress", "Subject", "Status"]
    con, out = console()
    writer = OutputWriter(con)
    writer.write(list(mailboxes))
    writer.close()
    assert str(mailboxes[1]["PrimarySmtpAddress"]) in out.getvalue()
