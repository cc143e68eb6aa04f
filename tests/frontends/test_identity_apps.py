"""App-only access: msal's ConfidentialClientApplication gets tokens from a real server with a client
secret and with a certificate, and every way of getting it wrong has Entra's error."""

from __future__ import annotations

import base64
import dataclasses
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import msal
import pytest
import requests

from aobo.cmdlets.access import open_app_scope
from aobo.cmdlets.roles import EXCHANGE_ADMINISTRATOR, GLOBAL_READER, ORGANIZATION_MANAGEMENT
from aobo.domain.models import AppRegistration
from aobo.domain.seed import DEMO_APP_ID, demo_app_secret, seed_demo
from aobo.domain.store import Store
from aobo.errors import AccessDenied
from aobo.frontends.oauth import (
    AUDIENCE,
    MANAGE_AS_APP,
    InvalidToken,
    KeySet,
    token_kind,
    validate_access_token,
)
from aobo.server import BackgroundServer
from aobo.settings import Settings
from tests.identity_support import AppCertificate, PortKeepingSession, make_certificate

PASSWORD = "Identity-Apps-1!"
SCOPES = [f"{AUDIENCE}/.default"]
CONTOSO = "contoso.onmicrosoft.com"
PARTNER = "northwindit.onmicrosoft.com"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    data: Path = tmp_path_factory.mktemp("identity-apps")
    store = Store.open(f"sqlite:///{data / 'aobo.db'}")
    store.migrate()
    seed_demo(store, PASSWORD)
    with BackgroundServer(Settings(data_dir=data), store) as running:
        yield running
    store.close()


@pytest.fixture(scope="module")
def store(server: BackgroundServer) -> Store:
    assert server.store is not None
    return server.store


@pytest.fixture(scope="module")
def http(server: BackgroundServer) -> Iterator[requests.Session]:
    with PortKeepingSession(server.base_url, str(server.ca_file)) as session:
        yield session


@pytest.fixture(scope="module")
def keys(server: BackgroundServer) -> KeySet:
    return KeySet.for_settings(server.settings)


@pytest.fixture(scope="module")
def certificate() -> AppCertificate:
    return make_certificate()


@dataclasses.dataclass
class RegisteredApp:
    app: AppRegistration
    secret: str

    @property
    def client_id(self) -> str:
        return str(self.app.app_id)


@pytest.fixture(scope="module")
def partner_app(store: Store, certificate: AppCertificate) -> RegisteredApp:
    """A partner app with a secret and a certificate, Exchange Administrator in Contoso."""
    partner = store.resolve_tenant(PARTNER)
    contoso = store.resolve_tenant(CONTOSO)
    assert partner and contoso
    app = store.apps.create(partner.id, "Partner Reporting")
    _, secret = store.apps.add_secret(app)
    store.apps.add_certificate(app, certificate.certificate_pem)
    assert store.apps.assign_role(app, contoso.id, EXCHANGE_ADMINISTRATOR)
    return RegisteredApp(app, secret)


def guid_of(store: Store, domain: str) -> str:
    tenant = store.resolve_tenant(domain)
    assert tenant is not None
    return str(tenant.guid)


def confidential(
    server: BackgroundServer, http: requests.Session, client_id: str, credential: Any, tenant: str = CONTOSO
) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=credential,
        authority=f"{server.base_url}/{tenant}",
        validate_authority=False,
        instance_discovery=False,
        http_client=http,
    )


def token_url(server: BackgroundServer, tenant: str = CONTOSO) -> str:
    return f"{server.base_url}/{tenant}/oauth2/v2.0/token"


def post_token(http: requests.Session, server: BackgroundServer, tenant: str = CONTOSO, **form: str) -> dict[str, Any]:
    body: dict[str, Any] = http.post(
        token_url(server, tenant), data={"grant_type": "client_credentials", "scope": SCOPES[0], **form}
    ).json()
    return body


