"""The REST admin API (InvokeCommand, $batch, EXOModuleFile) against a real server, with httpx as the
client and tokens from the server's own identity endpoint (msal) or signed with its keys."""

from __future__ import annotations

import ssl
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import msal
import pytest

from aobo.cmdlets import roles
from aobo.cmdlets.exchange.mailbox_object import MAILBOX_SHAPE
from aobo.domain.models import Tenant
from aobo.domain.seed import DEMO_APP_ID, demo_app_secret
from aobo.frontends.oauth import AUDIENCE, KeySet, issue_access_token, issuer_for
from aobo.server import BackgroundServer
from tests.e2e.helpers import WARNING_1000, Endpoint, errors_of, objects_of, run
from tests.identity_support import PortKeepingSession
from tests.servers import seeded_server

PASSWORD = "Rest-Test-Password-1!"
PARTNER_ADMIN = "admin@northwindit.onmicrosoft.com"
PARTNER_HELPDESK = "helpdesk@northwindit.onmicrosoft.com"
PARTNER_NORPS = "norps@northwindit.onmicrosoft.com"
CONTOSO_ADMIN = "admin@contoso.onmicrosoft.com"
CLIENT_ID = "fb78d390-0c51-40cd-8e17-fdbfab77341b"

pytestmark = pytest.mark.filterwarnings("ignore:This API has been deprecated for public client flows")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    data: Path = tmp_path_factory.mktemp("rest")
    with seeded_server(data, PASSWORD) as running:
        yield running


@pytest.fixture(scope="module")
def http(server: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.base_url,
        verify=ssl.create_default_context(cafile=str(server.ca_file)),
        trust_env=False,
        timeout=60,
    ) as client:
        yield client


def tenant(server: BackgroundServer, name: str) -> Tenant:
    found = server.store.resolve_tenant(name)
    assert found is not None
    return found


def mint(
    server: BackgroundServer,
    upn: str,
    org: str,
    *,
    now: int | None = None,
    audience: str = AUDIENCE,
    signed_for: str | None = None,
) -> str:
    """An access token signed with the server's keys, as its identity endpoint would issue one."""
    user = server.store.find_user(upn)
    assert user is not None
    target = tenant(server, org)
    issuer_tenant = tenant(server, signed_for) if signed_for else target
    return issue_access_token(
        KeySet.for_settings(server.settings),
        issuer=issuer_for(server.base_url, issuer_tenant.guid),
        tenant_guid=issuer_tenant.guid,
        user_guid=user.guid,
        upn=upn,
        name=user.display_name,
        scopes=["Exchange.Manage"],
        client_id=CLIENT_ID,
        audience=audience,
        now=now,
    )


def msal_token(server: BackgroundServer, upn: str, org: str) -> str:
    with PortKeepingSession(server.base_url, str(server.ca_file)) as session:
        app = msal.PublicClientApplication(
            CLIENT_ID,
            authority=f"{server.base_url}/{org}",
            validate_authority=False,
            instance_discovery=False,
            http_client=session,
        )
        result = app.acquire_token_by_username_password(upn, PASSWORD, scopes=[f"{AUDIENCE}/.default"])
    assert "access_token" in result, result
    return str(result["access_token"])


def invoke(
    http: httpx.Client,
    token: str,
    org: str,
    cmdlet: str,
    parameters: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
    query: str = "",
    version: str = "beta",
) -> httpx.Response:
    body: dict[str, Any] = {"CmdletInput": {"CmdletName": cmdlet}}
    if parameters is not None:
        body["CmdletInput"]["Parameters"] = parameters
    return http.post(
        f"/adminapi/{version}/{org}/InvokeCommand{query}",
        json=body,
        headers={"Authorization": f"Bearer {token}", **(headers or {})},
    )


def detail(response: httpx.Response) -> str:
    """The error text where CIPP reads it first: ``error.details[0].message``'s last part."""
    return str(response.json()["error"]["details"][0]["message"]).split("|", 2)[2]


@pytest.fixture(scope="module")
def admin_fabrikam(server: BackgroundServer) -> str:
    return mint(server, PARTNER_ADMIN, "fabrikam.onmicrosoft.com")


# --- happy paths -------------------------------------------------------------------------------


