"""Distribution groups and their members, and Get-UnifiedGroup."""

from __future__ import annotations

from aobo.cmdlets.registry import Registry


def register(registry: Registry) -> None:
    """Add this module's cmdlets to ``registry``."""
