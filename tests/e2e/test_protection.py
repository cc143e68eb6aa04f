"""Protection policy cmdlets over the real endpoint with pypsrp: defaults, seeded baselines, Set-, roles."""

from __future__ import annotations

from pypsrp.powershell import PSInvocationState

from tests.e2e.helpers import PARTNER_ADMIN, PARTNER_HELPDESK, Endpoint, errors_of, invoke, is_type, objects_of

CONTOSO = "contoso.onmicrosoft.com"


def test_default_policies(surface: Endpoint) -> None:
    with surface.pool(PARTNER_ADMIN, CONTOSO) as pool:
        ps = invoke(pool, "Get-HostedContentFilterPolicy")
        [spam] = objects_of(ps)
        assert is_type(ps, "Microsoft.Exchange.Data.Directory.SystemConfiguration.HostedContentFilterPolicy")
        assert (spam["Name"], spam["IsDefault"], spam["BulkThreshold"], spam["SpamAction"]) == (
            "Default",
            True,
            7,
            "MoveToJmf",
        )
        [outbound] = objects_of(invoke(pool, "Get-HostedOutboundSpamFilterPolicy"))
        assert (outbound["AutoForwardingMode"], outbound["RecipientLimitPerDay"]) == ("Automatic", 0)
        [malware] = objects_of(invoke(pool, "Get-MalwareFilterPolicy"))
        assert malware["EnableFileFilter"] is True and "exe" in malware["FileTypes"]
        [phish] = objects_of(invoke(pool, "Get-AntiPhishPolicy"))
        assert (phish["Name"], phish["PhishThresholdLevel"]) == ("Office365 AntiPhish Default", 1)


def test_seeded_baselines_of_other_customers(surface: Endpoint) -> None:
    with surface.pool(PARTNER_ADMIN, "fabrikam.onmicrosoft.com") as pool:
        assert objects_of(invoke(pool, "Get-HostedOutboundSpamFilterPolicy"))[0]["AutoForwardingMode"] == "On"
    with surface.pool(PARTNER_ADMIN, "tailspintoys.onmicrosoft.com") as pool:
        assert objects_of(invoke(pool, "Get-HostedContentFilterPolicy", Identity="Default"))[0]["BulkThreshold"] == 9


def test_helpdesk_cannot_read_or_set_policies(surface: Endpoint) -> None:
    with surface.pool(PARTNER_HELPDESK, CONTOSO) as pool:
        ps = invoke(pool, "Get-HostedContentFilterPolicy")
        assert ps.state == PSInvocationState.FAILED
        assert "isn't assigned to any management roles" in str(ps.streams.error[0])


def test_set_policies_and_validation(surface_rw: Endpoint) -> None:
    with surface_rw.pool(PARTNER_ADMIN, CONTOSO) as pool:
        assert not errors_of(
            invoke(pool, "Set-HostedOutboundSpamFilterPolicy", Identity="Default", AutoForwardingMode="Off")
        )
        assert objects_of(invoke(pool, "Get-HostedOutboundSpamFilterPolicy"))[0]["AutoForwardingMode"] == "Off"
        assert not errors_of(
            invoke(pool, "Set-HostedContentFilterPolicy", Identity="Default", BlockedSenderDomains=["bad.example"])
        )
        assert objects_of(invoke(pool, "Get-HostedContentFilterPolicy"))[0]["BlockedSenderDomains"] == ["bad.example"]
        too_many = errors_of(
            invoke(pool, "Set-HostedOutboundSpamFilterPolicy", Identity="Default", RecipientLimitExternalPerHour=20000)
        )
        assert too_many == [
            "The value of property 'RecipientLimitExternalPerHour' must be between 0 and 10000, inclusive. "
            "The value entered was 20000."
        ]
        bulk = errors_of(invoke(pool, "Set-HostedContentFilterPolicy", Identity="Default", BulkThreshold=0))
        assert "between 1 and 9" in bulk[0]
        assert not errors_of(
            invoke(
                pool, "Set-AntiPhishPolicy", Identity="Office365 AntiPhish Default", EnableFirstContactSafetyTips=True
            )
        )
        assert objects_of(invoke(pool, "Get-AntiPhishPolicy"))[0]["EnableFirstContactSafetyTips"] is True
        assert not errors_of(invoke(pool, "Set-MalwareFilterPolicy", Identity="Default", ZapEnabled=False))
        assert objects_of(invoke(pool, "Get-MalwareFilterPolicy"))[0]["ZapEnabled"] is False
