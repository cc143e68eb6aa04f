"""The identity endpoint against a real server: the real msal library obtains and refreshes tokens."""

from __future__ import annotations

import dataclasses
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import msal
import pytest
import requests

from aobo.domain.seed import seed_demo
from aobo.domain.store import Store
from aobo.frontends.oauth import (
    AUDIENCE,
    InvalidToken,
    KeySet,
    issue_access_token,
    rotate_keys,
    validate_access_token,
)
from aobo.frontends.oauth.keys import keys_dir
from aobo.server import BackgroundServer
from aobo.settings import Settings
from tests.identity_support import PortKeepingSession

PASSWORD = "Identity-Test-1!"
CLIENT_ID = "fb78d390-0c51-40cd-8e17-fdbfab77341b"  # the ExchangeOnlineManagement module
SCOPES = [f"{AUDIENCE}/.default"]
PARTNER_ADMIN = "admin@northwindit.onmicrosoft.com"
CONTOSO_ADMIN = "admin@contoso.onmicrosoft.com"
LOCKOUT_THRESHOLD = 3

# The password grant (ROPC) is what partner scripts use; msal warns that it is deprecated for public clients.
pytestmark = pytest.mark.filterwarnings("ignore:This API has been deprecated for public client flows")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    data: Path = tmp_path_factory.mktemp("identity")
    store = Store.open(f"sqlite:///{data / 'aobo.db'}")
    store.migrate()
    seed_demo(store, PASSWORD)
    settings = dataclasses.replace(Settings(data_dir=data), lockout_threshold=LOCKOUT_THRESHOLD)
    with BackgroundServer(settings, store) as running:
        running.store = store  # type: ignore[attr-defined]
        yield running
    store.close()


@pytest.fixture(scope="module")
def http(server: BackgroundServer) -> Iterator[requests.Session]:
    with PortKeepingSession(server.base_url, str(server.ca_file)) as session:
        yield session


@pytest.fixture(scope="module")
def keys(server: BackgroundServer) -> KeySet:
    return KeySet.for_settings(server.settings)


def tenant_guid(server: BackgroundServer, domain: str) -> str:
    tenant = server.store.resolve_tenant(domain)  # type: ignore[attr-defined]
    assert tenant is not None
    return str(tenant.guid)


def app(server: BackgroundServer, http: requests.Session, tenant: str) -> msal.PublicClientApplication:
    return msal.PublicClientApplication(
        CLIENT_ID,
        authority=f"{server.base_url}/{tenant}",
        validate_authority=False,
        instance_discovery=False,
        http_client=http,
    )


def sign_in(client: msal.PublicClientApplication, user: str, password: str = PASSWORD) -> dict[str, Any]:
    return client.acquire_token_by_username_password(user, password, scopes=SCOPES)


def test_openid_configuration_is_entra_shaped(server: BackgroundServer, http: requests.Session) -> None:
    guid = tenant_guid(server, "contoso.onmicrosoft.com")
    for path in ("contoso.com/v2.0", "contoso.onmicrosoft.com", guid + "/v2.0"):
        response = http.get(f"{server.base_url}/{path}/.well-known/openid-configuration")
        assert response.status_code == 200, response.text
        config = response.json()
        assert config["issuer"] == f"{server.base_url}/{guid}/v2.0"
        assert config["token_endpoint"] == f"{server.base_url}/{guid}/oauth2/v2.0/token"
        for key in ("authorization_endpoint", "device_authorization_endpoint", "jwks_uri", "response_types_supported"):
            assert config[key]
        assert config["id_token_signing_alg_values_supported"] == ["RS256"]
    common = http.get(f"{server.base_url}/organizations/v2.0/.well-known/openid-configuration").json()
    assert common["issuer"] == f"{server.base_url}/{{tenantid}}/v2.0"
    jwks = http.get(config["jwks_uri"]).json()
    assert jwks["keys"] and all(k["kty"] == "RSA" and k["kid"] and k["alg"] == "RS256" for k in jwks["keys"])


def test_unknown_tenant_is_aadsts90002(server: BackgroundServer, http: requests.Session) -> None:
    response = http.get(f"{server.base_url}/nowhere.example/v2.0/.well-known/openid-configuration")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["error_codes"] == [90002]
    assert body["error_description"].startswith("AADSTS90002: Tenant 'nowhere.example' not found")
    for key in ("timestamp", "trace_id", "correlation_id"):
        assert body[key]
    response = http.post(
        f"{server.base_url}/nowhere.example/oauth2/v2.0/token", data={"grant_type": "password", "client_id": CLIENT_ID}
    )
    assert response.json()["error_codes"] == [90002]