def description(body: dict[str, Any]) -> str:
    """The error text without Entra's trailing trace and correlation ids."""
    text: str = body["error_description"]
    return text.split(" Trace ID: ")[0]


def test_msal_with_a_client_secret_gets_an_app_only_token(
    server: BackgroundServer, http: requests.Session, keys: KeySet, store: Store, partner_app: RegisteredApp
) -> None:
    result = confidential(server, http, partner_app.client_id, partner_app.secret).acquire_token_for_client(SCOPES)
    assert "access_token" in result, result
    assert result["token_type"] == "Bearer" and result["expires_in"] > 3000
    contoso = guid_of(store, CONTOSO)
    claims = validate_access_token(result["access_token"], keys, tenant_guid=contoso)
    assert token_kind(claims) == "app"
    assert claims["idtyp"] == "app"
    assert claims["roles"] == [MANAGE_AS_APP]
    assert claims["wids"] == [EXCHANGE_ADMINISTRATOR]
    assert claims["oid"] == claims["sub"] == str(partner_app.app.object_id)
    assert claims["appid"] == claims["azp"] == partner_app.client_id
    assert claims["tid"] == contoso and claims["aud"] == AUDIENCE
    assert claims["iss"] == f"{server.base_url}/{contoso}/v2.0"
    assert claims["exp"] - claims["iat"] == 3600
    assert "upn" not in claims and "scp" not in claims
    # The same token is not valid for another tenant.
    with pytest.raises(InvalidToken) as info:
        validate_access_token(result["access_token"], keys, tenant_guid=guid_of(store, PARTNER))
    assert info.value.reason == "tenant"


def test_msal_with_a_certificate_gets_a_token(
    server: BackgroundServer,
    http: requests.Session,
    keys: KeySet,
    store: Store,
    partner_app: RegisteredApp,
    certificate: AppCertificate,
) -> None:
    # RS256 with the SHA-1 thumbprint (x5t), the form Connect-ExchangeOnline -CertificateThumbprint uses.
    by_thumbprint = {"private_key": certificate.private_pem, "thumbprint": certificate.sha1}
    result = confidential(server, http, partner_app.client_id, by_thumbprint).acquire_token_for_client(SCOPES)
    assert "access_token" in result, result
    claims = validate_access_token(result["access_token"], keys, tenant_guid=guid_of(store, CONTOSO))
    assert claims["appid"] == partner_app.client_id and claims["wids"] == [EXCHANGE_ADMINISTRATOR]
    # PS256 with x5t#S256, what msal sends when given the certificate itself.
    by_certificate = {"private_key": certificate.private_pem, "public_certificate": certificate.certificate_pem}
    result = confidential(server, http, partner_app.client_id, by_certificate).acquire_token_for_client(SCOPES)
    assert "access_token" in result, result


def test_client_secret_in_http_basic(
    server: BackgroundServer, http: requests.Session, partner_app: RegisteredApp
) -> None:
    response = http.post(
        token_url(server),
        data={"grant_type": "client_credentials", "scope": SCOPES[0]},
        auth=(partner_app.client_id, partner_app.secret),
    )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"
    assert response.headers["cache-control"] == "no-store"


def test_the_seeded_demo_app_works_in_contoso(
    server: BackgroundServer, http: requests.Session, keys: KeySet, store: Store
) -> None:
    result = confidential(server, http, str(DEMO_APP_ID), demo_app_secret(PASSWORD)).acquire_token_for_client(SCOPES)
    assert "access_token" in result, result
    claims = validate_access_token(result["access_token"], keys, tenant_guid=guid_of(store, CONTOSO))
    assert claims["app_displayname"] == "Northwind Automation"
    app = store.apps.get(DEMO_APP_ID)
    assert app is not None
    scope = open_app_scope(store, app, CONTOSO)
    assert scope.roles == {ORGANIZATION_MANAGEMENT}
    assert scope.entra_roles == {EXCHANGE_ADMINISTRATOR}
    assert scope.tenant.initial_domain == CONTOSO and scope.caller_tenant.initial_domain == PARTNER
    assert scope.caller.user_principal_name == str(DEMO_APP_ID)
    assert scope.caller.id < 0 and scope.caller.guid == app.object_id


