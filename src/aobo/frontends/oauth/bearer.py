"""Bearer tokens presented to a front end: ``Authorization: Bearer <jwt>`` (REST) or a Basic password
``Bearer <jwt>`` (remote PowerShell with ``BasicAuthToOAuthConversion=true``).

:class:`BearerAuthenticator` turns a token and the tenant the request names into the one access
decision, :func:`aobo.cmdlets.access.open_scope`, taken again from the store on every request: a
token proves who the caller is, never what they may do, so a lock-out, RemotePowerShellEnabled
set to false or a removed relationship applies to tokens already issued. A token never grants
more than the store's decision: Entra roles it carries (``wids``) can only narrow a delegated scope.

Signature checks (RS256) cost about 50 µs; validated claims are remembered by the token's SHA-256
until the token expires, so a client calling in a loop pays it once.

Principals are dispatched on the token's identity type: delegated users (``idtyp`` absent or
``user``) here; app-only tokens (``idtyp: app``) go to :meth:`BearerAuthenticator._app_scope`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any

import jwt

from aobo.cmdlets.access import SessionScope, app_role_unsupported, open_app_scope, open_scope
from aobo.cmdlets.catalog import default_registry
from aobo.cmdlets.registry import Registry
from aobo.cmdlets.roles import allowed, roles_for_entra
from aobo.domain.models import Tenant, User
from aobo.domain.store import Store
from aobo.errors import AccessDenied
from aobo.frontends.oauth.keys import KeySet
from aobo.frontends.oauth.tokens import AUDIENCE, InvalidToken, validate_access_token

#: JWTs longer than this are refused unread (Entra's are 1.5-3 KB; headers are capped at 16 KiB).
MAX_TOKEN_LENGTH = 12 * 1024
CACHE_MAX = 10_000
TENANT_SECONDS = 10.0

#: ``error_description`` of the ``WWW-Authenticate`` header, by :attr:`InvalidToken.reason`.
DESCRIPTIONS: dict[str, str] = {
    "missing": "The request has no bearer access token.",
    "malformed": "The access token is not a well-formed JWT.",
    "signature": "The access token's signature is invalid.",
    "expired": "The access token has expired or is not yet valid.",
    "audience": f"The access token's audience is not {AUDIENCE}.",
    "tenant": "The access token was not issued for the organization named in the request.",
    "type": "The token is not an access token.",
    "user": "The user the access token was issued to no longer exists, or is locked out.",
    "app": "The application the access token was issued to no longer exists.",
}


class BearerRejected(Exception):
    """The token cannot authenticate the request (HTTP 401, ``error="invalid_token"``)."""

    def __init__(self, reason: str, description: str | None = None) -> None:
        self.reason = reason
        self.description = description or DESCRIPTIONS.get(reason, "The access token is invalid.")
        super().__init__(self.description)

    @property
    def www_authenticate(self) -> str:
        # Header-safe: the description may quote a tenant name taken from the URL.
        text = "".join(c if " " <= c <= "~" and c != '"' else "'" if c == '"' else "?" for c in self.description)
        return f'Bearer realm="", error="invalid_token", error_description="{text}"'


def parse_bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None if absent or another scheme."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def bearer_in_password(password: str) -> str | None:
    """The token of a Basic password ``Bearer <token>`` (BasicAuthToOAuthConversion), else None."""
    return parse_bearer(password)


def unverified_tenant(token: str) -> str | None:
    """The ``tid`` a token claims, read without checking it: only to choose the tenant whose
    validation (signature, issuer, ``tid``) then decides."""
    try:
        tid = jwt.decode(token, options={"verify_signature": False}).get("tid")
    except jwt.InvalidTokenError:
        return None
    return tid if isinstance(tid, str) and tid else None


class TenantCache:
    """Tenants by name or id, remembered a few seconds (clients call in bursts). Only tenants are
    kept, for their ids and names: the access decision (user, relationships) is read from the store
    on every request."""

    def __init__(self, store: Store, *, seconds: float = TENANT_SECONDS, size: int = 4096) -> None:
        self.store = store
        self.seconds = seconds
        self.size = size
        self._hits: dict[object, tuple[float, Tenant]] = {}

    def _get(self, key: object, load: Callable[[], Tenant | None]) -> Tenant | None:
        now = time.monotonic()
        hit = self._hits.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        tenant = load()
        if tenant is not None:
            if len(self._hits) >= self.size:
                self._hits.clear()
            self._hits[key] = (now + self.seconds, tenant)
        return tenant

    def named(self, name: str) -> Tenant | None:
        """The tenant a URL or token names (any domain, or its GUID); None if unknown."""
        return self._get(name.lower(), lambda: self.store.resolve_tenant(name)) if name else None

    def by_id(self, tenant_id: int) -> Tenant:
        found = self._get(tenant_id, lambda: self.store.get_tenant(tenant_id))
        assert found is not None  # get_tenant raises for an unknown id
        return found


class BearerAuthenticator:
    """Validates tokens with the service's signing keys and opens the caller's scope in a tenant."""

    def __init__(
        self,
        store: Store,
        keys: KeySet,
        *,
        registry: Registry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.keys = keys
        self._registry = registry
        self._narrowing: dict[tuple[frozenset[str], frozenset[str]], frozenset[str]] = {}
        self._clock = clock
        self._cache: dict[bytes, tuple[float, dict[str, Any]]] = {}
        self.tenants = TenantCache(store)
        self._lock = threading.Lock()

    def claims(self, token: str, tenant: Tenant) -> dict[str, Any]:
        """The claims of a valid access token for ``tenant``, else :class:`BearerRejected`."""
        if not token:
            raise BearerRejected("missing")
        if len(token) > MAX_TOKEN_LENGTH:
            raise BearerRejected("malformed", "The access token is too long.")
        key = hashlib.sha256(f"{tenant.guid}\0{token}".encode()).digest()
        now = self._clock()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            claims = validate_access_token(token, self.keys, tenant_guid=tenant.guid)
        except InvalidToken as exc:
            raise BearerRejected(exc.reason) from None
        with self._lock:
            if len(self._cache) >= CACHE_MAX:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
                if len(self._cache) >= CACHE_MAX:
                    self._cache.clear()
            # Expiry without the validation leeway: a cached token never outlives its exp.
            self._cache[key] = (float(claims["exp"]), claims)
        return claims

    def scope(self, token: str, tenant: Tenant | None, *, remote_powershell: bool = True) -> SessionScope:
        """The caller's scope in ``tenant``: :class:`BearerRejected` (401) for a token that does not
        authenticate, :class:`AccessDenied` (403) for a caller without access. Blocking (store reads).

        ``tenant`` is None for an organization the service does not know: the token is then checked
        against the tenant it claims, and refused exactly as a valid token for another, known
        organization is, so nobody without a valid token can tell which tenants exist."""
        if tenant is None:
            claimed = unverified_tenant(token)
            issued_for = self.tenants.named(claimed) if claimed else None
            if issued_for is None:
                raise BearerRejected("malformed" if claimed is None else "tenant")
            self.claims(token, issued_for)
            raise BearerRejected("tenant")
        claims = self.claims(token, tenant)
        if str(claims.get("idtyp", "user")).lower() == "app":
            return self._app_scope(claims, tenant)
        return self._user_scope(claims, tenant, remote_powershell=remote_powershell)

    def user(self, token: str, tenant: Tenant) -> User:
        """The signed-in user of a delegated token for ``tenant`` (no access decision: the caller
        takes it, as the remote PowerShell endpoint does when it opens a session)."""
        claims = self.claims(token, tenant)
        if str(claims.get("idtyp", "user")).lower() == "app":
            raise BearerRejected(
                "app", "App-only access tokens open no remote PowerShell session here; use the REST API."
            )
        return self._user_of(claims)

    def _user_of(self, claims: dict[str, Any]) -> User:
        # Re-read every request: the account may have been locked or removed since the token was issued.
        user = self.store.find_user(str(claims.get("upn", "")))
        if user is None or str(user.guid).lower() != str(claims.get("oid", "")).lower() or user.locked_out:
            raise BearerRejected("user")
        return user

    def _user_scope(self, claims: dict[str, Any], tenant: Tenant, *, remote_powershell: bool) -> SessionScope:
        user = self._user_of(claims)
        scope = open_scope(self.store, user, tenant, remote_powershell=remote_powershell, tenant_of=self.tenants.by_id)
        wids = claims.get("wids")
        if isinstance(wids, list) and scope.tenant.id != scope.caller_tenant.id:
            # A delegated token names the Entra roles granted in the customer: never more than those,
            # and never more than the store's decision.
            roles = self._narrowed(scope.roles, roles_for_entra(str(w) for w in wids))
            if not roles:
                raise AccessDenied(
                    f'Access is denied. The roles in the access token of "{user.user_principal_name}" grant no '
                    f"Exchange management role in '{tenant.initial_domain}'."
                )
            held = scope.entra_roles & frozenset(str(w).lower() for w in wids)
            scope = SessionScope(scope.caller, scope.caller_tenant, scope.tenant, roles, held)
        return scope

    def _narrowed(self, store_roles: frozenset[str], token_roles: frozenset[str]) -> frozenset[str]:
        """The token's role groups that the store's decision covers: each one whose every cmdlet the
        store's roles allow too (View-Only Organization Management under Organization Management)."""
        key = (store_roles, token_roles)
        cached = self._narrowing.get(key)
        if cached is None:
            if self._registry is None:
                self._registry = default_registry()
            definitions = list(self._registry)
            cached = frozenset(
                r
                for r in token_roles
                if r in store_roles or all(allowed(d, store_roles) for d in definitions if allowed(d, frozenset({r})))
            )
            self._narrowing[key] = cached  # a handful of role-group combinations exist
        return cached

    def _app_scope(self, claims: dict[str, Any], tenant: Tenant) -> SessionScope:
        """App-only tokens: the application and its roles in ``tenant`` now (``access.open_app_scope``),
        never more than the directory roles the token names."""
        app = self.store.apps.get(str(claims.get("appid", "")))
        if app is None or str(app.object_id).lower() != str(claims.get("oid", "")).lower():
            raise BearerRejected("app")
        scope = open_app_scope(self.store, app, tenant.initial_domain)
        wids = frozenset(str(w).lower() for w in claims.get("wids") or ())
        roles = scope.roles & roles_for_entra(wids)
        if not roles:
            raise AccessDenied(app_role_unsupported(app))
        return SessionScope(scope.caller, scope.caller_tenant, scope.tenant, roles, scope.entra_roles & wids)
