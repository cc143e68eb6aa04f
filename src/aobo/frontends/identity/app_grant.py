"""The client-credentials grant: an application signs in as itself, with a client secret (form or
HTTP Basic client authentication) or a client assertion signed by a registered certificate, and
gets an app-only token for Exchange Online in its home tenant or a tenant it was consented into.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import unquote_plus, urlsplit

from aobo.domain.models import AppRegistration, Tenant
from aobo.domain.store import Store
from aobo.frontends.credentials import parse_basic
from aobo.frontends.identity.errors import EntraError, app_not_found, missing_parameter
from aobo.frontends.oauth.assertions import JWT_BEARER, InvalidAssertion, ReplayGuard, verify_client_assertion
from aobo.frontends.oauth.keys import KeySet
from aobo.frontends.oauth.tokens import AUDIENCE, issue_app_token, issuer_for

DEFAULT_SCOPE = f"{AUDIENCE}/.default"


@dataclass(frozen=True, slots=True)
class ClientAuth:
    client_id: str
    secret: str | None = field(repr=False)  # credentials: kept out of repr (logs, tracebacks)
    assertion: str | None = field(repr=False)


def client_auth(form: dict[str, str], authorization: str | None) -> ClientAuth:
    """The client's id and credential from the form, or from ``client_secret_basic``."""
    basic = parse_basic(authorization)
    if basic is not None:
        # RFC 6749 §2.3.1: both parts are form-urlencoded before the Basic encoding.
        client_id, secret = unquote_plus(basic.username), unquote_plus(basic.password)
        if form.get("client_id") and form["client_id"] != client_id:
            raise EntraError(
                401, "invalid_client", 900023, "The client_id in the body and the Authorization header differ."
            )
        return ClientAuth(client_id, secret, None)
    client_id = form.get("client_id", "")
    if not client_id:
        raise missing_parameter("client_id")
    assertion = form.get("client_assertion") or None
    if assertion is not None and form.get("client_assertion_type") != JWT_BEARER:
        raise EntraError(
            400,
            "invalid_request",
            50027,
            f"The client_assertion_type must be '{JWT_BEARER}'.",
        )
    return ClientAuth(client_id, form.get("client_secret") or None, assertion)


def check_scope(scope: str) -> None:
    """Client credentials take exactly the resource's ``/.default`` scope."""
    items = scope.split()
    if not items:
        raise missing_parameter("scope")
    for item in items:
        resource, _, name = item.rpartition("/")
        if name.lower() != ".default":
            raise EntraError(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {item} is not valid. Client credential flows must have a scope value "
                "with /.default suffixed to the resource identifier (application ID URI).",
            )
        if resource.lower().rstrip("/") != AUDIENCE:
            raise EntraError(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource or item} was not found in the tenant. This can happen "
                "if the application has not been installed by the administrator of the tenant.",
            )


class ClientCredentialsGrant:
    def __init__(self, store: Store, keys: KeySet, *, lifetime: int) -> None:
        self.store = store
        self.keys = keys
        self.lifetime = lifetime
        self.replay = ReplayGuard()

    def token(
        self, base: str, url_tenant: Tenant | None, tenant_name: str, form: dict[str, str], authorization: str | None
    ) -> dict[str, object]:
        """The token response body; raises :class:`EntraError`. Blocking (store, argon2)."""
        auth = client_auth(form, authorization)
        check_scope(form.get("scope", ""))
        app = self.store.apps.get(auth.client_id)
        if app is None:
            raise app_not_found(auth.client_id, tenant_name)
        tenant = url_tenant or self.store.get_tenant(app.tenant_id)
        self._authenticate(app, auth, base, tenant)
        roles = self.store.apps.roles_in(app, tenant.id)
        if roles is None:
            raise app_not_found(auth.client_id, tenant_name)
        access = issue_app_token(
            self.keys,
            issuer=issuer_for(base, tenant.guid),
            tenant_guid=tenant.guid,
            app_object_id=app.object_id,
            app_id=app.app_id,
            app_name=app.display_name,
            role_ids=roles,
            lifetime=self.lifetime,
        )
        return {
            "token_type": "Bearer",
            "expires_in": self.lifetime,
            "ext_expires_in": self.lifetime,
            "access_token": access,
        }

    def _authenticate(self, app: AppRegistration, auth: ClientAuth, base: str, tenant: Tenant) -> None:
        if auth.assertion is not None:
            self._check_assertion(app, auth.assertion, base, tenant)
            return
        if auth.secret is None:
            raise EntraError(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            )
        secret = self.store.apps.match_secret(app, auth.secret)
        if secret is None:
            raise EntraError(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                f"value, not the client secret ID, for a secret added to app '{app.app_id}'.",
            )
        if secret.expired:
            raise EntraError(
                401,
                "invalid_client",
                7000222,
                f"The provided client secret keys for app '{app.app_id}' are expired. Visit the Azure portal to "
                "create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate "
                "credentials for added security: https://aka.ms/certCreds.",
            )

    def _check_assertion(self, app: AppRegistration, assertion: str, base: str, tenant: Tenant) -> None:
        def audience_ok(aud: str) -> bool:
            # ``base`` is the service's configured public URL, not the Host the request names.
            parts = urlsplit(aud)
            if parts.query or parts.fragment or f"{parts.scheme}://{parts.netloc}".lower() != base.lower():
                return False
            segments = [s for s in parts.path.split("/") if s]
            if len(segments) != 4 or [s.lower() for s in segments[1:]] != ["oauth2", "v2.0", "token"]:
                return False
            named = self.store.resolve_tenant(segments[0])
            return named is not None and named.id == tenant.id

        try:
            verify_client_assertion(
                assertion,
                self.store.apps.certificates_of(app),
                client_id=str(app.app_id),
                audience_ok=audience_ok,
                replay=self.replay,
            )
        except InvalidAssertion as exc:
            raise _assertion_error(exc, app) from None


def _assertion_error(exc: InvalidAssertion, app: AppRegistration) -> EntraError:
    if exc.reason == "signature":
        return EntraError(401, "invalid_client", 700027, "Client assertion failed signature validation.")
    if exc.reason == "unknown_key":
        return EntraError(
            401,
            "invalid_client",
            700027,
            f"Client assertion contains an invalid signature. [Reason - {exc}, Thumbprint of key used by client: "
            f"'{exc.thumbprint.upper()}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to "
            f"see configured keys for app Id '{app.app_id}'.]",
        )
    if exc.reason == "expired":
        return EntraError(
            401,
            "invalid_client",
            700024,
            f"Client assertion is not within its valid time range. Current time: "
            f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime())}Z. {exc}",
        )
    if exc.reason == "audience":
        return EntraError(401, "invalid_client", 700023, "Client assertion audience claim does not match Realm issuer.")
    if exc.reason == "client":
        return EntraError(
            401,
            "invalid_client",
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        )
    if exc.reason == "replay":
        return EntraError(401, "invalid_client", 50013, f"Assertion is invalid: {exc}")
    return EntraError(401, "invalid_client", 50027, f"JWT token is invalid or malformed. {exc}")
