"""``aobo demo``: the partner's remote PowerShell routine, played with the aobo toolkit against a private server.

It starts aobo on a free loopback port with the demo world in a temporary directory, over HTTPS with
the freshly generated certificate as the only trusted CA, and then does what the document asks a DAP
partner to do by hand, with :mod:`aobo.toolkit` instead of PowerShell:

1. find the customers (the partner API, :func:`aobo.toolkit.partner.list_customers`);
2. for each one, open a session (``New-PSSession ...?DelegatedOrg=...`` is :func:`aobo.toolkit.connect`),
   import the commands once (``Import-PSSession``, when :mod:`aobo.toolkit.importer` is installed), run
   Get-Mailbox, and leave the session (``Remove-PSSession`` is the end of the ``with`` block);
3. meet the two refusals: a tenant that is not a customer, and a fourth concurrent session;
4. run Get-Mailbox in every customer at once within the session limit (:func:`aobo.toolkit.run_command`)
   into a CSV file, print the fan-out summary and a report read back from that file;
5. show that no session is left open on the server;
6. do today's version of it: Exchange Online's REST API with an OAuth token from the identity
   endpoint (msal), as a GDAP partner whose security groups hold Entra roles in the customer.
"""

from __future__ import annotations

import contextlib
import csv
import inspect
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aobo.cli.database import open_store
from aobo.domain.seed import seed_demo
from aobo.errors import AoboError
from aobo.server import BackgroundServer, demo_accounts_table
from aobo.settings import Settings
from aobo.toolkit import Credential, connect, parse, run_command
from aobo.toolkit.errors import AuthError, CommandError, SessionLimitError, ToolkitError
from aobo.toolkit.names import snake_case
from aobo.toolkit.partner import Customer, list_customers
from aobo.toolkit.session import Session, open_sessions

SHOWN_MAILBOXES = 3
COLUMNS = ("DisplayName", "PrimarySmtpAddress", "RecipientTypeDetails")
MAILBOX_TYPES = ("UserMailbox", "SharedMailbox", "RoomMailbox", "EquipmentMailbox")
FANOUT_COMMAND = "Get-Mailbox -ResultSize Unlimited"


class _Endpoint:
    """Where and how the toolkit connects: the server's URI, its CA file and the partner's credential."""

    def __init__(self, server: BackgroundServer, credential: Credential) -> None:
        self.server = server
        self.uri = server.url
        self.ca_file = server.ca_file
        self.credential = credential

    def connect(self, org: str) -> Session:
        return connect(org, self.credential, uri=self.uri, ca_file=self.ca_file)

    def sessions_on_server(self) -> int:
        """The server's own count of the partner's open shells (what Exchange would still charge it)."""
        app: Any = self.server.app
        return int(app.state.wsman.shells.count(self.credential.username.lower()))


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
                endpoint = _Endpoint(server, Credential(f"admin@{partner}", world.password))
                _play(console, endpoint, partner, [t.initial_domain for t in world.others], Path(tmp))
                _rest_with_gdap(console, server, partner, world.gdap_customers[0].initial_domain, world.password)
        except ToolkitError as exc:  # the story broke: say where, without a traceback
            raise AoboError(f"the demo failed: {type(exc).__name__}: {exc}") from exc
        finally:
            store.close()
    console.print(f"\n[bold green]Demo finished in {time.perf_counter() - started:.1f} s.[/]")


def _play(console: Console, endpoint: _Endpoint, partner: str, others: Sequence[str], tmp: Path) -> None:
    customers = _discover(console, endpoint)
    for index, customer in enumerate(customers):
        _customer_session(console, endpoint, customer.domain, tmp / "metadata" if index == 0 else None)
    for other in others:
        _denied_tenant(console, endpoint, partner, other)
    _session_limit(console, endpoint, customers[0].domain)
    _fan_out(console, endpoint, [c.domain for c in customers], tmp / "mailboxes.csv")
    _no_session_left(console, endpoint)


# ------------------------------------------------------------------------------------------- steps


