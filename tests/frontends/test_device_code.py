"""The device-code grant against a real server: msal starts a flow and polls while the test, as the
person at a browser, goes through /devicelogin; every refusal has Entra's error; the page is
accessible and safe to put in front of a browser."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import msal
import pytest
import requests

from aobo.domain.seed import seed_demo
from aobo.domain.store import Store
from aobo.frontends.identity.device_flow import USER_CODE_ALPHABET
from aobo.frontends.oauth import AUDIENCE, KeySet, token_kind, validate_access_token
from aobo.server import BackgroundServer
from aobo.settings import Settings
from tests.identity_support import PortKeepingSession

PASSWORD = "Device-Code-1!"
CLIENT_ID = "fb78d390-0c51-40cd-8e17-fdbfab77341b"
SCOPES = [f"{AUDIENCE}/.default"]
CONTOSO = "contoso.onmicrosoft.com"
CONTOSO_ADMIN = "admin@contoso.onmicrosoft.com"
PARTNER_ADMIN = "admin@northwindit.onmicrosoft.com"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
LOCKOUT_THRESHOLD = 3


def _server(data: Path, **settings: Any) -> BackgroundServer:
    store = Store.open(f"sqlite:///{data / 'aobo.db'}")
    store.migrate()
    seed_demo(store, PASSWORD)
    return BackgroundServer(Settings(data_dir=data, **settings), store)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    running = _server(
        tmp_path_factory.mktemp("device-code"), device_code_interval=1, lockout_threshold=LOCKOUT_THRESHOLD
    )
    with running:
        yield running
    assert running.store is not None
    running.store.close()


@pytest.fixture(scope="module")
def http(server: BackgroundServer) -> Iterator[requests.Session]:
    with PortKeepingSession(server.base_url, str(server.ca_file)) as session:
        yield session


def browser_for(server: BackgroundServer) -> PortKeepingSession:
    return PortKeepingSession(server.base_url, str(server.ca_file))


class Page(HTMLParser):
    """The elements of a page with their attributes."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def all(self, tag: str) -> list[dict[str, str]]:
        return [attrs for t, attrs in self.elements if t == tag]

    def field(self, name: str) -> str:
        return next(a["value"] for a in self.all("input") if a.get("name") == name)


def alert_text(html: str) -> str | None:
    """The text of the page's alert (HTML-escaped, as served)."""
    start = html.find('role="alert"')
    if start < 0:
        return None
    return html[html.index(">", start) + 1 : html.index("</p>", start)]


def start_flow(http: requests.Session, server: BackgroundServer, tenant: str = CONTOSO) -> dict[str, Any]:
    response = http.post(
        f"{server.base_url}/{tenant}/oauth2/v2.0/devicecode", data={"client_id": CLIENT_ID, "scope": SCOPES[0]}
    )
    assert response.status_code == 200, response.text
    flow: dict[str, Any] = response.json()
    return flow


def poll(
    http: requests.Session, server: BackgroundServer, flow: dict[str, Any], tenant: str = CONTOSO
) -> dict[str, Any]:
    body: dict[str, Any] = http.post(
        f"{server.base_url}/{tenant}/oauth2/v2.0/token",
        data={"grant_type": DEVICE_GRANT, "client_id": CLIENT_ID, "device_code": flow["device_code"]},
    ).json()
    return body


def sign_in(
    browser: requests.Session, server: BackgroundServer, code: str, user: str, password: str = PASSWORD
) -> requests.Response:
    """Open the page, fill in code, name and password, submit: the consent page (or an error)."""
    form = Page(browser.get(f"{server.base_url}/devicelogin").text)
    return browser.post(
        f"{server.base_url}/devicelogin",
        data={"csrf": form.field("csrf"), "step": "signin", "otc": code, "username": user, "password": password},
    )


def consent(
    browser: requests.Session, server: BackgroundServer, page: requests.Response, action: str
) -> requests.Response:
    form = Page(page.text)
    return browser.post(
        f"{server.base_url}/devicelogin",
        data={"csrf": form.field("csrf"), "step": "consent", "ticket": form.field("ticket"), "action": action},
    )


def approve(browser: requests.Session, server: BackgroundServer, code: str, user: str) -> requests.Response:
    page = sign_in(browser, server, code, user)
    assert page.status_code == 200, alert_text(page.text)
    assert "Are you trying to sign in" in page.text
    return consent(browser, server, page, "continue")


