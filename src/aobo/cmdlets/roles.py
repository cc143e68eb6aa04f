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

from aobo.domain.entra import (
    EXCHANGE_ADMINISTRATOR,
    EXCHANGE_RECIPIENT_ADMINISTRATOR,
    GLOBAL_ADMINISTRATOR,
    GLOBAL_READER,
    HELPDESK_ADMINISTRATOR,
)
from aobo.domain.entra import SECURITY_READER as SECURITY_READER_ROLE

if TYPE_CHECKING:
    from aobo.cmdlets.registry import CmdletDefinition

ORGANIZATION_MANAGEMENT: Final = "Organization Management"
VIEW_ONLY_ORGANIZATION_MANAGEMENT: Final = "View-Only Organization Management"
RECIPIENT_MANAGEMENT: Final = "Recipient Management"
HELP_DESK: Final = "Help Desk"
SECURITY_READER: Final = "Security Reader"

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
    # Reads what security reviews need (policies, transport rules, message trace, audit), no recipients.
    SECURITY_READER: Grant(areas=frozenset({ORGANIZATION, MESSAGE_TRACKING, AUDIT}), writes=False),
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


#: Entra role → the Exchange role group it acts as, as Exchange Online maps directory roles.
ENTRA_ROLE_GROUPS: Final[dict[str, str]] = {
    GLOBAL_ADMINISTRATOR: ORGANIZATION_MANAGEMENT,
    EXCHANGE_ADMINISTRATOR: ORGANIZATION_MANAGEMENT,
    EXCHANGE_RECIPIENT_ADMINISTRATOR: RECIPIENT_MANAGEMENT,
    GLOBAL_READER: VIEW_ONLY_ORGANIZATION_MANAGEMENT,
    HELPDESK_ADMINISTRATOR: HELP_DESK,
    SECURITY_READER_ROLE: SECURITY_READER,
}


#: DAP partner groups → the Entra role they act as in a customer (what a token's ``wids`` says).
DAP_ENTRA_ROLES: Final[dict[str, str]] = {
    "adminagents": GLOBAL_ADMINISTRATOR,
    "helpdeskagents": HELPDESK_ADMINISTRATOR,
}

#: An own-tenant user's Exchange role group → the least Entra role that carries it.
_ENTRA_FOR_ROLE_GROUP: Final[dict[str, str]] = {
    ORGANIZATION_MANAGEMENT: EXCHANGE_ADMINISTRATOR,
    VIEW_ONLY_ORGANIZATION_MANAGEMENT: GLOBAL_READER,
    RECIPIENT_MANAGEMENT: EXCHANGE_RECIPIENT_ADMINISTRATOR,
    HELP_DESK: HELPDESK_ADMINISTRATOR,
    SECURITY_READER: SECURITY_READER_ROLE,
}


def entra_for_dap(partner_groups: Iterable[str]) -> frozenset[str]:
    """Entra role template ids a DAP agent holds in a customer tenant, from its partner-tenant groups."""
    return frozenset(DAP_ENTRA_ROLES[g.lower()] for g in partner_groups if g.lower() in DAP_ENTRA_ROLES)


def entra_for_role_groups(role_groups: Iterable[str]) -> frozenset[str]:
    """Entra role template ids matching a tenant user's own Exchange role groups."""
    return frozenset(_ENTRA_FOR_ROLE_GROUP[g] for g in role_groups if g in _ENTRA_FOR_ROLE_GROUP)


def roles_for_entra(role_ids: Iterable[str]) -> frozenset[str]:
    """Exchange role groups held through Entra roles (template ids)."""
    return frozenset(ENTRA_ROLE_GROUPS[r] for r in (i.lower() for i in role_ids) if r in ENTRA_ROLE_GROUPS)


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
