import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aobo.cli.app import app
from aobo.domain.store import Store

runner = CliRunner()


def _db(data: Path) -> str:
    return f"sqlite:///{data / 'aobo.db'}"


def test_seed_demo_creates_the_demo_world(tmp_path: Path) -> None:
    result = runner.invoke(app, ["seed", "--demo", "--data", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert re.search(r"Seeded the demo world: \d+ tenants, \d+ accounts, \d+ mailboxes in [\d.]+ s", result.output)
    with Store.open(_db(tmp_path)) as store:
        domains = {tenant.initial_domain for tenant in store.list_tenants()}
        assert {"northwindit.onmicrosoft.com", "contoso.onmicrosoft.com"} <= domains
        assert store.find_user("admin@northwindit.onmicrosoft.com") is not None


def test_seed_generated_tenants(tmp_path: Path) -> None:
    result = runner.invoke(app, ["seed", "--tenants", "3", "--mailboxes", "4", "--data", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Seeded 3 tenants with 4 mailboxes each (12 mailboxes)" in result.output
    with Store.open(_db(tmp_path)) as store:
        generated = [tenant for tenant in store.list_tenants() if tenant.name.startswith("cust")]
        assert [store.count_mailboxes(tenant.id) for tenant in generated] == [4, 4, 4]


def test_seed_reads_the_data_directory_from_the_environment(tmp_path: Path) -> None:
    result = runner.invoke(app, ["seed", "--tenants", "1"], env={"AOBO_DATA": str(tmp_path / "env")})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "env" / "aobo.db").exists()


def test_seed_without_what_to_seed_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["seed", "--data", str(tmp_path)])
    assert result.exit_code == 2


def test_a_bad_database_url_is_a_clean_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["seed", "--demo", "--db", "nosuchdb://x", "--data", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.startswith("error:")
    assert "Traceback" not in result.output


def test_serve_help_lists_every_option() -> None:
    result = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in (
        "--host",
        "--port",
        "--data",
        "--db",
        "--demo",
        "--cert",
        "--key",
        "--insecure-http",
        "--max-sessions",
        "--idle-timeout",
        "--public-url",
    ):
        assert option in result.output


def test_serve_takes_the_public_url_from_the_option_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aobo.server
    from aobo.settings import Settings

    seen: list[Settings] = []

    def fake_serve(settings: Settings, store: Store, **_: object) -> None:
        seen.append(settings)
        store.close()

    monkeypatch.setattr(aobo.server, "serve", fake_serve)
    args = ["serve", "--data", str(tmp_path)]
    assert runner.invoke(app, [*args, "--public-url", "https://login.example:8443/"]).exit_code == 0
    assert runner.invoke(app, args, env={"AOBO_PUBLIC_URL": "https://env.example"}).exit_code == 0
    assert runner.invoke(app, args).exit_code == 0
    assert [s.public_url for s in seen] == ["https://login.example:8443", "https://env.example", None]
    assert seen[2].public_base_url == "https://127.0.0.1:8443"
    for bad in ("login.example", "ftp://login.example", "https://login.example/path", "https://x?y=1"):
        result = runner.invoke(app, [*args, "--public-url", bad])
        assert result.exit_code == 2, bad


def test_serve_with_only_a_certificate_is_a_clean_error(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("")
    result = runner.invoke(app, ["serve", "--data", str(tmp_path), "--cert", str(cert)])
    assert result.exit_code == 1
    assert "--cert and --key must be given together" in result.output


def test_serve_with_a_key_that_does_not_match_the_certificate_is_a_clean_error(tmp_path: Path) -> None:
    from aobo.tls import ensure_self_signed

    cert, _ = ensure_self_signed(tmp_path / "one", [])
    _, other_key = ensure_self_signed(tmp_path / "two", [])
    result = runner.invoke(app, ["serve", "--data", str(tmp_path), "--cert", str(cert), "--key", str(other_key)])
    assert result.exit_code == 1
    assert result.output.startswith(f"error: cannot use --cert {cert}")
