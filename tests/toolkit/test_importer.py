"""Import-PSSession for Python against a real server: one metadata request, real signatures, local
validation, an on-disk cache per server and account, and the ``aobo import-commands`` command."""

from __future__ import annotations

import asyncio
import inspect
import io
import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from typer.testing import CliRunner

from aobo.cli import import_cmd
from aobo.toolkit.importer import (
    NOT_GIVEN,
    CommandNamespace,
    SetMember,
    aimport_commands,
    cache_root,
    import_commands,
    parse_syntax,
    snake_case,
)
from aobo.toolkit.session import Session, connect, open_session
from tests.toolkit.conftest import CONTOSO, PARTNER_ADMIN, PARTNER_HELPDESK, LiveServer

REPO = Path(__file__).resolve().parents[2]


def _receives(live: LiveServer) -> int:
    return int(live.server.app.state.wsman.receives_answered)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def admin(live: LiveServer) -> Iterator[Session]:
    with connect(CONTOSO, live.credential(), live.url, ca_file=live.ca_file) as session:
        yield session


@pytest.fixture(scope="module")
def ex(admin: Session, tmp_path_factory: pytest.TempPathFactory) -> CommandNamespace:
    return import_commands(admin, cache_dir=tmp_path_factory.mktemp("metadata"), progress=False)


# ------------------------------------------------------------------------------------------------ names and syntax


@pytest.mark.parametrize(
    ("name", "snake"),
    [
        ("ResultSize", "result_size"),
        ("Get-Mailbox", "get_mailbox"),
        ("Get-EXOMailbox", "get_exo_mailbox"),
        ("CustomAttribute15", "custom_attribute15"),
        ("WhatIf", "what_if"),
        ("From", "from_"),
        ("PSVersion", "ps_version"),
        ("HiddenFromAddressListsEnabled", "hidden_from_address_lists_enabled"),
    ],
)
def test_snake_case(name: str, snake: str) -> None:
    assert snake_case(name) == snake


@given(st.from_regex(r"[A-Z][A-Za-z0-9]{0,20}(-[A-Z][A-Za-z0-9]{0,20})?", fullmatch=True))
def test_snake_case_is_always_a_usable_python_name(name: str) -> None:
    out = snake_case(name)
    assert out.isidentifier()
    assert not __import__("keyword").iskeyword(out)


_member = st.builds(
    SetMember,
    st.from_regex(r"[A-Z][A-Za-z0-9]{0,12}", fullmatch=True),
    st.booleans(),
    st.booleans(),
)


def _render(members: list[tuple[SetMember, bool]]) -> str:
    parts = ["Verb-Noun"]
    for m, switch in members:
        if switch and not m.positional:
            text = f"-{m.name}"
        else:
            text = f"{f'[-{m.name}]' if m.positional else f'-{m.name}'} <Some.Type[]>"
        parts.append(text if m.mandatory else f"[{text}]")
    return " ".join([*parts, "[<CommonParameters>]"])


@given(st.lists(st.lists(st.tuples(_member, st.booleans()), max_size=8), min_size=1, max_size=4))
def test_parse_syntax_reads_back_what_get_command_syntax_writes(sets: list[list[tuple[SetMember, bool]]]) -> None:
    text = "\n" + "\n\n".join(_render(s) for s in sets) + "\n"
    expected = tuple(tuple(m for m, _ in s) for s in sets)
    assert parse_syntax(text) == expected


def test_parse_syntax_of_set_mailbox_line() -> None:
    line = "Set-Mailbox [-Identity] <MailboxIdParameter> [-DisplayName <String>] [-Force] -Mode <X> [-WhatIf]"
    (members,) = parse_syntax(line)
    assert members == (
        SetMember("Identity", True, True),
        SetMember("DisplayName", False, False),
        SetMember("Force", False, False),
        SetMember("Mode", True, False),
        SetMember("WhatIf", False, False),
    )


# ------------------------------------------------------------------------------------------------ import


def test_import_all_matches_get_command(admin: Session, ex: CommandNamespace) -> None:
    names = sorted(str(r["Name"]) for r in admin.invoke("Get-Command"))
    assert sorted(ex) == names
    assert len(ex) == len(names) > 40
    assert "Get-Mailbox" in ex and "get_mailbox" in ex
    assert ex["Get-Mailbox"] is ex.get_mailbox
    assert ex["get-mailbox"] is ex.get_mailbox
    assert "get_mailbox" in dir(ex) and "set_mailbox" in dir(ex)
    with pytest.raises(AttributeError, match="get_mailbox"):
        _ = ex.get_mailboxx
    with pytest.raises(KeyError):
        ex["Get-Nothing"]