def _discover(console: Console, endpoint: _Endpoint) -> list[Customer]:
    _step(console, f"Signed in as {endpoint.credential.username} (Get-Credential).")
    console.print("Which tenants are our customers? The partner API answers:")
    console.print("  list_customers(uri, credential)  [dim]# aobo.toolkit.partner[/]", highlight=False)
    customers = list_customers(endpoint.uri, endpoint.credential, ca_file=endpoint.ca_file)
    table = Table(title=f"{len(customers)} customers", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("Customer (DelegatedOrg)", no_wrap=True)
    table.add_column("Default domain", no_wrap=True)  # a domain is never split across lines
    table.add_column("Relationship", no_wrap=True)
    for c in customers:
        table.add_row(c.domain, c.default_domain, f"{c.relationship} {c.state}")
    console.print(table)
    if not customers:
        raise AoboError(f"{endpoint.credential.username} has no customers: the demo world is incomplete")
    return customers


def _customer_session(console: Console, endpoint: _Endpoint, customer: str, import_cache: Path | None) -> None:
    _step(console, f"{customer}: open a session, list the mailboxes, leave.")
    console.print(f'with connect("{customer}", credential, uri=...) as session:', highlight=False)
    console.print(f"  [dim]# New-PSSession ...?DelegatedOrg={customer}[/]", highlight=False)
    started = time.perf_counter()
    with endpoint.connect(customer) as session:
        get_mailbox = _get_mailbox(console, session, import_cache)
        mailboxes = get_mailbox.run(console)
        if mailboxes.warnings:
            console.print(f"  [yellow]WARNING: {escape(mailboxes.warnings[0])}[/]", highlight=False)
            console.print(f"  [dim]# got {len(mailboxes)}; as the warning advises:[/]")
            mailboxes = get_mailbox.run(console, ResultSize="Unlimited")
    elapsed = time.perf_counter() - started
    console.print(_mailbox_table(customer, mailboxes))
    console.print(f"Session opened, used and removed (end of the with block) in {elapsed:.2f} s.")


class _GetMailbox:
    """Get-Mailbox through an imported command (``ex.get_mailbox``) or ``session.invoke``, echoing the call."""

    def __init__(self, function: Callable[..., Any], imported: bool) -> None:
        self.function = function
        self.imported = imported

    def run(self, console: Console, **parameters: Any) -> Any:
        if self.imported:
            args = ", ".join(f'{snake_case(k)}="{v}"' for k, v in parameters.items())
            console.print(f"  ex.get_mailbox({args})", highlight=False)
        else:
            args = "".join(f', {k}="{v}"' for k, v in parameters.items())
            console.print(f'  session.invoke("Get-Mailbox"{args})', highlight=False)
        return self.function(**parameters)


def _get_mailbox(console: Console, session: Session, import_cache: Path | None) -> _GetMailbox:
    """Import the commands (Import-PSSession) when asked and the importer is there; else plain invoke."""
    invoke = _GetMailbox(lambda **parameters: session.invoke("Get-Mailbox", **parameters), imported=False)
    if import_cache is None:
        return invoke
    try:
        from aobo.toolkit.importer import import_commands
    except ImportError:
        console.print("  [dim]# Import-PSSession skipped: this build has no aobo.toolkit.importer[/]")
        return invoke
    started = time.perf_counter()
    commands = import_commands(session, cache_dir=import_cache, progress=console if console.is_terminal else False)
    elapsed = time.perf_counter() - started
    console.print("  ex = import_commands(session)  [dim]# Import-PSSession[/]", highlight=False)
    console.print(
        f"  [dim]# {len(commands)} commands in {elapsed:.2f} s: one request, then cached on disk[/]", highlight=False
    )
    function = commands["Get-Mailbox"]
    shown = [p for p in inspect.signature(function).parameters if p in ("identity", "filter", "result_size")]
    console.print(f"  [dim]# ex.get_mailbox({', '.join(shown)}, ...): a real signature[/]", highlight=False)
    return _GetMailbox(function, imported=True)


def _denied_tenant(console: Console, endpoint: _Endpoint, partner: str, other: str) -> None:
    _step(console, f"{other} is not a customer of {partner}, so opening a session there must fail:")
    try:
        with endpoint.connect(other):
            pass
    except AuthError as exc:
        text = str(exc).split(". ", 1)[0].rstrip(".") + "."  # Exchange's sentence; the rest is detail
        console.print(f"The client got {type(exc).__name__}: [red]{escape(text)}[/]", highlight=False)
        console.print(f"  ({escape(str(exc)[len(text) :].strip())})", highlight=False)
    else:
        console.print("[bold red]Unexpected: the session was opened.[/]")


def _session_limit(console: Console, endpoint: _Endpoint, customer: str) -> None:
    _step(console, "Exchange Online allows 3 open sessions per account: open 3, then a 4th:")
    with contextlib.ExitStack() as open_now:
        for number in range(1, 4):
            open_now.enter_context(endpoint.connect(customer))
            console.print(f"  session {number} open")
        try:
            with endpoint.connect(customer):
                pass
        except SessionLimitError as exc:
            # Exchange prefixes request ids and appends its throttling policy and a budget snapshot.
            text = str(exc).partition("Policy:")[0].rsplit("]", 1)[-1].strip()
            console.print(f"  session 4 refused ({type(exc).__name__}): [red]{escape(text)}[/]", highlight=False)
            console.print("  (followed by the throttling policy and budget snapshot, as Exchange sends)")
        else:
            console.print("[bold red]Unexpected: a 4th session was opened.[/]")
        console.print("Leaving the with blocks removes the 3 sessions.")


def _fan_out(console: Console, endpoint: _Endpoint, customers: list[str], out: Path) -> None:
    _step(console, "Now the same in every customer at once, at most 3 sessions open:")
    console.print(escape(f'  run_command([parse("{FANOUT_COMMAND}")],'), highlight=False)
    console.print(f'              customers, credential, uri=..., out="{out.name}")', highlight=False)

    def on_event(event: Any) -> None:
        if event.kind in ("tenant_done", "tenant_failed") and event.result is not None:
            r = event.result
            console.print(f"  {r.tenant}: {r.status}, {r.objects:,} objects", highlight=False)

    summary = run_command(
        [parse(FANOUT_COMMAND)],
        customers,
        endpoint.credential,
        uri=endpoint.uri,
        ca_file=endpoint.ca_file,
        out=out,
        on_event=on_event,
    )
    console.print(_summary_table(summary))
    console.print(
        f"{len(summary.succeeded)} tenants succeeded, {len(summary.failed)} failed: {summary.objects:,} mailboxes "
        f"in {summary.elapsed:.2f} s ({summary.objects / max(summary.elapsed, 1e-9):,.0f} objects/s)",
        highlight=False,
    )
    console.print(f"{summary.rows:,} rows in {out.name}, each with its Tenant column.", highlight=False)
    console.print(_report_table(out))


def _no_session_left(console: Console, endpoint: _Endpoint) -> None:
    _step(console, "Nothing left behind:")
    console.print(f"Sessions of {endpoint.credential.username} still open:", highlight=False)
    console.print(
        f"  {endpoint.sessions_on_server()} on the server, {len(open_sessions())} in this client.", highlight=False
    )


def _rest_with_gdap(console: Console, server: BackgroundServer, partner: str, customer: str, password: str) -> None:
    _step(console, "Today's path: the REST API with OAuth, as a GDAP partner (no remote PowerShell).")
    console.print(
        f"{customer} granted {partner} GDAP roles: Exchange Admins hold Exchange Administrator, "
        "Exchange Readers hold Global Reader.",
        highlight=False,
    )
    for user, group in ((f"gdapadmin@{partner}", "Exchange Admins"), (f"gdapreader@{partner}", "Exchange Readers")):
        console.print(f"{user} ({group}):", highlight=False)
        console.print(f'  s = connect("{customer}", credential, transport="rest")', highlight=False)
        console.print("  [dim]# msal signs in; the token names the customer and the roles held there[/]")
        with connect(
            customer,
            Credential(user, password),
            server.url,
            ca_file=server.ca_file,
            transport="rest",
            authority=server.base_url,
        ) as session:
            mailboxes = session.invoke("Get-Mailbox", ResultSize="Unlimited")
            console.print(
                f'  s.invoke("Get-Mailbox", ResultSize="Unlimited"): {len(mailboxes)} mailboxes', highlight=False
            )
            try:
                session.invoke("Set-Mailbox", Identity=mailboxes[0]["Alias"], CustomAttribute1="reviewed")
            except (AuthError, CommandError) as exc:
                text = str(exc).rsplit("]", 1)[-1].strip().split(" that allow", 1)[0]
                console.print(f'  s.invoke("Set-Mailbox", ...): [red]refused: {escape(text)}[/]', highlight=False)
            else:
                console.print('  s.invoke("Set-Mailbox", ...): [green]changed[/]', highlight=False)


# ------------------------------------------------------------------------------------------- output


def _text(value: Any) -> str:
    """A record's value as PowerShell prints it (enums by name)."""
    return str(getattr(value, "name", value) if value is not None else "")


def _mailbox_table(customer: str, mailboxes: Sequence[Any]) -> Table:
    counts = Counter(_text(m.get("RecipientTypeDetails")) for m in mailboxes)
    summary = ", ".join(f"{kind} {count}" for kind, count in counts.most_common())
    table = Table(
        title=f"{customer}: {len(mailboxes)} mailboxes ({summary})",
        box=box.SIMPLE_HEAD,
        title_justify="left",
        pad_edge=False,
        collapse_padding=True,
    )
    # 80 columns: addresses whole, display names shortened if need be.
    table.add_column("DisplayName", overflow="ellipsis", no_wrap=True)
    table.add_column("PrimarySmtpAddress", no_wrap=True)
    table.add_column("RecipientTypeDetails", no_wrap=True)
    for mailbox in list(mailboxes)[:SHOWN_MAILBOXES]:
        table.add_row(*(escape(_text(mailbox.get(column))) for column in COLUMNS))
    if len(mailboxes) > SHOWN_MAILBOXES:
        table.add_row("", f"... and {len(mailboxes) - SHOWN_MAILBOXES} more", "")
    return table


def _summary_table(summary: Any) -> Table:
    table = Table(title="Fan-out summary", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("Tenant", no_wrap=True)  # whole; a failure's long status wraps instead
    table.add_column("Status", overflow="fold")
    table.add_column("Objects", justify="right", no_wrap=True)
    table.add_column("Seconds", justify="right", no_wrap=True)
    for r in summary.results:
        status = "[green]ok[/]" if r.status == "ok" else f"[red]{escape(r.status)}: {escape(r.error or '')}[/]"
        table.add_row(escape(r.tenant), status, f"{r.objects:,}", f"{r.elapsed:.2f}")
    return table


def _report_table(path: Path) -> Table:
    """Mailboxes per type and tenant, read back from the fan-out's CSV (its ``Tenant`` column)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    with path.open(newline="", encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            counts[row["Tenant"]][row["RecipientTypeDetails"]] += 1
    table = Table(title=f"Report from {path.name}: mailboxes per type", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("Tenant", no_wrap=True)
    for kind in MAILBOX_TYPES:
        table.add_column(kind.removesuffix("Mailbox"), justify="right", no_wrap=True)
    table.add_column("Total", justify="right", no_wrap=True)
    for tenant, by_type in counts.items():
        table.add_row(escape(tenant), *(f"{by_type[k]:,}" for k in MAILBOX_TYPES), f"{sum(by_type.values()):,}")
    return table


def _step(console: Console, text: str) -> None:
    console.print()
    console.rule(style="dim")
    console.print(f"[bold]{escape(text)}[/]", highlight=False)
