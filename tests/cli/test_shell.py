"""``aobo shell``: completion, local formatting, history, and the shell itself against a real server:
driven through prompt_toolkit's pipe input, through a pipe (CliRunner), and through a pseudo-terminal."""

from __future__ import annotations

import io
import os
import re
import stat
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
import typer
from click.testing import Result
from prompt_toolkit.application import create_app_session
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console
from typer.testing import CliRunner

from aobo.cli.shell import (
    CommandCatalog,
    LocalCommandError,
    SensitiveFileHistory,
    ShellCompleter,
    _prompt_session,
    history_path,
    register,
    run_shell,
    split_format,
)
from aobo.server import BackgroundServer
from aobo.toolkit.credential import Credential
from aobo.toolkit.formatting import FormatSpec
from aobo.toolkit.grammar import parse
from tests.servers import seeded_server

PASSWORD = "Shell-Test-Password-1!"
ADMIN = "admin@northwindit.onmicrosoft.com"
CONTOSO = "contoso.onmicrosoft.com"
FABRIKAM = "fabrikam.onmicrosoft.com"
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")

runner = CliRunner()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    with seeded_server(tmp_path_factory.mktemp("shell"), PASSWORD) as running:
        yield running


def open_sessions(server: BackgroundServer) -> int:
    return int(server.app.state.wsman.shells.count(ADMIN))  # type: ignore[union-attr]