def test_keys_are_private_files(server: BackgroundServer, keys: KeySet) -> None:
    keys.jwks()
    files = list(keys_dir(server.settings).glob("*.pem"))
    assert files
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)


def test_tenant_admin_signs_in_refreshes_and_validates(
    server: BackgroundServer, http: requests.Session, keys: KeySet
) -> None:
    client = app(server, http, "contoso.onmicrosoft.com")
    result = sign_in(client, CONTOSO_ADMIN)
    assert "access_token" in result, result
    guid = tenant_guid(server, "contoso.onmicrosoft.com")
    claims = validate_access_token(result["access_token"], keys, audience=AUDIENCE, tenant_guid=guid)
    assert claims["upn"] == CONTOSO_ADMIN
    assert claims["scp"] == "Exchange.Manage"
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["iss"] == f"{server.base_url}/{guid}/v2.0"
    assert result["token_type"] == "Bearer" and result["expires_in"] > 3000
    assert result["id_token_claims"]["preferred_username"] == CONTOSO_ADMIN

    accounts = client.get_accounts(username=CONTOSO_ADMIN)
    assert accounts
    refreshed = client.acquire_token_silent(SCOPES, account=accounts[0], force_refresh=True)
    assert refreshed and "access_token" in refreshed, refreshed
    assert refreshed["access_token"] != result["access_token"]
    again = validate_access_token(refreshed["access_token"], keys, audience=AUDIENCE, tenant_guid=guid)
    assert again["oid"] == claims["oid"] and again["jti"] != claims["jti"]

    by_rt = client.acquire_token_by_refresh_token(result["refresh_token"], scopes=SCOPES)
    assert "access_token" in by_rt, by_rt


def test_partner_admin_into_dap_customer(server: BackgroundServer, http: requests.Session, keys: KeySet) -> None:
    customer = tenant_guid(server, "fabrikam.onmicrosoft.com")
    client = app(server, http, "fabrikam.onmicrosoft.com")
    result = sign_in(client, PARTNER_ADMIN)
    assert "access_token" in result, result
    claims = validate_access_token(result["access_token"], keys, audience=AUDIENCE, tenant_guid=customer)
    assert claims["upn"] == PARTNER_ADMIN
    # The token is for the customer, not the partner's own tenant.
    with pytest.raises(InvalidToken) as info:
        validate_access_token(
            result["access_token"], keys, tenant_guid=tenant_guid(server, "northwindit.onmicrosoft.com")
        )
    assert info.value.reason == "tenant"
    refreshed = client.acquire_token_by_refresh_token(result["refresh_token"], scopes=SCOPES)
    assert validate_access_token(refreshed["access_token"], keys, tenant_guid=customer)["upn"] == PARTNER_ADMIN


def test_partner_admin_with_organizations_gets_own_tenant(
    server: BackgroundServer, http: requests.Session, keys: KeySet
) -> None:
    result = sign_in(app(server, http, "organizations"), PARTNER_ADMIN)
    assert "access_token" in result, result
    own = tenant_guid(server, "northwindit.onmicrosoft.com")
    assert validate_access_token(result["access_token"], keys, tenant_guid=own)["tid"] == own


def test_partner_refused_in_non_customer_tenant(server: BackgroundServer, http: requests.Session) -> None:
    result = sign_in(app(server, http, "woodgrove.onmicrosoft.com"), PARTNER_ADMIN)
    assert "access_token" not in result
    assert result["error"] == "invalid_grant"
    assert 50020 in result["error_codes"]
    assert "AADSTS50020" in result["error_description"]


def test_wrong_password_is_aadsts50126(server: BackgroundServer, http: requests.Session) -> None:
    result = sign_in(app(server, http, "tailspintoys.onmicrosoft.com"), "admin@tailspintoys.onmicrosoft.com", "nope")
    assert result["error"] == "invalid_grant"
    assert result["error_description"].startswith("AADSTS50126: Error validating credentials")
    assert result["error_codes"] == [50126]


