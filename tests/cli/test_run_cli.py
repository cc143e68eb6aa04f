"""``aobo run`` against a real server: every customer's rows in one file, failures reported, the
exit status telling whether every tenant succeeded."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from typer.testing import CliRunner

from aobo.cli.app import app
from aobo.domain.store import Store
from aobo.server import BackgroundServer
from aobo.toolkit.credential import keyring_service
from tests.cli.test_toolkit_cli import MemoryKeyring
from tests.servers import seeded_server

PASSWORD = "Run-Cli-Test-Password-1!"
ADMIN = "admin@northwindit.onmicrosoft.com"
HELPDESK = "helpdesk@northwindit.onmicrosoft.com"
CUSTOMERS = ("contoso.onmicrosoft.com", "fabrikam.onmicrosoft.com", "tailspintoys.onmicrosoft.com")

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BackgroundServer, Store]]:
    with seeded_server(tmp_path_factory.mktemp("run-cli"), PASSWORD) as running:
        yield running, running.store


def _run(server: BackgroundServer, tmp_path: Path, *args: str) -> tuple[int, str]:
    env = {
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "AOBO_USERNAME": ADMIN,
        "AOBO_PASSWORD": PASSWORD,
        "AOBO_URI": server.url,
        "AOBO_PROFILE": None,
        "COLUMNS": "200",
    }
    result = runner.invoke(app, ["run", "--ca-file", str(server.ca_file), *args], env=env)
    return result.exit_code, result.output


def test_run_writes_every_customers_mailboxes_with_their_tenant(
    world: tuple[BackgroundServer, Store], tmp_path: Path
) -> None:
    server, store = world
    out = tmp_path / "mailboxes.csv"
    code, output = _run(server, tmp_path, "--out", str(out), "--", "Get-Mailbox", "-ResultSize", "Unlimited")
    assert code == 0, output
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by_tenant: dict[str, int] = {}
    for row in rows:
        by_tenant[row["Tenant"]] = by_tenant.get(row["Tenant"], 0) + 1
    expected = {t: store.count_mailboxes(store.resolve_tenant(t).id) for t in CUSTOMERS}
    assert by_tenant == expected
    assert rows[0]["PrimarySmtpAddress"] and "Name" in rows[0]
    assert "3 succeeded, 0 failed" in output
    assert not server.app.state.wsman.shells.count(ADMIN.lower())


def test_a_tenant_that_fails_is_reported_and_the_others_still_run(
    world: tuple[BackgroundServer, Store], tmp_path: Path
) -> None:
    server, _ = world
    out = tmp_path / "rules.jsonl"
    code, output = _run(
        server,
        tmp_path,
        "--tenants",
        "contoso.onmicrosoft.com,woodgrove.onmicrosoft.com",
        "--out",
        str(out),
        "--",
        "Get-TransportRule",
    )
    assert code == 1, output
    assert "1 succeeded, 1 failed" in output
    assert "woodgrove.onmicrosoft.com" in output and "Access is denied" in output
    tenants = {json.loads(line)["Tenant"] for line in out.read_text(encoding="utf-8").splitlines()}
    assert tenants == {"contoso.onmicrosoft.com"}


def test_several_accounts_share_the_tenants(world: tuple[BackgroundServer, Store], tmp_path: Path) -> None:
    server, _ = world
    out = tmp_path / "domains.jsonl"
    # The second account's password comes from the keyring, as after `aobo login`.
    ring = MemoryKeyring()
    ring.set_password(keyring_service(server.url), HELPDESK, PASSWORD)
    previous = keyring.get_keyring()
    keyring.set_keyring(ring)
    try:
        code, output = _run(server, tmp_path, "--account", HELPDESK, "--out", str(out), "--", "Get-AcceptedDomain")
    finally:
        keyring.set_keyring(previous)
    # Help Desk may not read organisation configuration: the tenants it was given fail, the others not.
    assert code == 1, output
    counts = re.search(r"(\d+) succeeded, (\d+) failed", output)
    assert counts is not None, output
    succeeded, failed = int(counts[1]), int(counts[2])
    assert succeeded >= 1 and failed >= 1 and succeeded + failed == len(CUSTOMERS)
    assert "isn't assigned to any management roles" in output or "CmdletAccessDenied" in output, output
    assert len({json.loads(line)["Tenant"] for line in out.read_text(encoding="utf-8").splitlines()}) == succeeded


def test_a_command_outside_the_grammar_is_refused_before_any_session(
    world: tuple[BackgroundServer, Store], tmp_path: Path
) -> None:
    server, _ = world
    code, output = _run(server, tmp_path, "--tenants", "contoso.onmicrosoft.com", "--", "Get-Mailbox -Identity $me")
    assert code == 1
    assert "the command cannot be sent" in output and "^" in output
    assert not server.app.state.wsman.shells.count(ADMIN.lower())
