"""What every aobo command shares: the consoles, the mapping of failures to exit codes, and the
options and helpers of the commands that talk to a service as a partner's client."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from aobo.errors import AoboError

if TYPE_CHECKING:
    from aobo.toolkit.config import Profile

console = Console()
err_console = Console(stderr=True)


@contextlib.contextmanager
def exit_codes() -> Iterator[None]:
    """The one place where failures become exit statuses: AoboError → 1, Ctrl+C → 130."""
    try:
        yield
    except AoboError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise typer.Exit(130) from None


UriOption = Annotated[
    str | None,
    typer.Option(
        "--uri",
        envvar="AOBO_URI",
        help="The remote PowerShell endpoint, e.g. https://host:8443/powershell-liveid (default: the profile's).",
        show_default=False,
    ),
]
UsernameOption = Annotated[
    str | None,
    typer.Option("--username", "-u", help="Account to sign in with (default: the profile's, or AOBO_USERNAME)."),
]
ProfileOption = Annotated[
    str | None,
    typer.Option("--profile", "-p", envvar="AOBO_PROFILE", help="Profile in ~/.config/aobo/config.toml."),
]
CaFileOption = Annotated[
    Path | None, typer.Option("--ca-file", help="PEM file of the CA that signed the server's certificate.")
]
InsecureOption = Annotated[
    bool, typer.Option("--insecure", help="Do not verify the server's TLS certificate (self-signed test servers).")
]


@contextlib.contextmanager
def client_errors() -> Iterator[None]:
    """Toolkit errors (refused credentials, unreachable server, bad profile) become one-line errors."""
    from aobo.toolkit.errors import ToolkitError

    try:
        yield
    except ToolkitError as exc:
        raise AoboError(str(exc)) from None


def ask_password(prompt: str) -> str:
    return typer.prompt(prompt.rstrip(": "), hide_input=True, err=True)


def client_profile(profile_name: str | None, **options: object) -> tuple[str, Profile]:
    """The merged profile and its endpoint URI, which every command that talks to a server needs."""
    from aobo.toolkit.config import load_profile

    profile = load_profile(profile_name, **options)
    if profile.uri is None:
        raise AoboError("no endpoint: give --uri (or AOBO_URI), or set uri in a profile")
    if profile.insecure:
        err_console.print("[yellow]warning:[/] TLS certificate verification is off (--insecure)", highlight=False)
    return profile.uri, profile
