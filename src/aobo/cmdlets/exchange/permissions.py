"""Mailbox permissions (FullAccess), recipient permissions (SendAs) and mailbox folder permissions."""

from __future__ import annotations

from aobo.cmdlets.registry import Registry


def register(registry: Registry) -> None:
    """Add this module's cmdlets to ``registry``."""