def test_import_a_wildcard_subset(admin: Session, tmp_path: Path) -> None:
    sub = import_commands(admin, ["Get-Mail*", "Get-AcceptedDomain"], cache_dir=tmp_path, progress=False)
    names = list(sub)
    assert "Get-Mailbox" in names and "Get-AcceptedDomain" in names and "Set-Mailbox" not in names
    assert all(n.startswith("Get-Mail") or n == "Get-AcceptedDomain" for n in names)
    # The subset has parameter sets too (Get-Command -Syntax for the same patterns).
    assert sub.spec("Get-Mailbox").parameter_sets
    everything = import_commands(admin, cache_dir=tmp_path, progress=False)
    assert everything.cache_path != sub.cache_path and len(everything) > len(sub)


def test_the_session_method_is_the_same_import(admin: Session, tmp_path: Path) -> None:
    ex = admin.import_commands(["Get-Mailbox"], cache_dir=tmp_path, progress=False)
    assert list(ex) == ["Get-Mailbox"]
    (mailbox,) = ex.get_mailbox("AdeleV")
    assert mailbox.Alias == "AdeleV"


def test_get_mailbox_signature(ex: CommandNamespace) -> None:
    sig = inspect.signature(ex.get_mailbox)
    params = sig.parameters
    first = next(iter(params.values()))
    assert first.name == "identity"
    assert first.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and first.default is NOT_GIVEN
    for name in ("anr", "filter", "result_size", "recipient_type_details", "sort_by", "error_action", "out_buffer"):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, name
        assert params[name].default is NOT_GIVEN
    assert params["verbose"].default is False and params["verbose"].annotation == "bool"
    assert params["out_buffer"].annotation == "int"
    assert "what_if" not in params  # Get-Mailbox changes nothing: no ShouldProcess parameters
    doc = ex.get_mailbox.__doc__ or ""
    assert doc.startswith("Get-Mailbox\n")
    assert "Get-Mailbox [[-Identity] <MailboxIdParameter>]" in doc
    assert "Get-Mailbox [-Anr <String>]" in doc
    assert "result_size: -ResultSize <Unlimited>" in doc


def test_set_mailbox_signature(ex: CommandNamespace) -> None:
    sig = inspect.signature(ex.set_mailbox)
    identity, *rest = sig.parameters.values()
    assert identity.name == "identity" and identity.default is inspect.Parameter.empty
    assert identity.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    by_name = {p.name: p for p in rest}
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in rest)
    assert by_name["what_if"].default is False and by_name["confirm"].default is False
    assert by_name["hidden_from_address_lists_enabled"].annotation == "bool"
    assert by_name["custom_attribute15"].annotation == "str"
    assert "[-WhatIf] [-Confirm] [<CommonParameters>]" in (ex.set_mailbox.__doc__ or "")


# ------------------------------------------------------------------------------------------------ calling


def test_calling_sends_the_powershell_names(ex: CommandNamespace, admin: Session) -> None:
    (adele,) = ex.get_mailbox("AdeleV")
    assert adele["Name"] == "AdeleV"
    assert [r["Name"] for r in ex.get_mailbox(result_size=2)] == [r["Name"] for r in admin.invoke("Get-Mailbox")][:2]
    before = adele["CustomAttribute15"]
    try:
        result = ex.set_mailbox("AdeleV", custom_attribute15="imported", error_action="Stop")
        assert not result.errors
        assert ex["Get-Mailbox"](identity="AdeleV")[0]["CustomAttribute15"] == "imported"
        ex.set_mailbox(identity="AdeleV", custom_attribute15="ignored", what_if=True)
        assert ex.get_mailbox("AdeleV")[0]["CustomAttribute15"] == "imported"
    finally:
        ex.set_mailbox("AdeleV", custom_attribute15=before)
    assert ex.get_mailbox("AdeleV")[0]["CustomAttribute15"] == before


def test_the_exact_parameters_sent(ex: CommandNamespace) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    spy = CommandNamespace([ex.spec("Set-Mailbox"), ex.spec("Get-Mailbox")], lambda n, **p: calls.append((n, p)))
    spy.set_mailbox(
        "AdeleV", hidden_from_address_lists_enabled=True, confirm=False, what_if=True, forwarding_smtp_address=None
    )
    spy.get_mailbox(ResultSize="Unlimited", recipient_type_details=["UserMailbox"], ea="SilentlyContinue")
    assert calls == [
        (
            "Set-Mailbox",
            {
                "Identity": "AdeleV",
                "HiddenFromAddressListsEnabled": True,
                "Confirm": False,  # explicit -Confirm:$false is sent; an untouched switch is not
                "WhatIf": True,
                "ForwardingSmtpAddress": None,  # None is $null: clears the value
            },
        ),
        (
            "Get-Mailbox",
            {"ResultSize": "Unlimited", "RecipientTypeDetails": ["UserMailbox"], "ErrorAction": "SilentlyContinue"},
        ),
    ]