def tenant_guid(server: BackgroundServer, domain: str) -> str:
    assert server.store is not None
    tenant = server.store.resolve_tenant(domain)
    assert tenant is not None
    return str(tenant.guid)


def test_msal_device_flow_end_to_end(server: BackgroundServer, http: requests.Session) -> None:
    client = msal.PublicClientApplication(
        CLIENT_ID,
        authority=f"{server.base_url}/{CONTOSO}",
        validate_authority=False,
        instance_discovery=False,
        http_client=http,
    )
    flow = client.initiate_device_flow(scopes=SCOPES)
    assert "user_code" in flow, flow
    code = flow["user_code"]
    assert len(code) == 9 and set(code) <= set(USER_CODE_ALPHABET)
    uri = f"{server.base_url}/devicelogin"
    assert flow["verification_uri"] == uri
    assert flow["message"] == (
        f"To sign in, use a web browser to open the page {uri} and enter the code {code} to authenticate."
    )
    assert flow["expires_in"] == 900 and flow["interval"] == 1

    outcome: dict[str, Any] = {}

    def person() -> None:
        time.sleep(1.5)  # msal polls meanwhile and is told to wait
        with browser_for(server) as browser:
            # Typed in lower case: still the code.
            outcome["page"] = approve(browser, server, code.lower(), CONTOSO_ADMIN).text

    thread = threading.Thread(target=person)
    thread.start()
    result = client.acquire_token_by_device_flow(flow)
    thread.join(10)
    assert "access_token" in result, result
    assert "You have signed in" in outcome["page"]
    keys = KeySet.for_settings(server.settings)
    claims = validate_access_token(result["access_token"], keys, tenant_guid=tenant_guid(server, CONTOSO))
    assert token_kind(claims) == "user"
    assert claims["upn"] == CONTOSO_ADMIN and claims["scp"] == "Exchange.Manage"
    assert result["id_token_claims"]["preferred_username"] == CONTOSO_ADMIN
    # The device code worked once; polling with it again is refused.
    assert poll(http, server, flow)["error"] == "bad_verification_code"
    # So did the user code.
    with browser_for(server) as browser:
        again = sign_in(browser, server, code, CONTOSO_ADMIN)
    assert again.status_code == 400
    assert alert_text(again.text) == "That code didn&#x27;t work. Check the code and try again."


def test_partner_admin_approves_for_a_customer(server: BackgroundServer, http: requests.Session) -> None:
    fabrikam = "fabrikam.onmicrosoft.com"
    flow = start_flow(http, server, fabrikam)
    with browser_for(server) as browser:
        assert "You have signed in" in approve(browser, server, flow["user_code"], PARTNER_ADMIN).text
    body = poll(http, server, flow, fabrikam)
    assert "access_token" in body, body
    keys = KeySet.for_settings(server.settings)
    claims = validate_access_token(body["access_token"], keys, tenant_guid=tenant_guid(server, fabrikam))
    assert claims["upn"] == PARTNER_ADMIN


def test_pending_slow_down_and_unknown_codes(server: BackgroundServer, http: requests.Session) -> None:
    flow = start_flow(http, server)
    pending = poll(http, server, flow)
    assert pending["error"] == "authorization_pending" and pending["error_codes"] == [70016]
    assert poll(http, server, flow)["error"] == "slow_down"
    time.sleep(1.1)
    assert poll(http, server, flow)["error"] == "authorization_pending"
    unknown = poll(http, server, {"device_code": "not-a-device-code"})
    assert unknown["error"] == "bad_verification_code" and unknown["error_codes"] == [70018]
    # A device code only works for the client it was issued to.
    other = http.post(
        f"{server.base_url}/{CONTOSO}/oauth2/v2.0/token",
        data={
            "grant_type": DEVICE_GRANT,
            "client_id": "00000000-0000-0000-0000-000000000001",
            "device_code": flow["device_code"],
        },
    ).json()
    assert other["error"] == "bad_verification_code"
    # Asking for another resource is refused before anyone signs in.
    bad = http.post(
        f"{server.base_url}/{CONTOSO}/oauth2/v2.0/devicecode",
        data={"client_id": CLIENT_ID, "scope": "https://graph.microsoft.com/.default"},
    ).json()
    assert bad["error_codes"] == [500011]


