"""Mailbox, recipient (SendAs) and folder permissions on a real store, and their repository."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aobo.cmdlets.context import CmdletContext
from aobo.cmdlets.exchange.permissions import normalise_folder_rights
from aobo.cmdlets.identity import FolderIdentity, format_folder_identity, parse_folder_identity
from aobo.cmdlets.pipeline import CommandInvocation, run_pipeline
from aobo.cmdlets.registry import Registry
from aobo.cmdlets.results import CmdletError, ErrorRecord, ExchangeObject, WarningRecord
from aobo.domain.errors import NotFound

Run = Callable[..., list[Any]]


@pytest.fixture
def ctx(store: Any, partner_ctx: Callable[..., CmdletContext]) -> CmdletContext:
    return partner_ctx(store, "admin", "contoso")


@pytest.fixture
def run(ctx: CmdletContext, registry: Registry) -> Run:
    def go(cmdlet: str, **params: Any) -> list[Any]:
        return list(run_pipeline(ctx, registry, [CommandInvocation(cmdlet, list(params.items()))]))

    return go


def objects(out: list[Any]) -> list[ExchangeObject]:
    return [o for o in out if isinstance(o, ExchangeObject)]


def errors(out: list[Any]) -> list[str]:
    return [o.message for o in out if isinstance(o, ErrorRecord)]


def warnings(out: list[Any]) -> list[str]:
    return [o.message for o in out if isinstance(o, WarningRecord)]


def row(store: Any, tenant: str, identity: str) -> Any:
    return store.find_recipients(store.resolve_tenant(f"{tenant}.onmicrosoft.com").id, identity)[0]


# --- folder identities -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mailbox", "folder"),
    [
        ("ayla@contoso.com:\\Calendar", "ayla@contoso.com", "Calendar"),
        ("John:\\inbox\\Reports", "John", "Inbox\\Reports"),
        ("John:\\", "John", ""),
        ("John", "John", ""),
        ("John:\\Projects\\", "John", "Projects"),
    ],
)
def test_parse_folder_identity(text: str, mailbox: str, folder: str) -> None:
    assert parse_folder_identity(text) == FolderIdentity(mailbox, folder)


_segment = st.text(st.characters(blacklist_characters="\\:", blacklist_categories=("Cs",)), min_size=1).filter(
    lambda s: s.strip() == s and s.lower() not in {"calendar", "inbox", "contacts", "tasks", "notes", "drafts"}
)


@given(
    mailbox=st.text(st.characters(blacklist_characters="\\:", blacklist_categories=("Cs",)), min_size=1).filter(
        lambda s: s.strip() == s
    ),
    segments=st.lists(_segment, max_size=4),
)
def test_folder_identity_round_trip(mailbox: str, segments: list[str]) -> None:
    folder = "\\".join(segments)
    parsed = parse_folder_identity(format_folder_identity(mailbox, folder))
    assert parsed == FolderIdentity(mailbox, folder)
    assert str(parsed) == format_folder_identity(mailbox, folder)


def test_folder_rights_become_the_role_they_amount_to() -> None:
    assert normalise_folder_rights(["ReadItems", "FolderVisible"]) == ("Reviewer",)
    assert normalise_folder_rights(["Reviewer", "CreateItems"]) == ("ReadItems", "CreateItems", "FolderVisible")
    assert normalise_folder_rights(["None"]) == ("None",)


# --- repository: tenant scoping --------------------------------------------------------------------


def test_repository_refuses_a_trustee_of_another_tenant(store: Any) -> None:
    contoso = store.resolve_tenant("contoso.onmicrosoft.com")
    sales, foreign = row(store, "contoso", "sales"), next(iter(store.iter_recipients(contoso.id + 1, limit=1)))
    with pytest.raises(NotFound):
        store.permissions.grant(contoso.id, sales.id, "mailbox", foreign.id, ("FullAccess",))
    with pytest.raises(NotFound):
        store.permissions.add_folder(contoso.id, sales.id, "Calendar", foreign.id, ("Reviewer",))
    # Another tenant cannot read or write contoso's entries through its own id either.
    assert store.permissions.entries(contoso.id + 1, sales.id, "mailbox") == []
    adele = row(store, "contoso", "AdeleV")
    with pytest.raises(NotFound):
        store.permissions.grant(contoso.id + 1, sales.id, "mailbox", adele.id, ("FullAccess",))


def test_trustee_in_another_tenant_is_not_found(run: Run, store: Any) -> None:
    fabrikam = store.resolve_tenant("fabrikam.onmicrosoft.com")
    outsider = next(iter(store.iter_recipients(fabrikam.id, recipient_type_details=["UserMailbox"], limit=1)))
    out = run("Add-MailboxPermission", Identity="sales", User=outsider.primary_smtp_address, AccessRights="FullAccess")
    assert errors(out) == [
        f"The operation couldn't be performed because object '{outsider.primary_smtp_address}' couldn't be found "
        "on 'NAMPR01A001DC01.NAMPR01A001.PROD.OUTLOOK.COM'."
    ]
    users = [o["User"] for o in objects(run("Get-MailboxPermission", Identity="sales"))]
    assert outsider.primary_smtp_address not in users and outsider.user_principal_name not in users


# --- Get/Add/Remove-MailboxPermission --------------------------------------------------------------


def test_every_mailbox_shows_self(run: Run) -> None:
    (entry,) = objects(run("Get-MailboxPermission", Identity="AdeleV"))
    assert entry.type_names[0] == "Microsoft.Exchange.Management.RecipientTasks.MailboxAcePresentationObject"
    assert (entry["User"], entry["AccessRights"], entry["IsInherited"], entry["Deny"]) == (
        "NT AUTHORITY\\SELF",
        ["FullAccess", "ReadPermission"],
        False,
        False,
    )


def test_add_get_remove_full_access(run: Run) -> None:
    out = run("Add-MailboxPermission", Identity="Info", User="AdeleV", AccessRights="FullAccess", AutoMapping=False)
    assert [(o["Identity"], o["User"], o["AccessRights"]) for o in objects(out)] == [
        ("Info", "AdeleV@contoso.com", ["FullAccess"])
    ]
    again = run("Add-MailboxPermission", Identity="Info", User="AdeleV", AccessRights="FullAccess")
    assert warnings(again) and "already present" in warnings(again)[0]
    mine = objects(run("Get-MailboxPermission", Identity="Info", User="AdeleV@contoso.com"))
    assert [o["User"] for o in mine] == ["AdeleV@contoso.com"]
    assert (
        run("Remove-MailboxPermission", Identity="Info", User="AdeleV", AccessRights="FullAccess", Confirm=False) == []
    )
    assert objects(run("Get-MailboxPermission", Identity="Info", User="AdeleV")) == []
    missing = run("Remove-MailboxPermission", Identity="Info", User="AdeleV", AccessRights="FullAccess", Confirm=False)
    assert warnings(missing) == [
        "Can't remove the access control entry on the object \"CN=Info,OU=contoso.onmicrosoft.com,OU=Microsoft "
        'Exchange Hosted Organizations,DC=NAMPR01A001,DC=PROD,DC=OUTLOOK,DC=COM" for account "AdeleV@contoso.com" '
        "because the ACE doesn't exist on the object."
    ]


def test_seeded_shared_mailboxes_have_full_access_grants(run: Run) -> None:
    users = [o["User"] for o in objects(run("Get-MailboxPermission", Identity="sales"))]
    assert users[0] == "NT AUTHORITY\\SELF" and 2 <= len(users) <= 4


# --- SendAs ----------------------------------------------------------------------------------------


def test_send_as_and_reverse_lookup(run: Run) -> None:
    out = run("Add-RecipientPermission", Identity="HR Team", Trustee="MeganB", AccessRights="SendAs", Confirm=False)
    (entry,) = objects(out)
    assert (entry["Trustee"], entry["AccessControlType"], entry["AccessRights"]) == (
        "MeganB@contoso.com",
        "Allow",
        ["SendAs"],
    )
    granted = objects(run("Get-RecipientPermission", Trustee="MeganB"))
    assert "HR Team" in [o["Identity"] for o in granted]
    assert {o["Trustee"] for o in granted} == {"MeganB@contoso.com"}
    run("Remove-RecipientPermission", Identity="HR Team", Trustee="MeganB", AccessRights="SendAs", Confirm=False)
    assert "HR Team" not in [o["Identity"] for o in objects(run("Get-RecipientPermission", Trustee="MeganB"))]


# --- folder permissions ----------------------------------------------------------------------------


def test_calendar_defaults_are_implicit(run: Run) -> None:
    entries = objects(run("Get-MailboxFolderPermission", Identity="DiegoS:\\Calendar"))
    assert [(o["User"], o["AccessRights"]) for o in entries][:2] == [
        ("Default", ["AvailabilityOnly"]),
        ("Anonymous", ["None"]),
    ]
    inbox = objects(run("Get-MailboxFolderPermission", Identity="DiegoS:\\Inbox"))
    assert [(o["FolderName"], o["User"], o["AccessRights"]) for o in inbox] == [
        ("Inbox", "Default", ["None"]),
        ("Inbox", "Anonymous", ["None"]),
    ]


def test_folder_permission_lifecycle_and_texts(run: Run) -> None:
    out = run(
        "Add-MailboxFolderPermission",
        Identity="LeeG:\\Calendar",
        User="JoniS",
        AccessRights="Editor",
        SharingPermissionFlags="Delegate",
    )
    (entry,) = objects(out)
    assert (entry["User"], entry["AccessRights"], entry["SharingPermissionFlags"], entry["Identity"]) == (
        "Joni Sherman",
        ["Editor"],
        "Delegate",
        "LeeG:\\Calendar",
    )
    dup = run("Add-MailboxFolderPermission", Identity="LeeG:\\Calendar", User="JoniS", AccessRights="Reviewer")
    assert errors(dup) == ["An existing permission entry was found for user: Joni Sherman."]
    run("Set-MailboxFolderPermission", Identity="LeeG:\\Calendar", User="JoniS", AccessRights="Reviewer")
    run("Set-MailboxFolderPermission", Identity="LeeG:\\Calendar", User="Default", AccessRights="LimitedDetails")
    shown = {
        o["User"]: o["AccessRights"] for o in objects(run("Get-MailboxFolderPermission", Identity="LeeG:\\Calendar"))
    }
    assert shown["Joni Sherman"] == ["Reviewer"] and shown["Default"] == ["LimitedDetails"]
    run("Remove-MailboxFolderPermission", Identity="LeeG:\\Calendar", User="JoniS", Confirm=False)
    gone = run("Remove-MailboxFolderPermission", Identity="LeeG:\\Calendar", User="JoniS", Confirm=False)
    assert errors(gone) == ["There is no existing permission entry found for user: Joni Sherman."]
    unset = run("Set-MailboxFolderPermission", Identity="LeeG:\\Inbox", User="JoniS", AccessRights="Reviewer")
    assert errors(unset) == ["There is no existing permission entry found for user: Joni Sherman."]


def test_calendar_only_roles_and_unknown_folders_are_refused(run: Run) -> None:
    out = run("Add-MailboxFolderPermission", Identity="LeeG:\\Inbox", User="JoniS", AccessRights="AvailabilityOnly")
    assert errors(out) and "calendar folders" in errors(out)[0]
    out = run("Get-MailboxFolderPermission", Identity="LeeG:\\NoSuchFolder")
    assert errors(out) == [
        "The operation couldn't be performed because object 'LeeG:\\NoSuchFolder' couldn't be found on "
        "'NAMPR01A001DC01.NAMPR01A001.PROD.OUTLOOK.COM'."
    ]


def test_help_desk_reads_but_cannot_grant(
    store: Any, partner_ctx: Callable[..., CmdletContext], registry: Registry
) -> None:
    ctx = partner_ctx(store, "helpdesk", "contoso")
    out = list(run_pipeline(ctx, registry, [CommandInvocation("Get-MailboxPermission", [("Identity", "sales")])]))
    assert objects(out)
    with pytest.raises(CmdletError, match="isn't assigned to any management roles"):
        list(
            run_pipeline(
                ctx,
                registry,
                [
                    CommandInvocation(
                        "Add-MailboxPermission",
                        [("Identity", "sales"), ("User", "AdeleV"), ("AccessRights", "FullAccess")],
                    )
                ],
            )
        )