def test_unknown_app_is_aadsts700016(server: BackgroundServer, http: requests.Session) -> None:
    client_id = str(uuid.uuid4())
    body = post_token(http, server, client_id=client_id, client_secret="whatever-secret-value")
    assert body["error"] == "unauthorized_client" and body["error_codes"] == [700016]
    assert description(body) == (
        f"AADSTS700016: Application with identifier '{client_id}' was not found in the directory "
        f"'{CONTOSO}'. This can happen if the application has not been installed by the administrator of the "
        "tenant or consented to by any user in the tenant. You may have sent your authentication request to the "
        "wrong tenant."
    )


def test_app_not_consented_into_a_tenant_is_aadsts700016(
    server: BackgroundServer, http: requests.Session, partner_app: RegisteredApp
) -> None:
    # Fabrikam is a customer of the partner, but the app holds no role there.
    body = post_token(
        http, server, "fabrikam.onmicrosoft.com", client_id=partner_app.client_id, client_secret=partner_app.secret
    )
    assert body["error_codes"] == [700016]
    assert "was not found in the directory 'fabrikam.onmicrosoft.com'" in body["error_description"]


def test_wrong_expired_and_missing_secrets(
    server: BackgroundServer, http: requests.Session, store: Store, partner_app: RegisteredApp
) -> None:
    response = http.post(
        token_url(server),
        data={
            "grant_type": "client_credentials",
            "scope": SCOPES[0],
            "client_id": partner_app.client_id,
            "client_secret": "not-the-secret-at-all",
        },
    )
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "invalid_client" and body["error_codes"] == [7000215]
    assert description(body) == (
        "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client "
        f"secret value, not the client secret ID, for a secret added to app '{partner_app.client_id}'."
    )
    _, expired = store.apps.add_secret(partner_app.app, lifetime=timedelta(seconds=-1))
    body = post_token(http, server, client_id=partner_app.client_id, client_secret=expired)
    assert body["error_codes"] == [7000222]
    assert (
        f"The provided client secret keys for app '{partner_app.client_id}' are expired." in body["error_description"]
    )
    body = post_token(http, server, client_id=partner_app.client_id)
    assert body["error_codes"] == [7000218]
    # The secret of one app does not open another.
    other = store.apps.create(partner_app.app.tenant_id, "Other")
    assert post_token(http, server, PARTNER, client_id=str(other.app_id), client_secret=partner_app.secret)[
        "error_codes"
    ] == [7000215]


def test_scope_must_be_exchange_default(
    server: BackgroundServer, http: requests.Session, partner_app: RegisteredApp
) -> None:
    creds = {"client_id": partner_app.client_id, "client_secret": partner_app.secret}
    body = post_token(http, server, **creds, scope=f"{AUDIENCE}/Exchange.Manage")
    assert body["error"] == "invalid_scope" and body["error_codes"] == [1002012]
    body = post_token(http, server, **creds, scope="https://graph.microsoft.com/.default")
    assert body["error"] == "invalid_resource" and body["error_codes"] == [500011]
    body = post_token(http, server, **creds, scope="")
    assert body["error_codes"] == [900144]


def _assertion(
    certificate: AppCertificate,
    client_id: str,
    audience: str,
    *,
    key: Any = None,
    lifetime: int = 600,
    issued: int | None = None,
    jti: str | None = None,
    issuer: str | None = None,
) -> str:
    now = int(time.time()) if issued is None else issued
    claims = {
        "aud": audience,
        "iss": issuer or client_id,
        "sub": client_id,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "jti": jti or str(uuid.uuid4()),
    }
    x5t = base64.urlsafe_b64encode(bytes.fromhex(certificate.sha1)).decode()
    return jwt.encode(claims, key or certificate.private_key, algorithm="RS256", headers={"x5t": x5t})


