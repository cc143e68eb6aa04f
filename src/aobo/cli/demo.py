"""``aobo demo``: the partner's remote PowerShell routine, played with pypsrp against a private server.

It starts aobo on a free loopback port with the demo world in a temporary directory, over HTTPS with
the freshly generated certificate as the only trusted CA, and then does what a DAP partner does
with ``New-PSSession -ConfigurationName Microsoft.Exchange -ConnectionUri ...?DelegatedOrg=...``:
for each customer it opens a session, imports the command list, runs Get-Mailbox and removes the
session. It finishes with the two refusals a partner meets: a tenant that is not its customer, and
a fourth concurrent session.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pypsrp.exceptions import WinRMError, WinRMTransportError, WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aobo.cli.app import open_store
from aobo.domain.seed import seed_demo
from aobo.errors import AoboError
from aobo.server import BackgroundServer, demo_accounts_table
from aobo.settings import Settings

CONFIGURATION = "Microsoft.Exchange"
SHOWN_MAILBOXES = 5
COLUMNS = ("DisplayName", "PrimarySmtpAddress", "RecipientTypeDetails")


def run_demo(console: Console) -> None:
    """Run the whole demo, printing each step for someone who has never used remote PowerShell."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="aobo-demo-") as tmp:
        settings = Settings(data_dir=Path(tmp))
        _step(console, "Starting a private aobo server with the demo world (a throw-away database).")
        store = open_store(settings)
        try:
            world = seed_demo(store)
            with BackgroundServer(settings, store) as server:
                console.print(f"Endpoint: [cyan]{server.url}[/]", highlight=False)
                console.print(f"Trusted TLS certificate: {server.ca_file}", highlight=False)
                console.print(demo_accounts_table(world))
                partner = world.partner.initial_domain
                client = _Client(server, f"admin@{partner}", world.password)
                for customer in world.customers:
                    _customer_session(console, client, customer.initial_domain)
                for other in world.others:
                    _denied_tenant(console, client, partner, other.initial_domain)
                _session_limit(console, client, world.customers[0].initial_domain)
        finally:
            store.close()
    console.print(f"\n[bold green]Demo finished in {time.perf_counter() - started:.1f} s.[/]")


class _Client:
    """Opens pypsrp sessions the way the document's New-PSSession does: Basic auth, DelegatedOrg."""

    def __init__(self, server: BackgroundServer, username: str, password: str) -> None:
        self.server = server
        self.username = username
        self.password = password

    @contextlib.contextmanager
    def session(self, delegated_org: str) -> Iterator[RunspacePool]:
        settings = self.server.settings
        # pypsrp builds the URL as scheme://server:port/path, so the query string rides on path.
        wsman = WSMan(
            settings.host,
            port=settings.port,
            path=f"powershell-liveid?DelegatedOrg={delegated_org}",
            ssl=not settings.insecure_http,
            auth="basic",
            cert_validation=str(self.server.ca_file) if self.server.ca_file else False,
            username=self.username,
            password=self.password,
        )
        with wsman, RunspacePool(wsman, configuration_name=CONFIGURATION) as pool:
            yield pool


def _customer_session(console: Console, client: _Client, customer: str) -> None:
    _step(
        console,
        f"{customer}: open a session (New-PSSession ...?DelegatedOrg={customer}), import the "
        "command list (Import-PSSession), list the mailboxes (Get-Mailbox), remove the session.",
    )
    started = time.perf_counter()
    with client.session(customer) as pool:
        commands = pool.get_command_metadata("*")
        mailboxes, warnings = _get_mailboxes(pool)
        if warnings:
            console.print(f"[yellow]WARNING: {escape(warnings[0])}[/]", highlight=False)
            console.print(f"Got {len(mailboxes)}. As advised: Get-Mailbox -ResultSize Unlimited")
            mailboxes, _ = _get_mailboxes(pool, ResultSize="Unlimited")
    elapsed = time.perf_counter() - started
    console.print(_mailbox_table(customer, mailboxes, len(commands), elapsed))


