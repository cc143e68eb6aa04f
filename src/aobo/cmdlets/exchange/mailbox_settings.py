"""Per-mailbox settings and data: Get-MailboxStatistics, Get/Set-CASMailbox,
Get/Set-MailboxAutoReplyConfiguration and the InboxRule cmdlets."""

from __future__ import annotations

from aobo.cmdlets.registry import Registry


def register(registry: Registry) -> None:
    """Add this module's cmdlets to ``registry``."""
