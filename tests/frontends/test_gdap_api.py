"""GDAP over HTTP against a real server: the Graph-shaped delegatedAdminRelationships API, the customers
list with both kinds of relationship, and the token's ``wids`` claim through msal."""

from __future__ import annotations

import dataclasses
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msal
import pytest
import requests

from aobo.cmdlets import roles as role_table
from aobo.domain.gdap import group_guid
from aobo.domain.seed import seed_demo
from aobo.domain.store import Store
from aobo.frontends.oauth import AUDIENCE, KeySet, validate_access_token
from aobo.server import BackgroundServer
from aobo.settings import Settings
from tests.identity_support import PortKeepingSession

PASSWORD = "Gdap-Api-Test-1!"
PARTNER = "northwindit.onmicrosoft.com"
PARTNER_ADMIN = f"admin@{PARTNER}"
PARTNER_HELPDESK = f"helpdesk@{PARTNER}"
GDAP_ADMIN = f"gdapadmin@{PARTNER}"
GDAP_READER = f"gdapreader@{PARTNER}"
ADATUM_ADMIN = "admin@adatum.onmicrosoft.com"
PATH = "/v1.0/tenantRelationships/delegatedAdminRelationships"
EA, ERA, GR, GA = (
    role_table.EXCHANGE_ADMINISTRATOR,
    role_table.EXCHANGE_RECIPIENT_ADMINISTRATOR,
    role_table.GLOBAL_READER,
    role_table.GLOBAL_ADMINISTRATOR,
)
DAP_CUSTOMERS = ["contoso.onmicrosoft.com", "fabrikam.onmicrosoft.com", "tailspintoys.onmicrosoft.com"]

pytestmark = pytest.mark.filterwarnings("ignore:This API has been deprecated for public client flows")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    """The demo world plus adatum (a tenant with no relationship yet, and its admin), over HTTPS."""
    data: Path = tmp_path_factory.mktemp("gdap-api")
    store = Store.open(f"sqlite:///{data / 'aobo.db'}")
    store.migrate()
    seed_demo(store, PASSWORD)
    adatum = store.create_tenant("adatum")
    store.create_user(adatum.id, ADATUM_ADMIN, "Adatum Admin", PASSWORD, role_groups=["Organization Management"])
    settings = dataclasses.replace(Settings(data_dir=data))
    with BackgroundServer(settings, store) as running:
        yield running
    store.close()


@pytest.fixture(scope="module")
def client(server: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.base_url, verify=ssl.create_default_context(cafile=str(server.ca_file)), timeout=30
    ) as c:
        yield c


def store_of(server: BackgroundServer) -> Store:
    assert server.store is not None
    return server.store


def guid_of(server: BackgroundServer, domain: str) -> str:
    tenant = store_of(server).resolve_tenant(domain)
    assert tenant is not None
    return str(tenant.guid)


def call(client: httpx.Client, method: str, path: str, user: str = PARTNER_ADMIN, **kwargs: Any) -> httpx.Response:
    return client.request(method, path, auth=(user, PASSWORD), **kwargs)


def graph_error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["cache-control"] == "no-store"
    error = response.json()["error"]
    assert error["code"] == code
    return str(error["message"])


def new_body(server: BackgroundServer, name: str, roles: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "displayName": name,
        "duration": "P730D",
        "customer": {"tenantId": guid_of(server, "adatum.onmicrosoft.com"), "displayName": "Adatum"},
        "accessDetails": {"unifiedRoles": [{"roleDefinitionId": r} for r in roles]},
        **extra,
    }


def roles_of(entity: dict[str, Any]) -> list[str]:
    return [r["roleDefinitionId"] for r in entity["accessDetails"]["unifiedRoles"]]


# -- the Graph API, end to end ---------------------------------------------------------------------


