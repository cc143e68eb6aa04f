"""The account's open sessions against a real server: ``list_sessions``, ``close_sessions`` and
``aobo sessions [--close-all] [--json]``; another account's sessions are neither listed nor closable."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from aobo.cli import sessions_cmd
from aobo.toolkit.session import Session, connect
from aobo.toolkit.sessions import (
    alist_sessions,
    close_sessions,
    enumerate_request,
    list_sessions,
    parse_duration,
    parse_enumeration,
)
from tests.toolkit.conftest import CONTOSO, FABRIKAM, PARTNER_HELPDESK, LiveServer

# An account no other toolkit test uses, so that closing all of its sessions disturbs nobody.
OWNER = "admin@tailspintoys.onmicrosoft.com"
EXCHANGE = "http://schemas.microsoft.com/powershell/Microsoft.Exchange"


@contextlib.contextmanager
def opened(live: LiveServer, user: str, *orgs: str | None) -> Iterator[list[Session]]:
    sessions: list[Session] = []
    try:
        for org in orgs:
            sessions.append(connect(org, live.credential(user), live.url, ca_file=live.ca_file))
        yield sessions
    finally:
        for s in sessions:
            s.close()


def _cli(live: LiveServer, tmp_path: Path, user: str, *args: str) -> tuple[int, str]:
    app = typer.Typer()
    sessions_cmd.register(app)
    app.command("noop")(lambda: None)  # with two commands typer keeps the command name on the line
    env = {"AOBO_USERNAME": user, "AOBO_PASSWORD": live.password, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    result = CliRunner().invoke(
        app, ["sessions", "--uri", live.url, "--ca-file", live.ca_file, *args], env=env, terminal_width=200
    )
    return result.exit_code, result.output


# ------------------------------------------------------------------------------------------------ sans-IO


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("P0DT0H0M5S", 5), ("P1DT2H3M4S", 93784), ("PT900.000S", 900), ("PT1H", 3600), ("P2D", 172800), ("junk", 0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@given(st.integers(0, 400), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
def test_parse_duration_reads_the_server_s_day_durations(d: int, h: int, m: int, s: int) -> None:
    assert parse_duration(f"P{d}DT{h}H{m}M{s}S") == d * 86400 + h * 3600 + m * 60 + s


def test_the_enumerate_request_is_an_optimised_enumeration_of_shells() -> None:
    request = enumerate_request("https://h/powershell-liveid")
    body = request.body.decode()
    assert "<wsman:ResourceURI" in body and "http://schemas.microsoft.com/wbem/wsman/1/windows/shell<" in body
    assert "<wsman:OptimizeEnumeration/>" in body and "<wsman:MaxElements>32000</wsman:MaxElements>" in body
    assert request.action == "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate"


def test_a_fault_in_an_enumeration_is_raised() -> None:
    fault = (
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Code><s:Value>s:Sender'
        b"</s:Value></s:Code><s:Reason><s:Text>nope</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>"
    )
    with pytest.raises(Exception, match="nope"):
        parse_enumeration(fault)


# ------------------------------------------------------------------------------------------------ library


def test_list_sessions_shows_one_s_own_sessions_only(live: LiveServer) -> None:
    cred = live.credential()
    with opened(live, cred.username, CONTOSO, FABRIKAM) as mine, opened(live, PARTNER_HELPDESK, None) as (theirs,):
        found = list_sessions(live.url, cred, ca_file=live.ca_file)
        ids = [s.shell_id for s in found]
        assert {s.shell_id for s in mine} <= set(ids)
        assert theirs.shell_id not in ids
        assert len(ids) == live.open_sessions()
        for shell in found:
            assert shell.owner == cred.username and shell.resource_uri == EXCHANGE
            assert shell.configuration == "Microsoft.Exchange" and shell.state == "Connected"
            assert shell.idle_timeout > 0 and shell.client_ip == "127.0.0.1"
        helpdesk = list_sessions(
            live.url + "?DelegatedOrg=" + CONTOSO, live.credential(PARTNER_HELPDESK), ca_file=live.ca_file
        )
        assert [s.shell_id for s in helpdesk] == [theirs.shell_id]


def test_another_account_s_session_cannot_be_closed(live: LiveServer) -> None:
    with opened(live, PARTNER_HELPDESK, CONTOSO) as (theirs,):
        assert close_sessions(live.url, live.credential(), [theirs.shell_id], ca_file=live.ca_file) == 0
        assert live.open_sessions(PARTNER_HELPDESK) == 1
        assert theirs.invoke("Get-Mailbox", ResultSize=1)  # still usable


def test_close_sessions_by_id_and_all(live: LiveServer) -> None:
    cred = live.credential(OWNER)
    with opened(live, OWNER, None, None, None) as (a, b, c):
        assert live.open_sessions(OWNER) == 3
        assert close_sessions(live.url, cred, [a.shell_id], ca_file=live.ca_file) == 1
        assert {s.shell_id for s in list_sessions(live.url, cred, ca_file=live.ca_file)} == {b.shell_id, c.shell_id}
        assert close_sessions(live.url, cred, ca_file=live.ca_file) == 2
        assert live.open_sessions(OWNER) == 0
        assert list_sessions(live.url, cred, ca_file=live.ca_file) == []
    # The sessions' own close() afterwards is harmless: the server already forgot them.
    assert live.open_sessions(OWNER) == 0


def test_the_async_variant(live: LiveServer) -> None:
    import asyncio

    with opened(live, OWNER, None) as (s,):
        found = asyncio.run(alist_sessions(live.url, live.credential(OWNER), ca_file=live.ca_file))
        assert [x.shell_id for x in found] == [s.shell_id]


# ------------------------------------------------------------------------------------------------ CLI


def test_aobo_sessions_lists_then_closes_all(live: LiveServer, tmp_path: Path) -> None:
    with opened(live, OWNER, None, None) as mine, opened(live, PARTNER_HELPDESK, None) as (theirs,):
        code, out = _cli(live, tmp_path, OWNER)
        assert code == 0, out
        for s in mine:
            assert s.shell_id in out
        assert theirs.shell_id not in out
        assert "2 open sessions" in out

        code, out = _cli(live, tmp_path, OWNER, "--json")
        assert code == 0, out
        listed = json.loads(out)
        assert [x["shell_id"] for x in listed] == [s.shell_id for s in mine]
        assert all(x["owner"] == OWNER and x["configuration"] == "Microsoft.Exchange" for x in listed)

        code, out = _cli(live, tmp_path, OWNER, "--close-all")
        assert code == 0, out
        assert "Closed 2 sessions; 0 open." in out
        assert live.open_sessions(OWNER) == 0
        assert live.open_sessions(PARTNER_HELPDESK) == 1  # someone else's session is untouched

        code, out = _cli(live, tmp_path, OWNER, "--close-all", "--json")
        assert code == 0 and json.loads(out) == {"closed": 0, "open": []}

        code, out = _cli(live, tmp_path, OWNER)
        assert code == 0 and "has no open sessions" in out and "Shell ID" not in out


def test_aobo_sessions_with_a_wrong_password_is_a_one_line_error(live: LiveServer, tmp_path: Path) -> None:
    app = typer.Typer()
    sessions_cmd.register(app)
    app.command("noop")(lambda: None)
    env = {"AOBO_USERNAME": OWNER, "AOBO_PASSWORD": "wrong-password-123", "XDG_CONFIG_HOME": str(tmp_path)}
    result = CliRunner().invoke(app, ["sessions", "--uri", live.url, "--ca-file", live.ca_file], env=env)
    assert result.exit_code == 1
    assert "error:" in result.output and "wrong-password-123" not in result.output
