"""Directory cmdlets: Get-Recipient, Get/Set-User, the MailContact cmdlets and Get-MailUser."""

from __future__ import annotations

from aobo.cmdlets.registry import Registry


def register(registry: Registry) -> None:
    """Add this module's cmdlets to ``registry``."""
