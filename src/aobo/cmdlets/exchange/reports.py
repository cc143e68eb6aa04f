"""Reports and audit: Get-MessageTrace, Get-MessageTraceV2 and Search-AdminAuditLog."""

from __future__ import annotations

from aobo.cmdlets.registry import Registry


def register(registry: Registry) -> None:
    """Add this module's cmdlets to ``registry``."""