def test_the_whole_life_of_a_relationship(server: BackgroundServer, client: httpx.Client) -> None:
    created = call(client, "POST", PATH, json=new_body(server, "Adatum Exchange", [EA, GR]))
    assert created.status_code == 201, created.text
    rel = created.json()
    rel_id = rel["id"]
    uuid.UUID(rel_id)
    assert created.headers["location"].endswith(f"{PATH}/{rel_id}")
    assert rel["@odata.context"].endswith("/v1.0/$metadata#tenantRelationships/delegatedAdminRelationships/$entity")
    assert rel["@odata.type"] == "#microsoft.graph.delegatedAdminRelationship"
    assert (rel["displayName"], rel["status"], rel["duration"], rel["autoExtendDuration"]) == (
        "Adatum Exchange",
        "created",
        "P730D",
        "PT0S",
    )
    # The customer's name is not told before it approves: a tenant GUID must not reveal whose it is.
    assert rel["customer"] == {"tenantId": guid_of(server, "adatum.onmicrosoft.com"), "displayName": None}
    assert sorted(roles_of(rel)) == sorted([EA, GR])
    assert rel["activatedDateTime"] is None and rel["endDateTime"] is None
    assert rel["createdDateTime"].endswith("Z")

    # PATCH while created; the path is matched case-insensitively.
    patched = call(
        client, "PATCH", f"{PATH.lower()}/{rel_id}", json={"displayName": "Adatum Exchange 2", "duration": "P365D"}
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["displayName"], patched.json()["duration"]) == ("Adatum Exchange 2", "P365D")

    # The customer cannot approve before the partner locks it for approval.
    early = call(client, "POST", f"{PATH}/{rel_id}/requests", ADATUM_ADMIN, json={"action": "approve"})
    assert "is created; this action needs it to be approvalPending" in graph_error(early, 400, "badRequest")
    locked = call(client, "POST", f"{PATH}/{rel_id}/requests", json={"action": "lockForApproval"})
    assert locked.status_code == 201 and locked.json()["status"] == "succeeded"
    assert call(client, "GET", f"{PATH}/{rel_id}").json()["status"] == "approvalPending"
    # The partner cannot approve its own request; the customer's admin can.
    own = call(client, "POST", f"{PATH}/{rel_id}/requests", json={"action": "approve"})
    assert "Organization Management" in graph_error(own, 403, "Authorization_RequestDenied")
    approved = call(client, "POST", f"{PATH}/{rel_id}/requests", ADATUM_ADMIN, json={"action": "approve"})
    assert approved.status_code == 201, approved.text
    active = call(client, "GET", f"{PATH}/{rel_id}", ADATUM_ADMIN).json()
    assert active["status"] == "active" and active["activatedDateTime"] and active["endDateTime"]
    assert active["customer"]["displayName"] == "adatum"
    # Only autoExtendDuration may change once active.
    late = call(client, "PATCH", f"{PATH}/{rel_id}", json={"displayName": "Renamed"})
    assert "only a relationship in status created can be changed" in graph_error(late, 400, "badRequest")

    # Assign Exchange Administrator to the group gdapadmin is in, by its stable GUID.
    container = str(group_guid(guid_of(server, PARTNER), "Exchange Admins"))
    assigned = call(
        client,
        "POST",
        f"{PATH}/{rel_id}/accessAssignments",
        json={
            "accessContainer": {"accessContainerId": container, "accessContainerType": "securityGroup"},
            "accessDetails": {"unifiedRoles": [{"roleDefinitionId": EA}]},
        },
    )
    assert assigned.status_code == 201, assigned.text
    assignment = assigned.json()
    assert assignment["accessContainer"] == {"accessContainerId": container, "accessContainerType": "securityGroup"}
    assert roles_of(assignment) == [EA] and assignment["status"] == "active"
    listed = call(client, "GET", f"{PATH}/{rel_id}/accessAssignments").json()
    assert [a["id"] for a in listed["value"]] == [assignment["id"]]
    assert call(client, "GET", f"{PATH}/{rel_id}/accessAssignments/{assignment['id']}").json() == assignment

    # The assignment is what lets gdapadmin into adatum, with Exchange Administrator's wids.
    customers = call(client, "GET", "/partner/v1/customers", GDAP_ADMIN).json()["value"]
    adatum = next(c for c in customers if c["initialDomainName"] == "adatum.onmicrosoft.com")
    assert adatum["relationshipKinds"] == ["GDAP"] and adatum["roles"] == ["Exchange Administrator"]
    assert adatum["endDateTime"] == active["endDateTime"]

    # The active filter sees it; after DELETE of the assignment and termination, access is gone.
    only_active = call(client, "GET", PATH, params={"$filter": "status eq 'active'"}).json()["value"]
    assert rel_id in {r["id"] for r in only_active}
    assert all(r["status"] == "active" for r in only_active)
    deleted = call(client, "DELETE", f"{PATH}/{rel_id}/accessAssignments/{assignment['id']}")
    assert deleted.status_code == 204
    assert call(client, "GET", f"{PATH}/{rel_id}/accessAssignments").json()["value"] == []
    ended = call(client, "POST", f"{PATH}/{rel_id}/requests", ADATUM_ADMIN, json={"action": "terminate"})
    assert ended.status_code == 201
    assert call(client, "GET", f"{PATH}/{rel_id}").json()["status"] == "terminated"
    assert rel_id not in {
        r["id"] for r in call(client, "GET", PATH, params={"$filter": "status eq 'active'"}).json()["value"]
    }
    again = call(client, "GET", "/partner/v1/customers", GDAP_ADMIN).json()["value"]
    assert "adatum.onmicrosoft.com" not in {c["initialDomainName"] for c in again}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"displayName": "x", "duration": "P731D"}, "P731D' is out of range"),
        ({"displayName": "x", "duration": "P3Y"}, "out of range"),
        ({"displayName": "x", "duration": "two years"}, "not a valid duration"),
        ({"displayName": "x", "roles": ["00000000-0000-0000-0000-000000000000"]}, "is not supported"),
        ({"displayName": "x", "roles": ["Exchange Administrator"]}, "is not supported"),
        ({"displayName": "x", "roles": []}, "non-empty list"),
        ({"displayName": "x", "status": "active"}, "Property 'status' does not exist"),
        ({"displayName": "x", "autoExtendDuration": "P90D"}, "supported values are PT0S and P180D"),
        ({"displayName": "x", "roles": [GA], "autoExtendDuration": "P180D"}, "Global Administrator role"),
        ({"displayName": "y" * 51}, "longer than 50 characters"),
        ({"displayName": 5}, "'displayName' must be a string"),
    ],
)
def test_bad_input_gets_a_clear_400(
    server: BackgroundServer, client: httpx.Client, body: dict[str, Any], needle: str
) -> None:
    roles = body.pop("roles", [GR])
    payload = new_body(server, body.pop("displayName"), roles)
    payload.update(body)
    message = graph_error(call(client, "POST", PATH, json=payload), 400, "badRequest")
    assert needle in message


