"""``aobo gdap``: GDAP relationships on the service's own database, for its operator.

``create`` asks for the roles and locks the request for approval (as Partner Center does when it
makes the invitation link), ``approve`` is the customer's consent, ``assign`` gives roles to a
partner security group, ``add-member`` puts a partner user in one, ``terminate`` ends it. Roles are
given by Entra display name or template id, comma-separated. Register with :func:`register`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from aobo.cli.common import console, exit_codes
from aobo.cli.database import DataDir, DbUrl, database, tenant_named
from aobo.cli.listing import Column, counted, print_table
from aobo.errors import AoboError

if TYPE_CHECKING:
    from aobo.domain.models import GdapRelationship
    from aobo.domain.store import Store

__all__ = ["gdap_app", "register"]

gdap_app = typer.Typer(
    name="gdap",
    help="Granular delegated admin (GDAP) relationships: list, create, approve, assign, terminate.",
    no_args_is_help=True,
)

Roles = Annotated[
    str,
    typer.Option(
        "--roles",
        help='Comma-separated Entra roles, e.g. "Exchange Administrator,Global Reader" (names or template ids).',
    ),
]


@contextmanager
def _store(data: Path, db: str | None) -> Iterator[Store]:
    with exit_codes(), database(data, db) as store:
        yield store


def _roles(text: str) -> list[str]:
    from aobo.domain.entra import ENTRA_ROLES, entra_role_id

    ids = []
    for name in (part.strip() for part in text.split(",")):
        if not name:
            continue
        role_id = entra_role_id(name)
        if role_id is None:
            raise AoboError(f"unknown role {name!r}: use one of {', '.join(ENTRA_ROLES.values())}")
        ids.append(role_id)
    if not ids:
        raise AoboError("give at least one role with --roles")
    return ids


def _relationship(store: Store, relationship_id: str) -> GdapRelationship:
    found = store.gdap.get(relationship_id)
    if found is None:
        raise AoboError(f"no GDAP relationship with id {relationship_id!r}")
    return found


def _role_names(role_ids: tuple[str, ...]) -> str:
    from aobo.domain.entra import ENTRA_ROLES

    return ", ".join(ENTRA_ROLES.get(r, r) for r in role_ids)


def _describe(store: Store, rel: GdapRelationship) -> str:
    end = rel.end.strftime("%Y-%m-%d %H:%M UTC") if rel.end else "-"
    customer = store.get_tenant(rel.customer_tenant_id).initial_domain
    return f"{rel.guid} {rel.display_name!r} → {customer}: {rel.status}, ends {end}"


@gdap_app.command("list")
def list_relationships(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's relationships (partner or customer).")] = None,
    data: DataDir = Path("aobo-data"),
    db: DbUrl = None,
) -> None:
    """List GDAP relationships with their effective status (expiry is read from the clock)."""
    with _store(data, db) as store, exit_codes():
        tenant_id = tenant_named(store, tenant).id if tenant else None
        relationships = store.gdap.relationships(tenant_id)
        # The id (what approve, assign and terminate take), the customer and the status are always
        # shown; on a narrow terminal the partner (usually the same on every line) goes first.
        columns = (
            Column("Id", whole=True),
            Column("Name", hide=2),
            Column("Partner", whole=True, hide=6),
            Column("Customer", whole=True),
            Column("Status", whole=True),
            Column("Roles", hide=4),
            Column("Ends", whole=True, hide=3),
            Column("Auto-extend", whole=True, hide=5),
        )
        rows = [
            (
                str(rel.guid),
                rel.display_name,
                store.get_tenant(rel.partner_tenant_id).initial_domain,
                store.get_tenant(rel.customer_tenant_id).initial_domain,
                rel.status,
                _role_names(rel.roles),
                rel.end.strftime("%Y-%m-%d") if rel.end else "",
                "P180D" if rel.auto_extend_days else "",
            )
            for rel in relationships
        ]
        print_table(columns, rows, title="GDAP relationships", footer=counted(len(relationships), "relationship"))


@gdap_app.command()
def create(
    partner: Annotated[str, typer.Option(help="The partner tenant (a domain or tenant id).")],
    customer: Annotated[str, typer.Option(help="The customer tenant (a domain or tenant id).")],
    name: Annotated[str, typer.Option(help="Display name, unique among the partner's relationships.")],
    roles: Roles,
    duration: Annotated[str, typer.Option(help="ISO 8601 duration, P1D to P730D.")] = "P730D",
    auto_extend: Annotated[
        bool, typer.Option("--auto-extend", help="Extend by 180 days at each end (not with Global Administrator).")
    ] = False,
    data: DataDir = Path("aobo-data"),
    db: DbUrl = None,
) -> None:
    """Ask a customer for roles: the relationship waits for the customer's approval (approvalPending)."""
    from aobo.domain.gdap import AUTO_EXTEND_DAYS, parse_duration

    with _store(data, db) as store, exit_codes():
        role_ids = _roles(roles)
        days = parse_duration(duration)
        partner_tenant, customer_tenant = tenant_named(store, partner), tenant_named(store, customer)
        with store.transaction() as tx:
            rel = tx.gdap.create(
                partner_tenant.id,
                customer_tenant.id,
                name,
                role_ids,
                duration_days=days,
                auto_extend_days=AUTO_EXTEND_DAYS if auto_extend else 0,
            )
            rel = tx.gdap.lock_for_approval(rel.guid)
        console.print(f"Created {_describe(store, rel)}", highlight=False, soft_wrap=True)
        console.print(
            f"Roles: {_role_names(rel.roles)}. The customer approves it with: aobo gdap approve {rel.guid}",
            soft_wrap=True,
        )


