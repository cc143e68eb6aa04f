"""Who may open a session on which tenant, and with which Exchange role groups.

One decision for every front end: the caller acts in its own tenant, or in a customer's tenant
through an active partner relationship and an agent group. Every refusal for another tenant has
the same text, so a caller cannot probe which tenants exist.

Applications (app-only access, client credentials) get their scope from :func:`open_app_scope`:
the Entra roles they hold in the tenant. Their caller is an :func:`app_principal`, a ``User`` that
names the app and can never sign in with a password.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from aobo.cmdlets.roles import EXCHANGE_ROLE_GROUPS, roles_for_dap, roles_for_entra
from aobo.domain.models import AppRegistration, Tenant, User
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
    #: The Entra role template ids the roles come from (app-only access); empty for DAP and own-tenant users.
    entra_roles: frozenset[str] = frozenset()


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


def app_principal(app: AppRegistration) -> User:
    """The ``User`` an application acts as: its id is negative (no account row has it, so it can
    never authenticate with a password and never shares a session cap with an account), its GUID
    is the app's object id and its user principal name the app id, which is how Exchange names an
    application in audit records and errors; the display name is the app's."""
    return User(
        id=-app.id,
        tenant_id=app.tenant_id,
        guid=app.object_id,
        user_principal_name=str(app.app_id),
        display_name=app.display_name,
        remote_powershell_enabled=True,
        role_groups=frozenset(),
        locked_out=False,
    )


def _app_role_unsupported(app: AppRegistration) -> AccessDenied:
    return AccessDenied(
        authz_failure(
            f"The role assigned to application {app.app_id} isn't supported in this scenario. Please check online "
            "documentation for assigning correct Directory Roles to Azure AD Application for EXO App-Only "
            "Authentication."
        )
    )


def open_app_scope(store: Store, app: AppRegistration, tenant_ref: str | None) -> SessionScope:
    """The scope of an application in ``tenant_ref`` (its home tenant when empty): the tenant must be
    its home or one it was consented into, and its Entra roles there must map to role groups."""
    principal = app_principal(app)
    home = store.get_tenant(app.tenant_id)
    ref = (tenant_ref or "").strip()
    tenant = home if not ref else store.resolve_tenant(ref)
    if tenant is None:
        raise _denied(principal, ref)
    assigned = store.apps.roles_in(app, tenant.id)
    if assigned is None:
        raise _denied(principal, ref)
    roles = roles_for_entra(assigned)
    if not roles:
        raise _app_role_unsupported(app)
    return SessionScope(principal, home, tenant, roles, entra_roles=assigned)
