"""``aobo run``: one command in every customer tenant, within the session limit, into one file.

    aobo run --tenants all --out mailboxes.csv -- Get-Mailbox -ResultSize Unlimited

Everything after ``--`` is the command, in PowerShell's syntax (``aobo.toolkit.grammar``); it is
parsed here, so a typo fails before any session opens.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from aobo.cli.common import (
    AppIdOption,
    AuthorityOption,
    CaFileOption,
    CertificateOption,
    ClientIdOption,
    DeviceCodeOption,
    InsecureOption,
    ProfileOption,
    TokenCacheOption,
    TransportOption,
    UriOption,
    UsernameOption,
    ask_password,
    client_errors,
    client_profile,
    err_console,
    exit_codes,
    rest_opener,
    rest_options,
    sign_in_for,
)
from aobo.cli.listing import Column, print_table
from aobo.errors import AoboError


def _command_text(words: list[str]) -> str:
    """The command as typed: a single argument is the command line itself (``-- "Get-Mailbox | ..."``);
    several are re-joined, quoting those the shell had unquoted."""
    if len(words) == 1:
        return words[0]
    return " ".join(w if w and not any(c.isspace() for c in w) else shlex.quote(w) for w in words)


def _print_summary(summary: Any) -> None:
    """One line per tenant on stdout (a table, or plain lines in a pipe; progress is on stderr), then
    the totals, which a pipe gets on stderr."""
    columns = (
        Column("Tenant", whole=True),
        Column("Status", whole=True, styles={"ok": "green", "failed": "red", "skipped": "dim"}),
        Column("Objects", whole=True, numeric=True, hide=2),
        Column("Seconds", whole=True, numeric=True, hide=1),
        Column("Error", wrap=True),  # why a tenant failed, read whole
    )
    rows = [(r.tenant, r.status, r.objects, f"{r.elapsed:.1f}", r.error or "") for r in summary.results]
    written = f" into {summary.output} ({summary.rows:,} rows)" if summary.output else ""
    totals = (
        f"{len(summary.succeeded)} succeeded, {len(summary.failed)} failed, {len(summary.skipped)} done before; "
        f"{summary.objects:,} objects in {summary.elapsed:.1f} s{written}"
    )
    print_table(columns, rows, title="Summary", footer=totals)


def run(
    command: Annotated[list[str], typer.Argument(help="The command, after --: Get-Mailbox -ResultSize Unlimited")],
    tenants: Annotated[
        str, typer.Option("--tenants", "-t", help="all (the partner API), a file of tenants, or a,b,c.")
    ] = "all",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write rows here: .csv, .jsonl or .xlsx (with a Tenant column).")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run into the same --out.")] = False,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            "-c",
            min=1,
            help="Sessions (rps) or tenants (rest) at once per account (default: the profile's, or 3 for rps "
            "and 16 for rest).",
        ),
    ] = None,
    accounts: Annotated[
        list[str] | None,
        typer.Option(
            "--account",
            "-a",
            help="Another account to spread the tenants over (repeatable; each with its own session limit; "
            "its password from AOBO_PASSWORD, the keyring or a prompt).",
        ),
    ] = None,
    uri: UriOption = None,
    username: UsernameOption = None,
    profile: ProfileOption = None,
    ca_file: CaFileOption = None,
    insecure: InsecureOption = False,
    transport: TransportOption = None,
    authority: AuthorityOption = None,
    client_id: ClientIdOption = None,
    app_id: AppIdOption = None,
    certificate: CertificateOption = None,
    device_code: DeviceCodeOption = False,
    token_cache: TokenCacheOption = None,
) -> None:
    """Run one command in many customer tenants and write every row, with its tenant, to one file."""
    from aobo.toolkit.credential import Credential
    from aobo.toolkit.fanout import RunSummary, run_command
    from aobo.toolkit.grammar import GrammarError, parse
    from aobo.toolkit.partner import tenants_from

    text = _command_text(command)
    with exit_codes(), client_errors():
        try:
            pipeline = parse(text)
        except GrammarError as exc:
            raise AoboError(f"the command cannot be sent:\n{exc}") from None
        if resume and out is None:
            raise AoboError("--resume needs the --out of the run to continue")
        endpoint, prof = client_profile(
            profile,
            uri=uri,
            username=username,
            ca_file=ca_file,
            insecure=insecure or None,
            concurrency=concurrency,
            **rest_options(
                transport=transport,
                authority=authority,
                client_id=client_id,
                app_id=app_id,
                certificate=certificate,
                token_cache=token_cache,
            ),
        )
        rest = prof.transport == "rest"
        sign_in = sign_in_for(prof, endpoint, device_code=device_code)
        # A user name and password also serve the partner API's tenant list; an app or a device code not.
        credential = sign_in if isinstance(sign_in, Credential) else None
        others = [
            Credential.resolve(username=name, uri=endpoint, ask_password=ask_password)
            for name in accounts or ()
            if credential is None or name.lower() != credential.username.lower()
        ]
        if rest and tenants.strip().lower() == "all" and credential is None:
            raise AoboError(
                "--tenants all asks the partner API with a user name and password; with --app-id or --device-code "
                "give the tenants (a,b,c or a file)"
            )
        names = tenants_from(tenants, uri=endpoint, credential=credential, ca_file=prof.ca_file, insecure=prof.insecure)
        if not names:
            raise AoboError("no tenants to run in")
        options: dict[str, Any] = {}
        first: Any = sign_in
        if rest:
            first = _signed_in(sign_in, prof, names[0])
            options["opener"] = rest_opener(prof)
        credentials = [first, *others]
        summary = RunSummary()
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>8.0f} objects/s  {task.fields[failed]} failed"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=err_console, transient=True) as bar:
            task = bar.add_task("tenants", total=len(names), rate=0.0, failed=0)

            def on_event(event: Any) -> None:
                p = event.progress
                bar.update(task, completed=p.finished, rate=p.objects_per_second, failed=p.failed)

            try:
                run_command(
                    [pipeline],
                    names,
                    credentials,
                    uri=endpoint,
                    out=out,
                    resume=resume,
                    command_text=text,
                    summary=summary,
                    ca_file=prof.ca_file,
                    insecure=prof.insecure,
                    per_account_limit=prof.effective_concurrency,
                    on_event=on_event,
                    **options,
                )
            except KeyboardInterrupt:
                err_console.print("interrupted: every session is closed" + ("; continue with --resume" if out else ""))
                raise
            finally:
                if rest:
                    first.close()
        _print_summary(summary)
        if summary.exit_code:
            raise typer.Exit(summary.exit_code)


def _signed_in(sign_in: Any, prof: Any, tenant: str) -> Any:
    """A token provider for the whole run, signed in before it starts when a user signs in (a device
    code is shown once, a wrong password fails at once): at the user's own tenant, else the first."""
    from aobo.toolkit.auth import AppCredential, TokenProvider
    from aobo.toolkit.errors import AuthError

    provider = TokenProvider(
        sign_in,
        authority=prof.authority,
        client_id=prof.client_id,
        ca_file=prof.ca_file,
        insecure=prof.insecure,
        cache_path=prof.token_cache,
    )
    if isinstance(sign_in, AppCredential):
        return provider  # nothing to ask anyone: a tenant that refuses the app fails on its own
    # The user's own tenant first (a domain of the user name may not name a tenant, so then the first
    # customer); a device code sign-in that fails everywhere still lets each tenant report its own error.
    places = [t for t in dict.fromkeys([provider.home_tenant, tenant]) if t]
    for i, place in enumerate(places):
        try:
            provider.acquire(place)
            break
        except AuthError:
            if i == len(places) - 1 and provider.username is not None:
                provider.close()
                raise
    return provider


def register(app: typer.Typer) -> None:
    app.command(context_settings={"allow_interspersed_args": False})(run)
