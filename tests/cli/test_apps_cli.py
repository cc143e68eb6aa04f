"""``aobo app ...`` and ``aobo keys rotate`` on a real data directory, then msal against a server on it."""

from __future__ import annotations

import re
from pathlib import Path

import jwt
import msal
from typer.testing import CliRunner

from aobo.cli.app import app
from aobo.domain.seed import seed_demo
from aobo.domain.store import Store
from aobo.frontends.oauth import AUDIENCE
from aobo.server import BackgroundServer
from aobo.settings import Settings
from tests.identity_support import PortKeepingSession, make_certificate

runner = CliRunner()
PASSWORD = "Apps-Cli-1!"
WIDE = {"COLUMNS": "200"}


def _field(output: str, label: str) -> str:
    match = re.search(rf"^{re.escape(label)}: (\S+)", output, re.MULTILINE)
    assert match, output
    return match.group(1)


def test_app_commands_then_msal_gets_tokens(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'aobo.db'}") as store:
        store.migrate()
        seed_demo(store, PASSWORD)
    cert = make_certificate("cli app")
    (tmp_path / "cert.pem").write_text(cert.certificate_pem)
    data = ["--data", str(tmp_path)]

    created = runner.invoke(
        app,
        [
            "app", "create", "--tenant", "northwindit.onmicrosoft.com", "--name", "CLI Automation",
            "--secret", "--certificate", str(tmp_path / "cert.pem"), *data,
        ],
        env=WIDE,
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    app_id, secret = _field(created.output, "Application (client) id"), _field(created.output, "Client secret")
    assert _field(created.output, "Certificate thumbprint") == cert.sha1.upper()
    assert "shown only this once" in created.output

    assigned = runner.invoke(
        app,
        [
            "app",
            "assign-role",
            app_id,
            "--tenant",
            "contoso.onmicrosoft.com",
            "--role",
            "Exchange Administrator",
            *data,
        ],
        env=WIDE,
    )
    assert assigned.exit_code == 0, assigned.output
    assert "Assigned Exchange Administrator to CLI Automation in contoso.onmicrosoft.com" in assigned.output
    # Not a customer of the partner: no consent.
    refused = runner.invoke(
        app, ["app", "assign-role", app_id, "--tenant", "woodgrove.onmicrosoft.com", "--role", "Global Reader", *data]
    )
    assert refused.exit_code == 1
    assert "no active delegated administration relationship" in refused.output
    unknown = runner.invoke(app, ["app", "assign-role", app_id, "--tenant", "contoso.com", "--role", "Boss", *data])
    assert unknown.exit_code == 1 and "unknown role 'Boss'" in unknown.output

    added = runner.invoke(app, ["app", "add-secret", app_id, "--days", "30", *data], env=WIDE)
    assert added.exit_code == 0, added.output
    second = _field(added.output, "Client secret")
    assert second != secret

    listed = runner.invoke(app, ["app", "list", *data], env=WIDE)
    assert listed.exit_code == 0, listed.output
    assert app_id in listed.output and "CLI Automation" in listed.output
    assert f"secret {secret[:3]}***" in listed.output and f"secret {second[:3]}***" in listed.output
    assert secret not in listed.output and second not in listed.output
    assert f"certificate {cert.sha1.upper()}" in listed.output
    assert "contoso.onmicrosoft.com: Exchange Administrator" in listed.output
    assert "Northwind Automation" in listed.output  # the demo app

    with (
        Store.open(f"sqlite:///{tmp_path / 'aobo.db'}") as store,
        BackgroundServer(Settings(data_dir=tmp_path), store) as server,
        PortKeepingSession(server.base_url, str(server.ca_file)) as http,
    ):

        def client(credential: object) -> msal.ConfidentialClientApplication:
            return msal.ConfidentialClientApplication(
                app_id,
                client_credential=credential,
                authority=f"{server.base_url}/contoso.onmicrosoft.com",
                validate_authority=False,
                instance_discovery=False,
                http_client=http,
            )

        scopes = [f"{AUDIENCE}/.default"]
        for credential in (secret, second, {"private_key": cert.private_pem, "thumbprint": cert.sha1}):
            result = client(credential).acquire_token_for_client(scopes)
            assert "access_token" in result, result
        before = jwt.get_unverified_header(result["access_token"])["kid"]

        rotated = runner.invoke(app, ["keys", "rotate", *data], env=WIDE)
        assert rotated.exit_code == 0, rotated.output
        new_kid = _field(rotated.output, "New signing key")
        assert new_kid != before
        after = client(secret).acquire_token_for_client(scopes)
        assert jwt.get_unverified_header(after["access_token"])["kid"] == new_kid


def test_create_with_a_bad_certificate_or_tenant(tmp_path: Path) -> None:
    data = ["--data", str(tmp_path)]
    (tmp_path / "bad.pem").write_text("not a certificate")
    with Store.open(f"sqlite:///{tmp_path / 'aobo.db'}") as store:
        store.migrate()
        store.create_tenant("lonely")
    bad = runner.invoke(
        app,
        [
            "app",
            "create",
            "--tenant",
            "lonely.onmicrosoft.com",
            "--name",
            "X",
            "--certificate",
            str(tmp_path / "bad.pem"),
            *data,
        ],
    )
    assert bad.exit_code == 1 and "not a PEM-encoded X.509 certificate" in bad.output
    nowhere = runner.invoke(app, ["app", "create", "--tenant", "nowhere.example", "--name", "X", *data])
    assert nowhere.exit_code == 1 and "no tenant 'nowhere.example'" in nowhere.output
    with Store.open(f"sqlite:///{tmp_path / 'aobo.db'}") as store:
        assert store.apps.list() == []  # nothing half-created


def test_serve_banner_names_the_demo_app(tmp_path: Path) -> None:
    from rich.console import Console

    from aobo.domain.seed import DEMO_APP_ID, demo_app_secret
    from aobo.server import _print_banner

    with Store.open(f"sqlite:///{tmp_path / 'aobo.db'}") as store:
        store.migrate()
        world = seed_demo(store, PASSWORD)
    console = Console(record=True, width=250)
    _print_banner(console, Settings(data_dir=tmp_path), None, world)
    text = console.export_text()
    assert f"client id {DEMO_APP_ID}, secret {demo_app_secret(PASSWORD)}" in text
