"""Protection policies on a real store: Exchange Online's defaults, seeded baselines, Set- validation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aobo.cmdlets.catalog import default_registry
from aobo.cmdlets.context import CmdletContext
from aobo.cmdlets.pipeline import CommandInvocation, run_pipeline
from aobo.cmdlets.results import CmdletError, ErrorRecord, ExchangeObject, WarningRecord

REGISTRY = default_registry()


def run(ctx: CmdletContext, name: str, **params: Any) -> list[Any]:
    return list(run_pipeline(ctx, REGISTRY, [CommandInvocation(name, list(params.items()))]))


def one(ctx: CmdletContext, name: str, **params: Any) -> ExchangeObject:
    [obj] = [o for o in run(ctx, name, **params) if isinstance(o, ExchangeObject)]
    return obj


def errors(out: list[Any]) -> list[str]:
    return [o.message for o in out if isinstance(o, ErrorRecord)]


@pytest.fixture
def ctx_of(store: Any, partner_ctx: Callable[..., CmdletContext]) -> Callable[[str], CmdletContext]:
    return lambda tenant: partner_ctx(store, "admin", tenant)


def test_default_policies_have_exchange_online_defaults(ctx_of: Callable[[str], CmdletContext]) -> None:
    contoso = ctx_of("contoso")
    spam = one(contoso, "Get-HostedContentFilterPolicy")
    assert spam.type_names[0] == "Microsoft.Exchange.Data.Directory.SystemConfiguration.HostedContentFilterPolicy"
    assert (spam["Identity"], spam["IsDefault"], spam["BulkThreshold"]) == ("Default", True, 7)
    assert (spam["SpamAction"], spam["HighConfidenceSpamAction"], spam["HighConfidencePhishAction"]) == (
        "MoveToJmf",
        "MoveToJmf",
        "Quarantine",
    )
    assert spam["QuarantineRetentionPeriod"] == 15 and spam["MarkAsSpamBulkMail"] == "On"
    assert spam["MarkAsSpamFramesInHtml"] == "Off" and list(spam["AllowedSenders"]) == []
    outbound = one(contoso, "Get-HostedOutboundSpamFilterPolicy", Identity="Default")
    assert (outbound["RecipientLimitExternalPerHour"], outbound["RecipientLimitPerDay"]) == (0, 0)
    assert (outbound["ActionWhenThresholdReached"], outbound["AutoForwardingMode"]) == (
        "BlockUserForToday",
        "Automatic",
    )
    malware = one(contoso, "Get-MalwareFilterPolicy")
    assert malware["EnableFileFilter"] is True and malware["FileTypeAction"] == "Reject"
    assert "exe" in list(malware["FileTypes"]) and malware["QuarantineTag"] == "AdminOnlyAccessPolicy"
    phish = one(contoso, "Get-AntiPhishPolicy")
    assert phish["Name"] == "Office365 AntiPhish Default"
    assert (phish["PhishThresholdLevel"], phish["EnableSpoofIntelligence"], phish["AuthenticationFailAction"]) == (
        1,
        True,
        "MoveToJmf",
    )


def test_seeded_baselines_differ_per_customer(ctx_of: Callable[[str], CmdletContext]) -> None:
    assert one(ctx_of("fabrikam"), "Get-HostedOutboundSpamFilterPolicy")["AutoForwardingMode"] == "On"
    tailspin = one(ctx_of("tailspintoys"), "Get-HostedContentFilterPolicy")
    assert tailspin["BulkThreshold"] == 9
    assert list(tailspin["AllowedSenderDomains"]) == ["newsletters.example.com"]
    assert one(ctx_of("contoso"), "Get-HostedOutboundSpamFilterPolicy")["AutoForwardingMode"] == "Automatic"


@pytest.mark.parametrize(
    ("cmdlet", "identity", "parameter", "value", "text"),
    [
        ("Set-HostedContentFilterPolicy", "Default", "BulkThreshold", 10, "between 1 and 9"),
        ("Set-HostedContentFilterPolicy", "Default", "QuarantineRetentionPeriod", 31, "between 1 and 30"),
        (
            "Set-HostedOutboundSpamFilterPolicy",
            "Default",
            "RecipientLimitExternalPerHour",
            10001,
            "between 0 and 10000",
        ),
        ("Set-AntiPhishPolicy", "Office365 AntiPhish Default", "PhishThresholdLevel", 5, "between 1 and 4"),
    ],
)
def test_ranges_are_enforced(
    ctx_of: Callable[[str], CmdletContext], cmdlet: str, identity: str, parameter: str, value: int, text: str
) -> None:
    contoso = ctx_of("contoso")
    [message] = errors(run(contoso, cmdlet, Identity=identity, **{parameter: value}))
    assert message == (
        f"The value of property '{parameter}' must be between {text.split()[1]} and {text.split()[3]}, inclusive. "
        f"The value entered was {value}."
    )


def test_set_policy_writes_and_multi_valued_updates(ctx_of: Callable[[str], CmdletContext], store: Any) -> None:
    contoso = ctx_of("contoso")
    run(
        contoso,
        "Set-HostedContentFilterPolicy",
        Identity="Default",
        BlockedSenders=["spam@bad.example"],
        BulkThreshold=5,
    )
    run(contoso, "Set-HostedContentFilterPolicy", Identity="Default", BlockedSenders={"Add": ["x@bad.example"]})
    policy = one(contoso, "Get-HostedContentFilterPolicy")
    assert list(policy["BlockedSenders"]) == ["spam@bad.example", "x@bad.example"]
    run(contoso, "Set-HostedContentFilterPolicy", Identity="Default", BlockedSenders={"Remove": ["spam@bad.example"]})
    assert list(one(contoso, "Get-HostedContentFilterPolicy")["BlockedSenders"]) == ["x@bad.example"]
    [row] = store.config.list(contoso.tenant.id, "HostedContentFilterPolicy")
    assert dict(row.props) == {"BlockedSenders": ["x@bad.example"], "BulkThreshold": 5}
    with pytest.raises(CmdletError, match="isn't a valid SMTP address"):
        run(contoso, "Set-HostedContentFilterPolicy", Identity="Default", AllowedSenders=["not an address"])


def test_set_outbound_policy_enum_and_nothing_modified(ctx_of: Callable[[str], CmdletContext]) -> None:
    contoso = ctx_of("contoso")
    assert run(contoso, "Set-HostedOutboundSpamFilterPolicy", Identity="Default", AutoForwardingMode="off") == []
    assert one(contoso, "Get-HostedOutboundSpamFilterPolicy")["AutoForwardingMode"] == "Off"
    out = run(contoso, "Set-HostedOutboundSpamFilterPolicy", Identity="Default", AutoForwardingMode="Off")
    assert out == [WarningRecord("The command completed successfully but no settings of 'Default' have been modified.")]
    with pytest.raises(CmdletError, match="Automatic, Off, On"):
        run(contoso, "Set-HostedOutboundSpamFilterPolicy", Identity="Default", AutoForwardingMode="Sometimes")


def test_malware_file_types_and_unknown_policy(ctx_of: Callable[[str], CmdletContext]) -> None:
    contoso = ctx_of("contoso")
    run(contoso, "Set-MalwareFilterPolicy", Identity="Default", FileTypes=[".EXE", "js"], FileTypeAction="Quarantine")
    malware = one(contoso, "Get-MalwareFilterPolicy", Identity="Default")
    assert (list(malware["FileTypes"]), malware["FileTypeAction"]) == (["exe", "js"], "Quarantine")
    assert (
        "couldn't be found" in errors(run(contoso, "Set-MalwareFilterPolicy", Identity="Strict", ZapEnabled=False))[0]
    )
