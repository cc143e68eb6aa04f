"""``aobo tenants`` and ``aobo login`` against a real server, with a keyring in memory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backend
import pytest
from click.testing import Result
from typer.testing import CliRunner

from aobo.cli.app import app
from aobo.server import BackgroundServer
from tests.servers import seeded_server

# This directory is not a package (no tests.e2e imports when run alone): a world of its own.
PASSWORD = "Toolkit-Cli-Test-1!"
ADMIN = "admin@northwindit.onmicrosoft.com"
CUSTOMERS = ("contoso.onmicrosoft.com", "fabrikam.onmicrosoft.com", "tailspintoys.onmicrosoft.com")

runner = CliRunner()
Env = dict[str, str | None]


class MemoryKeyring(keyring.backend.KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username), None)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    with seeded_server(tmp_path_factory.mktemp("toolkit-cli"), PASSWORD) as running:
        yield running


@pytest.fixture
def ring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    try:
        yield memory
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def env(tmp_path: Path, ring: MemoryKeyring) -> Env:
    """No user configuration, no inherited credentials, wide output."""
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "AOBO_USERNAME": None,
        "AOBO_PASSWORD": None,
        "AOBO_URI": None,
        "AOBO_PROFILE": None,
        "COLUMNS": "200",
    }


def tenants(server: BackgroundServer, env: Env, *args: str, user: str = ADMIN, password: str = PASSWORD) -> Result:
    return runner.invoke(
        app,
        ["tenants", "--uri", server.url, "--ca-file", str(server.ca_file), *args],
        env={**env, "AOBO_USERNAME": user, "AOBO_PASSWORD": password},
    )


def test_tenants_prints_a_table_of_the_customers(server: BackgroundServer, env: Env) -> None:
    result = tenants(server, env)
    assert result.exit_code == 0, result.output
    for header in ("Tenant ID", "Name", "Default domain", "State"):
        assert header in result.output
    for domain in CUSTOMERS:
        assert domain in result.output
    assert "contoso.com" in result.output and "active" in result.output
    assert "woodgrove" not in result.output
    assert "3 customers" in result.output
    store = server.store
    assert store is not None
    partner = store.resolve_tenant("northwindit.onmicrosoft.com")
    assert partner is not None
    guids = [str(t.guid) for t, _ in store.customers_of(partner.id)]
    assert all(guid in result.output for guid in guids)
    # CliRunner's stdout is no terminal: plain lines (tests/cli/test_pipes.py has the terminal), the
    # count on stderr, and the width changes nothing.
    lines = result.stdout.splitlines()
    assert lines[0] == "Tenant ID\tName\tDefault domain\tInitial domain\tState\tAccess"
    assert [line.split("\t")[3] for line in lines[1:]] == list(CUSTOMERS)
    assert result.stderr == "3 customers\n"
    narrow = tenants(server, {**env, "COLUMNS": "40"})
    assert narrow.exit_code == 0, narrow.output
    assert narrow.stdout == result.stdout


def test_tenants_json(server: BackgroundServer, env: Env) -> None:
    result = tenants(server, env, "--json")
    assert result.exit_code == 0, result.output
    customers = json.loads(result.stdout)
    assert [c["initialDomainName"] for c in customers] == list(CUSTOMERS)
    assert set(customers[0]) == {
        "tenantId",
        "name",
        "defaultDomainName",
        "initialDomainName",
        "relationship",
        "state",
        "relationshipKinds",
        "roles",
        "endDateTime",
    }
    assert customers[0]["relationshipKinds"] == ["DAP"] and customers[0]["endDateTime"] is None


def test_tenants_from_a_profile(server: BackgroundServer, env: Env, tmp_path: Path) -> None:
    config = tmp_path / "config" / "aobo" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        f'[profiles.lab]\nuri = "{server.url}"\nusername = "{ADMIN}"\nca_file = "{server.ca_file}"\n', encoding="utf-8"
    )
    result = runner.invoke(app, ["tenants", "--profile", "lab", "--json"], env={**env, "AOBO_PASSWORD": PASSWORD})
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 3
    unknown = runner.invoke(app, ["tenants", "--profile", "prod"], env=env)
    assert unknown.exit_code == 1
    assert "unknown profile 'prod'" in unknown.output


def test_a_wrong_password_is_a_one_line_error(server: BackgroundServer, env: Env) -> None:
    result = tenants(server, env, password="Not-The-Password-9")
    assert result.exit_code == 1
    assert result.output.startswith("error:") and "refused" in result.output
    assert "Traceback" not in result.output and "Not-The-Password-9" not in result.output


def test_a_customer_admin_is_told_it_is_not_a_partner(server: BackgroundServer, env: Env) -> None:
    result = tenants(server, env, user="admin@contoso.onmicrosoft.com")
    assert result.exit_code == 1
    assert "not a partner agent" in result.output


def test_missing_endpoint_or_credential(server: BackgroundServer, env: Env) -> None:
    no_uri = runner.invoke(app, ["tenants"], env={**env, "AOBO_USERNAME": ADMIN, "AOBO_PASSWORD": PASSWORD})
    assert no_uri.exit_code == 1 and "no endpoint" in no_uri.output
    no_cred = runner.invoke(app, ["tenants", "--uri", server.url, "--username", ADMIN], env=env)
    assert no_cred.exit_code == 1
    assert "no credential for admin@northwindit.onmicrosoft.com" in no_cred.output


def test_tls_is_verified_unless_insecure(server: BackgroundServer, env: Env) -> None:
    creds = {**env, "AOBO_USERNAME": ADMIN, "AOBO_PASSWORD": PASSWORD}
    untrusted = runner.invoke(app, ["tenants", "--uri", server.url], env=creds)
    assert untrusted.exit_code == 1 and "--ca-file" in untrusted.output
    insecure = runner.invoke(app, ["tenants", "--uri", server.url, "--insecure", "--json"], env=creds)
    assert insecure.exit_code == 0, insecure.output
    assert "verification is off" in insecure.stderr
    assert len(json.loads(insecure.stdout)) == 3


def test_login_stores_the_password_and_tenants_uses_it(server: BackgroundServer, env: Env, ring: MemoryKeyring) -> None:
    login = runner.invoke(
        app,
        ["login", "--uri", server.url, "--username", ADMIN, "--ca-file", str(server.ca_file)],
        env=env,
        input=PASSWORD + "\n",
    )
    assert login.exit_code == 0, login.output
    assert ring.entries == {("aobo:127.0.0.1", ADMIN): PASSWORD}
    assert "aobo:127.0.0.1" in login.output and PASSWORD not in login.output
    # No AOBO_PASSWORD: the keyring answers.
    result = runner.invoke(
        app,
        ["tenants", "--uri", server.url, "--ca-file", str(server.ca_file), "--username", ADMIN, "--json"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 3


def test_login_prompts_for_the_user_name_too(server: BackgroundServer, env: Env, ring: MemoryKeyring) -> None:
    login = runner.invoke(
        app,
        ["login", "--uri", server.url, "--ca-file", str(server.ca_file)],
        env=env,
        input=f"{ADMIN}\n{PASSWORD}\n",
    )
    assert login.exit_code == 0, login.output
    assert ring.entries == {("aobo:127.0.0.1", ADMIN): PASSWORD}


def test_login_keeps_nothing_when_the_server_refuses_the_password(
    server: BackgroundServer, env: Env, ring: MemoryKeyring
) -> None:
    login = runner.invoke(
        app,
        ["login", "--uri", server.url, "--username", ADMIN, "--ca-file", str(server.ca_file)],
        env=env,
        input="Wrong-Password-7\n",
    )
    assert login.exit_code == 1 and "refused" in login.output
    assert ring.entries == {}


def test_login_accepts_a_customer_admin_and_no_verify_skips_the_server(
    server: BackgroundServer, env: Env, ring: MemoryKeyring
) -> None:
    customer = "admin@contoso.onmicrosoft.com"
    ok = runner.invoke(
        app,
        ["login", "--uri", server.url, "-u", customer, "--ca-file", str(server.ca_file)],
        env=env,
        input=PASSWORD + "\n",
    )
    assert ok.exit_code == 0, ok.output
    offline = runner.invoke(
        app,
        ["login", "--uri", "https://offline.example:1/powershell-liveid", "-u", ADMIN, "--no-verify"],
        env=env,
        input="anything\n",
    )
    assert offline.exit_code == 0, offline.output
    assert ring.entries == {("aobo:127.0.0.1", customer): PASSWORD, ("aobo:offline.example", ADMIN): "anything"}
