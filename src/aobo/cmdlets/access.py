"""Who may open a session on which tenant, and with which Exchange role groups.

One decision for every front end: the caller acts in its own tenant, or in a customer's tenant
through an active partner relationship: DAP (an agent group) and/or GDAP (the Entra roles its
security groups were assigned in active relationships). The roles of both kinds add up. Every
refusal for a tenant the caller has no relationship with has the same text, so a caller cannot
probe which tenants exist.

Applications (app-only access, client credentials) get their scope from :func:`open_app_scope`:
the Entra roles they hold in the tenant. Their caller is an :func:`app_principal`, a ``User`` that
names the app and can never sign in with a password.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from aobo.cmdlets.roles import (
    EXCHANGE_ROLE_GROUPS,
    entra_for_dap,
    entra_for_role_groups,
    roles_for_dap,
    roles_for_entra,
)
from aobo.domain.entra import ENTRA_ROLES
from aobo.domain.models import AppRegistration, Tenant, User
from aobo.domain.store import Store
from aobo.errors import AccessDenied


class RemotePowerShellDisabled(AccessDenied):
    """The account has RemotePowerShellEnabled set to false."""


class NoManagementRoles(AccessDenied):
    """The account reaches the tenant but holds no Exchange role there (Exchange's own AuthZ text)."""


@dataclass(frozen=True, slots=True)
class SessionScope:
    caller: User
    caller_tenant: Tenant
    tenant: Tenant
    #: Exchange role groups: what the role table lets the session run.
    roles: frozenset[str]
    #: Entra role template ids held in ``tenant`` (a token's ``wids``).
    entra_roles: frozenset[str] = frozenset()


def _denied(user: User, org: str) -> AccessDenied:
    return AccessDenied(
        f'Access is denied. The user "{user.user_principal_name}" can\'t act on behalf of the organization '
        f"'{org}': there is no active delegated administration relationship that grants access to it."
    )


def authz_failure(message: str) -> str:
    """Exchange's server-side prefix for authorisation failures."""
    return f"[AuthZRequestId={uuid.uuid4()}][FailureCategory=AuthZ-AuthorizationException] {message}"


def open_scope(
    store: Store,
    user: User,
    delegated_org: str | Tenant | None,
    *,
    remote_powershell: bool = True,
    tenant_of: Callable[[int], Tenant] | None = None,
) -> SessionScope:
    """Decide the tenant and roles of a new session, or raise :class:`AccessDenied`.

    ``delegated_org`` is a name (``DelegatedOrg``), or the tenant when the caller resolved it already;
    ``tenant_of`` may supply tenants by id from a cache (the caller's tenant is needed for its name
    only; the decision reads the relationships from the store each time)."""
    if remote_powershell and not user.remote_powershell_enabled:
        raise RemotePowerShellDisabled(
            authz_failure(
                f'The user "{user.user_principal_name}" isn\'t allowed to use remote PowerShell: '
                "RemotePowerShellEnabled is False for this account. An administrator can allow it with "
                f"Set-User -Identity {user.user_principal_name} -RemotePowerShellEnabled $true."
            )
        )
    caller_tenant = (tenant_of or store.get_tenant)(user.tenant_id)
    if isinstance(delegated_org, Tenant):
        tenant: Tenant | None = delegated_org
        org = delegated_org.initial_domain
    else:
        org = (delegated_org or "").strip()
        if not org:
            return _own_scope(user, caller_tenant)
        tenant = store.resolve_tenant(org)
    if tenant is None:
        raise _denied(user, org)
    if tenant.id == caller_tenant.id:
        return _own_scope(user, caller_tenant)
    dap = store.relationship(caller_tenant.id, tenant.id) is not None
    gdap = store.gdap.roles_in(caller_tenant.id, tenant.id, user.role_groups)
    if not dap and gdap is None:
        raise _denied(user, org)
    entra = (entra_for_dap(user.role_groups) if dap else frozenset()) | (gdap or frozenset())
    entra &= frozenset(ENTRA_ROLES)
    roles = (roles_for_dap(user.role_groups) if dap else frozenset()) | roles_for_entra(gdap or ())
    if not roles:
        if gdap is None:
            raise _denied(user, org)
        # A GDAP relationship exists, but none of the user's groups holds a role through it.
        raise NoManagementRoles(_no_roles_text(caller_tenant, user))
    return SessionScope(user, caller_tenant, tenant, roles, entra)


def _no_roles_text(tenant: Tenant, user: User) -> str:
    return authz_failure(
        f'The user "{tenant.initial_domain}\\{user.user_principal_name}" isn\'t assigned to any management roles.'
    )


def _own_scope(user: User, tenant: Tenant) -> SessionScope:
    # Partner agents administer their own tenant too: the agent groups map as they do for customers.
    own = frozenset(user.role_groups) & EXCHANGE_ROLE_GROUPS
    roles = own | roles_for_dap(user.role_groups)
    if not roles:
        raise NoManagementRoles(_no_roles_text(tenant, user))
    entra = entra_for_role_groups(own) | entra_for_dap(user.role_groups)
    return SessionScope(user, tenant, tenant, roles, entra)


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


def app_role_unsupported(app: AppRegistration) -> str:
    return authz_failure(
        f"The role assigned to application {app.app_id} isn't supported in this scenario. Please check online "
        "documentation for assigning correct Directory Roles to Azure AD Application for EXO App-Only "
        "Authentication."
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
        raise AccessDenied(app_role_unsupported(app))
    return SessionScope(principal, home, tenant, roles, entra_roles=assigned)
