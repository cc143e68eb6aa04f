"""Who may run what: the one table mapping Exchange role groups to cmdlets.

The pipeline (to refuse a cmdlet) and the registry (to trim what Get-Command and Import-PSSession
see) both ask :func:`allowed`, so the visible surface and the runnable surface cannot drift apart.

A grant names the cmdlet *areas* a role group covers (see ``CmdletDefinition.area``), whether it
includes cmdlets that write, and any single cmdlets added on top. ``builtin`` cmdlets (Get-Command,
Select-Object, ...) are open to every caller: Import-PSSession and ``Invoke-Command`` need them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from aobo.cmdlets.registry import CmdletDefinition

ORGANIZATION_MANAGEMENT: Final = "Organization Management"
VIEW_ONLY_ORGANIZATION_MANAGEMENT: Final = "View-Only Organization Management"
RECIPIENT_MANAGEMENT: Final = "Recipient Management"
HELP_DESK: Final = "Help Desk"

# Cmdlet areas (``CmdletDefinition.area``): what a role group is granted by.
BUILTIN: Final = "builtin"
#: Mailboxes, users, contacts, groups and their permissions.
RECIPIENT: Final = "recipient"
#: Tenant-wide configuration: organisation, transport, transport rules, protection policies.
ORGANIZATION: Final = "organization"
#: Message trace.
MESSAGE_TRACKING: Final = "message-tracking"
#: The admin audit log.
AUDIT: Final = "audit"

#: Areas every caller may use regardless of role.
OPEN_AREAS: Final = frozenset({BUILTIN})
ALL_AREAS: Final = frozenset({BUILTIN, RECIPIENT, ORGANIZATION, MESSAGE_TRACKING, AUDIT})

#: Exchange's "User Options" role: what Help Desk may change in a user's mailbox.
USER_OPTIONS: Final = frozenset(
    {
        "set-mailboxautoreplyconfiguration",
        "new-inboxrule",
        "set-inboxrule",
        "remove-inboxrule",
        "enable-inboxrule",
        "disable-inboxrule",
        "set-casmailbox",
        "set-user",
    }
)


@dataclass(frozen=True, slots=True)
class Grant:
    areas: frozenset[str]
    writes: bool
    #: Single cmdlets (lower-case names) granted beyond the areas, writes included.
    extra_cmdlets: frozenset[str] = frozenset()


#: The one table: which role group may run what. Modelled on Exchange Online's built-in groups:
#: Recipient Management holds Mail Recipients, Distribution Groups, Mail Recipient Creation and
#: Message Tracking; Help Desk holds View-Only Recipients and User Options; View-Only
#: Organization Management reads everything, audit log included.
ROLE_GROUPS: Final[dict[str, Grant]] = {
    ORGANIZATION_MANAGEMENT: Grant(areas=ALL_AREAS, writes=True),
    VIEW_ONLY_ORGANIZATION_MANAGEMENT: Grant(areas=ALL_AREAS, writes=False),
    RECIPIENT_MANAGEMENT: Grant(areas=frozenset({RECIPIENT, MESSAGE_TRACKING}), writes=True),
    HELP_DESK: Grant(areas=frozenset({RECIPIENT}), writes=False, extra_cmdlets=USER_OPTIONS),
}

#: Every role group the table knows: a tenant user's own groups are intersected with it.
EXCHANGE_ROLE_GROUPS: Final = frozenset(ROLE_GROUPS)

_ROLE_GROUPS_LOWER: Final = {name.lower(): grant for name, grant in ROLE_GROUPS.items()}

#: DAP partner groups (in the partner tenant) → the role group they act as in a customer tenant.
DAP_GROUPS: Final[dict[str, str]] = {
    "adminagents": ORGANIZATION_MANAGEMENT,
    "helpdeskagents": HELP_DESK,
}


def roles_for_dap(partner_groups: Iterable[str]) -> frozenset[str]:
    """Role groups a partner agent holds in a customer tenant, from its partner-tenant groups."""
    return frozenset(DAP_GROUPS[g.lower()] for g in partner_groups if g.lower() in DAP_GROUPS)


def grants(roles: Iterable[str]) -> list[Grant]:
    return [g for r in roles if (g := _ROLE_GROUPS_LOWER.get(r.lower())) is not None]


def allowed(definition: CmdletDefinition, roles: Iterable[str]) -> bool:
    """May a caller holding ``roles`` run ``definition``?"""
    if definition.area in OPEN_AREAS:
        return True
    name = definition.name.lower()
    for grant in grants(roles):
        if name in grant.extra_cmdlets:
            return True
        if definition.area in grant.areas and (grant.writes or not definition.writes):
            return True
    return False
