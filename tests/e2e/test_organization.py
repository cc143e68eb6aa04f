"""Organisation and transport cmdlets over the real endpoint with pypsrp: main paths, errors, roles."""

from __future__ import annotations

from pypsrp.powershell import PSInvocationState

from tests.e2e.helpers import (
    PARTNER_ADMIN,
    PARTNER_HELPDESK,
    Endpoint,
    errors_of,
    invoke,
    is_type,
    objects_of,
    visible_cmdlets,
)

CONTOSO = "contoso.onmicrosoft.com"


def test_get_organization_config_and_accepted_domains(surface: Endpoint) -> None:
    with surface.pool(PARTNER_ADMIN, CONTOSO) as pool:
        ps = invoke(pool, "Get-OrganizationConfig")
        [org] = objects_of(ps)
        assert is_type(ps, "Microsoft.Exchange.Data.Directory.Management.OrganizationConfig")
        assert (org["Name"], org["OAuth2ClientProfileEnabled"], org["AuditDisabled"]) == (CONTOSO, True, False)
        domains = {d["DomainName"]: d["Default"] for d in objects_of(invoke(pool, "Get-AcceptedDomain"))}
        assert domains == {CONTOSO: False, "contoso.com": True}


def test_get_remote_domain_and_transport_config(surface: Endpoint) -> None:
    with surface.pool(PARTNER_ADMIN, CONTOSO) as pool:
        [remote] = objects_of(invoke(pool, "Get-RemoteDomain", Identity="Default"))
        assert (remote["DomainName"], remote["AutoForwardEnabled"], remote["TNEFEnabled"]) == ("*", True, None)
        [config] = objects_of(invoke(pool, "Get-TransportConfig"))
        assert config["MaxSendSize"] == "35 MB (36,700,160 bytes)"
        assert config["MaxReceiveSize"] == "36 MB (37,748,736 bytes)"
        missing = errors_of(invoke(pool, "Get-RemoteDomain", Identity="nowhere"))
        assert missing[0].startswith("The operation couldn't be performed because object 'nowhere' couldn't be found")


def test_get_transport_rules_of_contoso(surface: Endpoint) -> None:
    with surface.pool(PARTNER_ADMIN, CONTOSO) as pool:
        rules = objects_of(invoke(pool, "Get-TransportRule"))
        assert [(r["Priority"], r["Name"]) for r in rules] == [
            (0, "Block executable attachments"),
            (1, "External sender warning"),
            (2, "Outbound disclaimer"),
        ]
        assert "Prepend the subject with '[EXTERNAL]'" in rules[1]["Description"]


def test_helpdesk_is_refused_organization_cmdlets(surface: Endpoint) -> None:
    with surface.pool(PARTNER_HELPDESK, CONTOSO) as pool:
        names = visible_cmdlets(pool)
        assert "Get-OrganizationConfig" not in names and "Get-TransportRule" not in names
        ps = invoke(pool, "Get-OrganizationConfig")
        assert ps.state == PSInvocationState.FAILED
        assert "isn't assigned to any management roles" in str(ps.streams.error[0])


def test_set_organization_and_transport_config(surface_rw: Endpoint) -> None:
    with surface_rw.pool(PARTNER_ADMIN, CONTOSO) as pool:
        ps = invoke(pool, "Set-OrganizationConfig", MailTipsExternalRecipientsTipsEnabled=True)
        assert not errors_of(ps)
        assert objects_of(invoke(pool, "Get-OrganizationConfig"))[0]["MailTipsExternalRecipientsTipsEnabled"] is True
        again = invoke(pool, "Set-OrganizationConfig", MailTipsExternalRecipientsTipsEnabled=True)
        assert [w.message for w in again.streams.warning] == [
            f"The command completed successfully but no settings of '{CONTOSO}' have been modified."
        ]
        assert not errors_of(invoke(pool, "Set-TransportConfig", MaxSendSize="25MB"))
        assert objects_of(invoke(pool, "Get-TransportConfig"))[0]["MaxSendSize"] == "25 MB (26,214,400 bytes)"
        bad = errors_of(invoke(pool, "Set-OrganizationConfig", MailTipsLargeAudienceThreshold=5000))
        assert "must be between 0 and 1000" in bad[0]


def test_remote_domain_lifecycle(surface_rw: Endpoint) -> None:
    with surface_rw.pool(PARTNER_ADMIN, CONTOSO) as pool:
        [created] = objects_of(invoke(pool, "New-RemoteDomain", Name="Fabrikam", DomainName="fabrikam.com"))
        assert created["DomainName"] == "fabrikam.com"
        assert not errors_of(invoke(pool, "Set-RemoteDomain", Identity="Fabrikam", AutoForwardEnabled=False))
        assert objects_of(invoke(pool, "Get-RemoteDomain", Identity="Fabrikam"))[0]["AutoForwardEnabled"] is False
        refused = errors_of(invoke(pool, "Remove-RemoteDomain", Identity="Default", Confirm=False))
        assert refused == ["The default remote domain can't be removed."]
        assert not errors_of(invoke(pool, "Remove-RemoteDomain", Identity="Fabrikam", Confirm=False))
        assert [d["Name"] for d in objects_of(invoke(pool, "Get-RemoteDomain"))] == ["Default"]


def test_transport_rule_lifecycle(surface_rw: Endpoint) -> None:
    with surface_rw.pool(PARTNER_ADMIN, CONTOSO) as pool:
        ps = invoke(
            pool,
            "New-TransportRule",
            Name="Payroll keywords",
            SubjectOrBodyContainsWords=["payroll", "salary"],
            BlindCopyTo=["AdeleV"],
            Priority=0,
        )
        [rule] = objects_of(ps)
        assert rule["Priority"] == 0 and rule["BlindCopyTo"] == ["AdeleV@contoso.com"]
        assert rule["Description"] == (
            "If the message:\r\n\tIncludes these words in the message subject or body: 'payroll' or 'salary'\r\n"
            "Take the following actions:\r\n\tBlind carbon copy (Bcc) the message to 'AdeleV@contoso.com'\r\n"
        )
        no_action = errors_of(invoke(pool, "New-TransportRule", Name="Nothing", SubjectContainsWords=["x"]))
        assert no_action == ["A transport rule must have at least one action."]
        assert not errors_of(invoke(pool, "Set-TransportRule", Identity="Payroll keywords", Priority=3))
        assert not errors_of(invoke(pool, "Disable-TransportRule", Identity="Payroll keywords"))
        rules = objects_of(invoke(pool, "Get-TransportRule"))
        assert [(r["Priority"], r["Name"], r["State"]) for r in rules][-1] == (3, "Payroll keywords", "Disabled")
        assert not errors_of(invoke(pool, "Enable-TransportRule", Identity="Payroll keywords"))
        assert not errors_of(invoke(pool, "Remove-TransportRule", Identity="Payroll keywords", Confirm=False))
        assert [r["Priority"] for r in objects_of(invoke(pool, "Get-TransportRule"))] == [0, 1, 2]