def test_msal_token_runs_get_mailbox_with_psrp_property_names(server: BackgroundServer, http: httpx.Client) -> None:
    token = msal_token(server, CONTOSO_ADMIN, "contoso.onmicrosoft.com")
    guid = str(tenant(server, "contoso.onmicrosoft.com").guid)
    response = invoke(http, token, guid, "Get-Mailbox", {"ResultSize": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.context"] == f"{server.base_url}/adminapi/beta/$metadata#Collection(Exchange.GenericHashTable)"
    assert body["adminapi.warnings@odata.type"] == "#Collection(String)"
    assert len(body["value"]) == 2 and "@odata.nextLink" not in body
    first = body["value"][0]
    assert list(first) == list(MAILBOX_SHAPE.property_names)
    assert first["PrimarySmtpAddress"].split("@")[1] in ("contoso.com", "contoso.onmicrosoft.com")
    assert isinstance(first["EmailAddresses"], list) and first["RecipientTypeDetails"] in (
        "UserMailbox",
        "SharedMailbox",
    )
    assert uuid.UUID(first["ExchangeGuid"])
    # Same object by identity, in both URL forms of the tenant and both API versions.
    for org, version in (("contoso.onmicrosoft.com", "v1.0"), ("CONTOSO.COM", "beta")):
        again = invoke(http, token, org, "get-mailbox", {"Identity": first["PrimarySmtpAddress"]}, version=version)
        assert again.status_code == 200, again.text
        assert again.json()["value"] == [first]


def test_partner_admin_into_dap_customer(server: BackgroundServer, http: httpx.Client) -> None:
    token = msal_token(server, PARTNER_ADMIN, "fabrikam.onmicrosoft.com")
    response = invoke(http, token, "fabrikam.onmicrosoft.com", "Get-Mailbox", {"ResultSize": "1"})
    assert response.status_code == 200, response.text
    assert response.json()["value"][0]["PrimarySmtpAddress"].endswith(("@fabrikam.com", "@fabrikam.onmicrosoft.com"))


def test_objects_match_psrp(server: BackgroundServer, http: httpx.Client, admin_fabrikam: str) -> None:
    """The same mailboxes over PSRP (pypsrp) and REST: the same properties with the same values."""
    rest = invoke(http, admin_fabrikam, "fabrikam.onmicrosoft.com", "Get-Mailbox", {"ResultSize": 3}).json()["value"]
    endpoint = Endpoint(server, PASSWORD)
    with endpoint.pool(PARTNER_ADMIN, "fabrikam.onmicrosoft.com") as pool:
        ps = run(pool, "Get-Mailbox", ("ResultSize", 3))
        psrp = objects_of(ps)
    assert [r["Guid"] for r in rest] == [str(p["Guid"]) for p in psrp]
    for r, p in zip(rest, psrp, strict=True):
        assert set(r) == set(p)
        for name in ("Name", "Alias", "PrimarySmtpAddress", "DisplayName", "HiddenFromAddressListsEnabled"):
            assert r[name] == p[name], name
        assert r["EmailAddresses"] == list(p["EmailAddresses"])
        assert r["RecipientTypeDetails"] == str(p["RecipientTypeDetails"])


def test_default_result_size_warning_in_adminapi_warnings(http: httpx.Client, admin_fabrikam: str) -> None:
    response = invoke(http, admin_fabrikam, "fabrikam.onmicrosoft.com", "Get-Mailbox", {}, headers={})
    assert response.status_code == 200
    body = response.json()
    assert len(body["value"]) == 1000
    assert body["@adminapi.warnings"] == [WARNING_1000]
    assert "@odata.nextLink" not in body


def test_select_trims_properties(http: httpx.Client, admin_fabrikam: str) -> None:
    response = invoke(
        http,
        admin_fabrikam,
        "fabrikam.onmicrosoft.com",
        "Get-Mailbox",
        {"ResultSize": 2},
        query="?$select=primarysmtpaddress,Name,NoSuchProperty",
    )
    assert response.status_code == 200
    assert [list(v) for v in response.json()["value"]] == [["PrimarySmtpAddress", "Name"]] * 2


# --- paging ------------------------------------------------------------------------------------


def _all_pages(http: httpx.Client, token: str, first: httpx.Response, *, repost: bool) -> list[dict[str, Any]]:
    body = first.json()
    seen = list(body["value"])
    pages = 1
    while "@odata.nextLink" in body:
        link = body["@odata.nextLink"]
        headers = {"Authorization": f"Bearer {token}", "Prefer": "odata.maxpagesize=200"}
        if repost:  # CIPP re-POSTs the first page's body to the link
            body_json = {"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"ResultSize": "Unlimited"}}}
            response = http.post(link, json=body_json, headers=headers)
        else:
            response = http.get(link, headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["Preference-Applied"] == "odata.maxpagesize=200"
        body = response.json()
        seen += body["value"]
        pages += 1
    assert pages == -(-len(seen) // 200)
    return seen


@pytest.mark.parametrize("repost", [True, False], ids=["re-post", "get"])
def test_paging_returns_every_mailbox_once_in_order(
    server: BackgroundServer, http: httpx.Client, admin_fabrikam: str, repost: bool
) -> None:
    fabrikam = tenant(server, "fabrikam.onmicrosoft.com")
    first = invoke(
        http,
        admin_fabrikam,
        "fabrikam.onmicrosoft.com",
        "Get-Mailbox",
        {"ResultSize": "Unlimited"},
        headers={"Prefer": "odata.maxpagesize = 200;odata.continue-on-error"},
    )
    assert first.status_code == 200, first.text
    assert first.headers["Preference-Applied"] == "odata.maxpagesize=200"
    assert "$skiptoken=" in first.json()["@odata.nextLink"]
    seen = _all_pages(http, admin_fabrikam, first, repost=repost)
    guids = [m["Guid"] for m in seen]
    assert len(guids) == len(set(guids)) == server.store.count_mailboxes(fabrikam.id)
    whole = invoke(
        http,
        admin_fabrikam,
        "fabrikam.onmicrosoft.com",
        "Get-Mailbox",
        {"ResultSize": "Unlimited"},
        headers={"Prefer": "odata.maxpagesize=10000"},
    ).json()
    assert "@odata.nextLink" not in whole
    assert [m["Guid"] for m in whole["value"]] == guids


def test_cursor_is_bound_to_its_caller_and_used_once(server: BackgroundServer, http: httpx.Client) -> None:
    admin = mint(server, PARTNER_ADMIN, "fabrikam.onmicrosoft.com")
    helpdesk = mint(server, PARTNER_HELPDESK, "fabrikam.onmicrosoft.com")
    first = invoke(
        http,
        admin,
        "fabrikam.onmicrosoft.com",
        "Get-Mailbox",
        {"ResultSize": 30},
        headers={"Prefer": "odata.maxpagesize=10"},
    ).json()
    link = first["@odata.nextLink"]
    stolen = http.get(link, headers={"Authorization": f"Bearer {helpdesk}"})
    assert stolen.status_code == 400
    assert "is not known" in detail(stolen)
    # The owner still reads its page; the link then stops working (each page has a new token).
    second = http.get(link, headers={"Authorization": f"Bearer {admin}", "Prefer": "odata.maxpagesize=10"})
    assert second.status_code == 200
    assert [m["Guid"] for m in second.json()["value"]] != [m["Guid"] for m in first["value"]]
    replay = http.get(link, headers={"Authorization": f"Bearer {admin}"})
    assert replay.status_code == 400 and "already used" in detail(replay)
    # Another tenant's URL with the same token is refused before the cursor is looked at.
    other = http.get(link.replace(str(tenant(server, "fabrikam.onmicrosoft.com").guid), "contoso.onmicrosoft.com"))
    assert other.status_code == 401


def test_next_page_with_another_cmdlet_is_refused(
    server: BackgroundServer, http: httpx.Client, admin_fabrikam: str
) -> None:
    first = invoke(
        http,
        admin_fabrikam,
        "fabrikam.onmicrosoft.com",
        "Get-Mailbox",
        {"ResultSize": 5},
        headers={"Prefer": "odata.maxpagesize=2"},
    ).json()
    response = http.post(
        first["@odata.nextLink"],
        json={"CmdletInput": {"CmdletName": "Get-Recipient"}},
        headers={"Authorization": f"Bearer {admin_fabrikam}"},
    )
    assert response.status_code == 400
    assert "belongs to Get-Mailbox, not Get-Recipient" in detail(response)
    # A next page asked for with a body that is not JSON is refused, and its listing is closed.
    second = invoke(
        http,
        admin_fabrikam,
        "fabrikam.onmicrosoft.com",
        "Get-Mailbox",
        {"ResultSize": 5},
        headers={"Prefer": "odata.maxpagesize=2"},
    ).json()
    rest = server.app.state.rest
    held = len(rest.cursors)
    broken = http.post(
        second["@odata.nextLink"], content=b"{oops", headers={"Authorization": f"Bearer {admin_fabrikam}"}
    )
    assert broken.status_code == 400 and "not valid JSON" in detail(broken)
    assert len(rest.cursors) == held - 1
    fabrikam = tenant(server, "fabrikam.onmicrosoft.com")
    latest = server.store.audit_entries(target_tenant_id=fabrikam.id, limit=1)[0]
    assert latest.cmdlet == "Get-Mailbox" and not latest.succeeded
    assert latest.error == "The next page was asked for with a body that could not be read."


# --- authentication and access -------------------------------------------------------------------


def _www_authenticate(response: httpx.Response) -> str:
    assert response.status_code == 401, response.text
    header = response.headers["WWW-Authenticate"]
    assert header.startswith('Bearer realm="", error="invalid_token", error_description="')
    return header


def test_token_errors_are_401_with_distinct_descriptions(server: BackgroundServer, http: httpx.Client) -> None:
    org = "fabrikam.onmicrosoft.com"
    good = mint(server, PARTNER_ADMIN, org)
    cases = {
        "missing": http.post(f"/adminapi/beta/{org}/InvokeCommand", json={}),
        "basic": http.post(f"/adminapi/beta/{org}/InvokeCommand", json={}, headers={"Authorization": "Basic YTpi"}),
        "tampered": invoke(http, good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"), org, "Get-Mailbox"),
        "garbage": invoke(http, "not-a-jwt", org, "Get-Mailbox"),
        "expired": invoke(http, mint(server, PARTNER_ADMIN, org, now=int(time.time()) - 7200), org, "Get-Mailbox"),
        "audience": invoke(
            http, mint(server, PARTNER_ADMIN, org, audience="https://graph.microsoft.com"), org, "Get-Mailbox"
        ),
        "other tenant": invoke(http, mint(server, CONTOSO_ADMIN, "contoso.onmicrosoft.com"), org, "Get-Mailbox"),
        "unknown tenant": invoke(http, good, "nowhere.example", "Get-Mailbox"),
    }
    descriptions = {name: _www_authenticate(r) for name, r in cases.items()}
    assert "no bearer access token" in descriptions["missing"]
    assert descriptions["basic"] == descriptions["missing"]
    assert "signature is invalid" in descriptions["tampered"]
    assert "not a well-formed JWT" in descriptions["garbage"]
    assert "expired" in descriptions["expired"]
    assert "audience" in descriptions["audience"]
    assert "not issued for the organization" in descriptions["other tenant"]
    # An unknown organization is refused like another, known one: nothing tells which tenants exist.
    assert descriptions["unknown tenant"] == descriptions["other tenant"]
    unknown_garbage = invoke(http, "not-a-jwt", "nowhere.example", "Get-Mailbox")
    assert _www_authenticate(unknown_garbage) == descriptions["garbage"]
    body = cases["expired"].json()
    assert body["error"]["code"] == "Unauthorized"
    assert "expired" in body["error"]["innererror"]["internalexception"]["message"]
    # The server keeps serving.
    assert invoke(http, good, org, "Get-Mailbox", {"ResultSize": 1}).status_code == 200


def test_no_relationship_is_403(server: BackgroundServer, http: httpx.Client) -> None:
    # A token the identity endpoint would never issue (woodgrove is not a customer), signed anyway.
    token = mint(server, PARTNER_ADMIN, "woodgrove.onmicrosoft.com")
    response = invoke(http, token, "woodgrove.onmicrosoft.com", "Get-Mailbox")
    assert response.status_code == 403, response.text
    assert "no active delegated administration relationship" in detail(response)
    assert response.json()["error"]["code"] == "Forbidden"


def test_remote_powershell_disabled_is_403(server: BackgroundServer, http: httpx.Client) -> None:
    token = mint(server, PARTNER_NORPS, "northwindit.onmicrosoft.com")
    response = invoke(http, token, "northwindit.onmicrosoft.com", "Get-Mailbox")
    assert response.status_code == 403, response.text
    assert "RemotePowerShellEnabled is False" in detail(response)


def test_locked_out_account_token_is_refused(server: BackgroundServer, http: httpx.Client) -> None:
    store = server.store
    token = mint(server, CONTOSO_ADMIN, "contoso.onmicrosoft.com")
    assert invoke(http, token, "contoso.onmicrosoft.com", "Get-Mailbox", {"ResultSize": 1}).status_code == 200
    user = store.find_user(CONTOSO_ADMIN)
    store._update_user(user.id, locked_out=True, locked_until=None)
    try:
        response = invoke(http, token, "contoso.onmicrosoft.com", "Get-Mailbox", {"ResultSize": 1})
        assert "no longer exists, or is locked out" in _www_authenticate(response)
    finally:
        store._update_user(user.id, locked_out=False, locked_until=None, failed_logins=0)


def test_unknown_cmdlet_and_role_refusal_use_the_engine_texts(server: BackgroundServer, http: httpx.Client) -> None:
    admin = mint(server, PARTNER_ADMIN, "contoso.onmicrosoft.com")
    unknown = invoke(http, admin, "contoso.onmicrosoft.com", "Get-Nothing")
    assert unknown.status_code == 400
    assert detail(unknown).startswith("The term 'Get-Nothing' is not recognized")
    assert "CommandNotFoundException" in unknown.json()["error"]["details"][0]["message"]
    helpdesk = mint(server, PARTNER_HELPDESK, "contoso.onmicrosoft.com")
    refused = invoke(http, helpdesk, "contoso.onmicrosoft.com", "Set-OrganizationConfig", {"AuditDisabled": True})
    assert refused.status_code == 403, refused.text
    assert "CmdletAccessDeniedException" in refused.json()["error"]["details"][0]["message"]


@pytest.mark.parametrize(
    "parameters",
    [
        {"Bogus": "x"},
        {"ResultSize": "lots"},
        {"Identity": "a", "Anr": "b"},
        {"RecipientTypeDetails": "NoSuchType"},
    ],
    ids=["unknown parameter", "bad value", "parameter sets", "bad enum"],
)
def test_binder_errors_match_psrp(server: BackgroundServer, http: httpx.Client, parameters: dict[str, Any]) -> None:
    token = mint(server, PARTNER_ADMIN, "contoso.onmicrosoft.com")
    response = invoke(http, token, "contoso.onmicrosoft.com", "Get-Mailbox", parameters)
    assert response.status_code == 400, response.text
    with Endpoint(server, PASSWORD).pool(PARTNER_ADMIN, "contoso.onmicrosoft.com") as pool:
        ps = run(pool, "Get-Mailbox", *parameters.items())
        psrp_errors = errors_of(ps)
    assert psrp_errors and detail(response) == psrp_errors[0]
    assert response.json()["error"]["innererror"]["internalexception"]["message"] == psrp_errors[0]


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"", "The request body is empty"),
        (b"{not json", "The request body is not valid JSON"),
        (b"[1, 2]", "must be a JSON object with a CmdletInput member"),
        (b'{"Cmdlet": {}}', "has no CmdletInput object"),
        (b'{"CmdletInput": {"Parameters": {}}}', "CmdletInput has no CmdletName"),
        (b'{"CmdletInput": {"CmdletName": "Get-Mailbox; Remove-Mailbox"}}', "is not a cmdlet name"),
        (b'{"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": ["Identity", "x"]}}', "must be a JSON object"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_malformed_bodies_are_400(http: httpx.Client, admin_fabrikam: str, body: bytes, text: str) -> None:
    response = http.post(
        "/adminapi/beta/fabrikam.onmicrosoft.com/InvokeCommand",
        content=body,
        headers={"Authorization": f"Bearer {admin_fabrikam}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert text in error["message"]
    assert text in error["details"][0]["message"] and text in error["innererror"]["internalexception"]["message"]


def test_oversize_body_is_refused_and_server_keeps_serving(
    server: BackgroundServer, http: httpx.Client, admin_fabrikam: str
) -> None:
    limit = server.settings.max_request_size
    big = b'{"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"Identity": "' + b"x" * limit + b'"}}}'
    response = http.post(
        "/adminapi/beta/fabrikam.onmicrosoft.com/InvokeCommand",
        content=big,
        headers={"Authorization": f"Bearer {admin_fabrikam}"},
    )
    assert response.status_code == 413
    assert f"larger than {limit} bytes" in response.json()["error"]["message"]
    ok = invoke(http, admin_fabrikam, "fabrikam.onmicrosoft.com", "Get-Mailbox", {"ResultSize": 1})
    assert ok.status_code == 200


def test_unknown_routes_and_methods(http: httpx.Client, admin_fabrikam: str) -> None:
    auth = {"Authorization": f"Bearer {admin_fabrikam}"}
    assert http.post("/adminapi/v2.5/fabrikam.onmicrosoft.com/InvokeCommand", headers=auth).status_code == 404
    assert http.post("/adminapi/beta/fabrikam.onmicrosoft.com/Mailbox", headers=auth).status_code == 404
    put = http.put("/adminapi/beta/fabrikam.onmicrosoft.com/InvokeCommand", headers=auth)
    assert put.status_code == 405 and "POST" in put.headers["Allow"]
    get = http.get("/adminapi/beta/fabrikam.onmicrosoft.com/InvokeCommand", headers=auth)
    assert get.status_code == 405


# --- writes ------------------------------------------------------------------------------------


def test_set_mailbox_returns_empty_value_and_changes(server: BackgroundServer, http: httpx.Client) -> None:
    token = mint(server, PARTNER_ADMIN, "tailspintoys.onmicrosoft.com")
    org = "tailspintoys.onmicrosoft.com"
    target = invoke(http, token, org, "Get-Mailbox", {"ResultSize": 1}).json()["value"][0]
    identity = target["PrimarySmtpAddress"]
    new_address = f"smtp:rest-{uuid.uuid4().hex[:8]}@{identity.split('@')[1]}"
    whatif = invoke(
        http, token, org, "Set-Mailbox", {"Identity": identity, "HiddenFromAddressListsEnabled": True, "WhatIf": True}
    )
    assert whatif.status_code == 200, whatif.text
    assert whatif.json()["value"] == []
    assert whatif.json()["@adminapi.warnings"] == [f'What if: Setting mailbox "{identity}".']
    response = invoke(
        http,
        token,
        org,
        "Set-Mailbox",
        {"Identity": identity, "HiddenFromAddressListsEnabled": True, "EmailAddresses": {"Add": [new_address]}},
    )
    assert response.status_code == 200, response.text
    assert response.json()["value"] == []
    after = invoke(http, token, org, "Get-Mailbox", {"Identity": identity}).json()["value"][0]
    assert after["HiddenFromAddressListsEnabled"] is True
    assert new_address in after["EmailAddresses"]
    # The call is in the admin audit log like a PSRP command.
    audit = invoke(http, token, org, "Search-AdminAuditLog", {"Cmdlets": "Set-Mailbox"})
    assert audit.status_code == 200, audit.text
    assert any(e.get("ObjectModified") or e.get("CmdletName") == "Set-Mailbox" for e in audit.json()["value"])


# --- $batch ------------------------------------------------------------------------------------


def _batch(
    http: httpx.Client, token: str, org: str, commands: list[dict[str, Any]], prefer: str | None = None
) -> httpx.Response:
    requests = [
        {
            "id": str(uuid.uuid4()),
            "method": "POST",
            "url": f"/adminapi/beta/{org}/InvokeCommand",
            "headers": {
                "X-CmdletName": c["CmdletName"],
                "X-AnchorMailbox": f"APP:SystemMailbox{{bb558c35-97f1-4cb9-8ff7-d53741dc928c}}@{org}",
            },
            "body": {"CmdletInput": c},
        }
        for c in commands
    ]
    headers = {"Authorization": f"Bearer {token}"}
    if prefer:
        headers["Prefer"] = prefer
    return http.post(f"/adminapi/beta/{org}/$batch", json={"requests": requests}, headers=headers)


BATCH = [
    {"CmdletName": "Get-Mailbox", "Parameters": {"ResultSize": 1}},
    {"CmdletName": "Get-Mailbox", "Parameters": {"Identity": "no-such-mailbox"}},
    {"CmdletName": "Get-Recipient", "Parameters": {"ResultSize": 2}},
]


def test_batch_stops_at_first_failure(http: httpx.Client, admin_fabrikam: str) -> None:
    response = _batch(http, admin_fabrikam, "fabrikam.onmicrosoft.com", BATCH)
    assert response.status_code == 200, response.text
    responses = response.json()["responses"]
    assert [r["status"] for r in responses] == [200, 400, 424]
    assert len(responses[0]["body"]["value"]) == 1
    assert "couldn't be found" in responses[1]["body"]["error"]["details"][0]["message"]
    assert responses[2]["body"]["error"]["code"] == "FailedDependency"


def test_batch_continue_on_error_runs_every_item(http: httpx.Client, admin_fabrikam: str) -> None:
    # CIPP's Prefer header, verbatim.
    response = _batch(
        http,
        admin_fabrikam,
        "fabrikam.onmicrosoft.com",
        BATCH,
        prefer="odata.maxpagesize = 1000;odata.continue-on-error",
    )
    responses = response.json()["responses"]
    assert [r["status"] for r in responses] == [200, 400, 200]
    assert len(responses[2]["body"]["value"]) == 2
    assert all(r["headers"]["Content-Type"].startswith("application/json") for r in responses)


def test_a_malformed_batch_item_fails_alone_after_earlier_items_ran(
    server: BackgroundServer, http: httpx.Client
) -> None:
    org = "tailspintoys.onmicrosoft.com"
    token = mint(server, PARTNER_ADMIN, org)
    [first] = invoke(http, token, org, "Get-Mailbox", {"ResultSize": 1}).json()["value"]
    change = {"CmdletName": "Set-Mailbox", "Parameters": {"Identity": first["Alias"], "CustomAttribute6": "batch"}}
    requests = [
        {"id": "1", "method": "POST", "url": f"/adminapi/beta/{org}/InvokeCommand", "body": {"CmdletInput": change}},
        {"id": "2", "method": "POST", "url": f"/adminapi/beta/{org}/InvokeCommand", "body": "{not json"},
        {"id": "3", "method": "POST", "url": "http://[::1", "body": {"CmdletInput": change}},
    ]
    response = http.post(
        f"/adminapi/beta/{org}/$batch",
        json={"requests": requests},
        headers={"Authorization": f"Bearer {token}", "Prefer": "odata.continue-on-error"},
    )
    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()["responses"]] == [200, 400, 400]
    [after] = invoke(http, token, org, "Get-Mailbox", {"Identity": first["Alias"]}).json()["value"]
    assert after["CustomAttribute6"] == "batch"


def test_deeply_nested_parameters_are_refused_and_nothing_changes_unaudited(
    server: BackgroundServer, http: httpx.Client
) -> None:
    org = "tailspintoys.onmicrosoft.com"
    token = mint(server, PARTNER_ADMIN, org)
    [first] = invoke(http, token, org, "Get-Mailbox", {"ResultSize": 1}).json()["value"]
    nested: Any = first["Alias"]
    for _ in range(900):
        nested = [nested]
    refused = invoke(http, token, org, "Set-Mailbox", {"Identity": nested, "CustomAttribute2": "unaudited"})
    assert refused.status_code == 400
    assert "nests deeper than 32 levels" in detail(refused)
    [after] = invoke(http, token, org, "Get-Mailbox", {"Identity": first["Alias"]}).json()["value"]
    assert after["CustomAttribute2"] != "unaudited"


def test_a_listing_stops_when_the_caller_loses_the_role_between_pages(
    server: BackgroundServer, http: httpx.Client
) -> None:
    store = server.store
    partner = tenant(server, "northwindit.onmicrosoft.com")
    upn = "rest-pager@northwindit.onmicrosoft.com"
    store.create_user(partner.id, upn, "Pager", PASSWORD, role_groups=["AdminAgents"])
    org = "fabrikam.onmicrosoft.com"
    token = mint(server, upn, org)
    first = invoke(
        http, token, org, "Get-Mailbox", {"ResultSize": "Unlimited"}, headers={"Prefer": "odata.maxpagesize=100"}
    )
    link = first.json()["@odata.nextLink"]
    # The user leaves AdminAgents and becomes a Security Reader through GDAP: no more recipients.
    user = store.find_user(upn)
    store.gdap.remove_from_group(user.id, "AdminAgents")
    fabrikam = tenant(server, org)
    rel = store.gdap.create(partner.id, fabrikam.id, "Pager review", [roles.SECURITY_READER_ROLE], duration_days=5)
    store.gdap.lock_for_approval(rel.guid)
    store.gdap.approve(rel.guid)
    store.gdap.assign(rel.guid, "Pager reviewers", [roles.SECURITY_READER_ROLE])
    store.gdap.add_to_group(user.id, "Pager reviewers")
    token = _with_claims(server, token, wids=[roles.SECURITY_READER_ROLE])
    following = http.post(
        link, json={"CmdletInput": {"CmdletName": "Get-Mailbox"}}, headers={"Authorization": f"Bearer {token}"}
    )
    assert following.status_code == 403, following.text
    assert 'isn\'t assigned to any management roles that allow running "Get-Mailbox"' in detail(following)


def test_batch_limits(http: httpx.Client, admin_fabrikam: str) -> None:
    org = "fabrikam.onmicrosoft.com"
    too_many = _batch(http, admin_fabrikam, org, [BATCH[0]] * 21)
    assert too_many.status_code == 400
    assert "at most 20 requests; this one has 21" in too_many.json()["error"]["message"]
    empty = http.post(f"/adminapi/beta/{org}/$batch", json={}, headers={"Authorization": f"Bearer {admin_fabrikam}"})
    assert empty.status_code == 400
    # Each item is authenticated for the organization its own URL names.
    item = {
        "id": "1",
        "method": "POST",
        "url": "/adminapi/beta/contoso.onmicrosoft.com/InvokeCommand",
        "body": {"CmdletInput": BATCH[0]},
    }
    other = http.post(
        f"/adminapi/beta/{org}/$batch", json={"requests": [item]}, headers={"Authorization": f"Bearer {admin_fabrikam}"}
    )
    assert other.json()["responses"][0]["status"] == 401


# --- EXOModuleFile and anchors ---------------------------------------------------------------------


def test_module_file_lists_the_cmdlets_the_roles_allow(server: BackgroundServer, http: httpx.Client) -> None:
    def exported(upn: str) -> set[str]:
        token = mint(server, upn, "contoso.onmicrosoft.com")
        response = http.get(
            "/adminapi/v1.0/contoso.onmicrosoft.com/EXOModuleFile?Version=3.5.0",
            headers={"Authorization": f"Bearer {token}", "CommandName": "*"},
        )
        assert response.status_code == 200, response.text
        return set(response.json()["value"][0]["exportedCmdlets"].split(","))

    admin, helpdesk = exported(PARTNER_ADMIN), exported(PARTNER_HELPDESK)
    assert {"Get-Mailbox", "Set-Mailbox", "Set-OrganizationConfig"} <= admin
    assert "Get-Mailbox" in helpdesk and "Set-OrganizationConfig" not in helpdesk
    assert helpdesk < admin


@pytest.mark.parametrize(
    "anchor",
    [
        "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@contoso.onmicrosoft.com",
        "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@{guid}",
        "UPN:admin@northwindit.onmicrosoft.com",
        "UPN:SystemMailbox{8cc370d3-822a-4ab8-a926-bb94bd0641a9}@contoso.onmicrosoft.com",
        "SMTP:someone@contoso.com",
        "someone@contoso.com",
        "some-identity",
    ],
)
def test_anchor_forms_accepted(server: BackgroundServer, http: httpx.Client, anchor: str) -> None:
    token = mint(server, PARTNER_ADMIN, "contoso.onmicrosoft.com")
    anchor = anchor.replace("{guid}", str(tenant(server, "contoso.onmicrosoft.com").guid))
    response = invoke(
        http, token, "contoso.onmicrosoft.com", "Get-Mailbox", {"ResultSize": 1}, headers={"X-AnchorMailbox": anchor}
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "anchor",
    [
        "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@fabrikam.onmicrosoft.com",
        "SMTP:someone@fabrikam.com",
        "UPN:admin@woodgrove.onmicrosoft.com",
    ],
)
def test_anchor_of_another_tenant_is_refused(server: BackgroundServer, http: httpx.Client, anchor: str) -> None:
    token = mint(server, PARTNER_ADMIN, "contoso.onmicrosoft.com")
    response = invoke(
        http, token, "contoso.onmicrosoft.com", "Get-Mailbox", {"ResultSize": 1}, headers={"X-AnchorMailbox": anchor}
    )
    assert response.status_code == 400
    assert "names another organization than 'contoso.onmicrosoft.com'" in detail(response)


def test_other_exchange_module_headers_are_accepted(server: BackgroundServer, http: httpx.Client) -> None:
    token = mint(server, PARTNER_ADMIN, "contoso.onmicrosoft.com")
    headers = {
        "X-CmdletName": "Get-Mailbox",
        "X-ResponseFormat": "json",
        "X-SerializationLevel": "Partial",
        "X-ClientApplication": "ExoManagementModule",
        "X-ClientModuleVersion": "3.5.0",
        "WarningAction": "",
        "connection-id": str(uuid.uuid4()),
        "client-request-id": str(uuid.uuid4()),
        "parameter-based-routing": "true",
        "Accept": "application/json; odata.metadata=minimal",
        "User-Agent": "Mozilla/5.0 (Windows NT 10.0) PowerShell/7.4.0",
    }
    response = invoke(http, token, "contoso.onmicrosoft.com", "Get-Mailbox", {"ResultSize": 1}, headers=headers)
    assert response.status_code == 200, response.text


def _with_claims(server: BackgroundServer, token: str, **claims: Any) -> str:
    """The same token with other claims, signed again with the server's key."""
    keys = KeySet.for_settings(server.settings)
    payload = {**jwt.decode(token, options={"verify_signature": False}), **claims}
    key = keys.signing_key
    return jwt.encode(payload, key.private_key, algorithm="RS256", headers={"kid": key.kid, "typ": "JWT"})


def test_token_roles_narrow_a_delegated_scope_never_widen(server: BackgroundServer, http: httpx.Client) -> None:
    org = "contoso.onmicrosoft.com"
    admin = mint(server, PARTNER_ADMIN, org)
    reader = _with_claims(server, admin, wids=[roles.GLOBAL_READER])
    assert invoke(http, reader, org, "Get-Mailbox", {"ResultSize": 1}).status_code == 200
    refused = invoke(http, reader, org, "Set-Mailbox", {"Identity": "x", "HiddenFromAddressListsEnabled": True})
    assert refused.status_code == 403 and "CmdletAccessDeniedException" in refused.text
    none = invoke(http, _with_claims(server, admin, wids=[]), org, "Get-Mailbox")
    assert none.status_code == 403 and "grant no Exchange management role" in detail(none)
    # A helpdesk agent's token claiming Global Administrator gets no more than Help Desk.
    helpdesk = _with_claims(server, mint(server, PARTNER_HELPDESK, org), wids=[roles.GLOBAL_ADMINISTRATOR])
    widened = invoke(http, helpdesk, org, "Set-OrganizationConfig", {"AuditDisabled": True})
    assert widened.status_code == 403
    # A delegated token relabelled app-only (it still has scp and upn) is no access token at all.
    app_only = invoke(http, _with_claims(server, admin, idtyp="app"), org, "Get-Mailbox")
    assert app_only.status_code == 401
    assert "The token is not an access token." in _www_authenticate(app_only)


# --- app-only (client credentials) ---------------------------------------------------------------


def app_sign_in(server: BackgroundServer, org: str) -> dict[str, Any]:
    """msal's confidential client (client credentials) for the demo partner's app, in ``org``."""
    with PortKeepingSession(server.base_url, str(server.ca_file)) as session:
        app = msal.ConfidentialClientApplication(
            str(DEMO_APP_ID),
            client_credential=demo_app_secret(PASSWORD),
            authority=f"{server.base_url}/{org}",
            validate_authority=False,
            instance_discovery=False,
            http_client=session,
        )
        return dict(app.acquire_token_for_client(scopes=[f"{AUDIENCE}/.default"]))


def app_token(server: BackgroundServer, org: str) -> str:
    result = app_sign_in(server, org)
    assert "access_token" in result, result
    return str(result["access_token"])


def test_app_only_token_runs_cmdlets_where_the_app_holds_a_role(server: BackgroundServer, http: httpx.Client) -> None:
    # The app holds Exchange Administrator in contoso (consented through the DAP relationship).
    token = app_token(server, "contoso.onmicrosoft.com")
    anchor = {"X-AnchorMailbox": "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@contoso.onmicrosoft.com"}
    listed = invoke(http, token, "contoso.onmicrosoft.com", "Get-Mailbox", {"Identity": "MeganB"}, headers=anchor)
    assert listed.status_code == 200, listed.text
    assert [m["Alias"] for m in listed.json()["value"]] == ["MeganB"]
    changed = invoke(
        http, token, "contoso.onmicrosoft.com", "Set-Mailbox", {"Identity": "MeganB", "CustomAttribute9": "by-app"}
    )
    assert changed.status_code == 200, changed.text
    entries = server.store.audit_entries(target_tenant_id=tenant(server, "contoso.onmicrosoft.com").id)
    assert any(e.cmdlet == "Set-Mailbox" and e.caller == str(DEMO_APP_ID) for e in entries)
    # The same token replayed against another tenant is refused: it was issued for contoso.
    other = invoke(http, token, "fabrikam.onmicrosoft.com", "Get-Mailbox", {"ResultSize": 1})
    assert other.status_code == 401


def test_app_without_a_role_in_the_customer_is_refused(server: BackgroundServer, http: httpx.Client) -> None:
    # The app is consented nowhere but contoso: fabrikam gives it no role at all, so no token either.
    refused = app_sign_in(server, "fabrikam.onmicrosoft.com")
    assert "access_token" not in refused
    # Roles taken away after the token was issued: the next call is refused.
    token = app_token(server, "contoso.onmicrosoft.com")
    app_reg = server.store.apps.get(str(DEMO_APP_ID))
    contoso = tenant(server, "contoso.onmicrosoft.com")
    held = server.store.apps.assigned_roles(app_reg, contoso.id)
    for role in held:
        server.store.apps.remove_role(app_reg, contoso.id, role)
    try:
        response = invoke(http, token, "contoso.onmicrosoft.com", "Get-Mailbox", {"ResultSize": 1})
        assert response.status_code == 403, response.text
        assert "can't act on behalf of the organization 'contoso.onmicrosoft.com'" in detail(response)
    finally:
        for role in held:
            server.store.apps.assign_role(app_reg, contoso.id, role)
