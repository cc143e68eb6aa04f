"""The toolkit over REST against the real server: msal's password grant at the identity endpoint,
InvokeCommand at ``/adminapi/beta/<tenant>``. Runs once the REST front end (``aobo.frontends.rest``)
is part of the service; skipped before."""

from __future__ import annotations

import csv
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("aobo.frontends.rest")

from aobo.cli.app import app
from aobo.server import BackgroundServer
from aobo.settings import Settings
from aobo.toolkit import connect
from aobo.toolkit.auth import TokenProvider
from aobo.toolkit.credential import Credential
from aobo.toolkit.errors import AuthError, CommandError
from tests.servers import seeded_server

PASSWORD = "Rest-E2e-Password-1!"
ADMIN = "admin@northwindit.onmicrosoft.com"
CONTOSO = "contoso.onmicrosoft.com"
FABRIKAM = "fabrikam.onmicrosoft.com"

pytestmark = [pytest.mark.filterwarnings("ignore:This API has been deprecated for public client flows")]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    with seeded_server(tmp_path_factory.mktemp("rest-e2e"), PASSWORD) as running:
        yield running


def rest(server: BackgroundServer, org: str | None, user: str = ADMIN, password: str = PASSWORD) -> object:
    return connect(
        org,
        Credential(user, password),
        transport="rest",
        uri=server.base_url,
        authority=server.base_url,
        ca_file=server.ca_file,
    )


def test_partner_admin_reads_a_customers_mailboxes(server: BackgroundServer) -> None:
    with rest(server, CONTOSO) as session:  # type: ignore[attr-defined]
        mailboxes = session.invoke("Get-Mailbox", ResultSize="Unlimited")
        assert len(mailboxes) == 40
        assert all(str(m.PrimarySmtpAddress).endswith("@contoso.com") for m in mailboxes)
        assert mailboxes.errors == []


def test_fabrikams_1500_mailboxes_are_paged_each_exactly_once(server: BackgroundServer) -> None:
    with rest(server, FABRIKAM) as session:  # type: ignore[attr-defined]
        stream = session.stream("Get-Mailbox -ResultSize Unlimited")
        names = [str(m.PrimarySmtpAddress) for m in stream]
    assert len(names) == len(set(names)) == 1500


def test_the_1000_result_warning_and_an_exchange_error(server: BackgroundServer) -> None:
    with rest(server, FABRIKAM) as session:  # type: ignore[attr-defined]
        first = session.invoke("Get-Mailbox")
        assert len(first) == 1000 and first.warnings
        with pytest.raises(CommandError, match="couldn't be found") as caught:
            session.invoke("Get-Mailbox", Identity="nobody@fabrikam.com")
        assert "ManagementObjectNotFoundException" in caught.value.fully_qualified_error_id
        assert len(session.invoke("Get-Mailbox", ResultSize=3)) == 3  # the session goes on


def test_a_tenant_that_is_not_a_customer_is_refused(server: BackgroundServer) -> None:
    with pytest.raises(AuthError):
        rest(server, "woodgrove.onmicrosoft.com")


def test_a_customer_admin_in_their_own_tenant(server: BackgroundServer) -> None:
    with rest(server, None, user="admin@contoso.onmicrosoft.com") as session:  # type: ignore[attr-defined]
        assert len(session.invoke("Get-Mailbox", ResultSize="Unlimited")) == 40


def test_short_lived_tokens_are_refreshed_during_a_run(tmp_path: Path) -> None:
    if "access_token_lifetime" not in {f.name for f in dataclasses.fields(Settings)}:
        pytest.skip("Settings.access_token_lifetime is not there yet")
    with seeded_server(tmp_path, PASSWORD, access_token_lifetime=4) as short:
        provider = TokenProvider(
            Credential(ADMIN, PASSWORD), authority=short.base_url, ca_file=short.ca_file, refresh_margin=2
        )
        try:
            with connect(CONTOSO, provider, transport="rest", uri=short.base_url, ca_file=short.ca_file) as session:
                for _ in range(4):  # 6 s of calls with 4 s tokens: never an expired one, never a failure
                    assert len(session.invoke("Get-Mailbox", ResultSize=2)) == 2
                    time.sleep(1.5)
        finally:
            provider.close()


def test_aobo_run_over_rest_into_csv(server: BackgroundServer, tmp_path: Path) -> None:
    out = tmp_path / "mailboxes.csv"
    env = {
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "AOBO_USERNAME": ADMIN,
        "AOBO_PASSWORD": PASSWORD,
        "AOBO_URI": None,
        "AOBO_PROFILE": None,
        "COLUMNS": "200",
    }
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--transport",
            "rest",
            "--authority",
            server.base_url,
            "--uri",
            server.base_url,
            "--ca-file",
            str(server.ca_file),
            "--out",
            str(out),
            "--",
            "Get-Mailbox",
            "-ResultSize",
            "Unlimited",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["Tenant"]] = counts.get(row["Tenant"], 0) + 1
    assert counts == {CONTOSO: 40, FABRIKAM: 1500, "tailspintoys.onmicrosoft.com": 10}