def test_lockout_applies_to_the_token_endpoint(server: BackgroundServer, http: requests.Session) -> None:
    user = "admin@woodgrove.onmicrosoft.com"
    client = app(server, http, "woodgrove.onmicrosoft.com")
    # msal itself replays a cached error for an identical failed request: vary the password.
    for attempt in range(LOCKOUT_THRESHOLD):
        assert "AADSTS50126" in sign_in(client, user, f"wrong-{attempt}")["error_description"]
    # Locked now: even the right password is refused.
    assert "access_token" not in sign_in(client, user)
    found = server.store.find_user(user)  # type: ignore[attr-defined]
    server.store.unlock_user(found.id)  # type: ignore[attr-defined]
    # A new application: the old one would replay its cached refusal of this very request.
    assert "access_token" in sign_in(app(server, http, "woodgrove.onmicrosoft.com"), user)


def test_unsupported_grant_and_bad_refresh_tokens(
    server: BackgroundServer, http: requests.Session, keys: KeySet
) -> None:
    url = f"{server.base_url}/contoso.onmicrosoft.com/oauth2/v2.0/token"
    body = http.post(url, data={"grant_type": "implicit", "client_id": CLIENT_ID}).json()
    assert body["error"] == "unsupported_grant_type" and body["error_codes"] == [70003]

    good = sign_in(app(server, http, "contoso.onmicrosoft.com"), CONTOSO_ADMIN)["refresh_token"]
    head, payload, sig = good.split(".")
    tampered = f"{head}.{payload}.{sig[:-4]}AAAA"
    form = {"grant_type": "refresh_token", "client_id": CLIENT_ID, "scope": SCOPES[0]}
    body = http.post(url, data={**form, "refresh_token": tampered}).json()
    assert body["error"] == "invalid_grant" and body["error_codes"] == [9002313]
    # An access token is not a refresh token.
    access = sign_in(app(server, http, "contoso.onmicrosoft.com"), CONTOSO_ADMIN)["access_token"]
    assert http.post(url, data={**form, "refresh_token": access}).json()["error_codes"] == [9002313]
    # Another client may not redeem it.
    other = http.post(url, data={**form, "client_id": str(uuid.uuid4()), "refresh_token": good}).json()
    assert other["error"] == "invalid_grant"
    # Expired (crafted with the server's own key).
    from aobo.frontends.oauth import issue_refresh_token

    old = issue_refresh_token(
        keys,
        issuer="x",
        tenant_guid=tenant_guid(server, "contoso.onmicrosoft.com"),
        user_guid=uuid.uuid4(),
        upn=CONTOSO_ADMIN,
        client_id=CLIENT_ID,
        now=int(time.time()) - 100 * 86400,
    )
    assert http.post(url, data={**form, "refresh_token": old}).json()["error_codes"] == [700082]


def _token(keys: KeySet, tenant: str, **kwargs: Any) -> str:
    values: dict[str, Any] = {
        "issuer": f"https://host/{tenant}/v2.0",
        "tenant_guid": tenant,
        "user_guid": uuid.uuid4(),
        "upn": "someone@example.com",
        "name": "Someone",
        "scopes": ["Exchange.Manage"],
        "client_id": CLIENT_ID,
    }
    return issue_access_token(keys, **{**values, **kwargs})


def test_validation_refuses_tampered_expired_wrong_audience_and_tenant(tmp_path: Path) -> None:
    keys = KeySet.for_settings(tmp_path)
    tenant = str(uuid.uuid4())
    token = _token(keys, tenant)
    assert validate_access_token(token, keys, tenant_guid=tenant)["scp"] == "Exchange.Manage"

    head, _, sig = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    forged_payload = jwt.utils.base64url_encode(
        jwt.api_jws.json.dumps({**claims, "upn": "admin@victim.example"}).encode()
    ).decode()
    cases = {
        "signature": f"{head}.{forged_payload}.{sig}",
        "expired": _token(keys, tenant, now=int(time.time()) - 7200),
        "audience": _token(keys, tenant, audience="https://graph.microsoft.com"),
        "malformed": "not-a-jwt",
    }
    for reason, bad in cases.items():
        with pytest.raises(InvalidToken) as info:
            validate_access_token(bad, keys, tenant_guid=tenant)
        assert info.value.reason == reason, reason
    with pytest.raises(InvalidToken) as info:
        validate_access_token(token, keys, tenant_guid=uuid.uuid4())
    assert info.value.reason == "tenant"
    # A token signed by a key this service does not know.
    stranger = KeySet.for_settings(tmp_path / "elsewhere")
    with pytest.raises(InvalidToken) as info:
        validate_access_token(_token(stranger, tenant), keys, tenant_guid=tenant)
    assert info.value.reason == "signature"
    # alg=none is never accepted.
    unsigned = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(InvalidToken):
        validate_access_token(unsigned, keys, tenant_guid=tenant)


