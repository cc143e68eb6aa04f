"""What every aobo command shares: the consoles, the mapping of failures to exit codes, and the
options and helpers of the commands that talk to a service as a partner's client."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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


TransportOption = Annotated[
    str | None,
    typer.Option(
        "--transport",
        envvar="AOBO_TRANSPORT",
        help="rps (remote PowerShell, Basic) or rest (Exchange Online's REST API, OAuth). Default: the profile's, "
        "or rps.",
        show_default=False,
    ),
]
AuthorityOption = Annotated[
    str | None,
    typer.Option(
        "--authority",
        envvar="AOBO_AUTHORITY",
        help="REST: the identity service (default https://login.microsoftonline.com; https://host:8443 for aobo).",
        show_default=False,
    ),
]
ClientIdOption = Annotated[
    str | None,
    typer.Option("--client-id", help="REST: the public client id for delegated sign-in (default: the EXO module's)."),
]
AppIdOption = Annotated[
    str | None,
    typer.Option(
        "--app-id",
        help="REST: sign in as this application (app-only); its secret from AOBO_CLIENT_SECRET or a prompt, "
        "or --certificate.",
    ),
]
CertificateOption = Annotated[
    Path | None,
    typer.Option("--certificate", help="REST app-only: PEM file with the app's private key and certificate."),
]
DeviceCodeOption = Annotated[
    bool, typer.Option("--device-code", help="REST: sign in with a device code (the code is shown on stderr).")
]
TokenCacheOption = Annotated[
    Path | None,
    typer.Option("--token-cache", help="REST: keep msal's token cache in this file (mode 0600) between runs."),
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
    if profile.transport == "rest":
        from aobo.toolkit.restwire import rest_base

        uri = rest_base(profile.uri)  # Microsoft's https://outlook.office365.com unless told otherwise
    elif profile.uri is None:
        raise AoboError("no endpoint: give --uri (or AOBO_URI), or set uri in a profile")
    else:
        uri = profile.uri
    if profile.insecure:
        err_console.print("[yellow]warning:[/] TLS certificate verification is off (--insecure)", highlight=False)
    return uri, profile


def rest_options(
    *,
    transport: str | None = None,
    authority: str | None = None,
    client_id: str | None = None,
    app_id: str | None = None,
    certificate: Path | None = None,
    token_cache: Path | None = None,
) -> dict[str, object]:
    """The REST options of a command as profile options (None: the profile's value stays)."""
    return {
        "transport": transport,
        "authority": authority,
        "client_id": client_id,
        "app_id": app_id,
        "certificate": certificate,
        "token_cache": token_cache,
    }


def sign_in_for(profile: Profile, endpoint: str, *, device_code: bool = False) -> Any:
    """Who signs in: an app (``--app-id`` with a certificate, or its secret from ``AOBO_CLIENT_SECRET``
    or a prompt, never an argument), a device code, or a user name and password (environment,
    keyring, prompt). Apps and device codes sign in with OAuth, so only over REST."""
    import os
    import sys

    from aobo.toolkit.auth import ENV_CLIENT_SECRET, AppCredential, DeviceCode
    from aobo.toolkit.credential import Credential

    if profile.transport != "rest" and (device_code or profile.app_id):
        raise AoboError("--device-code and --app-id sign in with OAuth: add --transport rest")
    if profile.app_id:
        if profile.certificate is not None:
            return AppCredential.with_certificate(
                profile.app_id, profile.certificate, passphrase=os.environ.get("AOBO_CERTIFICATE_PASSWORD") or None
            )
        secret = os.environ.get(ENV_CLIENT_SECRET)
        if not secret:
            if not (sys.stdin is not None and sys.stdin.isatty()):
                raise AoboError(
                    f"app-only sign-in needs the client secret in {ENV_CLIENT_SECRET} (or --certificate); "
                    "there is no terminal to prompt"
                )
            secret = ask_password(f"Client secret for {profile.app_id}: ")
        return AppCredential(profile.app_id, secret=secret)
    if device_code:
        return DeviceCode(profile.username)
    return Credential.resolve(username=profile.username, uri=endpoint, ask_password=ask_password)


def rest_opener(profile: Profile) -> Any:
    """The fan-out's opener for REST sessions of ``profile`` (its identity service, client id, cache)."""
    from aobo.toolkit.rest import RestOpener

    return RestOpener(authority=profile.authority, client_id=profile.client_id, token_cache=profile.token_cache)
