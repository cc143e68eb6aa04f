"""Organisation and transport cmdlets on a real store: OrganizationConfig, AcceptedDomain, RemoteDomain,
TransportConfig and transport rules (priorities, descriptions, validation)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aobo.cmdlets.catalog import default_registry
from aobo.cmdlets.context import CmdletContext
from aobo.cmdlets.pipeline import CommandInvocation, run_pipeline
from aobo.cmdlets.results import CmdletError, ErrorRecord, ExchangeObject, InformationalRecord, WarningRecord
from aobo.domain.schema import config_objects

REGISTRY = default_registry()


def run(ctx: CmdletContext, name: str, **params: Any) -> list[Any]:
    return list(run_pipeline(ctx, REGISTRY, [CommandInvocation(name, list(params.items()))]))


def objects(out: list[Any]) -> list[ExchangeObject]:
    return [o for o in out if isinstance(o, ExchangeObject)]


def errors(out: list[Any]) -> list[str]:
    return [o.message for o in out if isinstance(o, ErrorRecord)]


def warnings(out: list[Any]) -> list[str]:
    return [o.message for o in out if isinstance(o, WarningRecord)]


def config_rows(store: Any) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(config_objects)).scalar_one())


@pytest.fixture
def contoso(store: Any, partner_ctx: Callable[..., CmdletContext]) -> CmdletContext:
    return partner_ctx(store, "admin", "contoso")


@pytest.fixture
def unseeded(store: Any, partner_ctx: Callable[..., CmdletContext]) -> CmdletContext:
    """An admin context in a tenant created without any seeded content."""
    admin = partner_ctx(store, "admin", "contoso")
    tenant = store.create_tenant("unseeded", guid=uuid.uuid5(uuid.NAMESPACE_DNS, "unseeded"))
    return CmdletContext(
        store=store, caller=admin.caller, caller_tenant=admin.caller_tenant, tenant=tenant, roles=admin.roles
    )


# --- reads -----------------------------------------------------------------------------------------


def test_organization_config_shows_exchange_online_defaults(contoso: CmdletContext) -> None:
    [org] = objects(run(contoso, "Get-OrganizationConfig"))
    assert org.type_names[0] == "Microsoft.Exchange.Data.Directory.Management.OrganizationConfig"
    assert org["Name"] == org["Identity"] == "contoso.onmicrosoft.com"
    assert org["DisplayName"] == "Contoso"
    assert org["OAuth2ClientProfileEnabled"] is True
    assert org["AuditDisabled"] is False
    assert org["IsDehydrated"] is False
    assert org["MailTipsLargeAudienceThreshold"] == 25


def test_reads_never_write_on_an_unseeded_tenant(unseeded: CmdletContext, store: Any) -> None:
    before = config_rows(store)
    for name in (
        "Get-OrganizationConfig",
        "Get-TransportConfig",
        "Get-RemoteDomain",
        "Get-AcceptedDomain",
        "Get-TransportRule",
        "Get-HostedContentFilterPolicy",
        "Get-HostedOutboundSpamFilterPolicy",
        "Get-MalwareFilterPolicy",
        "Get-AntiPhishPolicy",
    ):
        out = run(unseeded, name)
        assert not errors(out), name
    assert config_rows(store) == before
    [remote] = objects(run(unseeded, "Get-RemoteDomain"))
    assert (remote["Name"], remote["DomainName"], remote["AutoForwardEnabled"]) == ("Default", "*", True)
    assert objects(run(unseeded, "Get-TransportRule")) == []


def test_first_write_keeps_the_built_in_objects_guid_and_stores_only_changes(
    unseeded: CmdletContext, store: Any
) -> None:
    [before] = objects(run(unseeded, "Get-TransportConfig"))
    assert not run(unseeded, "Set-TransportConfig", SmtpClientAuthenticationDisabled=False, MaxSendSize="50MB")
    [after] = objects(run(unseeded, "Get-TransportConfig"))
    assert after["Guid"] == before["Guid"] and after["WhenCreated"] == before["WhenCreated"]
    assert after["MaxSendSize"] == "50 MB (52,428,800 bytes)"
    assert after["MaxReceiveSize"] == "36 MB (37,748,736 bytes)"
    [row] = store.config.list(unseeded.tenant.id, "TransportConfig")
    assert dict(row.props) == {"SmtpClientAuthenticationDisabled": False, "MaxSendSize": "50 MB (52,428,800 bytes)"}
    # Back to the default: the property leaves the stored props.
    run(unseeded, "Set-TransportConfig", SmtpClientAuthenticationDisabled=True)
    assert dict(store.config.list(unseeded.tenant.id, "TransportConfig")[0].props) == {
        "MaxSendSize": "50 MB (52,428,800 bytes)"
    }


def test_accepted_domains_follow_the_tenant(contoso: CmdletContext) -> None:
    domains = {d["DomainName"]: d for d in objects(run(contoso, "Get-AcceptedDomain"))}
    assert set(domains) == {"contoso.onmicrosoft.com", "contoso.com"}
    assert domains["contoso.com"]["Default"] is True and domains["contoso.onmicrosoft.com"]["Default"] is False
    assert domains["contoso.onmicrosoft.com"]["InitialDomain"] is True
    assert all(d["DomainType"] == "Authoritative" for d in domains.values())
    assert errors(run(contoso, "Get-AcceptedDomain", Identity="fabrikam.com"))


# --- writes ----------------------------------------------------------------------------------------


def test_set_organization_config_and_nothing_modified(contoso: CmdletContext) -> None:
    assert (
        run(contoso, "Set-OrganizationConfig", MailTipsExternalRecipientsTipsEnabled=True, AutoExpandingArchive=None)
        == []
    )
    [org] = objects(run(contoso, "Get-OrganizationConfig"))
    assert org["MailTipsExternalRecipientsTipsEnabled"] is True and org["AutoExpandingArchiveEnabled"] is True
    out = run(contoso, "Set-OrganizationConfig", MailTipsExternalRecipientsTipsEnabled=True)
    assert warnings(out) == [
        "The command completed successfully but no settings of 'contoso.onmicrosoft.com' have been modified."
    ]


def test_set_organization_config_validates_ranges(contoso: CmdletContext) -> None:
    out = run(contoso, "Set-OrganizationConfig", ActivityBasedAuthenticationTimeoutInterval="09:00:00")
    assert "must be between 00:05:00 and 08:00:00" in errors(out)[0]


def test_what_if_does_not_write(contoso: CmdletContext, store: Any) -> None:
    before = config_rows(store)
    out = run(contoso, "Set-TransportConfig", ExternalDelayDsnEnabled=False, WhatIf=None)
    assert any(isinstance(o, InformationalRecord) and o.message.startswith("What if: ") for o in out)
    assert config_rows(store) == before
    assert objects(run(contoso, "Get-TransportConfig"))[0]["ExternalDelayDsnEnabled"] is True


def test_remote_domains_new_set_remove(contoso: CmdletContext) -> None:
    [created] = objects(run(contoso, "New-RemoteDomain", Name="Partner", DomainName="partner.example"))
    assert created["DomainName"] == "partner.example" and created["AutoForwardEnabled"] is True
    assert errors(run(contoso, "New-RemoteDomain", Name="Other", DomainName="partner.example"))
    run(contoso, "Set-RemoteDomain", Identity="Partner", AutoForwardEnabled=False, AllowedOOFType="None")
    [partner] = objects(run(contoso, "Get-RemoteDomain", Identity="Partner"))
    assert (partner["AutoForwardEnabled"], partner["AllowedOOFType"]) == (False, "None")
    assert [d["Name"] for d in objects(run(contoso, "Get-RemoteDomain"))] == ["Default", "Partner"]
    assert errors(run(contoso, "Remove-RemoteDomain", Identity="Default", Confirm=False)) == [
        "The default remote domain can't be removed."
    ]
    run(contoso, "Remove-RemoteDomain", Identity="Partner", Confirm=False)
    assert "couldn't be found" in errors(run(contoso, "Get-RemoteDomain", Identity="Partner"))[0]


def test_transport_config_sizes(contoso: CmdletContext) -> None:
    [config] = objects(run(contoso, "Get-TransportConfig"))
    assert config["MaxSendSize"] == "35 MB (36,700,160 bytes)"
    assert config["MaxRecipientEnvelopeLimit"] == "Unlimited"
    assert "150 MB" in errors(run(contoso, "Set-TransportConfig", MaxReceiveSize="200MB"))[0]
    with pytest.raises(CmdletError, match="MaxSendSize"):
        run(contoso, "Set-TransportConfig", MaxSendSize="lots")


# --- transport rules -------------------------------------------------------------------------------


def test_seeded_contoso_rules_and_descriptions(contoso: CmdletContext) -> None:
    rules = objects(run(contoso, "Get-TransportRule"))
    assert [(r["Priority"], r["Name"]) for r in rules] == [
        (0, "Block executable attachments"),
        (1, "External sender warning"),
        (2, "Outbound disclaimer"),
    ]
    external = rules[1]
    assert external.type_names[0] == "Microsoft.Exchange.MessagingPolicies.Rules.Tasks.Rule"
    assert external["Description"] == (
        "If the message:\r\n\tIs received from 'Outside the organization'\r\n\tand Is sent to 'Inside the "
        "organization'\r\nTake the following actions:\r\n\tPrepend the subject with '[EXTERNAL]'\r\n"
    )
    assert (external["State"], external["Mode"], external["FromScope"]) == ("Enabled", "Enforce", "NotInOrganization")
    assert list(external["Actions"]) == ["Microsoft.Exchange.MessagingPolicies.Rules.Tasks.PrependSubjectAction"]


def test_new_rule_needs_an_action_and_a_free_name(contoso: CmdletContext) -> None:
    assert errors(run(contoso, "New-TransportRule", Name="Only a condition", SubjectContainsWords=["x"])) == [
        "A transport rule must have at least one action."
    ]
    assert errors(run(contoso, "New-TransportRule", Name="External sender warning", DeleteMessage=True)) == [
        "A transport rule with the name 'External sender warning' already exists."
    ]
    assert "between 0 and 3" in errors(run(contoso, "New-TransportRule", Name="Far", DeleteMessage=True, Priority=7))[0]
    assert "SetSCL" in errors(run(contoso, "New-TransportRule", Name="Scl", SetSCL=12))[0]


def test_new_rule_resolves_recipients_and_rejects_unknown_ones(contoso: CmdletContext) -> None:
    [rule] = objects(
        run(contoso, "New-TransportRule", Name="Copy CFO", From=["MeganB"], BlindCopyTo=["audit@partner.example"])
    )
    assert list(rule["From"]) == ["MeganB@contoso.com"]
    assert list(rule["BlindCopyTo"]) == ["audit@partner.example"]
    assert (
        "couldn't be found"
        in errors(run(contoso, "New-TransportRule", Name="X", From=["nobody"], DeleteMessage=True))[0]
    )


def test_set_enable_disable_and_remove_rule(contoso: CmdletContext) -> None:
    run(contoso, "Disable-TransportRule", Identity="External sender warning")
    assert objects(run(contoso, "Get-TransportRule", Identity="External sender warning"))[0]["State"] == "Disabled"
    assert [r["Name"] for r in objects(run(contoso, "Get-TransportRule", State="Disabled"))] == [
        "External sender warning"
    ]
    run(contoso, "Enable-TransportRule", Identity="External sender warning")
    run(
        contoso,
        "Set-TransportRule",
        Identity="External sender warning",
        PrependSubject="[EXT]",
        Mode="Audit",
        Name="Ext",
    )
    [rule] = objects(run(contoso, "Get-TransportRule", Identity="Ext"))
    assert (rule["PrependSubject"], rule["Mode"], rule["State"]) == ("[EXT]", "Audit", "Enabled")
    assert errors(run(contoso, "Set-TransportRule", Identity="Ext", PrependSubject=None)) == [
        "A transport rule must have at least one action."
    ]
    run(contoso, "Remove-TransportRule", Identity="Block executable attachments", Confirm=False)
    assert [(r["Priority"], r["Name"]) for r in objects(run(contoso, "Get-TransportRule"))] == [
        (0, "Ext"),
        (1, "Outbound disclaimer"),
    ]


_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("new"), st.integers(0, 8)),
        st.tuples(st.just("move"), st.integers(0, 8), st.integers(0, 8)),
        st.tuples(st.just("remove"), st.integers(0, 8)),
    ),
    max_size=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_OPS)
def test_priorities_stay_unique_and_follow_a_model(unseeded: CmdletContext, ops: list[tuple[Any, ...]]) -> None:
    for rule in objects(run(unseeded, "Get-TransportRule")):
        run(unseeded, "Remove-TransportRule", Identity=rule["Name"], Confirm=False)
    model: list[str] = []
    for serial, op in enumerate(ops):
        if op[0] == "new":
            at = min(op[1], len(model))
            name = f"rule {serial}"
            assert not errors(run(unseeded, "New-TransportRule", Name=name, DeleteMessage=True, Priority=at))
            model.insert(at, name)
        elif op[0] == "move" and model:
            name, to = model[op[1] % len(model)], min(op[2], len(model) - 1)
            assert not errors(run(unseeded, "Set-TransportRule", Identity=name, Priority=to))
            model.remove(name)
            model.insert(to, name)
        elif op[0] == "remove" and model:
            name = model.pop(op[1] % len(model))
            assert not errors(run(unseeded, "Remove-TransportRule", Identity=name, Confirm=False))
        rules = objects(run(unseeded, "Get-TransportRule"))
        assert [r["Name"] for r in rules] == model
        assert [r["Priority"] for r in rules] == list(range(len(model)))


def test_view_only_organization_management_reads_but_cannot_set(
    store: Any, tenant_ctx: Callable[..., CmdletContext]
) -> None:
    viewer = tenant_ctx(store, "contoso", ["View-Only Organization Management"])
    assert objects(run(viewer, "Get-OrganizationConfig"))
    with pytest.raises(CmdletError, match="isn't assigned to any management roles"):
        run(viewer, "Set-OrganizationConfig", AuditDisabled=True)


@pytest.mark.parametrize("role", ["Recipient Management", "Help Desk"])
def test_recipient_roles_cannot_read_organization_config(
    store: Any, tenant_ctx: Callable[..., CmdletContext], role: str
) -> None:
    with pytest.raises(CmdletError, match="isn't assigned to any management roles"):
        run(tenant_ctx(store, "contoso", [role]), "Get-OrganizationConfig")