def test_malformed_and_oversized_bodies(server: BackgroundServer, client: httpx.Client) -> None:
    headers = {"Content-Type": "application/json"}
    assert "not valid JSON" in graph_error(
        call(client, "POST", PATH, content=b'{"displayName": ', headers=headers), 400, "badRequest"
    )
    assert "must be a JSON object" in graph_error(call(client, "POST", PATH, json=[1, 2]), 400, "badRequest")
    huge = b'{"displayName": "' + b"x" * (70 * 1024) + b'"}'
    assert "64 KiB" in graph_error(call(client, "POST", PATH, content=huge, headers=headers), 413, "requestTooLarge")
    unknown = new_body(server, "Unknown customer", [GR])
    unknown["customer"]["tenantId"] = str(uuid.uuid4())
    assert "was not found" in graph_error(call(client, "POST", PATH, json=unknown), 400, "badRequest")
    filtered = call(client, "GET", PATH, params={"$filter": "startswith(displayName,'a')"})
    assert "Invalid filter clause" in graph_error(filtered, 400, "badRequest")
    # The server keeps serving after all of it.
    assert call(client, "GET", PATH).status_code == 200


def test_names_are_unique_and_the_partner_alone_creates(server: BackgroundServer, client: httpx.Client) -> None:
    first = call(client, "POST", PATH, json=new_body(server, "Unique name", [GR]))
    assert first.status_code == 201
    second = call(client, "POST", PATH, json=new_body(server, "UNIQUE NAME", [GR]))
    assert "already exists" in graph_error(second, 409, "conflict")
    helpdesk = call(client, "POST", PATH, PARTNER_HELPDESK, json=new_body(server, "By helpdesk", [GR]))
    assert "AdminAgents" in graph_error(helpdesk, 403, "Authorization_RequestDenied")
    gdap_user = call(client, "GET", PATH, GDAP_ADMIN)
    graph_error(gdap_user, 403, "Authorization_RequestDenied")


