"""``aobo app ...`` (app registrations for app-only access) and ``aobo keys rotate`` (token signing keys).

These work on the service's own database and data directory, like ``aobo seed``. A client secret is
printed once, when it is created: the database keeps only its hash.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from aobo.cli.common import console, err_console, exit_codes
from aobo.cli.database import DataDir, DbUrl, database, tenant_named
from aobo.cli.listing import Cell, Column, counted, print_table
from aobo.errors import AoboError, NotFound
from aobo.settings import Settings

if TYPE_CHECKING:
    from aobo.domain.models import AppRegistration
    from aobo.domain.store import Store

apps = typer.Typer(help="App registrations: applications that sign in as themselves (client credentials).")
keys = typer.Typer(help="The identity endpoint's token signing keys.")

TenantOption = Annotated[str, typer.Option("--tenant", help="A tenant's domain or id.")]
SecretDays = Annotated[int, typer.Option("--days", min=1, max=730, help="Days the secret stays valid.")]


def _app(store: Store, app_id: str) -> AppRegistration:
    app = store.apps.get(app_id)
    if app is None:
        raise NotFound(f"No application with id {app_id!r}.")
    return app


def _print_secret(value: str, days: int) -> None:
    console.print(f"Client secret: {escape(value)}", highlight=False)
    err_console.print(f"Copy the secret now: it is shown only this once. It expires in {days} days.")


@apps.command("create")
def create(
    tenant: TenantOption,
    name: Annotated[str, typer.Option("--name", help="The application's display name.")],
    secret: Annotated[bool, typer.Option("--secret", help="Add a client secret and print it once.")] = False,
    certificate: Annotated[
        Path | None, typer.Option("--certificate", help="PEM file of the public certificate (RSA key) to register.")
    ] = None,
    days: SecretDays = 180,
    data: DataDir = Path("aobo-data"),
    db: DbUrl = None,
) -> None:
    """Register an application in a tenant; print its application (client) id."""
    with exit_codes(), database(data, db) as store:
        pem = _read_certificate(certificate) if certificate else None
        home = tenant_named(store, tenant)
        with store.transaction() as tx:
            app = tx.apps.create(home.id, name)
            value = tx.apps.add_secret(app, lifetime=timedelta(days=days))[1] if secret else None
            cert = tx.apps.add_certificate(app, pem) if pem else None
        console.print(f"Application (client) id: {app.app_id}", highlight=False)
        console.print(f"Object id: {app.object_id}", highlight=False)
        console.print(f"Tenant: {home.initial_domain} ({home.guid})", highlight=False)
        if cert is not None:
            console.print(f"Certificate thumbprint: {cert.sha1_thumbprint.upper()}", highlight=False)
        if value is not None:
            _print_secret(value, days)


def _read_certificate(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise AoboError(f"cannot read {path}: {exc.strerror}") from None


@apps.command("add-secret")
def add_secret(
    app_id: Annotated[str, typer.Argument(help="The application (client) id.")],
    days: SecretDays = 180,
    data: DataDir = Path("aobo-data"),
    db: DbUrl = None,
) -> None:
    """Add a client secret to an application and print it once."""
    with exit_codes(), database(data, db) as store:
        app = _app(store, app_id)
        secret, value = store.apps.add_secret(app, lifetime=timedelta(days=days))
        console.print(f"Secret id: {secret.key_id}", highlight=False)
        _print_secret(value, days)


@apps.command("add-certificate")
def add_certificate(
    app_id: Annotated[str, typer.Argument(help="The application (client) id.")],
    certificate: Annotated[Path, typer.Argument(help="PEM file of the public certificate (RSA key).")],
    data: DataDir = Path("aobo-data"),
    db: DbUrl = None,
) -> None:
    """Register a certificate for client assertions (its thumbprint is the assertion's x5t)."""
    with exit_codes(), database(data, db) as store:
        cert = store.apps.add_certificate(_app(store, app_id), _read_certificate(certificate))
        console.print(f"Certificate thumbprint: {cert.sha1_thumbprint.upper()}", highlight=False)


@apps.command("assign-role")
def assign_role(
    app_id: Annotated[str, typer.Argument(help="The application (client) id.")],
    tenant: TenantOption,
    role: Annotated[
        str, typer.Option("--role", help='An Entra role name or template id, e.g. "Exchange Administrator".')
    ],
    data: DataDir = Path("aobo-data"),
    db: DbUrl = None,
) -> None:
    """Give an application a directory role in its tenant, or in a customer (consent needs a relationship)."""
    from aobo.domain.entra import ENTRA_ROLES, entra_role_id

    with exit_codes(), database(data, db) as store:
        role_id = entra_role_id(role)
        if role_id is None:
            known = ", ".join(sorted(ENTRA_ROLES.values()))
            raise AoboError(f"unknown role {role!r}; one of: {known}")
        app, target = _app(store, app_id), tenant_named(store, tenant)
        added = store.apps.assign_role(app, target.id, role_id)
        verb = "Assigned" if added else "Already assigned:"
        console.print(
            f"{verb} {ENTRA_ROLES[role_id]} to {escape(app.display_name)} in {target.initial_domain}", highlight=False
        )


@apps.command("list")
def list_apps(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this home tenant's applications.")] = None,
    data: DataDir = Path("aobo-data"),
    db: DbUrl = None,
) -> None:
    """List applications with their credentials (secret hints, certificate thumbprints) and roles."""
    from aobo.domain.entra import ENTRA_ROLES

    with exit_codes(), database(data, db) as store:
        home_id = tenant_named(store, tenant).id if tenant else None
        # The application id is what every other app command takes: always shown. Credentials and
        # roles are several values: one per line in a terminal's cell, one field in a pipe.
        columns = (
            Column("Application (client) id", whole=True),
            Column("Name", hide=1),
            Column("Home tenant", whole=True, hide=2),
            Column("Credentials", hide=4),
            Column("Roles", hide=3),
        )
        registrations = store.apps.list(home_id)
        rows: list[tuple[Cell, ...]] = []
        for app in registrations:
            credentials = [
                f"secret {s.hint}*** until {s.end_date_time:%Y-%m-%d}{' (expired)' if s.expired else ''}"
                for s in store.apps.secrets_of(app)
            ] + [f"certificate {c.sha1_thumbprint.upper()}" for c in store.apps.certificates_of(app)]
            roles = [
                f"{store.get_tenant(t).initial_domain}: " + ", ".join(sorted(ENTRA_ROLES.get(r, r) for r in ids))
                for t, ids in sorted(store.apps.tenants_of(app).items())
            ]
            rows.append(
                (
                    str(app.app_id),
                    app.display_name,
                    store.get_tenant(app.tenant_id).initial_domain,
                    tuple(credentials) or "-",
                    tuple(roles) or "-",
                )
            )
        print_table(columns, rows, title="App registrations", footer=counted(len(registrations), "application"))


@keys.command("rotate")
def rotate(data: DataDir = Path("aobo-data")) -> None:
    """Add a new token signing key; tokens signed by older keys stay valid until they expire."""
    from aobo.frontends.oauth.keys import rotate_keys

    with exit_codes():
        console.print(f"New signing key: {rotate_keys(Settings(data_dir=data))}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``app`` and ``keys`` to the command line."""
    app.add_typer(apps, name="app")
    app.add_typer(keys, name="keys")