def test_cancel_declines_the_device(server: BackgroundServer, http: requests.Session) -> None:
    flow = start_flow(http, server)
    with browser_for(server) as browser:
        page = sign_in(browser, server, flow["user_code"], CONTOSO_ADMIN)
        assert "You cancelled the sign-in" in consent(browser, server, page, "cancel").text
        # The consent form cannot be sent again to approve after all.
        assert consent(browser, server, page, "continue").status_code == 400
    body = poll(http, server, flow)
    assert body["error"] == "authorization_declined"
    assert body["error_description"].startswith("AADSTS65004: User declined to consent to access the app.")


def test_expired_code(tmp_path: Path) -> None:
    running = _server(tmp_path, device_code_interval=1, device_code_lifetime=1)
    with running, browser_for(running) as http:
        flow = start_flow(http, running)
        assert flow["expires_in"] == 1
        time.sleep(1.2)
        page = sign_in(http, running, flow["user_code"], CONTOSO_ADMIN)
        assert page.status_code == 400
        assert alert_text(page.text) == (
            "The code you entered has expired. Get a new code from the device you&#x27;re trying to sign in to "
            "and try again."
        )
        body = poll(http, running, flow)
        assert body["error"] == "expired_token" and body["error_codes"] == [70019]
        # Once reported, the code is gone.
        assert poll(http, running, flow)["error"] == "bad_verification_code"
    assert running.store is not None
    running.store.close()


def test_wrong_password_lockout_and_other_tenant_on_the_page(server: BackgroundServer, http: requests.Session) -> None:
    flow = start_flow(http, server, "tailspintoys.onmicrosoft.com")
    user = "admin@tailspintoys.onmicrosoft.com"
    with browser_for(server) as browser:
        for attempt in range(LOCKOUT_THRESHOLD):
            page = sign_in(browser, server, flow["user_code"], user, f"wrong-{attempt}")
            assert page.status_code == 400
            assert alert_text(page.text) == (
                "Your account or password is incorrect. If you don&#x27;t remember your password, reset it now."
            )
            # The code and the name stay filled in; the password does not.
            form = Page(page.text)
            assert form.field("otc") == flow["user_code"] and form.field("username") == user
            assert all(not a.get("value") for a in form.all("input") if a.get("name") == "password")
        # Locked now: the right password is refused too.
        assert sign_in(browser, server, flow["user_code"], user).status_code == 400
        # A partner admin approving a code requested for a tenant that is not its customer.
        woodgrove = start_flow(http, server, "woodgrove.onmicrosoft.com")
        refused = sign_in(browser, server, woodgrove["user_code"], PARTNER_ADMIN)
        assert refused.status_code == 403
        assert (alert_text(refused.text) or "").startswith("AADSTS50020: User account")
    assert poll(http, server, woodgrove, "woodgrove.onmicrosoft.com")["error"] == "authorization_pending"


def test_page_is_accessible_and_locked_down(server: BackgroundServer, http: requests.Session) -> None:
    response = http.get(f"{server.base_url}/devicelogin")
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == "default-src 'none'; style-src 'unsafe-inline'"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    error_html = sign_in(http, server, "BADCODE99", CONTOSO_ADMIN).text
    for html in (response.text, error_html):
        page = Page(html)
        assert page.all("html")[0].get("lang") == "en"
        assert len(page.all("h1")) == 1
        assert not page.all("script")
        labelled = {label["for"] for label in page.all("label")}
        visible = [i for i in page.all("input") if i.get("type") != "hidden"]
        assert visible and all(i["id"] in labelled for i in visible)
        assert all(i.get("autocomplete") for i in visible)
        assert ":focus-visible" in html
    error_page = Page(error_html)
    alerts = [a for a in error_page.all("p") if a.get("role") == "alert"]
    assert len(alerts) == 1
    visible = [i for i in error_page.all("input") if i.get("type") != "hidden"]
    assert all(i.get("aria-describedby") == alerts[0]["id"] for i in visible)


