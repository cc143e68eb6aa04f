"""``GET /partner/v1/customers``: the caller's customer tenants, as JSON.

Authenticated exactly like the remote PowerShell endpoint (HTTP Basic checked by the shared
:class:`CredentialVerifier`, so its cache and the account lock-out apply), and answered only to
partner users who reach a customer: DAP agents (AdminAgents or HelpdeskAgents) see every DAP
customer, and members of a security group see the customers where an active GDAP relationship
assigns that group a role. The list is what they may pass as DelegatedOrg. Each entry keeps the
original keys (``relationship`` is "DAP" when a DAP relationship exists, else "GDAP") and adds
``relationshipKinds``, the Entra ``roles`` held there and the GDAP ``endDateTime`` (null under DAP
alone). Errors use the OData shape ``{"error": {"code": ..., "message": ...}}`` like Microsoft's APIs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from aobo.cmdlets.roles import entra_for_dap
from aobo.domain.entra import ENTRA_ROLES
from aobo.domain.models import PARTNER_ROLE_GROUPS, GdapRelationship, Relationship, Tenant, User
from aobo.domain.store import Store
from aobo.errors import AuthenticationFailed
from aobo.frontends.credentials import CredentialVerifier, parse_basic

CUSTOMERS_PATH = "/partner/v1/customers"
_NO_STORE = {"Cache-Control": "no-store"}


def is_customers_path(path: str) -> bool:
    """Paths are matched case-insensitively, with or without a trailing slash, as the endpoint's are."""
    return path.rstrip("/").lower() == CUSTOMERS_PATH


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers={**_NO_STORE, **(headers or {})}
    )


def unauthorized() -> JSONResponse:
    return error_response(
        401,
        "Unauthorized",
        "The user name or password is incorrect, or the account is locked.",
        {"WWW-Authenticate": 'Basic realm=""'},
    )


def graph_datetime(value: datetime | None) -> str | None:
    """Graph's form: ISO 8601 in UTC with a Z."""
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def customer_json(
    tenant: Tenant,
    dap: Relationship | None,
    entra_roles: frozenset[str] = frozenset(),
    gdap: list[GdapRelationship] | None = None,
) -> dict[str, Any]:
    kinds = (["DAP"] if dap is not None else []) + (["GDAP"] if gdap else [])
    ends = [r.end for r in gdap or () if r.end is not None]
    return {
        "tenantId": str(tenant.guid),
        "name": tenant.name,
        "defaultDomainName": tenant.default_domain,
        "initialDomainName": tenant.initial_domain,
        "relationship": kinds[0],
        "state": "active",
        "relationshipKinds": kinds,
        "roles": sorted(ENTRA_ROLES[r] for r in entra_roles if r in ENTRA_ROLES),
        # The GDAP access the caller holds lasts until the latest of its relationships ends.
        "endDateTime": graph_datetime(max(ends)) if ends else None,
    }


async def authenticate(verifier: CredentialVerifier, request: Request) -> User | None:
    """The Basic-authenticated caller, or None (the verifier's cache first; argon2 off the event loop)."""
    creds = parse_basic(request.headers.get("authorization"))
    if creds is None:
        return None
    user = verifier.cached(creds)
    if user is None:
        try:
            user = await run_in_threadpool(verifier.verify, creds)
        except AuthenticationFailed:
            return None
    return user


class CustomersEndpoint:
    """The route's handler; holds the store and the verifier it shares with the WS-Man endpoint."""

    def __init__(self, store: Store, verifier: CredentialVerifier) -> None:
        self.store = store
        self.verifier = verifier

    async def __call__(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return error_response(
                405, "MethodNotAllowed", f"{request.method} is not supported here; use GET.", {"Allow": "GET, HEAD"}
            )
        user = await authenticate(self.verifier, request)
        if user is None:
            return unauthorized()
        return await run_in_threadpool(self._answer, user)

    def _answer(self, cached: User) -> Response:
        # Re-read the account: a lock-out or a changed agent group applies at once, not after the cache.
        user = self.store.find_user(cached.user_principal_name)
        if user is None or user.locked_out:
            return unauthorized()
        agent = bool(user.role_groups & PARTNER_ROLE_GROUPS)
        dap = {t.id: (t, r) for t, r in self.store.customers_of(user.tenant_id)} if agent else {}
        gdap = {
            customer_id: (roles, relationships)
            for customer_id, (roles, relationships) in self.store.gdap.grants(user.tenant_id, user.role_groups).items()
            if roles
        }
        if not dap and not gdap and not agent:
            return error_response(
                403,
                "Forbidden",
                f'The user "{user.user_principal_name}" is not a partner agent (AdminAgents or HelpdeskAgents) '
                "nor in a security group with GDAP roles, and has no customers to list.",
            )
        tenants = {tid: t for tid, (t, _) in dap.items()}
        tenants |= {tid: self.store.get_tenant(tid) for tid in gdap if tid not in tenants}
        dap_roles = entra_for_dap(user.role_groups)
        value = []
        for tenant in sorted(tenants.values(), key=lambda t: t.initial_domain):
            relationship = dap[tenant.id][1] if tenant.id in dap else None
            roles, relationships = gdap.get(tenant.id, (frozenset(), []))
            held = (dap_roles if relationship is not None else frozenset()) | roles
            value.append(customer_json(tenant, relationship, held, relationships))
        return JSONResponse({"value": value}, headers=_NO_STORE)
