"""``aobo serve``, ``aobo seed`` and ``aobo demo``.

Each command parses its options into :class:`~aobo.settings.Settings` and calls one function that
does the work. Errors become exit codes in :func:`exit_codes` only: an :class:`AoboError` is a
problem the user can fix (a taken port, a bad database URL) and prints one line, exit status 1.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer
from rich.markup import escape

from aobo import __version__
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
from aobo.cli.database import DataDir, DbUrl, open_store, safe_url
from aobo.settings import Settings

if TYPE_CHECKING:
    from aobo.domain.seed import DemoWorld
    from aobo.domain.store import Store

app = typer.Typer(
    name="aobo",
    help="Exchange Online 'administer on behalf of' service for CSP partners: remote PowerShell "
    "(WS-Management + PSRP) at /powershell-liveid?DelegatedOrg=<customer>.",
    no_args_is_help=True,
    add_completion=False,
    # Locals of a crashing frame can hold passwords; never print them.
    pretty_exceptions_show_locals=False,
)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8443,
    data: DataDir = Path("aobo-data"),
    db: DbUrl = None,
    demo: Annotated[bool, typer.Option("--demo", help="Seed the demo tenants and accounts first.")] = False,
    cert: Annotated[Path | None, typer.Option(help="PEM certificate chain (default: self-signed, generated).")] = None,
    key: Annotated[Path | None, typer.Option(help="PEM private key for --cert.")] = None,
    insecure_http: Annotated[
        bool, typer.Option("--insecure-http", help="Serve plain HTTP: passwords travel in clear text.")
    ] = False,
    max_sessions: Annotated[int, typer.Option(min=1, help="Open sessions allowed per account.")] = 3,
    idle_timeout: Annotated[float, typer.Option(min=1, help="Seconds before an unused session is removed.")] = 900.0,
    access_log: Annotated[bool, typer.Option(help="Log one line per HTTP request.")] = False,
    public_url: Annotated[
        str | None,
        typer.Option(
            envvar="AOBO_PUBLIC_URL",
            help="The URL clients reach the service at (https://host:port): the OAuth issuer and the audience "
            "client assertions must name. Default: https://<host>:<port>.",
        ),
    ] = None,
) -> None:
    """Serve the remote PowerShell endpoint (HTTPS by default) until Ctrl+C or SIGTERM."""
    from aobo.server import serve as run_server

    if public_url is not None:
        public_url = _check_public_url(public_url)

    settings = Settings(
        data_dir=data,
        db_url=db,
        host=host,
        port=port,
        cert_file=cert,
        key_file=key,
        insecure_http=insecure_http,
        max_sessions_per_user=max_sessions,
        idle_timeout=idle_timeout,
        public_url=public_url,
    )
    with exit_codes():
        store = open_store(settings)
        try:
            world = _seed_demo(store) if demo else None
        except BaseException:
            store.close()
            raise
        run_server(settings, store, demo_world=world, access_log=access_log, console=console)


def _check_public_url(value: str) -> str:
    parts = urlsplit(value)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path.strip("/")
        or parts.query
        or parts.fragment
    ):
        raise typer.BadParameter(
            f"{value!r} is not a base URL such as https://aobo.example:8443", param_hint="--public-url"
        )
    return value.rstrip("/")


@app.command()
def seed(
    data: DataDir = Path("aobo-data"),
    db: DbUrl = None,
    demo: Annotated[bool, typer.Option("--demo", help="The demo partner, customers and accounts.")] = False,
    tenants: Annotated[int, typer.Option(min=0, help="Generated customer tenants to add.")] = 0,
    mailboxes: Annotated[int, typer.Option(min=0, help="Mailboxes in each generated tenant.")] = 0,
) -> None:
    """Fill the database: the demo world (--demo) and/or generated tenants (--tenants N --mailboxes M)."""
    from aobo.domain.seed import seed_generated

    if not demo and not tenants:
        raise typer.BadParameter("give --demo and/or --tenants N", param_hint="--demo / --tenants")
    settings = Settings(data_dir=data, db_url=db)
    with exit_codes():
        store = open_store(settings)
        try:
            if demo:
                started = time.perf_counter()
                world = _seed_demo(store)
                tenants_seeded = (world.partner, *world.customers, *world.gdap_customers, *world.others)
                mailbox_count = sum(store.count_mailboxes(tenant.id) for tenant in tenants_seeded)
                verb = "Seeded" if world.created else "Found"
                console.print(
                    f"{verb} the demo world: {len(tenants_seeded)} tenants, "
                    f"{len(world.accounts)} accounts, {mailbox_count} mailboxes "
                    f"in {time.perf_counter() - started:.2f} s"
                )
            if tenants:
                started = time.perf_counter()
                created = seed_generated(store, tenants, mailboxes)
                console.print(
                    f"Seeded {len(created)} tenants with {mailboxes} mailboxes each "
                    f"({len(created) * mailboxes} mailboxes) in {time.perf_counter() - started:.2f} s"
                )
        finally:
            store.close()
        console.print(f"Database: {safe_url(settings.database_url)}", highlight=False)


@app.command()
def demo() -> None:
    """Start a throw-away server and play the partner flow against it with the toolkit (a few seconds)."""
    from aobo.cli.demo import run_demo

    with exit_codes():
        run_demo(console)


@app.command()
def docs(
    output: Annotated[Path, typer.Option(help="Where to write the cmdlet reference.")] = Path("docs/cmdlets.md"),
) -> None:
    """Write the cmdlet reference (every cmdlet, its parameters and sets) from the registry."""
    from aobo.cmdlets.catalog import default_registry
    from aobo.cmdlets.reference import render

    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render(default_registry()), encoding="utf-8")
    console.print(f"Wrote {output}")


@app.command()
def version() -> None:
    """Print the version."""
    console.print(f"aobo {__version__}")


@app.command()
def login(
    uri: UriOption = None,
    username: UsernameOption = None,
    profile: ProfileOption = None,
    ca_file: CaFileOption = None,
    insecure: InsecureOption = False,
    verify: Annotated[
        bool, typer.Option("--verify/--no-verify", help="Check the password with the server before storing it.")
    ] = True,
) -> None:
    """Ask for the password and keep it in the OS keyring for later commands (like Get-Credential, once)."""
    from aobo.toolkit.credential import Credential, keyring_service
    from aobo.toolkit.partner import NotPartnerError, list_customers

    with exit_codes(), client_errors():
        endpoint, prof = client_profile(profile, uri=uri, username=username, ca_file=ca_file, insecure=insecure or None)
        name = prof.username or typer.prompt("User name", err=True)
        credential = Credential.prompt(name, ask_password=ask_password)
        if verify:
            # A customer admin signs in fine but has no customers to list: still a good password.
            with contextlib.suppress(NotPartnerError):
                list_customers(endpoint, credential, ca_file=prof.ca_file, insecure=prof.insecure)
        service = credential.store_in_keyring(keyring_service(endpoint))
        console.print(f"Stored the password of {escape(credential.username)} in the keyring ({escape(service)}).")


@app.command()
def tenants(
    uri: UriOption = None,
    username: UsernameOption = None,
    profile: ProfileOption = None,
    ca_file: CaFileOption = None,
    insecure: InsecureOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of customers, not a table.")] = False,
) -> None:
    """List the customers the account may act for (the partner API), for --tenants all and DelegatedOrg."""
    import json

    from aobo.cli.listing import Column, counted, print_table
    from aobo.toolkit.credential import Credential
    from aobo.toolkit.partner import list_customers

    with exit_codes(), client_errors():
        endpoint, prof = client_profile(profile, uri=uri, username=username, ca_file=ca_file, insecure=insecure or None)
        credential = Credential.resolve(username=prof.username, uri=endpoint, ask_password=ask_password)
        customers = list_customers(endpoint, credential, ca_file=prof.ca_file, insecure=prof.insecure)
        if as_json:
            typer.echo(json.dumps([c.to_dict() for c in customers], indent=2))
            return
        # The initial domain (what DelegatedOrg and --tenants take) and the state are always shown; on
        # a narrow terminal the tenant id goes first, then the access, the default domain, the name.
        columns = (
            Column("Tenant ID", whole=True, hide=4),
            Column("Name", hide=1),
            Column("Default domain", whole=True, hide=2),
            Column("Initial domain", whole=True),
            Column("State", whole=True),
            Column("Access", hide=3),
        )
        print_table(
            columns,
            [(c.tenant_id, c.name, c.default_domain, c.initial_domain, c.state, c.access) for c in customers],
            title=f"Customers of {credential.username}",
            footer=counted(len(customers), "customer"),
        )


def _seed_demo(store: Store) -> DemoWorld:
    from aobo.domain.seed import seed_demo

    return seed_demo(store)


def _register_partner_commands() -> None:
    """Partner commands that live in their own modules."""
    from aobo.cli import apps_cmd, gdap_cmd, import_cmd, run, sessions_cmd, shell

    for module in (run, sessions_cmd, import_cmd, shell, gdap_cmd, apps_cmd):
        module.register(app)


_register_partner_commands()


def main() -> None:
    app()