def _with_assertion(http: requests.Session, server: BackgroundServer, client_id: str, assertion: str) -> dict[str, Any]:
    return post_token(
        http,
        server,
        client_id=client_id,
        client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion=assertion,
    )


def test_client_assertion_errors_and_replay(
    server: BackgroundServer,
    http: requests.Session,
    store: Store,
    partner_app: RegisteredApp,
    certificate: AppCertificate,
) -> None:
    client_id, aud = partner_app.client_id, token_url(server)
    good = _assertion(certificate, client_id, aud)
    assert "access_token" in _with_assertion(http, server, client_id, good)
    # The same assertion again: refused while it lives.
    replay = _with_assertion(http, server, client_id, good)
    assert replay["error"] == "invalid_client" and replay["error_codes"] == [50013]
    assert "already used" in replay["error_description"]

    # Signed by another key under the registered certificate's thumbprint.
    impostor = make_certificate("impostor").private_key
    forged = _with_assertion(http, server, client_id, _assertion(certificate, client_id, aud, key=impostor))
    assert forged["error_codes"] == [700027]
    assert description(forged) == "AADSTS700027: Client assertion failed signature validation."
    # A certificate the app never registered.
    stranger = make_certificate("stranger")
    unknown = _with_assertion(http, server, client_id, _assertion(stranger, client_id, aud))
    assert unknown["error_codes"] == [700027]
    assert f"Thumbprint of key used by client: '{stranger.sha1.upper()}'" in unknown["error_description"]
    # Expired.
    old = _assertion(certificate, client_id, aud, issued=int(time.time()) - 3000, lifetime=600)
    assert _with_assertion(http, server, client_id, old)["error_codes"] == [700024]
    # Meant for another tenant's token endpoint, or another server.
    for wrong in (
        token_url(server, "fabrikam.onmicrosoft.com"),
        "https://login.microsoftonline.com/x/oauth2/v2.0/token",
    ):
        body = _with_assertion(http, server, client_id, _assertion(certificate, client_id, wrong))
        assert body["error_codes"] == [700023], wrong
    # Issued by someone else.
    other = _assertion(certificate, client_id, aud, issuer=str(uuid.uuid4()))
    assert _with_assertion(http, server, client_id, other)["error_codes"] == [700021]
    # Not a JWT at all.
    assert _with_assertion(http, server, client_id, "garbage")["error"] == "invalid_client"


def test_assertion_from_the_right_tenant_alias_is_accepted(
    server: BackgroundServer,
    http: requests.Session,
    store: Store,
    partner_app: RegisteredApp,
    certificate: AppCertificate,
) -> None:
    # msal signs for the token endpoint of the OpenID configuration: the tenant's GUID.
    aud = token_url(server, guid_of(store, CONTOSO))
    body = _with_assertion(http, server, partner_app.client_id, _assertion(certificate, partner_app.client_id, aud))
    assert "access_token" in body, body


def test_home_tenant_without_roles_gets_a_token_but_no_exchange_access(
    server: BackgroundServer, http: requests.Session, keys: KeySet, store: Store
) -> None:
    partner = store.resolve_tenant(PARTNER)
    assert partner is not None
    app = store.apps.create(partner.id, "No Roles Yet")
    _, secret = store.apps.add_secret(app)
    body = post_token(http, server, PARTNER, client_id=str(app.app_id), client_secret=secret)
    claims = validate_access_token(body["access_token"], keys, tenant_guid=partner.guid)
    assert claims["wids"] == []
    with pytest.raises(AccessDenied) as info:
        open_app_scope(store, app, None)
    assert str(info.value).endswith(
        f"The role assigned to application {app.app_id} isn't supported in this scenario. Please check online "
        "documentation for assigning correct Directory Roles to Azure AD Application for EXO App-Only "
        "Authentication."
    )
    assert "[FailureCategory=AuthZ-AuthorizationException]" in str(info.value)
    # A role that maps to a role group opens it.
    store.apps.assign_role(app, partner.id, GLOBAL_READER)
    assert open_app_scope(store, app, PARTNER).roles == {"View-Only Organization Management"}


