"""``GET /partner/v1/customers`` against a real server on the seeded demo world."""

from __future__ import annotations

import dataclasses
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pypsrp.exceptions import AuthenticationError, WSManFaultError
from pypsrp.powershell import RunspacePool
from pypsrp.wsman import WSMan

from aobo.domain.seed import seed_demo
from aobo.domain.store import Store
from aobo.server import BackgroundServer
from aobo.settings import Settings

# This directory is not a package: run alone, the module cannot import tests.e2e, so it seeds its own world.
PASSWORD = "Partner-Api-Test-1!"
PARTNER_ADMIN = "admin@northwindit.onmicrosoft.com"
PARTNER_HELPDESK = "helpdesk@northwindit.onmicrosoft.com"
LOCKOUT_THRESHOLD = 3
CUSTOMERS_PATH = "/partner/v1/customers"
CUSTOMERS = ["contoso.onmicrosoft.com", "fabrikam.onmicrosoft.com", "tailspintoys.onmicrosoft.com"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    """A server of this module's own (its tests lock accounts and remove relationships), over HTTPS."""
    data: Path = tmp_path_factory.mktemp("partner-api")
    store = Store.open(f"sqlite:///{data / 'aobo.db'}")
    store.migrate()
    seed_demo(store, PASSWORD)
    settings = dataclasses.replace(Settings(data_dir=data), lockout_threshold=LOCKOUT_THRESHOLD)
    with BackgroundServer(settings, store) as running:
        yield running
    store.close()


@pytest.fixture(scope="module")
def client(server: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.base_url, verify=ssl.create_default_context(cafile=str(server.ca_file)), timeout=30
    ) as c:
        yield c


def get(
    client: httpx.Client, user: str, password: str = PASSWORD, path: str = "/partner/v1/customers"
) -> httpx.Response:
    return client.get(path, auth=(user, password))


def assert_odata_error(response: httpx.Response, status: int, code: str) -> dict[str, str]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error


def test_the_partner_admin_sees_exactly_its_three_customers(client: httpx.Client, server: BackgroundServer) -> None:
    response = get(client, PARTNER_ADMIN)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    value = response.json()["value"]
    assert [c["initialDomainName"] for c in value] == CUSTOMERS  # woodgrove is not a customer
    store = server.store
    assert store is not None
    for customer in value:
        tenant = store.resolve_tenant(customer["initialDomainName"])
        assert tenant is not None
        assert customer == {
            "tenantId": str(tenant.guid),
            "name": tenant.name,
            "defaultDomainName": tenant.default_domain,
            "initialDomainName": tenant.initial_domain,
            "relationship": "DAP",
            "state": "active",
            # Added with GDAP: the kinds of relationship, the Entra roles held, and no end under DAP.
            "relationshipKinds": ["DAP"],
            "roles": ["Global Administrator"],
            "endDateTime": None,
        }
        uuid.UUID(customer["tenantId"])
    contoso = value[0]
    assert contoso["defaultDomainName"] == "contoso.com"


def test_a_helpdesk_agent_sees_the_same_customers(client: httpx.Client) -> None:
    response = get(client, PARTNER_HELPDESK)
    assert response.status_code == 200
    assert [c["initialDomainName"] for c in response.json()["value"]] == CUSTOMERS


def test_the_path_is_matched_like_the_endpoint_s(client: httpx.Client) -> None:
    for path in ("/partner/v1/customers/", "/Partner/V1/Customers"):
        assert get(client, PARTNER_ADMIN, path=path).status_code == 200
    assert get(client, PARTNER_ADMIN, path="/partner/v1/customer").status_code == 404


def test_a_customer_admin_is_forbidden(client: httpx.Client) -> None:
    error = assert_odata_error(get(client, "admin@contoso.onmicrosoft.com"), 403, "Forbidden")
    assert "not a partner agent" in error["message"]


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer abc", "Basic !!!notbase64", "Basic " + "YWRtaW4="],  # the last: no colon
)
def test_missing_or_malformed_credentials_are_401(client: httpx.Client, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/partner/v1/customers", headers=headers)
    assert_odata_error(response, 401, "Unauthorized")
    assert response.headers["www-authenticate"] == 'Basic realm=""'


def test_a_wrong_password_is_401_and_says_nothing_of_the_customers(client: httpx.Client) -> None:
    response = get(client, PARTNER_ADMIN, "not-the-password")
    assert_odata_error(response, 401, "Unauthorized")
    assert response.headers["www-authenticate"] == 'Basic realm=""'
    assert "contoso" not in response.text
    assert get(client, "nobody@northwindit.onmicrosoft.com").status_code == 401


def test_other_methods_are_refused(client: httpx.Client) -> None:
    response = client.post("/partner/v1/customers", auth=(PARTNER_ADMIN, PASSWORD))
    assert_odata_error(response, 405, "MethodNotAllowed")
    assert "GET" in response.headers["allow"]


def test_wrong_passwords_lock_the_account_for_both_endpoints(client: httpx.Client, server: BackgroundServer) -> None:
    store = server.store
    assert store is not None
    partner = store.resolve_tenant("northwindit.onmicrosoft.com")
    assert partner is not None
    upn = "locktest@northwindit.onmicrosoft.com"
    store.create_user(partner.id, upn, "Lock Test", PASSWORD, role_groups=("AdminAgents",))
    assert get(client, upn).status_code == 200
    for _ in range(LOCKOUT_THRESHOLD):
        assert get(client, upn, "wrong-password").status_code == 401
    # Locked: the right password no longer works here ...
    assert_odata_error(get(client, upn), 401, "Unauthorized")
    # ... nor on the remote PowerShell endpoint, which shares the lock-out (its credential cache still
    # knows the password, so the refusal comes from the session's own account check: Access is denied).
    wsman = WSMan(
        server.settings.host,
        port=server.settings.port,
        path="powershell-liveid?DelegatedOrg=contoso.onmicrosoft.com",
        auth="basic",
        cert_validation=str(server.ca_file),
        username=upn,
        password=PASSWORD,
    )
    with pytest.raises((AuthenticationError, WSManFaultError), match=r"Access is denied|401"):
        RunspacePool(wsman, configuration_name="Microsoft.Exchange").open()
    user = store.find_user(upn)
    assert user is not None and user.locked_out


def test_a_lock_out_applies_at_once_even_to_cached_credentials(client: httpx.Client, server: BackgroundServer) -> None:
    store = server.store
    assert store is not None
    partner = store.resolve_tenant("northwindit.onmicrosoft.com")
    assert partner is not None
    upn = "cachetest@northwindit.onmicrosoft.com"
    user = store.create_user(partner.id, upn, "Cache Test", PASSWORD, role_groups=("AdminAgents",))
    assert get(client, upn).status_code == 200  # now in the verifier's cache
    for _ in range(LOCKOUT_THRESHOLD):
        assert get(client, upn, "wrong-password").status_code == 401
    assert get(client, upn).status_code == 401
    store.unlock_user(user.id)
    assert get(client, upn).status_code == 200


def test_a_removed_relationship_drops_the_customer(client: httpx.Client, server: BackgroundServer) -> None:
    store = server.store
    assert store is not None
    partner = store.resolve_tenant("northwindit.onmicrosoft.com")
    tailspin = store.resolve_tenant("tailspintoys.onmicrosoft.com")
    assert partner is not None and tailspin is not None
    relationship = store.relationship(partner.id, tailspin.id)
    assert relationship is not None
    store.remove_relationship(relationship.id)
    try:
        names = [c["initialDomainName"] for c in get(client, PARTNER_ADMIN).json()["value"]]
        assert names == CUSTOMERS[:2]
    finally:
        store.create_relationship(partner.id, tailspin.id)
    assert [c["initialDomainName"] for c in get(client, PARTNER_ADMIN).json()["value"]] == CUSTOMERS