@gdap_app.command()
def approve(
    relationship_id: Annotated[str, typer.Argument(help="The relationship's id.")],
    data: DataDir = Path("aobo-data"),
    db: DbUrl = None,
) -> None:
    """The customer's approval: the relationship becomes active for its duration."""
    with _store(data, db) as store, exit_codes():
        rel = store.gdap.approve(_relationship(store, relationship_id).guid)
        console.print(f"Approved {_describe(store, rel)}", highlight=False, soft_wrap=True)


@gdap_app.command()
def assign(
    relationship_id: Annotated[str, typer.Argument(help="The relationship's id.")],
    group: Annotated[str, typer.Option(help="The partner security group, e.g. 'Exchange Admins'.")],
    roles: Roles,
    data: DataDir = Path("aobo-data"),
    db: DbUrl = None,
) -> None:
    """Give some of an active relationship's roles to a partner security group."""
    with _store(data, db) as store, exit_codes():
        rel = _relationship(store, relationship_id)
        assignment = store.gdap.assign(rel.guid, group, _roles(roles))
        console.print(
            f"Assigned {_role_names(assignment.roles)} to {escape(assignment.group)} "
            f"(group id {assignment.group_id}, assignment {assignment.guid})",
            highlight=False,
            soft_wrap=True,
        )


@gdap_app.command()
def terminate(
    relationship_id: Annotated[str, typer.Argument(help="The relationship's id.")],
    data: DataDir = Path("aobo-data"),
    db: DbUrl = None,
) -> None:
    """End a relationship now: its roles stop at the next command of any open session."""
    with _store(data, db) as store, exit_codes():
        rel = store.gdap.terminate(_relationship(store, relationship_id).guid)
        console.print(f"Terminated {_describe(store, rel)}", highlight=False, soft_wrap=True)


@gdap_app.command("add-member")
def add_member(
    user: Annotated[str, typer.Argument(help="The partner user's UPN.")],
    group: Annotated[str, typer.Argument(help="The security group, e.g. 'Exchange Admins'.")],
    data: DataDir = Path("aobo-data"),
    db: DbUrl = None,
) -> None:
    """Put a user in a security group of its tenant (what an access assignment grants roles to)."""
    with _store(data, db) as store, exit_codes():
        account = store.find_user(user)
        if account is None:
            raise AoboError(f"no user {user!r}")
        added = store.gdap.add_to_group(account.id, group)
        verb = "Added" if added else "Already a member:"
        console.print(
            f"{verb} {escape(account.user_principal_name)} in {escape(group.strip())}", highlight=False, soft_wrap=True
        )


@gdap_app.command("remove-member")
def remove_member(
    user: Annotated[str, typer.Argument(help="The partner user's UPN.")],
    group: Annotated[str, typer.Argument(help="The security group.")],
    data: DataDir = Path("aobo-data"),
    db: DbUrl = None,
) -> None:
    """Take a user out of a security group: the roles it held through it stop at once."""
    with _store(data, db) as store, exit_codes():
        account = store.find_user(user)
        if account is None:
            raise AoboError(f"no user {user!r}")
        if not store.gdap.remove_from_group(account.id, group):
            raise AoboError(f"{user} is not in the group {group!r}")
        console.print(
            f"Removed {escape(account.user_principal_name)} from {escape(group.strip())}",
            highlight=False,
            soft_wrap=True,
        )


def register(app: typer.Typer) -> None:
    """Add ``gdap`` and its commands to ``app``."""
    app.add_typer(gdap_app)
