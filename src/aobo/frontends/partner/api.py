"""``GET /partner/v1/customers``: the caller's customer tenants, as JSON.

Authenticated exactly like the remote PowerShell endpoint (HTTP Basic checked by the shared
:class:`CredentialVerifier`, so its cache and the account lock-out apply), and answered only to
partner agents (AdminAgents or HelpdeskAgents): the list is what they may pass as DelegatedOrg.
Errors use the OData shape ``{"error": {"code": ..., "message": ...}}`` like Microsoft's APIs.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from aobo.domain.models import PARTNER_ROLE_GROUPS, Relationship, Tenant, User
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


def customer_json(tenant: Tenant, relationship: Relationship) -> dict[str, Any]:
    return {
        "tenantId": str(tenant.guid),
        "name": tenant.name,
        "defaultDomainName": tenant.default_domain,
        "initialDomainName": tenant.initial_domain,
        "relationship": relationship.kind,
        "state": relationship.state,
    }


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
        user = await self._authenticate(request)
        if user is None:
            return unauthorized()
        return await run_in_threadpool(self._answer, user)

    async def _authenticate(self, request: Request) -> User | None:
        creds = parse_basic(request.headers.get("authorization"))
        if creds is None:
            return None
        user = self.verifier.cached(creds)
        if user is None:
            try:
                user = await run_in_threadpool(self.verifier.verify, creds)
            except AuthenticationFailed:
                return None
        return user

    def _answer(self, cached: User) -> Response:
        # Re-read the account: a lock-out or a changed agent group applies at once, not after the cache.
        user = self.store.find_user(cached.user_principal_name)
        if user is None or user.locked_out:
            return unauthorized()
        if not user.role_groups & PARTNER_ROLE_GROUPS:
            return error_response(
                403,
                "Forbidden",
                f'The user "{user.user_principal_name}" is not a partner agent (AdminAgents or HelpdeskAgents) '
                "and has no customers to list.",
            )
        customers = self.store.customers_of(user.tenant_id)
        return JSONResponse({"value": [customer_json(t, r) for t, r in customers]}, headers=_NO_STORE)
