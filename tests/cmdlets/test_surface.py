"""The command surface partners rely on is all there, with Exchange's shape."""

from __future__ import annotations

import pytest

from aobo.cmdlets import roles
from aobo.cmdlets.catalog import default_registry
from aobo.cmdlets.parameters import StringType

REGISTRY = default_registry()

#: Every cmdlet the partner command surface promises, family by family.
SURFACE = {
    "mailboxes": [
        "Get-Mailbox",
        "Set-Mailbox",
        "New-Mailbox",
        "Remove-Mailbox",
        "Get-MailboxStatistics",
        "Get-CASMailbox",
        "Set-CASMailbox",
        "Get-MailboxAutoReplyConfiguration",
        "Set-MailboxAutoReplyConfiguration",
        "Get-InboxRule",
        "New-InboxRule",
        "Set-InboxRule",
        "Remove-InboxRule",
    ],
    "permissions": [
        "Get-MailboxPermission",
        "Add-MailboxPermission",
        "Remove-MailboxPermission",
        "Get-RecipientPermission",
        "Add-RecipientPermission",
        "Remove-RecipientPermission",
        "Get-MailboxFolderPermission",
        "Add-MailboxFolderPermission",
        "Set-MailboxFolderPermission",
        "Remove-MailboxFolderPermission",
    ],
    "directory": [
        "Get-Recipient",
        "Get-User",
        "Set-User",
        "Get-MailContact",
        "New-MailContact",
        "Set-MailContact",
        "Remove-MailContact",
        "Get-MailUser",
    ],
    "groups": [
        "Get-DistributionGroup",
        "New-DistributionGroup",
        "Set-DistributionGroup",
        "Remove-DistributionGroup",
        "Get-DistributionGroupMember",
        "Add-DistributionGroupMember",
        "Remove-DistributionGroupMember",
        "Get-UnifiedGroup",
    ],
    "organization": [
        "Get-OrganizationConfig",
        "Set-OrganizationConfig",
        "Get-AcceptedDomain",
        "Get-RemoteDomain",
        "Set-RemoteDomain",
        "Get-TransportConfig",
        "Set-TransportConfig",
        "Get-TransportRule",
        "New-TransportRule",
        "Set-TransportRule",
        "Remove-TransportRule",
        "Enable-TransportRule",
        "Disable-TransportRule",
    ],
    "protection": [
        "Get-HostedContentFilterPolicy",
        "Set-HostedContentFilterPolicy",
        "Get-HostedOutboundSpamFilterPolicy",
        "Set-HostedOutboundSpamFilterPolicy",
        "Get-MalwareFilterPolicy",
        "Set-MalwareFilterPolicy",
        "Get-AntiPhishPolicy",
        "Set-AntiPhishPolicy",
    ],
    "reports": ["Get-MessageTrace", "Get-MessageTraceV2", "Search-AdminAuditLog"],
}

#: Get- cmdlets that take an OPATH -Filter in Exchange Online.
FILTERABLE = [
    "Get-Mailbox",
    "Get-CASMailbox",
    "Get-Recipient",
    "Get-User",
    "Get-MailContact",
    "Get-MailUser",
    "Get-DistributionGroup",
    "Get-UnifiedGroup",
]


@pytest.mark.parametrize("family", sorted(SURFACE))
def test_every_promised_cmdlet_is_registered(family: str) -> None:
    missing = [name for name in SURFACE[family] if name not in REGISTRY]
    assert not missing


@pytest.mark.parametrize("name", FILTERABLE)
def test_listing_cmdlets_take_a_filter(name: str) -> None:
    definition = REGISTRY.get(name)
    assert definition is not None
    parameter = definition.parameter("Filter")
    assert parameter is not None and isinstance(parameter.type, StringType)


def test_every_exchange_cmdlet_is_governed_by_the_role_table() -> None:
    for definition in REGISTRY:
        if definition.area == roles.BUILTIN:
            continue
        assert roles.allowed(definition, {roles.ORGANIZATION_MANAGEMENT}), definition.name
        readers = roles.allowed(definition, {roles.VIEW_ONLY_ORGANIZATION_MANAGEMENT})
        assert readers != definition.writes, definition.name
