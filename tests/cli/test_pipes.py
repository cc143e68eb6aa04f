"""The table commands through a real pipe and on an 80-column pseudo-terminal.

In a pipe (``aobo tenants | grep contoso``): a header line, one tab-separated line per record,
nothing cut, wrapped, boxed or coloured, sentences on stderr. On a terminal: one line per record,
every domain whole on its line. Each command runs as its own process, ``python -m aobo``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from aobo.cli.app import app
from aobo.domain.store import Store
from aobo.server import BackgroundServer
from aobo.toolkit import Credential, connect
from tests.servers import seeded_server

PASSWORD = "Pipes-Cli-Test-1!"
ADMIN = "admin@northwindit.onmicrosoft.com"
PARTNER = "northwindit.onmicrosoft.com"
# A generated-looking customer whose domain (62 characters) leaves little room in 80 columns.
LONG = "northwind-traders-international-holdings-emea"
LONG_DOMAIN = f"{LONG}.onmicrosoft.com"
CUSTOMERS = ("contoso.onmicrosoft.com", "fabrikam.onmicrosoft.com", "tailspintoys.onmicrosoft.com", LONG_DOMAIN)
TENANT_HEADERS = ["Tenant ID", "Name", "Default domain", "Initial domain", "State", "Access"]
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")
BOX = re.compile("[\u2500-\u257f]")  # rich's box-drawing characters


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    with seeded_server(tmp_path_factory.mktemp("pipes"), PASSWORD) as running:
        store = running.store
        assert store is not None
        partner = store.resolve_tenant(PARTNER)
        assert partner is not None
        store.create_relationship(partner.id, store.create_tenant(LONG).id)
        yield running


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This process's environment without anything that sets the width or the account, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES") and not k.startswith("AOBO_")}
    return {**env, "XDG_CONFIG_HOME": str(tmp_path / "config"), **extra}


def piped(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``aobo <args> | cat``: stdout and stderr are pipes, so neither is a terminal."""
    return subprocess.run(
        [sys.executable, "-m", "aobo", *args],
        capture_output=True,  # two pipes
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        timeout=120,
    )


def on_terminal(args: list[str], env: dict[str, str]) -> tuple[int, list[str]]:
    """``aobo <args>`` on a 24x80 pseudo-terminal: the exit status and the lines shown, colours removed."""
    child = pexpect.spawn(
        sys.executable,
        ["-m", "aobo", *args],
        env={**env, "TERM": "xterm"},
        encoding="utf-8",
        codec_errors="replace",
        dimensions=(24, 80),
        timeout=120,
    )
    child.expect(pexpect.EOF)
    child.close()
    text = ANSI.sub("", child.before or "")
    return child.exitstatus, [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]


def records(stdout: str, headers: list[str]) -> list[list[str]]:
    """The records of plain output, after checking its form: the header line, then one line per
    record with as many tab-separated fields as headers; no colour, no box."""
    assert "\x1b" not in stdout and not BOX.search(stdout), stdout
    lines = stdout.splitlines()
    assert lines and lines[0].split("\t") == headers, stdout
    rows = [line.split("\t") for line in lines[1:]]
    assert all(len(row) == len(headers) for row in rows), stdout
    return rows


def tenants_args(server: BackgroundServer) -> list[str]:
    return ["tenants", "--uri", server.url, "--ca-file", str(server.ca_file)]


def signed_in(tmp_path: Path, **extra: str) -> dict[str, str]:
    return environment(tmp_path, AOBO_USERNAME=ADMIN, AOBO_PASSWORD=PASSWORD, **extra)


# ------------------------------------------------------------------------------------------------ tenants


def test_tenants_in_a_pipe_is_one_tab_separated_line_per_customer(server: BackgroundServer, tmp_path: Path) -> None:
    # A narrow COLUMNS changes nothing in a pipe: no cell is cut or wrapped.
    result = piped(tenants_args(server), signed_in(tmp_path, COLUMNS="40"))
    assert result.returncode == 0, result.stderr
    rows = records(result.stdout, TENANT_HEADERS)
    assert sorted(row[3] for row in rows) == sorted(CUSTOMERS)
    store = server.store
    assert store is not None
    for row in rows:
        tenant = store.resolve_tenant(row[3])
        assert tenant is not None and row[0] == str(tenant.guid)
        assert row[4] == "active"
    assert rows[0][2:] == ["contoso.com", "contoso.onmicrosoft.com", "active", "DAP"]
    # No title on stdout; the count is on stderr.
    assert "Customers of" not in result.stdout and "customers" not in result.stdout
    assert result.stderr.strip() == "4 customers"


