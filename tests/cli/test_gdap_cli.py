"""``aobo gdap``: relationships managed on the database from the command line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aobo.cli.app import app
from aobo.cmdlets.access import open_scope
from aobo.cmdlets.roles import EXCHANGE_ADMINISTRATOR, GLOBAL_READER
from aobo.domain.store import Store

runner = CliRunner()
PARTNER = "northwindit.onmicrosoft.com"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    with Store.open(f"sqlite:///{tmp_path / 'aobo.db'}") as store:
        store.migrate()
        partner = store.create_tenant("northwindit")
        store.create_tenant("litware", accepted_domains=["litware.com"])
        store.create_user(partner.id, f"ops@{PARTNER}", "Ops")
    return tmp_path


def aobo(data: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["gdap", *args, "--data", str(data)])
    return result.exit_code, result.output


def test_create_approve_assign_and_terminate(data: Path) -> None:
    code, out = aobo(
        data,
        "create",
        "--partner",
        PARTNER,
        "--customer",
        "litware.com",
        "--name",
        "Litware Exchange",
        "--roles",
        "Exchange Administrator, global reader",
        "--duration",
        "P365D",
        "--auto-extend",
    )
    assert code == 0, out
    match = re.search(r"Created ([0-9a-f-]{36}) 'Litware Exchange' → litware.onmicrosoft.com: approvalPending", out)
    assert match, out
    rel_id = match[1]
    assert (
        "Roles: Exchange Administrator, Global Reader" in out or "Roles: Global Reader, Exchange Administrator" in out
    )

    code, out = aobo(data, "assign", rel_id, "--group", "Exchange Admins", "--roles", "Exchange Administrator")
    assert code == 1 and out.strip().endswith("access can be assigned only in an active one.")
    assert aobo(data, "approve", rel_id)[0] == 0
    code, out = aobo(data, "approve", rel_id)
    assert code == 1 and "is active; this action needs it to be approvalPending" in out
    code, out = aobo(data, "assign", rel_id, "--group", "Exchange Admins", "--roles", "Exchange Administrator")
    assert code == 0 and "Assigned Exchange Administrator to Exchange Admins" in out, out
    code, out = aobo(data, "add-member", f"ops@{PARTNER}", "Exchange Admins")
    assert code == 0 and f"Added ops@{PARTNER} in Exchange Admins" in out

    with Store.open(f"sqlite:///{data / 'aobo.db'}") as store:
        user = store.find_user(f"ops@{PARTNER}")
        assert user is not None
        scope = open_scope(store, user, "litware.com")
        assert scope.entra_roles == {EXCHANGE_ADMINISTRATOR}
        assert scope.roles == {"Organization Management"}

    code, out = aobo(data, "list")
    assert code == 0 and rel_id in out and "1 relationship" in out  # ids are never folded
    code, out = aobo(data, "terminate", rel_id)
    assert code == 0 and "terminated" in out
    code, out = aobo(data, "list", "--tenant", "litware.onmicrosoft.com")
    assert code == 0 and rel_id in out
    assert aobo(data, "list", "--tenant", "nowhere.example") == (1, "error: no tenant 'nowhere.example'\n")
    assert aobo(data, "remove-member", f"ops@{PARTNER}", "exchange admins")[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--roles", "Exchange Wizard"], "error: unknown role 'Exchange Wizard': use one of Global Administrator"),
        (["--roles", GLOBAL_READER, "--duration", "P731D"], "error: The duration 'P731D' is out of range"),
        (["--roles", "Global Administrator", "--auto-extend"], "error: Auto-extension is not supported"),
        (["--roles", ",", "--duration", "P30D"], "error: give at least one role with --roles"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(data: Path, args: list[str], message: str) -> None:
    code, out = aobo(data, "create", "--partner", PARTNER, "--customer", "litware.com", "--name", "Bad", *args)
    assert code == 1
    assert out.startswith(message), out
    assert "Traceback" not in out


def test_unknown_tenant_relationship_and_user(data: Path) -> None:
    code, out = aobo(
        data, "create", "--partner", PARTNER, "--customer", "nowhere.example", "--name", "x", "--roles", "Global Reader"
    )
    assert (code, out.strip()) == (1, "error: no tenant 'nowhere.example'")
    code, out = aobo(data, "approve", "00000000-0000-0000-0000-000000000000")
    assert code == 1 and "no GDAP relationship" in out
    code, out = aobo(data, "add-member", "nobody@northwindit.onmicrosoft.com", "Exchange Admins")
    assert (code, out.strip()) == (1, "error: no user 'nobody@northwindit.onmicrosoft.com'")