def test_consent_needs_a_relationship_and_ends_with_it(
    server: BackgroundServer, http: requests.Session, store: Store, partner_app: RegisteredApp
) -> None:
    woodgrove = store.resolve_tenant("woodgrove.onmicrosoft.com")
    assert woodgrove is not None
    with pytest.raises(AccessDenied):
        store.apps.assign_role(partner_app.app, woodgrove.id, EXCHANGE_ADMINISTRATOR)
    with pytest.raises(AccessDenied):
        open_app_scope(store, partner_app.app, "woodgrove.onmicrosoft.com")

    partner = store.resolve_tenant(PARTNER)
    assert partner is not None
    customer = store.create_tenant("appsconsent")
    relationship = store.create_relationship(partner.id, customer.id)
    assert store.apps.assign_role(partner_app.app, customer.id, EXCHANGE_ADMINISTRATOR)
    creds = {"client_id": partner_app.client_id, "client_secret": partner_app.secret}
    assert "access_token" in post_token(http, server, customer.initial_domain, **creds)
    assert open_app_scope(store, partner_app.app, customer.initial_domain).roles == {ORGANIZATION_MANAGEMENT}

    store.remove_relationship(relationship.id)
    assert post_token(http, server, customer.initial_domain, **creds)["error_codes"] == [700016]
    with pytest.raises(AccessDenied):
        open_app_scope(store, partner_app.app, customer.initial_domain)


def test_openid_configuration_lists_the_new_grants(server: BackgroundServer, http: requests.Session) -> None:
    config = http.get(f"{server.base_url}/{CONTOSO}/v2.0/.well-known/openid-configuration").json()
    assert {"client_credentials", "urn:ietf:params:oauth:grant-type:device_code"} <= set(
        config["grant_types_supported"]
    )


def test_the_token_lifetime_setting_is_honoured(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'aobo.db'}")
    store.migrate()
    seed_demo(store, PASSWORD)
    settings = Settings(data_dir=tmp_path, access_token_lifetime=120)
    try:
        with (
            BackgroundServer(settings, store) as running,
            PortKeepingSession(running.base_url, str(running.ca_file)) as http,
        ):
            app = confidential(running, http, str(DEMO_APP_ID), demo_app_secret(PASSWORD))
            result = app.acquire_token_for_client(SCOPES)
            assert "access_token" in result, result
            assert result["expires_in"] <= 120
            claims = jwt.decode(result["access_token"], options={"verify_signature": False})
            assert claims["exp"] - claims["iat"] == 120
            user = msal.PublicClientApplication(
                "fb78d390-0c51-40cd-8e17-fdbfab77341b",
                authority=f"{running.base_url}/{CONTOSO}",
                validate_authority=False,
                instance_discovery=False,
                http_client=http,
            )
            with pytest.warns(DeprecationWarning):
                signed_in = user.acquire_token_by_username_password(
                    "admin@contoso.onmicrosoft.com", PASSWORD, scopes=SCOPES
                )
            assert signed_in["expires_in"] <= 120
    finally:
        store.close()


def test_oversized_bodies_are_refused_and_the_server_goes_on(
    server: BackgroundServer, http: requests.Session, partner_app: RegisteredApp
) -> None:
    huge = {"grant_type": "client_credentials", "scope": SCOPES[0], "padding": "x" * 100_000}
    response = http.post(token_url(server), data=huge)
    assert response.status_code == 400 and response.json()["error_codes"] == [90014]
    page = http.post(f"{server.base_url}/devicelogin", data={"otc": "x" * 20_000})
    assert page.status_code == 413 and 'role="alert"' in page.text
    creds = {"client_id": partner_app.client_id, "client_secret": partner_app.secret}
    assert "access_token" in post_token(http, server, **creds)