@pytest.mark.parametrize(
    ("command", "args", "kwargs", "message"),
    [
        ("get_mailbox", (), {"result_sise": 5}, "no parameter 'result_sise'; did you mean 'result_size'"),
        ("get_mailbox", (), {"out_buffer": "lots"}, "OutBuffer.*Int32 takes an integer"),
        ("get_mailbox", (), {"out_buffer": 2**40}, "Int32 takes an integer from"),
        ("get_mailbox", (), {"verbose": "yes"}, "switch takes True or False"),
        ("get_mailbox", (), {"error_action": "Explode"}, "ActionPreference takes one of"),
        ("set_mailbox", ("AdeleV",), {"hidden_from_address_lists_enabled": "yes"}, "Boolean takes True or False"),
        ("set_mailbox", (), {"display_name": "x"}, r"missing mandatory parameter\(s\): identity"),
        ("get_mailbox", ("AdeleV",), {"anr": "Ad"}, "not all in one parameter set"),
        ("get_mailbox", ("a", "b"), {}, "takes 1 positional argument but 2 were given"),
        ("get_mailbox", ("AdeleV",), {"identity": "AlexW"}, "multiple values for parameter 'identity'"),
    ],
)
def test_validation_happens_locally(
    live: LiveServer, ex: CommandNamespace, command: str, args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    before = _receives(live)
    with pytest.raises(TypeError, match=message):
        getattr(ex, command)(*args, **kwargs)
    assert _receives(live) == before, "an invalid call reached the server"
    ex.get_accepted_domain()
    assert _receives(live) > before  # the counter does move for a call that is sent


# ------------------------------------------------------------------------------------------------ cache


def test_the_second_import_is_cached_and_fast(live: LiveServer, admin: Session, tmp_path: Path) -> None:
    cold = import_commands(admin, cache_dir=tmp_path, progress=False)
    assert not cold.from_cache and cold.cache_path is not None and cold.cache_path.parent == tmp_path
    data = json.loads(cold.cache_path.read_text())
    assert data["key"]["user"] == PARTNER_ADMIN and len(data["commands"]) == len(cold)
    before = _receives(live)
    timings = []
    for _ in range(7):
        started = time.perf_counter()
        warm = import_commands(admin, cache_dir=tmp_path, progress=False)
        timings.append(time.perf_counter() - started)
        assert warm.from_cache and warm.cache_path == cold.cache_path
    assert _receives(live) == before  # no request at all
    assert statistics.median(timings) < 0.050
    assert inspect.signature(warm.set_mailbox) == inspect.signature(cold.set_mailbox)
    assert warm.set_mailbox.__doc__ == cold.set_mailbox.__doc__
    assert sorted(warm) == sorted(cold)


def test_refresh_and_expiry_fetch_again(live: LiveServer, admin: Session, tmp_path: Path) -> None:
    first = import_commands(admin, "Get-Mailbox", cache_dir=tmp_path, progress=False)
    assert import_commands(admin, "Get-Mailbox", cache_dir=tmp_path, progress=False).from_cache
    assert not import_commands(admin, "Get-Mailbox", cache_dir=tmp_path, progress=False, refresh=True).from_cache
    assert first.cache_path is not None
    eight_days_ago = time.time() - 8 * 24 * 3600
    os.utime(first.cache_path, (eight_days_ago, eight_days_ago))
    before = _receives(live)
    assert not import_commands(admin, "Get-Mailbox", cache_dir=tmp_path, progress=False).from_cache
    assert _receives(live) > before
    first.cache_path.write_text("{not json")  # a damaged file is fetched again, not an error
    assert not import_commands(admin, "Get-Mailbox", cache_dir=tmp_path, progress=False).from_cache


def test_xdg_cache_home_is_respected(admin: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_root() == tmp_path / "aobo" / "metadata"
    ns = import_commands(admin, "Get-AcceptedDomain", progress=False)
    assert ns.cache_path is not None and ns.cache_path.parent == tmp_path / "aobo" / "metadata"
    assert cache_root({"HOME": "/x"}) == Path.home() / ".cache" / "aobo" / "metadata"


def test_the_cache_survives_a_new_process(live: LiveServer, admin: Session, tmp_path: Path) -> None:
    import_commands(admin, cache_dir=tmp_path, progress=False)
    script = textwrap.dedent(
        """
        import os, sys, time, inspect
        from aobo.toolkit.credential import Credential
        from aobo.toolkit.importer import import_commands
        from aobo.toolkit.session import connect
        cred = Credential(os.environ["U"], os.environ["P"])
        with connect(sys.argv[1], cred, sys.argv[2], ca_file=sys.argv[3]) as s:
            started = time.perf_counter()
            ns = import_commands(s, cache_dir=sys.argv[4], progress=False)
            elapsed = time.perf_counter() - started
            identity = inspect.signature(ns.set_mailbox).parameters["identity"]
            print(ns.from_cache, len(ns), round(elapsed * 1000, 1), identity.annotation, identity.kind.name)
        """
    )
    env = {**os.environ, "U": PARTNER_ADMIN, "P": live.password, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run(
        [sys.executable, "-c", script, CONTOSO, live.url, live.ca_file, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    ).stdout.split()
    assert out[0] == "True" and int(out[1]) > 40
    assert float(out[2]) < 50.0
    assert out[3:] == ["MailboxIdParameter", "POSITIONAL_OR_KEYWORD"]


def test_help_desk_gets_its_role_filtered_surface_and_its_own_cache_entry(
    live: LiveServer, ex: CommandNamespace, tmp_path: Path
) -> None:
    admin_ns = import_commands_for(live, PARTNER_ADMIN, tmp_path)
    helpdesk_ns = import_commands_for(live, PARTNER_HELPDESK, tmp_path)
    assert "Set-Mailbox" in admin_ns and "Set-Mailbox" not in helpdesk_ns
    assert "Get-Mailbox" in helpdesk_ns
    assert len(helpdesk_ns) < len(admin_ns)
    assert helpdesk_ns.cache_path != admin_ns.cache_path
    # Each account's next import is served from its own entry.
    again = import_commands_for(live, PARTNER_HELPDESK, tmp_path)
    assert again.from_cache and sorted(again) == sorted(helpdesk_ns)
    with pytest.raises(AttributeError):
        _ = again.set_mailbox


def import_commands_for(live: LiveServer, user: str, cache_dir: Path) -> CommandNamespace:
    with connect(CONTOSO, live.credential(user), live.url, ca_file=live.ca_file) as session:
        return import_commands(session, cache_dir=cache_dir, progress=False)


def test_the_async_variant(live: LiveServer, tmp_path: Path) -> None:
    async def main() -> tuple[bool, list[str], bool]:
        async with await open_session(live.url, live.credential(), CONTOSO, ca_file=live.ca_file) as session:
            ns = await aimport_commands(session, "Get-Mailbox", cache_dir=tmp_path, progress=False)
            records = await ns.get_mailbox(result_size=2)
            again = await aimport_commands(session, "Get-Mailbox", cache_dir=tmp_path, progress=False)
            return ns.from_cache, [r["Name"] for r in records], again.from_cache

    cached, names, again = asyncio.run(main())
    assert not cached and len(names) == 2 and again


def test_the_first_import_shows_progress(admin: Session, tmp_path: Path) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    ns = import_commands(admin, cache_dir=tmp_path, progress=console)
    text = out.getvalue()
    assert "Importing commands" in text and f"{len(ns)}/{len(ns)}" in text
    out.truncate(0)
    import_commands(admin, cache_dir=tmp_path, progress=console)  # cached: nothing to show
    assert "Importing" not in out.getvalue()


# ------------------------------------------------------------------------------------------------ CLI


def test_import_commands_cli_warms_the_cache(live: LiveServer, tmp_path: Path) -> None:
    app = typer.Typer()
    import_cmd.register(app)
    app.command("noop")(lambda: None)  # with two commands typer keeps the command name on the line
    env = {
        "AOBO_USERNAME": PARTNER_ADMIN,
        "AOBO_PASSWORD": live.password,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    args = ["import-commands", "--uri", live.url, "--ca-file", live.ca_file, "--cache-dir", str(tmp_path)]
    args += ["--org", CONTOSO, "--no-progress", "Get-Mailbox", "Set-Mailbox"]
    runner = CliRunner()
    first = runner.invoke(app, args, env=env)
    assert first.exit_code == 0, first.output
    assert "Imported 2 commands from the server" in first.output
    second = runner.invoke(app, args, env=env)
    assert second.exit_code == 0, second.output
    assert "Imported 2 commands from the cache" in second.output
    assert str(tmp_path) in second.output.replace("\n", "")
    refused = runner.invoke(app, [*args, "--username", "nobody@northwindit.onmicrosoft.com"], env=env)
    assert refused.exit_code == 1 and "error:" in refused.output
    assert live.password not in refused.output
