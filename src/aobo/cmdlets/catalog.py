"""The cmdlets aobo serves, registered explicitly in one place."""

from __future__ import annotations

from aobo.cmdlets.builtin import register_builtins
from aobo.cmdlets.exchange import (
    directory,
    groups,
    mailbox_settings,
    organization,
    permissions,
    protection,
    reports,
)
from aobo.cmdlets.exchange.mailbox import register_mailbox_cmdlets
from aobo.cmdlets.registry import Registry


def default_registry() -> Registry:
    """A new registry with the utility cmdlets and every Exchange cmdlet aobo implements."""
    registry = Registry()
    register_builtins(registry)
    register_mailbox_cmdlets(registry)
    for family in (mailbox_settings, permissions, directory, groups, organization, protection, reports):
        family.register(registry)
    return registry
