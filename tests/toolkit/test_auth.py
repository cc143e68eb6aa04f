"""Token acquisition with msal against the real identity endpoint of a running server: a token per
customer tenant from one sign-in, refresh before expiry, Entra's errors, the persisted cache."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from aobo.domain.seed import DEMO_APP_ID, demo_app_secret
from aobo.toolkit.auth import AppCredential, DeviceCode, TokenProvider
from aobo.toolkit.credential import Credential
from aobo.toolkit.errors import AuthError
from tests.toolkit.conftest import CONTOSO, FABRIKAM, PARTNER_ADMIN, LiveServer

pytestmark = pytest.mark.filterwarnings("ignore:This API has been deprecated for public client flows")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def grants(provider: TokenProvider) -> list[str]:
    """Record the grant type of every request msal sends to a token endpoint."""
    seen: list[str] = []
    post = provider._http.post

    def recording(url: str, *args: Any, **kwargs: Any) -> Any:
        data = kwargs.get("data")
        if url.endswith("/oauth2/v2.0/token") and isinstance(data, dict):
            seen.append(str(data.get("grant_type")))
        return post(url, *args, **kwargs)

    provider._http.post = recording  # type: ignore[method-assign]
    return seen


@pytest.fixture
def provider(live: LiveServer) -> Iterator[TokenProvider]:
    p = TokenProvider(Credential(PARTNER_ADMIN, live.password), authority=base(live), ca_file=live.ca_file)
    yield p
    p.close()


def base(live: LiveServer) -> str:
    """The server's root: the identity endpoint's authority (and the REST base)."""
    return str(live.server.base_url)


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def test_one_sign_in_gives_a_token_per_customer(live: LiveServer, provider: TokenProvider) -> None:
    seen = grants(provider)
    contoso = provider.acquire(CONTOSO)
    fabrikam = provider.acquire(FABRIKAM)
    assert claims(contoso.value)["aud"] == "https://outlook.office365.com"
    assert claims(contoso.value)["tid"] != claims(fabrikam.value)["tid"]
    assert claims(fabrikam.value)["upn"].lower() == PARTNER_ADMIN
    # The password went out once; the second customer's token came from the refresh token.
    assert seen == ["password", "refresh_token"]
    assert provider.acquire(CONTOSO) == contoso  # reused while fresh: no request
    assert seen == ["password", "refresh_token"]


def test_tokens_are_refreshed_before_they_expire(live: LiveServer) -> None:
    clock = Clock(0.0)
    p = TokenProvider(Credential(PARTNER_ADMIN, live.password), authority=base(live), ca_file=live.ca_file, clock=clock)
    try:
        seen = grants(p)
        first = p.acquire(CONTOSO)
        lifetime = first.expires_at
        clock.now = lifetime - 301  # still 301 s left: reused
        assert p.acquire(CONTOSO) is first
        clock.now = lifetime - 299  # under five minutes left: refreshed before use
        second = p.acquire(CONTOSO)
        assert seen == ["password", "refresh_token"]
        assert second.expires_at > first.expires_at
        # Two hours of a fan-out: the token handed out is never within the margin of its expiry.
        for minute in range(0, 120, 7):
            clock.now = minute * 60.0
            token = p.acquire(CONTOSO)
            assert token.remaining(clock.now) >= p.refresh_margin
    finally:
        p.close()


def test_force_refresh_is_what_a_401_asks_for(provider: TokenProvider) -> None:
    seen = grants(provider)
    provider.acquire(CONTOSO)
    provider.invalidate(CONTOSO)
    provider.acquire(CONTOSO, force_refresh=True)
    assert seen == ["password", "refresh_token"]


def test_concurrent_requests_for_one_tenant_sign_in_once(provider: TokenProvider) -> None:
    seen = grants(provider)

    async def many() -> set[str]:
        return set(await asyncio.gather(*(provider.token(CONTOSO) for _ in range(20))))

    assert len(asyncio.run(many())) == 1
    assert seen == ["password"]


def test_entras_errors_come_through_without_the_password(live: LiveServer, provider: TokenProvider) -> None:
    with pytest.raises(AuthError, match=r"No token for woodgrove.onmicrosoft.com: AADSTS50020: ") as caught:
        provider.acquire("woodgrove.onmicrosoft.com")  # not a customer of the partner
    assert "does not exist in tenant" in str(caught.value)
    wrong = TokenProvider(Credential(PARTNER_ADMIN, "Wrong-Password-9"), authority=base(live), ca_file=live.ca_file)
    try:
        with pytest.raises(AuthError, match="AADSTS50126: Error validating credentials") as caught:
            wrong.acquire(CONTOSO)
        assert "Wrong-Password-9" not in str(caught.value)
    finally:
        wrong.close()


def test_the_token_cache_file_is_private_and_reused(live: LiveServer, tmp_path: Path) -> None:
    path = tmp_path / "cache" / "msal.json"
    first = TokenProvider(
        Credential(PARTNER_ADMIN, live.password), authority=base(live), ca_file=live.ca_file, cache_path=path
    )
    try:
        first.acquire(CONTOSO)
    finally:
        first.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert live.password not in path.read_text()
    # A later process signs in from the cache: its password is never checked (it is wrong here).
    later = TokenProvider(
        Credential(PARTNER_ADMIN, "Not-The-Password-1"), authority=base(live), ca_file=live.ca_file, cache_path=path
    )
    try:
        seen = grants(later)
        assert claims(later.acquire(FABRIKAM).value)["upn"].lower() == PARTNER_ADMIN
        assert seen == ["refresh_token"]
    finally:
        later.close()


def test_app_only_with_a_client_secret(live: LiveServer) -> None:
    # The demo partner's app, consented into contoso through the DAP relationship.
    app_id = str(DEMO_APP_ID)
    p = TokenProvider(
        AppCredential(app_id, secret=demo_app_secret(live.password)), authority=base(live), ca_file=live.ca_file
    )
    try:
        token = p.acquire(CONTOSO)
        assert claims(token.value)["appid"] == app_id
        assert claims(token.value)["idtyp"] == "app"
    finally:
        p.close()


def test_device_code_prints_msals_message(live: LiveServer) -> None:
    messages: list[str] = []
    p = TokenProvider(
        DeviceCode(PARTNER_ADMIN), authority=base(live), ca_file=live.ca_file, on_device_code=messages.append
    )
    try:
        flow = p._app(CONTOSO).initiate_device_flow(scopes=p.scopes)
        assert "user_code" in flow and flow.get("message")
    finally:
        p.close()


# ---------------------------------------------------------------------------------------- app-only, device code


class FakeIdP:
    """msal's http_client answering as Entra does for client credentials and the device code flow."""

    BASE = "https://login.microsoftonline.com"

    def __init__(self, user: str = PARTNER_ADMIN) -> None:
        self.grants: list[dict[str, str]] = []
        self.issued = 0
        self.user = user  # who signs in at the device code page

    @staticmethod
    def _response(url: str, payload: dict[str, Any], status: int = 200) -> Any:
        import httpx

        return httpx.Response(status, json=payload, request=httpx.Request("GET", url))

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> Any:
        if "/discovery/instance" in url:  # msal asks before using a token cache of Microsoft's cloud
            host = "login.microsoftonline.com"
            return self._response(
                url,
                {"metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}]},
            )
        tenant = url[len(self.BASE) + 1 :].split("/")[0]
        root = f"{self.BASE}/{tenant}"
        return self._response(
            url,
            {
                "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
                "token_endpoint": f"{root}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
                "issuer": f"{root}/v2.0",
            },
        )

    def post(self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kwargs: Any) -> Any:
        import base64
        import json

        form = dict(data or {})
        if url.endswith("/devicecode"):
            return self._response(
                url,
                {
                    "device_code": "dc",
                    "user_code": "ABCD-EFGH",
                    "verification_uri": "https://microsoft.com/devicelogin",
                    "expires_in": 900,
                    "interval": 0,
                    "message": "To sign in, use a web browser to open https://microsoft.com/devicelogin and enter "
                    "the code ABCD-EFGH to authenticate.",
                },
            )
        self.grants.append(form)
        self.issued += 1
        answer: dict[str, Any] = {"access_token": f"at-{self.issued}", "token_type": "Bearer", "expires_in": 3600}
        if form.get("grant_type") != "client_credentials":
            tenant = url[len(self.BASE) + 1 :].split("/")[0]
            claims = {
                "aud": CLIENT_ID,
                "iss": f"{self.BASE}/{tenant}/v2.0",
                "oid": f"oid-{self.user}",
                "tid": tenant,
                "preferred_username": self.user,
            }
            answer["id_token"] = "e30." + base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
            answer["id_token"] += ".sig"
            info = base64.urlsafe_b64encode(json.dumps({"uid": f"oid-{self.user}", "utid": "home-tid"}).encode())
            answer["client_info"] = info.decode().rstrip("=")
            answer["refresh_token"] = f"rt-{self.issued}"
        return self._response(url, answer)

    def close(self) -> None:
        pass


CLIENT_ID = "fb78d390-0c51-40cd-8e17-fdbfab77341b"


def test_app_only_tokens_per_tenant_refreshed_by_a_new_grant() -> None:
    idp = FakeIdP()
    clock = Clock(1_000_000.0)
    p = TokenProvider(AppCredential("app-id-1", secret="app-secret-1"), clock=clock)
    p._http = idp  # type: ignore[assignment]
    first = p.acquire(CONTOSO)
    assert p.acquire(CONTOSO) is first  # reused
    assert [g["grant_type"] for g in idp.grants] == ["client_credentials"]
    assert idp.grants[0]["client_id"] == "app-id-1" and idp.grants[0]["client_secret"] == "app-secret-1"
    assert idp.grants[0]["scope"].split() == ["https://outlook.office365.com/.default"]
    assert p.acquire(FABRIKAM).value != first.value  # a token per tenant
    forced = p.acquire(CONTOSO, force_refresh=True)  # a 401: msal's cached token is not handed out again
    assert forced.value not in (first.value,)
    clock.now += 3600 - 299  # under five minutes left
    assert p.acquire(CONTOSO).value != forced.value
    assert len(idp.grants) == 4
    assert p.app_only and p.username is None


def test_device_code_is_shown_once_then_every_tenant_is_silent() -> None:
    idp = FakeIdP()
    shown: list[str] = []
    p = TokenProvider(DeviceCode(PARTNER_ADMIN), on_device_code=shown.append)
    p._http = idp  # type: ignore[assignment]
    contoso = p.acquire(CONTOSO)
    fabrikam = p.acquire(FABRIKAM)
    assert contoso.value != fabrikam.value
    assert shown == [
        "To sign in, use a web browser to open https://microsoft.com/devicelogin and enter the code ABCD-EFGH to "
        "authenticate."
    ]
    # One device code grant at the user's home tenant, then refresh tokens for the customers.
    assert [g["grant_type"] for g in idp.grants] == [
        "urn:ietf:params:oauth:grant-type:device_code",
        "refresh_token",
        "refresh_token",
    ]


DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
ALICE = "alice@northwindit.onmicrosoft.com"
BOB = "bob@northwindit.onmicrosoft.com"


def _device_sign_in(cache: Path, user: str, sign_in: DeviceCode) -> tuple[TokenProvider, FakeIdP, list[str]]:
    """A provider on the persisted ``cache`` whose device code page ``user`` would sign in at."""
    idp, shown = FakeIdP(user), []
    p = TokenProvider(sign_in, cache_path=cache, on_device_code=shown.append)
    p._http = idp  # type: ignore[assignment]
    p.acquire(CONTOSO)
    return p, idp, shown


def test_a_device_code_sign_in_never_takes_someone_elses_cached_account(tmp_path: Path) -> None:
    cache = tmp_path / "cache.json"
    _, _, shown = _device_sign_in(cache, ALICE, DeviceCode(ALICE))
    assert len(shown) == 1
    # Only Alice is cached: a DeviceCode without a user name may reuse her sign-in (no new code).
    reuse, idp, shown = _device_sign_in(cache, ALICE, DeviceCode())
    assert shown == [] and idp.grants == []  # her cached access token is still good
    assert reuse.username == ALICE
    # Bob names himself: Alice's cached account is not his.
    _, idp, shown = _device_sign_in(cache, BOB, DeviceCode(BOB))
    # (signed in at his home tenant, then Contoso from the refresh token)
    assert len(shown) == 1 and [g["grant_type"] for g in idp.grants] == [DEVICE_GRANT, "refresh_token"]
    # Two accounts cached and no user name: nobody is picked silently, a device sign-in decides.
    anyone, idp, shown = _device_sign_in(cache, BOB, DeviceCode())
    assert len(shown) == 1 and [g["grant_type"] for g in idp.grants] == [DEVICE_GRANT]
    assert anyone.username == BOB
    # ... and the other tenants then come from that person's refresh token.
    anyone.acquire(FABRIKAM)
    assert [g["grant_type"] for g in idp.grants] == [DEVICE_GRANT, "refresh_token"]
    assert idp.grants[1]["refresh_token"] == "rt-1"


def test_the_authority_must_be_https_unless_insecure() -> None:
    from aobo.toolkit.auth import AuthConfigError

    with pytest.raises(AuthConfigError, match=r"https URL.*insecure=True"):
        TokenProvider(Credential(PARTNER_ADMIN, "x"), authority="http://login.aobo.test:8443")
    with pytest.raises(AuthConfigError, match="https URL"):
        TokenProvider(Credential(PARTNER_ADMIN, "x"), authority="ftp://login.aobo.test", insecure=True)
    plain = TokenProvider(Credential(PARTNER_ADMIN, "x"), authority="http://login.aobo.test:8443", insecure=True)
    assert plain.authority == "http://login.aobo.test:8443"
    plain.close()
