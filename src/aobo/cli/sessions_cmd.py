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

    from aobo.cli.listing import Column, counted, note, print_table
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
                console.print(f"Closed {counted(closed, 'session')}; {len(left)} open.", highlight=False)
            return
        found = list_sessions(endpoint, credential, ca_file=prof.ca_file, insecure=prof.insecure)
        if as_json:
            typer.echo(json.dumps([s.to_dict() for s in found], indent=2))
            return
        if not found:
            note(f"{credential.username} has no open sessions.")
            return
        # The shell id is what Remove-PSSession and the server's logs name: always shown.
        columns = (
            Column("Shell ID", whole=True),
            Column("Configuration", hide=2),
            Column("Client IP", whole=True, hide=1),
            Column("State", whole=True),
            Column("Open for", whole=True, numeric=True),
            Column("Idle for", whole=True, numeric=True),
        )
        print_table(
            columns,
            [
                (s.shell_id, s.configuration, s.client_ip, s.state, _duration(s.run_time), _duration(s.inactivity))
                for s in found
            ],
            title=f"Open sessions of {credential.username}",
            footer=counted(len(found), "open session"),
        )


def register(app: typer.Typer) -> None:
    """Add ``sessions`` to ``app``."""
    app.command("sessions")(sessions)
