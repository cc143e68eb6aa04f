"""Protection baselines: anti-spam (inbound and outbound), anti-malware and anti-phishing policies."""

from __future__ import annotations

from aobo.cmdlets.registry import Registry


def register(registry: Registry) -> None:
    """Add this module's cmdlets to ``registry``."""
