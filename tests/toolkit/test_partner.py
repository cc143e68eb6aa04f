"""The partner API client and tenant lists, against a real server on the seeded demo world."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aobo.server import BackgroundServer
from aobo.toolkit.credential import Credential
from aobo.toolkit.errors import AuthError, ConnectError, ToolkitError, TransientError
from aobo.toolkit.partner import (
    Customer,
    NotPartnerError,
    alist_customers,
    customers_url,
    list_customers,
    tenants_from,
)
from tests.e2e.conftest import PASSWORD
from tests.e2e.helpers import PARTNER_ADMIN
from tests.servers import seeded_server

CUSTOMERS = ["contoso.onmicrosoft.com", "fabrikam.onmicrosoft.com", "tailspintoys.onmicrosoft.com"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    with seeded_server(tmp_path_factory.mktemp("partner-client"), PASSWORD) as running:
        yield running


@pytest.fixture(scope="module")
def admin() -> Credential:
    return Credential(PARTNER_ADMIN, PASSWORD)


def test_list_customers_over_verified_tls(server: BackgroundServer, admin: Credential) -> None:
    customers = list_customers(server.url, admin, ca_file=server.ca_file)
    assert [c.domain for c in customers] == CUSTOMERS
    contoso = customers[0]
    store = server.store
    assert store is not None
    tenant = store.resolve_tenant("contoso.onmicrosoft.com")
    assert tenant is not None
    assert contoso == Customer(
        str(tenant.guid),
        "contoso",
        "contoso.com",
        "contoso.onmicrosoft.com",
        "DAP",
        "active",
        ("DAP",),
        ("Global Administrator",),
        None,
    )
    assert contoso.access == "DAP"
    assert contoso.to_dict()["defaultDomainName"] == "contoso.com"


def test_a_gdap_only_account_discovers_its_gdap_customer(server: BackgroundServer) -> None:
    reader = Credential("gdapreader@northwindit.onmicrosoft.com", PASSWORD)
    (litware,) = list_customers(server.url, reader, ca_file=server.ca_file)
    assert (litware.domain, litware.relationship, litware.relationship_kinds) == (
        "litware.onmicrosoft.com",
        "GDAP",
        ("GDAP",),
    )
    assert litware.roles == ("Global Reader",)
    assert litware.end_date is not None and litware.access == f"GDAP until {litware.end_date[:10]}"


def test_an_untrusted_certificate_is_refused_unless_insecure(server: BackgroundServer, admin: Credential) -> None:
    with pytest.raises(ConnectError, match="--ca-file") as info:
        list_customers(server.url, admin)
    assert not isinstance(info.value, AuthError)
    assert [c.domain for c in list_customers(server.url, admin, insecure=True)] == CUSTOMERS


def test_the_endpoint_uri_s_path_and_query_do_not_matter(server: BackgroundServer, admin: Credential) -> None:
    uri = server.url.replace("/powershell-liveid", "/PowerShell-LiveID/?DelegatedOrg=contoso.onmicrosoft.com")
    assert len(list_customers(uri, admin, ca_file=server.ca_file)) == 3


def test_refusals_are_auth_errors_without_the_password(server: BackgroundServer) -> None:
    wrong = Credential(PARTNER_ADMIN, "Wrong-Password-123")
    with pytest.raises(AuthError, match="refused") as info:
        list_customers(server.url, wrong, ca_file=server.ca_file)
    assert not isinstance(info.value, NotPartnerError)
    assert "Wrong-Password-123" not in str(info.value)
    customer_admin = Credential("admin@contoso.onmicrosoft.com", PASSWORD)
    with pytest.raises(NotPartnerError, match="not a partner agent"):
        list_customers(server.url, customer_admin, ca_file=server.ca_file)


def test_a_closed_port_is_transient() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransientError, match="cannot reach"):
        list_customers(f"http://127.0.0.1:{port}/powershell-liveid", Credential("a@b", "c"))


def test_the_async_client_answers_the_same(server: BackgroundServer, admin: Credential) -> None:
    customers = asyncio.run(alist_customers(server.url, admin, ca_file=server.ca_file))
    assert [c.domain for c in customers] == CUSTOMERS


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("https://rps.example.net:8443/powershell-liveid", "https://rps.example.net:8443/partner/v1/customers"),
        ("http://h/powershell?DelegatedOrg=x#f", "http://h/partner/v1/customers"),
        ("https://user:pw@h:1/x", "https://h:1/partner/v1/customers"),
        ("https://[::1]:8443/powershell-liveid", "https://[::1]:8443/partner/v1/customers"),
    ],
)
def test_customers_url(uri: str, expected: str) -> None:
    assert customers_url(uri) == expected


def test_customers_url_needs_http() -> None:
    with pytest.raises(ConnectError):
        customers_url("rps.example.net/powershell-liveid")


def test_tenants_from_a_list_keeps_order_and_drops_duplicates() -> None:
    assert tenants_from("contoso.onmicrosoft.com, fabrikam.onmicrosoft.com,,CONTOSO.onmicrosoft.com") == [
        "contoso.onmicrosoft.com",
        "fabrikam.onmicrosoft.com",
    ]
    assert tenants_from("contoso.onmicrosoft.com") == ["contoso.onmicrosoft.com"]


def test_tenants_from_a_file_with_comments(tmp_path: Path) -> None:
    path = tmp_path / "tenants.txt"
    path.write_text(
        "\ufeff# customers for the Monday report\ncontoso.onmicrosoft.com\n\n  fabrikam.onmicrosoft.com  # big one\n"
        "#tailspintoys.onmicrosoft.com\ncontoso.onmicrosoft.com\n",
        encoding="utf-8",
    )
    assert tenants_from(str(path)) == ["contoso.onmicrosoft.com", "fabrikam.onmicrosoft.com"]


def test_tenants_from_all_asks_the_partner_api(server: BackgroundServer, admin: Credential) -> None:
    assert tenants_from("all", uri=server.url, credential=admin, ca_file=server.ca_file) == CUSTOMERS
    with pytest.raises(ToolkitError, match="needs the endpoint"):
        tenants_from("ALL")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "no tenants given"),
        (" , ,", "names no tenant"),
        ("./missing.txt", "no such tenant file"),
        ("tenants.txt", "no such tenant file"),
        ("contoso fabrikam", "is not a tenant"),
    ],
)
def test_bad_tenant_specs(spec: str, message: str) -> None:
    with pytest.raises(ToolkitError, match=message):
        tenants_from(spec)


def test_a_file_with_nothing_but_comments_names_no_tenant(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("# nobody yet\n\n", encoding="utf-8")
    with pytest.raises(ToolkitError, match="names no tenant"):
        tenants_from(str(path))


_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
_domain = st.builds(lambda a, b: f"{a}.{b}", _label, _label).filter(lambda d: d.lower() != "all")


@given(st.lists(_domain, min_size=1, max_size=30))
def test_any_list_of_domains_round_trips(domains: list[str]) -> None:
    unique = list(dict.fromkeys(d.lower() for d in domains))
    assert [d.lower() for d in tenants_from(",".join(domains))] == unique