def test_tenants_that_are_not_a_party_see_nothing(server: BackgroundServer, client: httpx.Client) -> None:
    rel_id = call(client, "POST", PATH, json=new_body(server, "Private to adatum", [GR])).json()["id"]
    outsider = "admin@woodgrove.onmicrosoft.com"
    graph_error(call(client, "GET", f"{PATH}/{rel_id}", outsider), 404, "notFound")
    graph_error(
        call(client, "POST", f"{PATH}/{rel_id}/requests", outsider, json={"action": "approve"}), 404, "notFound"
    )
    assert rel_id not in {r["id"] for r in call(client, "GET", PATH, outsider).json()["value"]}
    graph_error(call(client, "GET", f"{PATH}/{uuid.uuid4()}"), 404, "notFound")
    graph_error(call(client, "GET", f"{PATH}/not-a-guid"), 404, "notFound")
    assert client.get(PATH).status_code == 401
    bad = call(client, "POST", f"{PATH}/{rel_id}/requests", json={"action": "reboot"})
    assert "not supported" in graph_error(bad, 400, "badRequest")


def test_an_assignment_needs_an_active_relationship_and_its_roles(
    server: BackgroundServer, client: httpx.Client
) -> None:
    rel_id = call(client, "POST", PATH, json=new_body(server, "Assignment rules", [GR])).json()["id"]
    body = {
        "accessContainer": {"accessContainerId": "Exchange Readers", "accessContainerType": "securityGroup"},
        "accessDetails": {"unifiedRoles": [{"roleDefinitionId": GR}]},
    }
    early = call(client, "POST", f"{PATH}/{rel_id}/accessAssignments", json=body)
    assert "access can be assigned only in an active one" in graph_error(early, 400, "badRequest")
    call(client, "POST", f"{PATH}/{rel_id}/requests", json={"action": "lockForApproval"})
    call(client, "POST", f"{PATH}/{rel_id}/requests", ADATUM_ADMIN, json={"action": "approve"})
    wrong_role = {**body, "accessDetails": {"unifiedRoles": [{"roleDefinitionId": EA}]}}
    outside = call(client, "POST", f"{PATH}/{rel_id}/accessAssignments", json=wrong_role)
    assert "not among the roles of the relationship" in graph_error(outside, 400, "badRequest")
    no_group = {**body, "accessContainer": {"accessContainerId": str(uuid.uuid4())}}
    missing = call(client, "POST", f"{PATH}/{rel_id}/accessAssignments", json=no_group)
    assert "was not found in the partner tenant" in graph_error(missing, 400, "badRequest")
    assert call(client, "POST", f"{PATH}/{rel_id}/accessAssignments", json=body).status_code == 201
    twice = call(client, "POST", f"{PATH}/{rel_id}/accessAssignments", json=body)
    assert "already has an access assignment" in graph_error(twice, 409, "conflict")
    terminated = call(client, "POST", f"{PATH}/{rel_id}/requests", json={"action": "terminate"})
    assert terminated.status_code == 201


# -- the customers list ------------------------------------------------------------------------------


def test_a_gdap_only_user_lists_its_gdap_customer(server: BackgroundServer, client: httpx.Client) -> None:
    response = call(client, "GET", "/partner/v1/customers", GDAP_READER)
    assert response.status_code == 200, response.text
    value = response.json()["value"]
    assert [c["initialDomainName"] for c in value] == ["litware.onmicrosoft.com"]
    (litware,) = value
    (rel,) = store_of(server).gdap.relationships(store_of(server).resolve_tenant("litware.onmicrosoft.com").id)
    assert litware == {
        "tenantId": guid_of(server, "litware.onmicrosoft.com"),
        "name": "litware",
        "defaultDomainName": "litware.onmicrosoft.com",
        "initialDomainName": "litware.onmicrosoft.com",
        "relationship": "GDAP",
        "state": "active",
        "relationshipKinds": ["GDAP"],
        "roles": ["Global Reader"],
        "endDateTime": rel.end.isoformat().replace("+00:00", "Z"),  # type: ignore[union-attr]
    }


