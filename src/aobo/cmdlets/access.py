"""Who may open a session on which tenant, and with which Exchange role groups.

One decision for every front end: the caller acts in its own tenant, or in a customer's tenant
through an active partner relationship and an agent group. Every refusal for another tenant has
the same text, so a caller cannot probe which tenants exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from aobo.cmdlets.roles import EXCHANGE_ROLE_GROUPS, roles_for_dap
from aobo.domain.models import Tenant, User
from aobo.domain.store import Store
from aobo.errors import AccessDenied


class RemotePowerShellDisabled(AccessDenied):
    """The account has RemotePowerShellEnabled set to false."""


@dataclass(frozen=True, slots=True)
class SessionScope:
    caller: User
    caller_tenant: Tenant
    tenant: Tenant
    roles: frozenset[str]


def _denied(user: User, org: str) -> AccessDenied:
    return AccessDenied(
        f'Access is denied. The user "{user.user_principal_name}" can\'t act on behalf of the organization '
        f"'{org}': there is no active delegated administration relationship that grants access to it."
    )


def authz_failure(message: str) -> str:
    """Exchange's server-side prefix for authorisation failures."""
    return f"[AuthZRequestId={uuid.uuid4()}][FailureCategory=AuthZ-AuthorizationException] {message}"


def open_scope(store: Store, user: User, delegated_org: str | None, *, remote_powershell: bool = True) -> SessionScope:
    """Decide the tenant and roles of a new session, or raise :class:`AccessDenied`."""
    if remote_powershell and not user.remote_powershell_enabled:
        raise RemotePowerShellDisabled(
            authz_failure(
                f'The user "{user.user_principal_name}" isn\'t allowed to use remote PowerShell: '
                "RemotePowerShellEnabled is False for this account. An administrator can allow it with "
                f"Set-User -Identity {user.user_principal_name} -RemotePowerShellEnabled $true."
            )
        )
    caller_tenant = store.get_tenant(user.tenant_id)
    org = (delegated_org or "").strip()
    if not org:
        return _own_scope(user, caller_tenant)
    tenant = store.resolve_tenant(org)
    if tenant is None:
        raise _denied(user, org)
    if tenant.id == caller_tenant.id:
        return _own_scope(user, caller_tenant)
    if store.relationship(caller_tenant.id, tenant.id) is None:
        raise _denied(user, org)
    roles = roles_for_dap(user.role_groups)
    if not roles:
        raise _denied(user, org)
    return SessionScope(user, caller_tenant, tenant, roles)


def _own_scope(user: User, tenant: Tenant) -> SessionScope:
    # Partner agents administer their own tenant too: the agent groups map as they do for customers.
    roles = (frozenset(user.role_groups) & EXCHANGE_ROLE_GROUPS) | roles_for_dap(user.role_groups)
    if not roles:
        raise AccessDenied(
            authz_failure(
                f'The user "{tenant.initial_domain}\\{user.user_principal_name}" isn\'t assigned to any '
                "management roles."
            )
        )
    return SessionScope(user, tenant, tenant, roles)