def wait_no_sessions(server: BackgroundServer, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while open_sessions(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    return open_sessions(server)


def shell_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """A root with a callback keeps ``shell`` a subcommand, as in aobo's app."""

    register(app)
    return app


CATALOG = CommandCatalog(
    {
        "Get-Mailbox": ["Identity", "Filter", "ResultSize", "RecipientTypeDetails", "Verbose", "ErrorAction"],
        "Get-MailboxStatistics": ["Identity", "Archive"],
        "Set-Mailbox": ["Identity", "HiddenFromAddressListsEnabled", "EmailAddresses"],
    }
)


def completions(text: str, catalog: CommandCatalog = CATALOG) -> list[str]:
    found = ShellCompleter(catalog).get_completions(Document(text), CompleteEvent(completion_requested=True))
    return [c.text for c in found]


# ------------------------------------------------------------------------------------------------ units


def test_completion_of_cmdlet_and_parameter_names() -> None:
    assert completions("Get-Mailbox -Res") == ["-ResultSize"]
    assert completions("get-mailbox -r") == ["-ResultSize", "-RecipientTypeDetails"]
    assert completions("Get-Mail") == ["Get-Mailbox", "Get-MailboxStatistics"]
    assert completions("") == ["Get-Mailbox", "Get-MailboxStatistics", "Set-Mailbox", "exit", "help", "cls"]
    assert completions("e") == ["exit"]
    assert completions("Get-Mailbox | Set-") == ["Set-Mailbox"]
    assert completions("Get-Mailbox | f") == ["Format-List", "Format-Table", "fl", "ft"]
    assert completions("Get-Mailbox | Set-Mailbox -Hid") == ["-HiddenFromAddressListsEnabled"]
    # a parameter already given is not offered again; values, quotes and unknown cmdlets get nothing
    assert completions("Get-Mailbox -ResultSize 5 -R") == ["-RecipientTypeDetails"]
    assert completions("Get-Mailbox -Identity 'a -R") == []
    assert completions("Get-Mailbox -Identity x") == []
    assert completions("Get-Nothing -R") == []
    assert completions("Get-Mailbox -ResultSize:") == []


def test_catalog_from_get_command_records() -> None:
    records = [
        {"Name": "Get-Mailbox", "Parameters": {"Identity": object(), "ResultSize": object()}, "Definition": "syntax"},
        {"Name": None},
        "not a record",
    ]
    catalog = CommandCatalog.from_records(records)
    assert catalog.parameters == {"Get-Mailbox": ["Identity", "ResultSize"]}
    assert catalog.definitions == {"Get-Mailbox": "syntax"}
    assert catalog.find("GET-MAILBOX") == "Get-Mailbox" and catalog.find("x") is None


def test_split_format_takes_fl_and_ft_off_the_pipeline() -> None:
    cmds, spec = split_format(parse("Get-Mailbox -ResultSize 3 | fl"))
    assert [c.name for c in cmds] == ["Get-Mailbox"] and spec == FormatSpec("list", None)
    assert split_format(parse("Get-Mailbox | Format-List Name, Alias"))[1] == FormatSpec("list", ("Name", "Alias"))
    assert split_format(parse("Get-Mailbox | fl *"))[1] == FormatSpec("list", None)
    assert split_format(parse("Get-Mailbox | ft Name,Alias -AutoSize"))[1] == FormatSpec("table", ("Name", "Alias"))
    assert split_format(parse("Get-Mailbox | Format-Table -Property Name"))[1] == FormatSpec("table", ("Name",))
    assert split_format(parse("Get-Mailbox | Get-MailboxStatistics"))[1] is None
    with pytest.raises(LocalCommandError, match="must be the last"):
        split_format(parse("Get-Mailbox | fl | Set-Mailbox"))
    with pytest.raises(LocalCommandError, match="put it after one"):
        split_format(parse("fl"))
    with pytest.raises(LocalCommandError, match="-GroupBy is not supported"):
        split_format(parse("Get-Mailbox | ft -GroupBy Name"))


def test_history_path_honours_xdg_state_home(tmp_path: Path) -> None:
    assert history_path({"XDG_STATE_HOME": str(tmp_path)}) == tmp_path / "aobo" / "history"
    assert history_path({"XDG_STATE_HOME": "relative"}) == Path.home() / ".local/state/aobo/history"
    assert history_path({}) == Path.home() / ".local/state/aobo/history"


def test_history_file_is_private_and_keeps_secrets_out(tmp_path: Path) -> None:
    path = tmp_path / "state" / "aobo" / "history"
    history = SensitiveFileHistory(path)
    history.append_string("Get-Mailbox -ResultSize 3")
    history.append_string("New-Mailbox x -Password 'P@ssw0rd!'")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = path.read_text()
    assert "Get-Mailbox -ResultSize 3" in stored and "P@ssw0rd" not in stored
    assert "New-Mailbox x -Password 'P@ssw0rd!'" in history.get_strings()  # recalled in this session only
    assert list(SensitiveFileHistory(path).load_history_strings()) == ["Get-Mailbox -ResultSize 3"]


def test_tab_completes_a_parameter_at_the_prompt() -> None:
    """prompt_toolkit's own testing approach: keys through a pipe, output to nowhere."""
    with create_pipe_input() as inp, create_app_session(input=inp, output=DummyOutput()):
        session = _prompt_session(ShellCompleter(CATALOG), InMemoryHistory())  # the shell's own prompt
        inp.send_text("Get-Mailbox -Res\t 3\r")
        assert session.prompt("PS> ") == "Get-Mailbox -ResultSize 3"
        inp.send_text("Get-MailboxS\t\r")
        assert session.prompt("PS> ") == "Get-MailboxStatistics"
        inp.send_text("Get-Mail\x03")
        with pytest.raises(KeyboardInterrupt):
            session.prompt("PS> ")
        inp.send_text("\x04")
        with pytest.raises(EOFError):
            session.prompt("PS> ")


# ------------------------------------------------------------------------------------------------ against the server


def test_interactive_loop_through_a_pipe_input(server: BackgroundServer, tmp_path: Path) -> None:
    """The real loop (run_shell, interactive) with keys from a pipe: Tab completion from the server's
    Get-Command, Ctrl-C at the prompt clearing the line, exit closing the session."""
    out = io.StringIO()
    con = Console(file=out, width=120, color_system=None, highlight=False)
    with create_pipe_input() as inp, create_app_session(input=inp, output=DummyOutput()):
        inp.send_text("Get-Mailbox -ResultS\t 2\r")  # completed from the server's metadata
        inp.send_text("Get-MailboxStatistics nobody\x03")  # Ctrl-C at the prompt: never sent
        inp.send_text("Get-Mailbox -ResultSize 1 | fl Name,Alias\r")
        inp.send_text("exit\r")

        status = run_shell(
            CONTOSO,
            server.url,
            Credential(ADMIN, PASSWORD),
            ca_file=server.ca_file,
            console=con,
            interactive=True,
            history=tmp_path / "history",
        )
    text = out.getvalue()
    assert status == 0
    assert "Connected to contoso.onmicrosoft.com as admin@northwindit.onmicrosoft.com" in text
    table = text.split("PrimarySmtpAddress", 1)[1]
    assert table.count("@contoso.com") == 2
    assert "WARNING: There are more results available than are currently displayed." in text
    assert "nobody" not in text
    assert re.search(r"^Name  : \w+\nAlias : \w+$", text, re.MULTILINE)
    history = (tmp_path / "history").read_text()
    assert "+Get-Mailbox -ResultSize 2" in history and "nobody" not in history
    assert wait_no_sessions(server) == 0


def run_piped(server: BackgroundServer, lines: str, *args: str, env: dict[str, str | None] | None = None) -> Result:
    base: dict[str, str | None] = {
        "AOBO_USERNAME": ADMIN,
        "AOBO_PASSWORD": PASSWORD,
        "AOBO_URI": None,
        "AOBO_PROFILE": None,
        "COLUMNS": "160",
    }
    return runner.invoke(
        shell_app(),
        ["shell", *args, "--uri", server.url, "--ca-file", str(server.ca_file)],
        input=lines,
        env={**base, **(env or {})},
    )


def test_lines_from_a_pipe_tables_warnings_errors_and_formats(server: BackgroundServer, tmp_path: Path) -> None:
    lines = textwrap.dedent(
        """\
        Get-Mailbox -ResultSize 3
        Get-Mailbox -Identity nobody
        Get-Mailbox -Identity 'unterminated
        Get-Mailbox -ResultSize 1 | fl
        Get-Mailbox -ResultSize 2 | ft Name,EmailAddresses
        help Get-Mailbox
        exit
        Get-Mailbox -ResultSize 1 | fl Name
        """
    )
    result = run_piped(server, lines, CONTOSO, env={"XDG_CONFIG_HOME": str(tmp_path)})
    out = result.output
    assert result.exit_code == 1, out  # a line failed, and stdin was not a terminal
    # a table with the Mailbox columns, three rows, then Exchange's warning
    header = re.search(r"^Name +Alias +RecipientTypeDetails +PrimarySmtpAddress *$", out, re.MULTILINE)
    assert header is not None
    first_table = out[header.end() :].split("WARNING:", 1)[0]
    assert len(re.findall(r"UserMailbox +\S+@contoso\.com", first_table)) == 3
    assert "WARNING: There are more results available than are currently displayed." in out
    # the server's error as PowerShell prints it
    assert "Get-Mailbox : The operation couldn't be performed because object 'nobody' couldn't be found" in out
    assert (
        "    + CategoryInfo          : NotSpecified: (nobody:) [Get-Mailbox], ManagementObjectNotFoundException" in out
    )
    assert re.search(r"    \+ FullyQualifiedErrorId : .*ManagementObjectNotFoundException.*GetMailbox", out)
    assert "    + PSComputerName        : 127.0.0.1" in out
    # the grammar error: the line, a caret under the column, nothing sent
    assert "  Get-Mailbox -Identity 'unterminated\n" + " " * 24 + "^\n" in out
    assert "The string is missing the terminator: '. (column 23); nothing was sent." in out
    # | fl: every property, one per line, aligned
    listing = re.search(r"^Database +: .*?^ObjectState +: Unchanged$", out, re.MULTILINE | re.DOTALL)
    assert listing is not None and len(listing.group().splitlines()) > 200
    assert re.search(r"^EmailAddresses +: \{SMTP:\w+@contoso\.com, smtp:", listing.group(), re.MULTILINE)
    # | ft with chosen columns, multi-valued joined
    assert re.search(r"^Name +EmailAddresses *$", out, re.MULTILINE)
    assert re.search(r"^\w+ +\{SMTP:\w+@contoso\.com, smtp:", out, re.MULTILINE)
    # help shows the server's syntax; exit stops reading
    assert "Get-Mailbox [[-Identity] <MailboxIdParameter>]" in out
    assert len(re.findall(r"^Name +: ", out, re.MULTILINE)) == 1  # nothing ran after exit
    assert wait_no_sessions(server) == 0


def test_clean_lines_exit_zero(server: BackgroundServer) -> None:
    result = run_piped(server, "Get-AcceptedDomain\n", CONTOSO)
    assert result.exit_code == 0, result.output
    assert re.search(r"^Name +DomainName +DomainType +Default *$", result.output, re.MULTILINE)
    assert "contoso.onmicrosoft.com" in result.output
    assert wait_no_sessions(server) == 0


def test_refused_password_and_missing_endpoint_are_one_line_errors(server: BackgroundServer, tmp_path: Path) -> None:
    refused = run_piped(server, "exit\n", CONTOSO, env={"AOBO_PASSWORD": "wrong", "XDG_CONFIG_HOME": str(tmp_path)})
    assert refused.exit_code == 1
    assert "error:" in refused.output and "Access is denied" in refused.output
    assert "wrong" not in refused.output and "Traceback" not in refused.output
    no_uri = runner.invoke(
        shell_app(), ["shell", CONTOSO], input="", env={"AOBO_URI": None, "XDG_CONFIG_HOME": str(tmp_path)}
    )
    assert no_uri.exit_code == 1 and "no endpoint: give --uri" in no_uri.output
    unknown = runner.invoke(
        shell_app(), ["shell", CONTOSO, "--profile", "nope"], input="", env={"XDG_CONFIG_HOME": str(tmp_path)}
    )
    assert unknown.exit_code == 1 and "unknown profile 'nope'" in unknown.output
    assert open_sessions(server) == 0


# ------------------------------------------------------------------------------------------------ pseudo-terminal

SPAWN = "import typer; from aobo.cli.shell import register; app = typer.Typer(); app.callback()(lambda: None); register(app); app()"  # noqa: E501


def spawn_shell(server: BackgroundServer, org: str, tmp_path: Path) -> pexpect.spawn:
    env = {
        **os.environ,
        "AOBO_USERNAME": ADMIN,
        "AOBO_PASSWORD": PASSWORD,
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "TERM": "xterm",
        "PROMPT_TOOLKIT_NO_CPR": "1",
    }
    for name in ("AOBO_URI", "AOBO_PROFILE", "COLUMNS", "LINES", "NO_COLOR"):
        env.pop(name, None)
    args = ["-c", SPAWN, "shell", org, "--uri", server.url, "--ca-file", str(server.ca_file)]
    return pexpect.spawn(
        sys.executable, args, env=env, encoding="utf-8", codec_errors="replace", dimensions=(50, 160), timeout=30
    )


def plain(child: pexpect.spawn) -> str:
    return ANSI.sub("", (child.before or "") + (child.after if isinstance(child.after, str) else ""))


def test_the_shell_in_a_pseudo_terminal(server: BackgroundServer, tmp_path: Path) -> None:
    prompt = "PS fabrikam.onmicrosoft.com>"  # prompt_toolkit moves the cursor past the space
    child = spawn_shell(server, FABRIKAM, tmp_path)
    try:
        child.expect_exact("Connected to ")
        child.expect_exact(prompt)
        assert open_sessions(server) == 1

        child.send("Get-Mailbox -ResultSize 3\r")
        child.expect(r"WARNING: There are more results available")
        assert len(re.findall(r"Mailbox +\S+@fabrikam\.onmicrosoft\.com", plain(child))) == 3, plain(child)
        child.expect_exact(prompt)

        child.send("Get-Mailbox -Identity 'oops\r")  # grammar error: caret, nothing sent
        child.expect_exact("^")
        child.expect_exact("nothing was sent.")
        child.expect_exact(prompt)

        child.send("Get-Mailbox -Identity nobody\r")  # server error
        child.expect(r"\+ FullyQualifiedErrorId : .*ManagementObjectNotFoundException")
        child.expect_exact(prompt)

        child.send("Get-Mailbox -ResultSize 1 | fl\r")
        child.expect(r"ExchangeGuid +: [0-9a-f-]{36}")
        child.expect_exact(prompt)

        child.send("Get-Mailbox -ResultS\t")  # Tab completion from the server's metadata
        child.expect_exact("ResultSize")
        child.send(" 2 | ft Name\r")
        child.expect(r"WARNING: There are more results available")
        child.expect_exact(prompt)

        child.send("Get-MailboxStatistics nobody")  # Ctrl-C at the prompt clears the line
        child.sendintr()
        child.expect_exact(prompt)

        # Ctrl-C while a long pipeline streams: the pipeline stops, the shell stays
        child.send("Get-Mailbox -ResultSize Unlimited\r")
        child.expect(r"PrimarySmtpAddress")
        child.expect(r"@fabrikam\.onmicrosoft\.com")
        child.sendintr()
        child.expect(r"\^C Stopped the pipeline after (\d+) objects\.")
        stopped_after = int(child.match.group(1))
        assert 0 < stopped_after < 1500
        child.expect_exact(prompt)
        assert open_sessions(server) == 1  # the session survived the stop...

        child.send("Get-Mailbox -ResultSize 1 | fl Name,Alias\r")  # ...and still works
        child.expect(r"Alias +: \w+")
        child.expect_exact(prompt)

        child.send("exit\r")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, plain(child)
    assert wait_no_sessions(server) == 0
    history = (tmp_path / "state" / "aobo" / "history").read_text()
    assert "+Get-Mailbox -ResultSize 2 | ft Name" in history  # the completed line
    assert "Get-MailboxStatistics nobody" not in history  # the cleared one never ran


def test_ctrl_d_leaves_and_closes_the_session(server: BackgroundServer, tmp_path: Path) -> None:
    child = spawn_shell(server, CONTOSO, tmp_path)
    try:
        child.expect_exact("PS contoso.onmicrosoft.com>")
        assert open_sessions(server) == 1
        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    assert wait_no_sessions(server) == 0
