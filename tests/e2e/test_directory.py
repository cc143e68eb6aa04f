"""Directory cmdlets over the real endpoint with pypsrp, and the RemotePowerShellEnabled gate."""

from __future__ import annotations

import pytest
from pypsrp.exceptions import AuthenticationError, WSManFaultError
from pypsrp.powershell import PSInvocationState

from tests.e2e.helpers import PARTNER_ADMIN, PARTNER_HELPDESK, Endpoint, errors_of, invoke, is_type, objects_of

CONTOSO = "contoso.onmicrosoft.com"
TAILSPIN_ADMIN = "admin@tailspintoys.onmicrosoft.com"


def test_get_recipient_and_mail_users(surface: Endpoint) -> None:
    with surface.pool(PARTNER_ADMIN, CONTOSO) as pool:
        ps = invoke(pool, "Get-Recipient", RecipientTypeDetails="MailContact")
        assert is_type(ps, "Microsoft.Exchange.Data.Directory.Management.ReducedRecipient")
        assert len(objects_of(ps)) == 3
        users = objects_of(invoke(pool, "Get-MailUser"))
        assert len(users) == 2 and all(u["ExternalEmailAddress"].startswith("SMTP:") for u in users)
        ps = invoke(pool, "Get-Recipient", Identity="ghost")
        assert errors_of(ps) == [
            "The operation couldn't be performed because object 'ghost' couldn't be found on "
            "'NAMPR01A001DC01.NAMPR01A001.PROD.OUTLOOK.COM'."
        ]


def test_mail_contact_round_trip(surface_rw: Endpoint) -> None:
    with surface_rw.pool(PARTNER_ADMIN, CONTOSO) as pool:
        ps = invoke(pool, "New-MailContact", Name="Kim Vendor", ExternalEmailAddress="kim@vendor.example")
        assert is_type(ps, "Microsoft.Exchange.Data.Directory.Management.MailContact")
        assert objects_of(ps)[0]["ExternalEmailAddress"] == "SMTP:kim@vendor.example"
        ps = invoke(pool, "Set-MailContact", Identity="Kim Vendor", DisplayName="Kim (Vendor)")
        assert not ps.had_errors, errors_of(ps)
        assert objects_of(invoke(pool, "Get-MailContact", Identity="Kim Vendor"))[0]["DisplayName"] == "Kim (Vendor)"
        ps = invoke(pool, "Remove-MailContact", Identity="Kim Vendor", Confirm=False)
        assert not ps.had_errors
        assert errors_of(invoke(pool, "Get-MailContact", Identity="Kim Vendor"))


def test_help_desk_cannot_create_contacts(surface: Endpoint) -> None:
    with surface.pool(PARTNER_HELPDESK, CONTOSO) as pool:
        assert objects_of(invoke(pool, "Get-User", Identity="AdeleV"))
        ps = invoke(pool, "New-MailContact", Name="X", ExternalEmailAddress="x@example.com")
        assert ps.state == PSInvocationState.FAILED
        assert "isn't assigned to any management roles" in str(ps.streams.error[0])


def test_set_user_remote_powershell_gates_the_endpoint(rps_rw: Endpoint) -> None:
    # The tailspintoys admin can sign in; the partner admin turns remote PowerShell off for it.
    with rps_rw.pool(TAILSPIN_ADMIN, None) as own:
        assert objects_of(invoke(own, "Get-User", Identity=TAILSPIN_ADMIN))[0]["RemotePowerShellEnabled"] is True
        with rps_rw.pool(PARTNER_ADMIN, "tailspintoys.onmicrosoft.com") as pool:
            ps = invoke(pool, "Set-User", Identity=TAILSPIN_ADMIN, RemotePowerShellEnabled=False)
            assert not ps.had_errors, errors_of(ps)
            with pytest.raises((AuthenticationError, WSManFaultError)) as refused:
                rps_rw.open_pool(TAILSPIN_ADMIN, None)
            assert "Access is denied" in str(refused.value) or "RemotePowerShellEnabled" in str(refused.value)
            # Everyone else is unaffected.
            with rps_rw.pool(PARTNER_ADMIN, CONTOSO) as other:
                assert objects_of(invoke(other, "Get-User", Identity="AdeleV"))
            shown = objects_of(invoke(pool, "Get-User", Identity=TAILSPIN_ADMIN))[0]
            assert shown["RemotePowerShellEnabled"] is False
            invoke(pool, "Set-User", Identity=TAILSPIN_ADMIN, RemotePowerShellEnabled=True)
    with rps_rw.pool(TAILSPIN_ADMIN, None) as again:
        assert objects_of(invoke(again, "Get-User", Identity=TAILSPIN_ADMIN))
