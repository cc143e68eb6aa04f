"""Get-/Set-/New-/Remove-Mailbox end to end: pypsrp 0.9.1 against the real server."""

from __future__ import annotations

from pypsrp.powershell import PSInvocationState

from tests.e2e.helpers import (
    PARTNER_ADMIN,
    PARTNER_HELPDESK,
    Endpoint,
    errors_of,
    invoke,
    is_rest,
    is_type,
    objects_of,
)

ORG = "contoso.onmicrosoft.com"


def test_set_mailbox_quotas_addresses_and_type(surface_rw: Endpoint) -> None:
    with surface_rw.pool(PARTNER_ADMIN, ORG) as pool:
        ps = invoke(
            pool,
            "Set-Mailbox",
            Identity="LeeG",
            ProhibitSendQuota="50GB",
            IssueWarningQuota="49.5 GB",
            EmailAddresses={"Add": ["lee.gu@contoso.com"]},
            GrantSendOnBehalfTo=["MeganB"],
            Type="Shared",
        )
        assert not ps.had_errors, errors_of(ps)
        [mbx] = objects_of(invoke(pool, "Get-Mailbox", Identity="LeeG"))
        assert mbx["ProhibitSendQuota"] == "50 GB (53,687,091,200 bytes)"
        assert mbx["IssueWarningQuota"] == "49.5 GB (53,150,220,288 bytes)"
        assert "smtp:lee.gu@contoso.com" in mbx["EmailAddresses"]
        assert mbx["GrantSendOnBehalfTo"] == ["MeganB"]
        assert mbx["RecipientTypeDetails"] == "SharedMailbox"


def test_set_mailbox_errors_in_exchanges_words(surface_rw: Endpoint) -> None:
    with surface_rw.pool(PARTNER_ADMIN, ORG) as pool:
        ps = invoke(pool, "Set-Mailbox", Identity="MeganB", IssueWarningQuota="100GB")
        assert errors_of(ps) == [
            "The value of property 'IssueWarningQuota' must be less than or equal to that of property "
            "'ProhibitSendQuota'. IssueWarningQuota: '100 GB (107,374,182,400 bytes)', ProhibitSendQuota: "
            "'99 GB (106,300,440,576 bytes)'."
        ]
        ps = invoke(pool, "Set-Mailbox", Identity="MeganB", EmailAddresses={"Add": "AdeleV@contoso.com"})
        assert errors_of(ps) == [
            'The proxy address "smtp:AdeleV@contoso.com" is already being used by the proxy addresses or '
            'LegacyExchangeDN of "AdeleV". Please choose another proxy address.'
        ]


def test_get_mailbox_filter(surface: Endpoint) -> None:
    with surface.pool(PARTNER_ADMIN, ORG) as pool:
        found = objects_of(invoke(pool, "Get-Mailbox", Filter="Alias -eq 'MeganB'"))
        assert [m["Name"] for m in found] == ["MeganB"]


def test_new_and_remove_mailbox(surface_rw: Endpoint) -> None:
    with surface_rw.pool(PARTNER_ADMIN, ORG) as pool:
        ps = invoke(pool, "New-Mailbox", Name="Service Desk", Alias="servicedesk", Shared=None)
        assert errors_of(ps) == []
        [created] = objects_of(ps)
        assert created["RecipientTypeDetails"] == "SharedMailbox"
        assert created["PrimarySmtpAddress"] == "servicedesk@contoso.com"
        assert is_type(ps, "Microsoft.Exchange.Data.Directory.Management.Mailbox")
        dup = invoke(pool, "New-Mailbox", Name="Other Desk", Alias="servicedesk", Shared=None)
        assert "is already being used by the proxy addresses" in errors_of(dup)[0]
        if not is_rest(pool):  # REST never prompts: tests/e2e/test_rest_portals.py
            refused = invoke(pool, "Remove-Mailbox", Identity="servicedesk")
            assert refused.state == PSInvocationState.FAILED  # High impact, and pypsrp has no host to ask
        assert not invoke(pool, "Remove-Mailbox", Identity="servicedesk", Confirm=False).had_errors
        gone = invoke(pool, "Get-Mailbox", Identity="servicedesk")
        assert "couldn't be found" in errors_of(gone)[0]


def test_helpdesk_cannot_create_change_or_remove_mailboxes(surface: Endpoint) -> None:
    with surface.pool(PARTNER_HELPDESK, ORG) as pool:
        for cmdlet, params in (
            ("New-Mailbox", {"Name": "x", "Shared": None}),
            ("Set-Mailbox", {"Identity": "MeganB", "ProhibitSendQuota": "1GB"}),
            ("Remove-Mailbox", {"Identity": "MeganB", "Confirm": False}),
        ):
            ps = invoke(pool, cmdlet, **params)
            assert ps.state == PSInvocationState.FAILED
            assert errors_of(ps) == [
                '[FailureCategory=AuthZ-CmdletAccessDeniedException] The user "northwindit.onmicrosoft.com\\'
                f'{PARTNER_HELPDESK}" isn\'t assigned to any management roles that allow running "{cmdlet}".'
            ]