def test_grep_finds_the_customer_line(server: BackgroundServer, tmp_path: Path) -> None:
    aobo = subprocess.Popen(
        [sys.executable, "-m", "aobo", *tenants_args(server)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=signed_in(tmp_path),
    )
    assert aobo.stdout is not None
    grep = subprocess.run(["grep", "contoso"], stdin=aobo.stdout, capture_output=True, text=True, timeout=120)
    aobo.stdout.close()
    assert aobo.wait(timeout=120) == 0
    assert grep.returncode == 0
    (line,) = grep.stdout.splitlines()
    assert line.split("\t")[2:5] == ["contoso.com", "contoso.onmicrosoft.com", "active"]


def test_tenants_json_is_unchanged_in_a_pipe(server: BackgroundServer, tmp_path: Path) -> None:
    result = piped([*tenants_args(server), "--json"], signed_in(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("[\n  {\n") and f'"initialDomainName": "{LONG_DOMAIN}"' in result.stdout


def test_tenants_on_an_80_column_terminal_keeps_every_domain_whole(server: BackgroundServer, tmp_path: Path) -> None:
    status, lines = on_terminal(tenants_args(server), signed_in(tmp_path))
    assert status == 0, "\n".join(lines)
    assert all(cell_len(line) <= 80 for line in lines), "\n".join(lines)
    header = next(line for line in lines if "Initial domain" in line)
    assert header.split() == ["Name", "Initial", "domain", "State"], "\n".join(lines)
    for domain in CUSTOMERS:
        # Whole, and on the same line as the rest of its record.
        assert any(domain in line and line.endswith("active") for line in lines), (domain, "\n".join(lines))
    assert "Customers of admin@northwindit.onmicrosoft.com" in lines
    shown = " ".join(lines)  # a sentence may wrap, at a space
    assert (
        "Not shown in 80 columns: Tenant ID, Default domain, Access (a wider terminal or a pipe shows them)." in shown
    )
    assert "4 customers" in lines


# ------------------------------------------------------------------------------------------------ sessions and run


def test_sessions_in_a_pipe(server: BackgroundServer, tmp_path: Path) -> None:
    args = ["sessions", "--uri", server.url, "--ca-file", str(server.ca_file)]
    with connect("contoso.onmicrosoft.com", Credential(ADMIN, PASSWORD), uri=server.url, ca_file=server.ca_file) as s:
        result = piped(args, signed_in(tmp_path))
        assert result.returncode == 0, result.stderr
        rows = records(result.stdout, ["Shell ID", "Configuration", "Client IP", "State", "Open for", "Idle for"])
        assert [row[0] for row in rows] == [s.shell_id]
        assert rows[0][1] == "Microsoft.Exchange" and re.fullmatch(r"\d+:\d\d:\d\d", rows[0][4])
        assert result.stderr.strip() == "1 open session"
    empty = piped(args, signed_in(tmp_path))
    assert empty.returncode == 0 and empty.stdout == ""
    assert empty.stderr.strip() == f"{ADMIN} has no open sessions."


def test_run_summary_in_a_pipe(server: BackgroundServer, tmp_path: Path) -> None:
    out = tmp_path / "domains.csv"
    tenants = "contoso.onmicrosoft.com,woodgrove.onmicrosoft.com"
    args = ["run", "--uri", server.url, "--ca-file", str(server.ca_file), "-t", tenants, "-o", str(out)]
    result = piped([*args, "--", "Get-AcceptedDomain"], signed_in(tmp_path))
    assert result.returncode == 1, result.stderr  # woodgrove is not a customer
    rows = records(result.stdout, ["Tenant", "Status", "Objects", "Seconds", "Error"])
    by_tenant = {row[0]: row for row in rows}
    assert set(by_tenant) == set(tenants.split(","))
    ok, failed = by_tenant["contoso.onmicrosoft.com"], by_tenant["woodgrove.onmicrosoft.com"]
    assert ok[1] == "ok" and int(ok[2]) >= 2 and re.fullmatch(r"\d+\.\d", ok[3]) and ok[4] == "", ok
    assert failed[1] == "failed" and "Access is denied" in failed[4], failed
    # The totals go to stderr with the progress, never to the pipe.
    assert "1 succeeded, 1 failed" in result.stderr and "succeeded" not in result.stdout
    assert out.exists()


# ------------------------------------------------------------------------------------------------ gdap and app lists


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A partner, a customer with a GDAP relationship whose name holds a tab and a newline, an app."""
    with Store.open(f"sqlite:///{tmp_path / 'aobo.db'}") as store:
        store.migrate()
        store.create_tenant("northwindit")
        store.create_tenant("litware-emea")
    runner = CliRunner()
    location = ["--data", str(tmp_path)]
    created = runner.invoke(
        app,
        [
            "gdap", "create", "--partner", PARTNER, "--customer", "litware-emea.onmicrosoft.com",
            "--name", "Litware\tExchange\nOps", "--roles", "Exchange Administrator", *location,
        ],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    match = re.search(r"Created ([0-9a-f-]{36})", created.output)
    assert match, created.output
    assert runner.invoke(app, ["gdap", "approve", match[1], *location]).exit_code == 0
    registered = runner.invoke(
        app, ["app", "create", "--tenant", PARTNER, "--name", "Nightly\treport", "--secret", *location]
    )
    assert registered.exit_code == 0, registered.output
    return tmp_path


def relationship_id(data: Path) -> str:
    with Store.open(f"sqlite:///{data / 'aobo.db'}") as store:
        (rel,) = store.gdap.relationships(None)
        return str(rel.guid)


def test_gdap_list_in_a_pipe_and_on_a_terminal(data: Path, tmp_path: Path) -> None:
    args = ["gdap", "list", "--data", str(data)]
    result = piped(args, environment(tmp_path, COLUMNS="40"))
    assert result.returncode == 0, result.stderr
    headers = ["Id", "Name", "Partner", "Customer", "Status", "Roles", "Ends", "Auto-extend"]
    (row,) = records(result.stdout, headers)
    # The tab and the newline of the name became spaces: the record stays one line of 8 fields.
    assert row[:6] == [
        relationship_id(data),
        "Litware Exchange Ops",
        PARTNER,
        "litware-emea.onmicrosoft.com",
        "active",
        "Exchange Administrator",
    ]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", row[6]) and row[7] == ""
    assert result.stderr.strip() == "1 relationship"

    status, lines = on_terminal(args, environment(tmp_path))
    assert status == 0, "\n".join(lines)
    assert all(cell_len(line) <= 80 for line in lines), "\n".join(lines)
    assert any(
        relationship_id(data) in line and "litware-emea.onmicrosoft.com" in line and line.endswith("active")
        for line in lines
    ), "\n".join(lines)


def test_app_list_in_a_pipe_and_on_a_terminal(data: Path, tmp_path: Path) -> None:
    args = ["app", "list", "--data", str(data)]
    result = piped(args, environment(tmp_path, COLUMNS="40"))
    assert result.returncode == 0, result.stderr
    (row,) = records(result.stdout, ["Application (client) id", "Name", "Home tenant", "Credentials", "Roles"])
    assert re.fullmatch(r"[0-9a-f-]{36}", row[0]) and row[1:3] == ["Nightly report", PARTNER]
    assert re.fullmatch(r"secret \S{3}\*\*\* until \d{4}-\d\d-\d\d", row[3]) and row[4] == "-"
    assert result.stderr.strip() == "1 application"

    status, lines = on_terminal(args, environment(tmp_path))
    assert status == 0, "\n".join(lines)
    assert all(cell_len(line) <= 80 for line in lines), "\n".join(lines)
    assert any(row[0] in line and line.endswith(PARTNER) for line in lines), "\n".join(lines)