def test_an_agent_in_a_gdap_group_lists_both_kinds(server: BackgroundServer, client: httpx.Client) -> None:
    store = store_of(server)
    partner = store.resolve_tenant(PARTNER)
    upn = f"both@{PARTNER}"
    store.create_user(partner.id, upn, "Both", PASSWORD, role_groups=["AdminAgents", "Exchange Admins"])
    # Tailspin Toys is a DAP customer; a GDAP relationship to it as well makes both kinds.
    tailspin = store.resolve_tenant("tailspintoys.onmicrosoft.com")
    rel = store.gdap.create(partner.id, tailspin.id, "Tailspin too", [EA])
    store.gdap.lock_for_approval(rel.guid)
    store.gdap.approve(rel.guid)
    store.gdap.assign(rel.guid, "Exchange Admins", [EA])
    value = call(client, "GET", "/partner/v1/customers", upn).json()["value"]
    by_domain = {c["initialDomainName"]: c for c in value}
    assert list(by_domain) == sorted([*DAP_CUSTOMERS, "litware.onmicrosoft.com"])
    assert by_domain["contoso.onmicrosoft.com"]["relationshipKinds"] == ["DAP"]
    assert by_domain["contoso.onmicrosoft.com"]["roles"] == ["Global Administrator"]
    assert by_domain["contoso.onmicrosoft.com"]["endDateTime"] is None
    both = by_domain["tailspintoys.onmicrosoft.com"]
    assert (both["relationship"], both["relationshipKinds"]) == ("DAP", ["DAP", "GDAP"])
    assert both["roles"] == ["Exchange Administrator", "Global Administrator"]
    litware = by_domain["litware.onmicrosoft.com"]
    assert litware["relationshipKinds"] == ["GDAP"]
    assert litware["roles"] == ["Exchange Administrator", "Exchange Recipient Administrator"]
    # The plain DAP agent's list is as it was: no GDAP customer it holds no role in.
    assert [c["initialDomainName"] for c in call(client, "GET", "/partner/v1/customers").json()["value"]] == (
        DAP_CUSTOMERS
    )


# -- the token's wids ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http(server: BackgroundServer) -> Iterator[requests.Session]:
    with PortKeepingSession(server.base_url, str(server.ca_file)) as session:
        yield session


def token(server: BackgroundServer, http: requests.Session, tenant: str, user: str) -> dict[str, Any]:
    app = msal.PublicClientApplication(
        "fb78d390-0c51-40cd-8e17-fdbfab77341b",
        authority=f"{server.base_url}/{tenant}",
        validate_authority=False,
        instance_discovery=False,
        http_client=http,
    )
    return app.acquire_token_by_username_password(user, PASSWORD, scopes=[f"{AUDIENCE}/.default"])


@pytest.mark.parametrize(
    ("user", "tenant", "wids"),
    [
        (GDAP_ADMIN, "litware.onmicrosoft.com", sorted([EA, ERA])),
        (GDAP_READER, "litware.onmicrosoft.com", [GR]),
        (PARTNER_ADMIN, "fabrikam.onmicrosoft.com", [GA]),
        (PARTNER_HELPDESK, "contoso.onmicrosoft.com", [role_table.HELPDESK_ADMINISTRATOR]),
        ("admin@contoso.onmicrosoft.com", "contoso.onmicrosoft.com", [EA]),
    ],
)
def test_the_token_carries_the_roles_held_in_its_tenant(
    server: BackgroundServer, http: requests.Session, user: str, tenant: str, wids: list[str]
) -> None:
    result = token(server, http, tenant, user)
    assert "access_token" in result, result
    claims = validate_access_token(
        result["access_token"], KeySet.for_settings(server.settings), tenant_guid=guid_of(server, tenant)
    )
    assert claims["upn"] == user
    assert claims["wids"] == wids


def test_a_gdap_user_gets_no_token_for_a_tenant_it_holds_no_role_in(
    server: BackgroundServer, http: requests.Session
) -> None:
    for tenant in ("contoso.onmicrosoft.com", "woodgrove.onmicrosoft.com"):
        result = token(server, http, tenant, GDAP_ADMIN)
        assert "access_token" not in result and 50020 in result["error_codes"]
    # Its own tenant, where it has no admin role: a token with no wids.
    own = token(server, http, PARTNER, GDAP_ADMIN)
    claims = validate_access_token(
        own["access_token"], KeySet.for_settings(server.settings), tenant_guid=guid_of(server, PARTNER)
    )
    assert claims["wids"] == []