def test_rotation_keeps_old_tokens_valid(server: BackgroundServer, http: requests.Session, keys: KeySet) -> None:
    guid = tenant_guid(server, "contoso.onmicrosoft.com")
    before = sign_in(app(server, http, "contoso.onmicrosoft.com"), CONTOSO_ADMIN)
    old_kid = jwt.get_unverified_header(before["access_token"])["kid"]
    new_kid = rotate_keys(server.settings)
    assert new_kid != old_kid
    after = sign_in(app(server, http, "contoso.onmicrosoft.com"), CONTOSO_ADMIN)
    assert jwt.get_unverified_header(after["access_token"])["kid"] == new_kid
    published = [k["kid"] for k in http.get(f"{server.base_url}/{guid}/discovery/v2.0/keys").json()["keys"]]
    assert published[0] == new_kid and old_kid in published
    for result in (before, after):
        validate_access_token(result["access_token"], keys, tenant_guid=guid)
    # A refresh token from before the rotation still redeems.
    refreshed = app(server, http, "contoso.onmicrosoft.com").acquire_token_by_refresh_token(
        before["refresh_token"], scopes=SCOPES
    )
    assert "access_token" in refreshed, refreshed


def test_existing_routes_still_served(server: BackgroundServer, http: requests.Session) -> None:
    response = http.get(f"{server.base_url}/partner/v1/customers", auth=(PARTNER_ADMIN, PASSWORD))
    assert response.status_code == 200
    assert http.get(f"{server.base_url}/no/such/path").status_code == 404


def test_refresh_token_for_another_tenant_is_aadsts50020(server: BackgroundServer, http: requests.Session) -> None:
    # Contoso's admin has nothing in Woodgrove: its refresh token does not open that tenant.
    refresh = sign_in(app(server, http, "contoso.onmicrosoft.com"), CONTOSO_ADMIN)["refresh_token"]
    body = http.post(
        f"{server.base_url}/woodgrove.onmicrosoft.com/oauth2/v2.0/token",
        data={"grant_type": "refresh_token", "client_id": CLIENT_ID, "scope": SCOPES[0], "refresh_token": refresh},
    ).json()
    assert body["error"] == "invalid_grant" and body["error_codes"] == [50020]


def test_app_tokens_validate_and_are_told_apart(tmp_path: Path) -> None:
    from aobo.frontends.oauth import MANAGE_AS_APP, issue_app_token, token_kind

    keys = KeySet.for_settings(tmp_path)
    tenant = str(uuid.uuid4())
    app_token = issue_app_token(
        keys,
        issuer=f"https://host/{tenant}/v2.0",
        tenant_guid=tenant,
        app_object_id=uuid.uuid4(),
        app_id=uuid.uuid4(),
        app_name="Automation",
        role_ids=["29232cdf-9323-42fd-ade2-1d097af3e4de"],
    )
    claims = validate_access_token(app_token, keys, tenant_guid=tenant)
    assert token_kind(claims) == "app" and claims["roles"] == [MANAGE_AS_APP]
    assert token_kind(validate_access_token(_token(keys, tenant), keys, tenant_guid=tenant)) == "user"
    # An "app" token without application roles (crafted with the service's own key) is not accepted.
    forged = jwt.encode(
        {**claims, "roles": None},
        keys.signing_key.private_key,
        algorithm="RS256",
        headers={"kid": keys.signing_key.kid},
    )
    with pytest.raises(InvalidToken) as info:
        validate_access_token(forged, keys, tenant_guid=tenant)
    assert info.value.reason == "type"
    head, payload, sig = app_token.split(".")
    with pytest.raises(InvalidToken) as info:
        validate_access_token(f"{head}.{payload}.{sig[:-6]}AAAAAA", keys, tenant_guid=tenant)
    assert info.value.reason == "signature"
