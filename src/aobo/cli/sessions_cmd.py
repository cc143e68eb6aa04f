"""``aobo sessions``: list the account's open sessions on the server, or close them all.

Only three sessions may be open per account; a forgotten one blocks the account until it expires.
The server shows each account its own sessions only, so this can neither see nor close anyone
else's. Register on the main app with :func:`register`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from aobo.cli.common import (
    CaFileOption,
    InsecureOption,
    ProfileOption,
    UriOption,
    UsernameOption,
    ask_password,
    client_errors,
    client_profile,
    console,
    exit_codes,
)

__all__ = ["register", "sessions"]


def _duration(seconds: float) -> str:
    s = int(seconds)
    hours, rest = divmod(s, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def sessions(
    uri: UriOption = None,
    username: UsernameOption = None,
    profile: ProfileOption = None,
    ca_file: CaFileOption = None,
    insecure: InsecureOption = False,
    close_all: Annotated[bool, typer.Option("--close-all", help="Close every open session of the account.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of sessions, not a table.")] = False,
) -> None:
    """List the account's open sessions on the server (at most 3 may be open), or close them all."""
    import json

    from rich.markup import escape
    from rich.table import Table

    from aobo.toolkit.credential import Credential
    from aobo.toolkit.sessions import close_sessions, list_sessions

    with exit_codes(), client_errors():
        endpoint, prof = client_profile(profile, uri=uri, username=username, ca_file=ca_file, insecure=insecure or None)
        credential = Credential.resolve(username=prof.username, uri=endpoint, ask_password=ask_password)
        if close_all:
            closed = close_sessions(endpoint, credential, ca_file=prof.ca_file, insecure=prof.insecure)
            left = list_sessions(endpoint, credential, ca_file=prof.ca_file, insecure=prof.insecure)
            if as_json:
                typer.echo(json.dumps({"closed": closed, "open": [s.to_dict() for s in left]}, indent=2))
            else:
                console.print(f"Closed {closed} session{'s' if closed != 1 else ''}; {len(left)} open.")
            return
        found = list_sessions(endpoint, credential, ca_file=prof.ca_file, insecure=prof.insecure)
        if as_json:
            typer.echo(json.dumps([s.to_dict() for s in found], indent=2))
            return
        if not found:
            console.print(f"{escape(credential.username)} has no open sessions.", highlight=False)
            return
        table = Table(title=f"Open sessions of {escape(credential.username)}", title_justify="left")
        table.add_column("Shell ID", no_wrap=True, min_width=36)
        table.add_column("Configuration", overflow="fold")
        table.add_column("Client IP", no_wrap=True)
        table.add_column("State", no_wrap=True)
        table.add_column("Open for", no_wrap=True, justify="right")
        table.add_column("Idle for", no_wrap=True, justify="right")
        for s in found:
            table.add_row(
                s.shell_id,
                escape(s.configuration),
                s.client_ip,
                s.state,
                _duration(s.run_time),
                _duration(s.inactivity),
            )
        console.print(table)
        console.print(f"{len(found)} open session{'s' if len(found) != 1 else ''}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``sessions`` to ``app``."""
    app.command("sessions")(sessions)
