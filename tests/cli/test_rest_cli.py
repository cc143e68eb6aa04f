"""``aobo run --transport rest``: tokens from the real identity endpoint through msal, REST calls to
a service following InvokeCommand's contract, rows into one file; the options' mistakes refused."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aobo.cli.app import app
from aobo.server import BackgroundServer
from tests.servers import seeded_server
from tests.toolkit.rest_fake import FakeExchange, ServedFake

PASSWORD = "Rest-Cli-Test-Password-1!"
ADMIN = "admin@northwindit.onmicrosoft.com"
CONTOSO = "contoso.onmicrosoft.com"
FABRIKAM = "fabrikam.onmicrosoft.com"

pytestmark = pytest.mark.filterwarnings("ignore:This API has been deprecated for public client flows")
runner = CliRunner()


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    with seeded_server(tmp_path_factory.mktemp("rest-cli"), PASSWORD) as running:
        yield running


def _env(tmp_path: Path, **extra: str | None) -> dict[str, str | None]:
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "AOBO_USERNAME": ADMIN,
        "AOBO_PASSWORD": PASSWORD,
        "AOBO_URI": None,
        "AOBO_PROFILE": None,
        "AOBO_TRANSPORT": None,
        "AOBO_AUTHORITY": None,
        "AOBO_CLIENT_SECRET": None,
        "COLUMNS": "200",
        **extra,
    }


def test_run_over_rest_writes_every_tenants_rows(identity: BackgroundServer, tmp_path: Path) -> None:
    fake = FakeExchange(tenants={CONTOSO: 40, FABRIKAM: 1500}, audience="https://outlook.office365.com")
    out = tmp_path / "mailboxes.csv"
    with ServedFake(fake) as rest:
        result = runner.invoke(
            app,
            [
                "run",
                "--transport",
                "rest",
                "--authority",
                identity.base_url,
                "--ca-file",
                str(identity.ca_file),
                "--uri",
                rest.url,
                "--tenants",
                f"{CONTOSO},{FABRIKAM},woodgrove.onmicrosoft.com",
                "--out",
                str(out),
                "--",
                "Get-Mailbox",
                "-ResultSize",
                "Unlimited",
            ],
            env=_env(tmp_path),
        )
    assert result.exit_code == 1, result.output  # woodgrove is not a customer: its token is refused
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by_tenant: dict[str, int] = {}
    for row in rows:
        by_tenant[row["Tenant"]] = by_tenant.get(row["Tenant"], 0) + 1
    assert by_tenant == {CONTOSO: 40, FABRIKAM: 1500}
    assert len({row["PrimarySmtpAddress"] for row in rows}) == 1540  # every mailbox exactly once
    assert "AADSTS50020" in " ".join(result.output.split())
    anchors = {s.headers["x-anchormailbox"] for s in fake.seen}
    assert anchors == {
        "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@contoso.onmicrosoft.com",
        "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@fabrikam.onmicrosoft.com",
    }


def test_a_wrong_password_fails_before_the_run(identity: BackgroundServer, tmp_path: Path) -> None:
    rest = ["--transport", "rest", "--authority", identity.base_url, "--ca-file", str(identity.ca_file)]
    result = runner.invoke(
        app,
        ["run", *rest, "--tenants", CONTOSO, "--", "Get-Mailbox"],
        env=_env(tmp_path, AOBO_PASSWORD="Wrong-Password-1"),
    )
    assert result.exit_code == 1
    assert "AADSTS50126: Error validating credentials due to invalid username or password." in " ".join(
        result.output.split()
    )
    assert "Wrong-Password-1" not in result.output


@pytest.mark.parametrize(
    ("args", "extra", "message"),
    [
        (["--device-code", "--uri", "https://h/powershell-liveid"], {}, "add --transport rest"),
        (["--transport", "rest", "--app-id", "app", "--tenants", "all"], {"AOBO_CLIENT_SECRET": "s"}, "--tenants all"),
        (["--transport", "rest", "--app-id", "app", "--tenants", CONTOSO], {}, "AOBO_CLIENT_SECRET"),
        (["--transport", "wsman"], {}, "transport must be rps or rest"),
    ],
)
def test_option_mistakes_are_refused_before_anything_is_sent(
    tmp_path: Path, args: list[str], extra: dict[str, str], message: str
) -> None:
    result = runner.invoke(app, ["run", *args, "--", "Get-Mailbox"], env=_env(tmp_path, **extra))
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())


def test_the_secret_is_never_a_command_line_option() -> None:
    result = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert "--app-id" in result.output and "--device-code" in result.output and "--authority" in result.output
    assert "--client-secret" not in result.output and "--secret" not in result.output


def test_shell_over_rest_runs_lines_and_prints_exchanges_errors(identity: BackgroundServer, tmp_path: Path) -> None:
    fake = FakeExchange(tenants={CONTOSO: 40}, audience="https://outlook.office365.com")
    with ServedFake(fake) as rest:
        result = runner.invoke(
            app,
            [
                "shell",
                CONTOSO,
                "--transport",
                "rest",
                "--authority",
                identity.base_url,
                "--ca-file",
                str(identity.ca_file),
                "--uri",
                rest.url,
            ],
            input="Get-Mailbox -ResultSize 3\nGet-Mailbox nobody@contoso.com\nGet-Mailbox | Set-Mailbox -Office x\n",
            env=_env(tmp_path),
        )
    output = " ".join(result.output.split())
    assert result.exit_code == 1, result.output  # a line failed, and stdin was not a terminal
    assert "user0000" in output and "user0002" in output and "user0003" not in output
    assert "WARNING: There are more results available" in output
    assert "The operation couldn't be performed because object 'nobody@contoso.com' couldn't be found" in output
    assert (
        "FullyQualifiedErrorId : Ex6F9304,Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
        in (output)
    )
    assert "one cmdlet per request" in output
    assert fake.modified == []  # the refused pipeline sent nothing


def test_resume_over_rest_runs_only_the_tenants_not_done(identity: BackgroundServer, tmp_path: Path) -> None:
    tailspin = "tailspintoys.onmicrosoft.com"
    fake = FakeExchange(tenants={CONTOSO: 40}, audience="https://outlook.office365.com")
    out = tmp_path / "mailboxes.jsonl"
    with ServedFake(fake) as rest:
        args = ["run", "--transport", "rest", "--authority", identity.base_url, "--ca-file", str(identity.ca_file)]
        args += ["--uri", rest.url, "--tenants", f"{CONTOSO},{tailspin}", "--out", str(out)]
        first = runner.invoke(app, [*args, "--", "Get-Mailbox", "-ResultSize", "Unlimited"], env=_env(tmp_path))
        assert first.exit_code == 1, first.output  # the service refuses tailspintoys this time
        fake.tenants[tailspin] = 10
        fake.seen.clear()
        again = runner.invoke(
            app, [*args, "--resume", "--", "Get-Mailbox", "-ResultSize", "Unlimited"], env=_env(tmp_path)
        )
    assert again.exit_code == 0, again.output
    assert {s.url.split("/")[5] for s in fake.seen} == {tailspin}  # contoso was done: not asked again
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 50