def _denied_tenant(console: Console, client: _Client, partner: str, other: str) -> None:
    _step(console, f"{other} is not a customer of {partner}, so opening a session there must fail:")
    try:
        with client.session(other):
            pass
    except WinRMError as exc:
        console.print(f"The client got: [red]{escape(_error_text(exc))}[/]", highlight=False)
    else:
        console.print("[bold red]Unexpected: the session was opened.[/]")


def _session_limit(console: Console, client: _Client, customer: str) -> None:
    _step(
        console,
        "Exchange Online allows 3 open sessions per account. Opening 3 at once, then a 4th:",
    )
    with contextlib.ExitStack() as open_sessions:
        for number in range(1, 4):
            open_sessions.enter_context(client.session(customer))
            console.print(f"  session {number} open")
        try:
            with client.session(customer):
                pass
        except WinRMError as exc:
            # Exchange appends its throttling policy and a budget snapshot; the sentence is the news.
            text, _, snapshot = _error_text(exc).partition("Policy:")
            console.print(f"  session 4 refused: [red]{escape(text.strip())}[/]", highlight=False)
            if snapshot:
                console.print("  (followed by the throttling policy and budget snapshot, as Exchange sends)")
        else:
            console.print("[bold red]Unexpected: a 4th session was opened.[/]")
        console.print("Removing the 3 sessions (Remove-PSSession).")


def _get_mailboxes(pool: RunspacePool, **parameters: Any) -> tuple[list[Any], list[str]]:
    """``Get-Mailbox @parameters | Select-Object <shown columns>``: the columns are all the demo
    prints, and full mailbox objects (some 280 properties each) are slow for pypsrp to read."""
    ps = PowerShell(pool)
    ps.add_cmdlet("Get-Mailbox")
    for name, value in parameters.items():
        ps.add_parameter(name, value)
    ps.add_cmdlet("Select-Object").add_parameter("Property", list(COLUMNS))
    output = ps.invoke()
    if ps.had_errors:
        raise AoboError("Get-Mailbox failed: " + "; ".join(str(error) for error in ps.streams.error))
    return output, [str(warning.message) for warning in ps.streams.warning]


def _prop(obj: Any, name: str) -> str:
    # Deserialised objects carry their properties as extended (note) properties.
    return str(obj.extended_properties.get(name, ""))


def _mailbox_table(customer: str, mailboxes: list[Any], commands: int, elapsed: float) -> Table:
    counts = Counter(_prop(mailbox, "RecipientTypeDetails") for mailbox in mailboxes)
    summary = ", ".join(f"{kind} {count}" for kind, count in counts.most_common())
    table = Table(
        title=f"{customer}: {len(mailboxes)} mailboxes ({summary})",
        caption=f"{commands} commands imported; session opened, used and removed in {elapsed:.2f} s",
        box=box.SIMPLE_HEAD,
    )
    for column in COLUMNS:
        table.add_column(column, no_wrap=column == "PrimarySmtpAddress")
    for mailbox in mailboxes[:SHOWN_MAILBOXES]:
        table.add_row(*(_prop(mailbox, column) for column in COLUMNS))
    if len(mailboxes) > SHOWN_MAILBOXES:
        table.add_row(f"... and {len(mailboxes) - SHOWN_MAILBOXES} more", "", "")
    return table


def _error_text(exc: WinRMError) -> str:
    if isinstance(exc, WSManFaultError) and exc.reason:
        return str(exc.reason)
    if isinstance(exc, WinRMTransportError):
        return f"HTTP {exc.code}: {exc.response_text or exc.message}"
    return str(exc)


def _step(console: Console, text: str) -> None:
    console.print()
    console.rule(style="dim")
    console.print(f"[bold]{text}[/]")