STAGING = "staging.example:8443"


def test_the_host_header_decides_neither_audience_nor_issuer(
    server: BackgroundServer, http: requests.Session, partner_app: RegisteredApp, certificate: AppCertificate
) -> None:
    client_id = partner_app.client_id
    contoso = guid_of(server.store, CONTOSO)  # type: ignore[arg-type]
    staging = _assertion(certificate, client_id, f"https://{STAGING}/{contoso}/oauth2/v2.0/token")
    form = {
        "grant_type": "client_credentials",
        "scope": SCOPES[0],
        "client_id": client_id,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    }
    spoofed = http.post(token_url(server), data={**form, "client_assertion": staging}, headers={"Host": STAGING})
    assert spoofed.json()["error_codes"] == [700023]

    # A good assertion posted under another Host: the token names the server's own issuer.
    good = _assertion(certificate, client_id, token_url(server))
    body = http.post(token_url(server), data={**form, "client_assertion": good}, headers={"Host": STAGING}).json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["iss"] == f"{server.base_url}/{contoso}/v2.0"
    config = http.get(f"{server.base_url}/{CONTOSO}/v2.0/.well-known/openid-configuration", headers={"Host": STAGING})
    assert STAGING not in config.text
    assert config.json()["token_endpoint"] == f"{server.base_url}/{contoso}/oauth2/v2.0/token"


def test_a_configured_public_url_is_the_issuer_and_the_assertion_audience(
    tmp_path: Path, certificate: AppCertificate
) -> None:
    public = "https://login.aobo.example"
    store = Store.open(f"sqlite:///{tmp_path / 'aobo.db'}")
    store.migrate()
    seed_demo(store, PASSWORD)
    partner, contoso = store.resolve_tenant(PARTNER), store.resolve_tenant(CONTOSO)
    assert partner and contoso
    app = store.apps.create(partner.id, "Public URL")
    store.apps.add_certificate(app, certificate.certificate_pem)
    assert store.apps.assign_role(app, contoso.id, EXCHANGE_ADMINISTRATOR)
    client_id = str(app.app_id)
    try:
        with (
            BackgroundServer(Settings(data_dir=tmp_path, public_url=public + "/"), store) as running,
            PortKeepingSession(running.base_url, str(running.ca_file)) as http,
        ):
            assert running.public_url == public
            config = http.get(f"{running.base_url}/{CONTOSO}/v2.0/.well-known/openid-configuration").json()
            assert config["issuer"] == f"{public}/{contoso.guid}/v2.0"
            assert config["token_endpoint"] == f"{public}/{contoso.guid}/oauth2/v2.0/token"
            # The local address is not the audience any more; the public one is.
            local = post_token(
                http,
                running,
                client_id=client_id,
                client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                client_assertion=_assertion(certificate, client_id, token_url(running)),
            )
            assert local["error_codes"] == [700023]
            body = post_token(
                http,
                running,
                client_id=client_id,
                client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                client_assertion=_assertion(certificate, client_id, f"{public}/{CONTOSO}/oauth2/v2.0/token"),
            )
            claims = jwt.decode(body["access_token"], options={"verify_signature": False})
            assert claims["iss"] == f"{public}/{contoso.guid}/v2.0"
    finally:
        store.close()


def test_client_auth_repr_shows_no_secret_or_assertion() -> None:
    from aobo.frontends.identity.app_grant import client_auth

    secret = client_auth({"client_id": "app", "client_secret": "s3cret-value"}, None)
    assertion = client_auth(
        {
            "client_id": "app",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": "eyJhbGciOi.assertion.sig",
        },
        None,
    )
    basic = client_auth({}, "Basic " + base64.b64encode(b"app:basic-secret").decode())
    assert "app" in repr(secret)
    for auth, value in ((secret, "s3cret-value"), (assertion, "eyJhbGciOi"), (basic, "basic-secret")):
        assert value not in repr(auth)
