"""``aobo import-commands``: import the server's command metadata once, to warm the on-disk cache.

It opens a session (in ``--org`` or the account's own tenant), runs the toolkit's Import-PSSession
equivalent and prints how many commands it got and where the cache file is. Register on the main
app with :func:`register`.
"""

from __future__ import annotations

import time
from pathlib import Path
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

__all__ = ["import_commands", "register"]


def import_commands(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Commands to import; wildcards allowed, e.g. 'Get-*' (default: every command)."),
    ] = None,
    uri: UriOption = None,
    username: UsernameOption = None,
    profile: ProfileOption = None,
    ca_file: CaFileOption = None,
    insecure: InsecureOption = False,
    org: Annotated[
        str | None,
        typer.Option("--org", "--tenant", help="Customer to connect to (DelegatedOrg); default: your own tenant."),
    ] = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="Fetch the metadata again even if it is cached.")] = False,
    cache_dir: Annotated[
        Path | None, typer.Option("--cache-dir", help="Cache directory (default: ~/.cache/aobo/metadata).")
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Import the commands the account may run (cached per server and account) and say where the cache is."""
    from rich.markup import escape

    from aobo.toolkit.credential import Credential
    from aobo.toolkit.importer import import_commands as do_import
    from aobo.toolkit.session import connect

    with exit_codes(), client_errors():
        endpoint, prof = client_profile(profile, uri=uri, username=username, ca_file=ca_file, insecure=insecure or None)
        credential = Credential.resolve(username=prof.username, uri=endpoint, ask_password=ask_password)
        with connect(org, credential, endpoint, ca_file=prof.ca_file, insecure=prof.insecure) as session:
            started = time.perf_counter()
            ns = do_import(session, names or None, cache_dir=cache_dir, progress=progress, refresh=refresh)
            elapsed = time.perf_counter() - started
        how = "from the cache" if ns.from_cache else "from the server"
        count = len(ns)
        console.print(
            f"Imported {count} command{'s' if count != 1 else ''} {how} in {elapsed * 1000:.0f} ms", highlight=False
        )
        console.print(f"Cache: {escape(str(ns.cache_path))}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``import-commands`` to ``app``."""
    app.command("import-commands")(import_commands)
