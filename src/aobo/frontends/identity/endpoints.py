"""The HTTP side of the identity endpoint, shaped like Entra ID's v2.0 endpoints so msal works unchanged.

- ``GET /{tenant}[/v2.0]/.well-known/openid-configuration``
- ``GET /{tenant}/discovery[/v2.0]/keys``
- ``POST /{tenant}/oauth2/v2.0/token`` (``password``, ``refresh_token``, ``client_credentials`` and
  ``device_code`` grants)
- ``POST /{tenant}/oauth2/v2.0/devicecode`` and the verification page ``/devicelogin``
- ``GET /common/userrealm/{username}`` (msal asks it before a password grant)

``{tenant}`` is a tenant GUID, any of its domains, or ``organizations``/``common`` (the user's own
tenant). A partner user gets a token for a customer tenant only through an active relationship
(the same decision as ``DelegatedOrg``). Errors carry Entra's JSON and AADSTS codes.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from aobo.cmdlets.access import open_scope
from aobo.domain.models import Tenant, User
from aobo.domain.store import Store
from aobo.errors import AccessDenied, AuthenticationFailed
from aobo.frontends.bodies import BodyTooLarge
from aobo.frontends.credentials import BasicCredentials, CredentialVerifier
from aobo.frontends.identity import device_page
from aobo.frontends.identity.app_grant import ClientCredentialsGrant
from aobo.frontends.identity.device_flow import MAX_SCOPE, DeviceFlowFull, DeviceFlows, DeviceFlowThrottled
from aobo.frontends.identity.device_page import DevicePage
from aobo.frontends.identity.errors import (
    NO_STORE,
    EntraError,
    app_not_found,
    entra_error_response,
    missing_parameter,
    tenant_not_found,
)
from aobo.frontends.identity.forms import read_form
from aobo.frontends.oauth.keys import KeySet
from aobo.frontends.oauth.tokens import (
    AUDIENCE,
    InvalidToken,
    issue_access_token,
    issue_id_token,
    issue_refresh_token,
    issuer_for,
    validate_refresh_token,
)
from aobo.settings import Settings

_SEG = r"([^/]+)"
_CONFIG = re.compile(rf"^/{_SEG}(?:/v2\.0)?/\.well-known/openid-configuration/?$", re.IGNORECASE)
_KEYS = re.compile(rf"^/{_SEG}/discovery(?:/v2\.0)?/keys/?$", re.IGNORECASE)
_OAUTH = re.compile(rf"^/{_SEG}/oauth2/v2\.0/(token|authorize|devicecode)/?$", re.IGNORECASE)
_REALM = re.compile(r"^/common/userrealm/([^/]+)/?$", re.IGNORECASE)
_DEVICE_PAGE = re.compile(rf"^{device_page.PATH}/?$", re.IGNORECASE)
_PATTERNS = (_CONFIG, _KEYS, _OAUTH, _REALM, _DEVICE_PAGE)
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

#: Tenant names meaning "the signed-in user's own tenant".
MULTI_TENANT = frozenset({"organizations", "common"})
#: The resource scopes a token for Exchange Online carries; ``.default`` grants Exchange.Manage.
OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
MAX_FORM = 64 * 1024


def is_identity_path(path: str) -> bool:
    return any(p.match(path) for p in _PATTERNS)


def _is_guid(value: str) -> bool:
    if len(value) != 36:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _b64url_json(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).rstrip(b"=").decode()


def _resource_scopes(scope: str) -> tuple[list[str], set[str]]:
    """(``scp`` values, OIDC scopes requested); raises :class:`EntraError` for another resource."""
    scp: list[str] = []
    oidc: set[str] = set()
    for item in scope.split():
        low = item.lower()
        if low in OIDC_SCOPES:
            oidc.add(low)
            continue
        resource, _, name = item.rpartition("/")
        if resource.lower().rstrip("/") != AUDIENCE or not name:
            raise EntraError(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource or item} was not found in the tenant. This can happen "
                "if the application has not been installed by the administrator of the tenant.",
            )
        value = "Exchange.Manage" if name.lower() == ".default" else name
        if value not in scp:
            scp.append(value)
    if not scp:
        raise EntraError(
            400,
            "invalid_scope",
            70011,
            f"The provided request must include a 'scope' input parameter naming a resource, such as "
            f"'{AUDIENCE}/.default'. The provided value for the input parameter 'scope' is not valid.",
        )
    return scp, oidc


class IdentityEndpoint:
    def __init__(self, store: Store, verifier: CredentialVerifier, keys: KeySet, settings: Settings) -> None:
        self.store = store
        self.verifier = verifier
        self.keys = keys
        self.lifetime = settings.access_token_lifetime
        #: Issuer, discovery URLs and assertion audiences come from the configured public URL, never
        #: from the request's Host header (which the client chooses).
        self.base = settings.public_base_url
        self.apps = ClientCredentialsGrant(store, keys, lifetime=self.lifetime)
        self.device_flows = DeviceFlows(interval=settings.device_code_interval, lifetime=settings.device_code_lifetime)
        self.device_page = DevicePage(store, verifier, self.device_flows, self._target_tenant)

    async def __call__(self, request: Request) -> Response:
        path = request.url.path
        try:
            if _DEVICE_PAGE.match(path):
                return await self.device_page(request)
            if m := _REALM.match(path):
                return self._user_realm(m.group(1))
            if m := _CONFIG.match(path):
                return await run_in_threadpool(self._openid_configuration, request, m.group(1))
            if m := _KEYS.match(path):
                await run_in_threadpool(self._tenant, m.group(1))
                return JSONResponse(await run_in_threadpool(self.keys.jwks), headers={"Cache-Control": "max-age=3600"})
            m = _OAUTH.match(path)
            assert m is not None
            if m.group(2).lower() == "authorize":
                return JSONResponse(
                    {"error": "not_implemented", "error_description": "This flow is not served yet."},
                    status_code=404,
                )
            if request.method != "POST":
                raise EntraError(
                    400, "invalid_request", 900561, "The endpoint only accepts POST requests. Received a GET request."
                )
            try:
                form = await read_form(request, MAX_FORM)
            except BodyTooLarge:
                raise EntraError(400, "invalid_request", 90014, "The request body is too large.") from None
            if m.group(2).lower() == "devicecode":
                return await run_in_threadpool(self._device_code, request, m.group(1), form)
            return await self._token(request, m.group(1), form)
        except EntraError as err:
            return entra_error_response(err)

    # -- helpers -----------------------------------------------------------------------------

    def _tenant(self, name: str) -> Tenant | None:
        """``None`` for organizations/common; raises AADSTS90002 for an unknown tenant."""
        if name.lower() in MULTI_TENANT:
            return None
        tenant = self.store.resolve_tenant(name)
        if tenant is None:
            raise tenant_not_found(name)
        return tenant

    def _user_realm(self, username: str) -> Response:
        domain = username.rpartition("@")[2]
        return JSONResponse(
            {
                "ver": "1.0",
                "account_type": "Managed",
                "domain_name": domain,
                "cloud_instance_name": "microsoftonline.com",
                "cloud_audience_urn": "urn:federation:MicrosoftOnline",
            }
        )

    def _openid_configuration(self, request: Request, name: str) -> Response:
        tenant = self._tenant(name)
        base = self.base
        segment = str(tenant.guid) if tenant else name.lower()
        issuer = issuer_for(base, tenant.guid if tenant else "{tenantid}")
        oauth = f"{base}/{segment}/oauth2/v2.0"
        return JSONResponse(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{oauth}/authorize",
                "token_endpoint": f"{oauth}/token",
                "device_authorization_endpoint": f"{oauth}/devicecode",
                "end_session_endpoint": f"{oauth}/logout",
                "jwks_uri": f"{base}/{segment}/discovery/v2.0/keys",
                "userinfo_endpoint": f"{base}/oidc/userinfo",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "response_modes_supported": ["query", "fragment", "form_post"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "grant_types_supported": ["password", "refresh_token", "client_credentials", DEVICE_CODE_GRANT],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "claims_supported": [
                    "sub",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                    "nbf",
                    "name",
                    "oid",
                    "tid",
                    "preferred_username",
                    "ver",
                ],
                "request_uri_parameter_supported": False,
                "tenant_region_scope": None,
                "cloud_instance_name": "microsoftonline.com",
                "cloud_graph_host_name": "graph.windows.net",
                "msgraph_host": "graph.microsoft.com",
                "rbac_url": "https://pas.windows.net",
            },
            headers={"Cache-Control": "max-age=86400"},
        )

    def _target_tenant(self, user: User, url_tenant: Tenant | None) -> tuple[Tenant, frozenset[str]]:
        """The tenant the token is for (the URL's, if the user may act there; else the user's own)
        and the Entra roles the user holds there (the token's ``wids``)."""
        own = self.store.get_tenant(user.tenant_id)
        if url_tenant is None or url_tenant.id == own.id:
            try:
                return own, open_scope(self.store, user, None, remote_powershell=False).entra_roles
            except AccessDenied:
                return own, frozenset()  # a user without admin roles still signs in to its own tenant
        try:
            scope = open_scope(self.store, user, str(url_tenant.guid), remote_powershell=False)
        except AccessDenied:
            raise EntraError(
                400,
                "invalid_grant",
                50020,
                f"User account '{user.user_principal_name}' from identity provider "
                f"'https://sts.windows.net/{own.guid}/' does not exist in tenant '{url_tenant.name}' and cannot "
                "access the application in that tenant. The account needs to be added as an external user in "
                "the tenant first.",
            ) from None
        return url_tenant, scope.entra_roles

    async def _token(self, request: Request, tenant_name: str, form: dict[str, str]) -> Response:
        grant = form.get("grant_type", "")
        client_id = form.get("client_id", "")
        if not grant:
            raise missing_parameter("grant_type")
        if grant == "client_credentials":
            # The client may authenticate with HTTP Basic instead of a client_id in the body.
            url_tenant = await run_in_threadpool(self._tenant, tenant_name)
            body = await run_in_threadpool(
                self.apps.token,
                self.base,
                url_tenant,
                tenant_name,
                form,
                request.headers.get("authorization"),
            )
            return JSONResponse(body, headers=NO_STORE)
        if not client_id:
            raise missing_parameter("client_id")
        url_tenant = await run_in_threadpool(self._tenant, tenant_name)
        if grant == DEVICE_CODE_GRANT:
            return await run_in_threadpool(self._device_grant, request, form, client_id)
        if grant == "password":
            return await self._password_grant(request, url_tenant, form, client_id)
        if grant == "refresh_token":
            return await run_in_threadpool(self._refresh_grant, request, url_tenant, form, client_id)
        raise EntraError(
            400,
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{grant}'.",
        )

    async def _password_grant(
        self, request: Request, url_tenant: Tenant | None, form: dict[str, str], client_id: str
    ) -> Response:
        scp, oidc = _resource_scopes(form.get("scope", ""))
        username, password = form.get("username", ""), form.get("password", "")
        if not username or not password:
            missing = "username" if not username else "password"
            raise EntraError(
                400, "invalid_request", 900144, f"The request body must contain the following parameter: '{missing}'."
            )
        try:
            user = await run_in_threadpool(self.verifier.verify, BasicCredentials(username, password))
        except AuthenticationFailed:
            raise EntraError(
                400, "invalid_grant", 50126, "Error validating credentials due to invalid username or password."
            ) from None
        return await run_in_threadpool(self._issue, request, user, url_tenant, scp, oidc, client_id)

    def _refresh_grant(
        self, request: Request, url_tenant: Tenant | None, form: dict[str, str], client_id: str
    ) -> Response:
        token = form.get("refresh_token", "")
        if not token:
            raise EntraError(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'refresh_token'.",
            )
        try:
            claims = validate_refresh_token(token, self.keys, client_id=client_id)
        except InvalidToken as exc:
            if exc.reason == "expired":
                raise EntraError(
                    400,
                    "invalid_grant",
                    700082,
                    "The refresh token has expired due to inactivity. The token was issued on "
                    "an earlier date and was inactive for 90.00:00:00.",
                ) from None
            if exc.reason == "client":
                raise EntraError(
                    400,
                    "invalid_grant",
                    70000,
                    "Provided grant is invalid or malformed: the refresh token was issued to a different client.",
                ) from None
            raise EntraError(
                400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."
            ) from None
        user = self._current_user(str(claims.get("upn", "")), str(claims.get("oid")))
        if url_tenant is None:
            url_tenant = self.store.resolve_tenant(claims["tid"])
        scp, oidc = _resource_scopes(form.get("scope") or f"{AUDIENCE}/.default offline_access")
        return self._issue(request, user, url_tenant, scp, oidc, client_id)

    def _current_user(self, upn: str, guid: str) -> User:
        """The account as the store has it now; a locked-out or removed account gets no new token."""
        user = self.store.find_user(upn)
        if user is not None and str(user.guid) != guid:
            user = None
        if user is None or user.locked_out:
            raise EntraError(
                400,
                "invalid_grant",
                50053 if user is not None else 50034,
                "The account is locked or no longer exists; sign in again.",
            )
        return user

    def _issue(
        self,
        request: Request,
        user: User,
        url_tenant: Tenant | None,
        scp: list[str],
        oidc: set[str],
        client_id: str,
    ) -> Response:
        tenant, wids = self._target_tenant(user, url_tenant)
        home = self.store.get_tenant(user.tenant_id)
        base = self.base
        issuer = issuer_for(base, tenant.guid)
        now = int(time.time())
        access = issue_access_token(
            self.keys,
            issuer=issuer,
            tenant_guid=tenant.guid,
            user_guid=user.guid,
            upn=user.user_principal_name,
            name=user.display_name,
            scopes=scp,
            client_id=client_id,
            now=now,
            wids=sorted(wids),
            lifetime=self.lifetime,
        )
        granted = [f"{AUDIENCE}/{s}" for s in scp] + sorted(oidc)
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(granted),
            "expires_in": self.lifetime,
            "ext_expires_in": self.lifetime,
            "access_token": access,
            "client_info": _b64url_json({"uid": str(user.guid), "utid": str(home.guid)}),
        }
        if "offline_access" in oidc:
            body["refresh_token"] = issue_refresh_token(
                self.keys,
                issuer=issuer,
                tenant_guid=tenant.guid,
                user_guid=user.guid,
                upn=user.user_principal_name,
                client_id=client_id,
                now=now,
            )
        if "openid" in oidc:
            body["id_token"] = issue_id_token(
                self.keys,
                issuer=issuer,
                tenant_guid=tenant.guid,
                user_guid=user.guid,
                upn=user.user_principal_name,
                name=user.display_name,
                client_id=client_id,
                now=now,
            )
        return JSONResponse(body, headers=NO_STORE)

    # -- device code (RFC 8628) ------------------------------------------------------------------

    def _device_code(self, request: Request, tenant_name: str, form: dict[str, str]) -> Response:
        client_id = form.get("client_id", "")
        if not client_id:
            raise missing_parameter("client_id")
        if not _is_guid(client_id):  # application ids are GUIDs; nothing else is kept in memory
            raise app_not_found(client_id, tenant_name)
        scope = form.get("scope", "")
        if len(scope) > MAX_SCOPE:
            raise EntraError(
                400,
                "invalid_scope",
                70011,
                f"The provided value for the input parameter 'scope' is not valid: it is longer than {MAX_SCOPE} "
                "characters.",
            )
        _resource_scopes(scope)  # refused now rather than after the person signed in
        url_tenant = self._tenant(tenant_name)
        address = request.client.host if request.client else ""
        try:
            grant = self.device_flows.start(client_id, scope, url_tenant, address)
        except DeviceFlowThrottled as exc:
            raise EntraError(
                429,
                "temporarily_unavailable",
                50196,
                "The server terminated an operation because it encountered a client request loop: too many "
                "device sign-ins are pending from this client. Please try again later.",
                headers={"Retry-After": str(exc.retry_after)},
            ) from None
        except DeviceFlowFull:
            raise EntraError(
                503, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again."
            ) from None
        uri = self.base + device_page.PATH
        return JSONResponse(
            {
                "user_code": grant.user_code,
                "device_code": grant.device_code,
                "verification_uri": uri,
                "expires_in": self.device_flows.lifetime,
                "interval": grant.interval,
                "message": f"To sign in, use a web browser to open the page {uri} and enter the code "
                f"{grant.user_code} to authenticate.",
            },
            headers=NO_STORE,
        )

    def _device_grant(self, request: Request, form: dict[str, str], client_id: str) -> Response:
        code = form.get("device_code", "")
        if not code:
            raise missing_parameter("device_code")
        grant = self.device_flows.by_device_code(code)
        if grant is None or grant.client_id.lower() != client_id.lower():
            raise EntraError(
                400, "bad_verification_code", 70018, "Invalid verification code. The device code is not recognised."
            )
        if grant.expired:
            self.device_flows.finish(grant)
            raise EntraError(400, "expired_token", 70019, "Verification code expired.")
        if not self.device_flows.poll(grant):
            raise EntraError(
                400,
                "slow_down",
                70016,
                f"The client is polling too often. Wait {grant.interval} seconds between requests.",
            )
        if grant.state == "declined":
            self.device_flows.finish(grant)
            raise EntraError(400, "authorization_declined", 65004, "User declined to consent to access the app.")
        if grant.state != "approved" or grant.user is None:
            raise EntraError(
                400,
                "authorization_pending",
                70016,
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            )
        self.device_flows.finish(grant)
        # Approved minutes ago, perhaps: the account is read again, as the refresh grant does.
        user = self._current_user(grant.user.user_principal_name, str(grant.user.guid))
        scp, oidc = _resource_scopes(grant.scope)
        return self._issue(request, user, grant.url_tenant, scp, oidc, client_id)
