"""Mailbox, SendAs and folder permissions over the real endpoint with pypsrp."""

from __future__ import annotations

import pytest
from pypsrp.powershell import PSInvocationState

from tests.e2e.helpers import PARTNER_ADMIN, PARTNER_HELPDESK, Endpoint, errors_of, invoke, is_type, objects_of

CONTOSO = "contoso.onmicrosoft.com"
DENIED = "isn't assigned to any management roles"


def test_mailbox_permission_round_trip(surface_rw: Endpoint) -> None:
    with surface_rw.pool(PARTNER_ADMIN, CONTOSO) as pool:
        ps = invoke(pool, "Add-MailboxPermission", Identity="Finance Team", User="EmilyB", AccessRights="FullAccess")
        assert not ps.had_errors, errors_of(ps)
        assert is_type(ps, "Microsoft.Exchange.Management.RecipientTasks.MailboxAcePresentationObject")
        listed = objects_of(invoke(pool, "Get-MailboxPermission", Identity="Finance Team"))
        assert listed[0]["User"] == "NT AUTHORITY\\SELF"
        assert listed[0]["AccessRights"] == ["FullAccess", "ReadPermission"]
        assert any(e["User"] == "EmilyB@contoso.com" and e["AccessRights"] == ["FullAccess"] for e in listed)
        ps = invoke(
            pool,
            "Remove-MailboxPermission",
            Identity="Finance Team",
            User="EmilyB",
            AccessRights="FullAccess",
            Confirm=False,
        )
        assert not ps.had_errors and ps.streams.warning == []
        ps = invoke(
            pool,
            "Remove-MailboxPermission",
            Identity="Finance Team",
            User="EmilyB",
            AccessRights="FullAccess",
            Confirm=False,
        )
        assert "because the ACE doesn't exist on the object" in ps.streams.warning[0].message
        ps = invoke(pool, "Get-MailboxPermission", Identity="nobody@contoso.com")
        assert errors_of(ps) == [
            "The operation couldn't be performed because object 'nobody@contoso.com' couldn't be found on "
            "'NAMPR01A001DC01.NAMPR01A001.PROD.OUTLOOK.COM'."
        ]


def test_remove_without_confirm_false_is_refused_without_a_host(surface_rw: Endpoint) -> None:
    if surface_rw.frontend == "rest":
        pytest.skip("REST never prompts: tests/e2e/test_rest_portals.py")
    with surface_rw.pool(PARTNER_ADMIN, CONTOSO) as pool:
        ps = invoke(pool, "Remove-MailboxPermission", Identity="sales", User="AdeleV", AccessRights="FullAccess")
        assert ps.state == PSInvocationState.FAILED


def test_send_as_round_trip(surface_rw: Endpoint) -> None:
    with surface_rw.pool(PARTNER_ADMIN, CONTOSO) as pool:
        ps = invoke(
            pool, "Add-RecipientPermission", Identity="support", Trustee="LidiaH", AccessRights="SendAs", Confirm=False
        )
        assert is_type(ps, "Microsoft.Exchange.Management.RecipientTasks.RecipientPermission")
        (entry,) = objects_of(ps)
        assert (entry["Trustee"], entry["AccessControlType"]) == ("LidiaH@contoso.com", "Allow")
        reverse = objects_of(invoke(pool, "Get-RecipientPermission", Trustee="LidiaH"))
        assert "Customer Support" in {e["Identity"] for e in reverse}
        invoke(
            pool,
            "Remove-RecipientPermission",
            Identity="support",
            Trustee="LidiaH",
            AccessRights="SendAs",
            Confirm=False,
        )
        after = objects_of(invoke(pool, "Get-RecipientPermission", Identity="support"))
        assert "LidiaH@contoso.com" not in {e["Trustee"] for e in after}


def test_folder_permission_round_trip_and_texts(surface_rw: Endpoint) -> None:
    with surface_rw.pool(PARTNER_ADMIN, CONTOSO) as pool:
        ps = invoke(pool, "Get-MailboxFolderPermission", Identity="RaulR@contoso.com:\\Calendar")
        assert is_type(ps, "Microsoft.Exchange.Management.StoreTasks.MailboxFolderPermission")
        assert [(e["User"], e["AccessRights"]) for e in objects_of(ps)][:2] == [
            ("Default", ["AvailabilityOnly"]),
            ("Anonymous", ["None"]),
        ]
        ps = invoke(
            pool, "Add-MailboxFolderPermission", Identity="RaulR:\\Calendar", User="SaraD", AccessRights="Reviewer"
        )
        assert objects_of(ps)[0]["User"] == "Sara Davis"
        ps = invoke(
            pool, "Add-MailboxFolderPermission", Identity="RaulR:\\Calendar", User="SaraD", AccessRights="Editor"
        )
        assert errors_of(ps) == ["An existing permission entry was found for user: Sara Davis."]
        ps = invoke(
            pool, "Set-MailboxFolderPermission", Identity="RaulR:\\Calendar", User="Default", AccessRights="Reviewer"
        )
        assert not ps.had_errors
        shown = {
            e["User"]: e["AccessRights"]
            for e in objects_of(invoke(pool, "Get-MailboxFolderPermission", Identity="RaulR:\\Calendar"))
        }
        assert shown["Default"] == ["Reviewer"] and shown["Sara Davis"] == ["Reviewer"]
        invoke(pool, "Remove-MailboxFolderPermission", Identity="RaulR:\\Calendar", User="SaraD", Confirm=False)
        ps = invoke(pool, "Remove-MailboxFolderPermission", Identity="RaulR:\\Calendar", User="SaraD", Confirm=False)
        assert errors_of(ps) == ["There is no existing permission entry found for user: Sara Davis."]


def test_help_desk_reads_permissions_but_cannot_change_them(surface: Endpoint) -> None:
    with surface.pool(PARTNER_HELPDESK, CONTOSO) as pool:
        assert objects_of(invoke(pool, "Get-MailboxPermission", Identity="sales"))
        assert objects_of(invoke(pool, "Get-MailboxFolderPermission", Identity="AdeleV:\\Calendar"))
        for cmdlet, params in (
            ("Add-MailboxPermission", {"Identity": "sales", "User": "AdeleV", "AccessRights": "FullAccess"}),
            ("Add-RecipientPermission", {"Identity": "sales", "Trustee": "AdeleV", "AccessRights": "SendAs"}),
            (
                "Add-MailboxFolderPermission",
                {"Identity": "AdeleV:\\Calendar", "User": "LeeG", "AccessRights": "Editor"},
            ),
        ):
            ps = invoke(pool, cmdlet, **params)
            assert ps.state == PSInvocationState.FAILED
            assert "CmdletAccessDeniedException" in str(ps.streams.error[0]) or DENIED in str(ps.streams.error[0])
