"""Organisation and transport: OrganizationConfig, AcceptedDomain, RemoteDomain, TransportConfig and transport rules."""

from __future__ import annotations

from aobo.cmdlets.registry import Registry


def register(registry: Registry) -> None:
    """Add this module's cmdlets to ``registry``."""