def test_forms_need_their_anti_csrf_token(server: BackgroundServer, http: requests.Session) -> None:
    flow = start_flow(http, server)
    url = f"{server.base_url}/devicelogin"
    base = {"step": "signin", "otc": flow["user_code"], "username": CONTOSO_ADMIN, "password": PASSWORD}
    for csrf in ("", "1.2.3", Page(http.get(url).text).field("csrf")[:-2] + "00"):
        response = http.post(url, data={**base, "csrf": csrf})
        assert response.status_code == 400
        assert "timed out" in (alert_text(response.text) or "")
    # The consent step's token is bound to its own ticket: the sign-in form's token does not do.
    form = Page(sign_in(http, server, flow["user_code"], CONTOSO_ADMIN).text)
    forged = http.post(
        url,
        data={
            "step": "consent",
            "ticket": form.field("ticket"),
            "csrf": Page(http.get(url).text).field("csrf"),
            "action": "continue",
        },
    )
    assert forged.status_code == 400
    assert poll(http, server, flow)["error"] == "authorization_pending"


def test_client_id_and_scope_are_bounded(server: BackgroundServer, http: requests.Session) -> None:
    url = f"{server.base_url}/{CONTOSO}/oauth2/v2.0/devicecode"
    for client_id in ("x" * 60_000, "not-a-guid", CLIENT_ID + "0"):
        response = http.post(url, data={"client_id": client_id, "scope": SCOPES[0]})
        body = response.json()
        assert response.status_code == 400 and body["error_codes"] == [700016], client_id
        assert body["error"] == "unauthorized_client"
        assert len(body["error_description"]) < 1000  # a huge id is not echoed back
    padded = SCOPES[0] + " " + "offline_access " * 200
    response = http.post(url, data={"client_id": CLIENT_ID, "scope": padded})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope" and response.json()["error_codes"] == [70011]
    # The ordinary request still works.
    assert "device_code" in start_flow(http, server)


def test_pending_codes_per_client_address_are_capped(tmp_path: Path) -> None:
    from aobo.frontends.identity.device_flow import PER_CLIENT

    running = _server(tmp_path, device_code_interval=1, device_code_lifetime=2)
    with running, browser_for(running) as http:
        for _ in range(PER_CLIENT):
            start_flow(http, running)
        refused = http.post(
            f"{running.base_url}/{CONTOSO}/oauth2/v2.0/devicecode", data={"client_id": CLIENT_ID, "scope": SCOPES[0]}
        )
        assert refused.status_code == 429
        assert refused.json()["error"] == "temporarily_unavailable"
        assert 1 <= int(refused.headers["Retry-After"]) <= 3
        # Expired codes no longer count.
        time.sleep(2.1)
        assert "device_code" in start_flow(http, running)
    assert running.store is not None
    running.store.close()


def test_a_grant_repr_shows_no_codes_or_ticket() -> None:
    from aobo.domain.models import User
    from aobo.frontends.identity.device_flow import DeviceFlows

    flows = DeviceFlows()
    grant = flows.start(CLIENT_ID, SCOPES[0], None, "192.0.2.1")
    user = User(1, 1, uuid.uuid4(), CONTOSO_ADMIN, "Admin", True, frozenset(), False)
    ticket = flows.offer_consent(grant, user)
    text = repr(grant)
    assert CLIENT_ID in text
    for secret in (grant.device_code, grant.user_code, ticket):
        assert secret not in text


def test_an_account_locked_after_approval_gets_no_token(server: BackgroundServer, http: requests.Session) -> None:
    tenant, user = "woodgrove.onmicrosoft.com", "admin@woodgrove.onmicrosoft.com"
    assert server.store is not None
    flow = start_flow(http, server, tenant)
    with browser_for(server) as browser:
        assert "You have signed in" in approve(browser, server, flow["user_code"], user).text
    # Locked out (wrong passwords elsewhere) between the approval and the device's next poll.
    for attempt in range(LOCKOUT_THRESHOLD):
        http.post(
            f"{server.base_url}/{tenant}/oauth2/v2.0/token",
            data={
                "grant_type": "password",
                "client_id": CLIENT_ID,
                "scope": SCOPES[0],
                "username": user,
                "password": f"wrong-{attempt}",
            },
        )
    found = server.store.find_user(user)
    assert found is not None and found.locked_out
    try:
        body = poll(http, server, flow, tenant)
        assert body["error"] == "invalid_grant" and body["error_codes"] == [50053]
        assert "access_token" not in body
        # The device code is spent either way.
        time.sleep(1.1)
        assert poll(http, server, flow, tenant)["error"] == "bad_verification_code"
    finally:
        server.store.unlock_user(found.id)
