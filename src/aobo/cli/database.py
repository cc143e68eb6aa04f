"""The options and helpers of the commands that work on the service's database directly
(``serve``, ``seed``, ``gdap``, ``app``, ``keys``): one ``--data`` / ``--db`` pair for all of them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aobo.errors import AoboError
from aobo.settings import Settings

if TYPE_CHECKING:
    from aobo.domain.models import Tenant
    from aobo.domain.store import Store

DataDir = Annotated[
    Path,
    typer.Option("--data", envvar="AOBO_DATA", help="Directory for the SQLite database and TLS files."),
]
DbUrl = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="AOBO_DB",
        help="SQLAlchemy database URL, e.g. postgresql+psycopg://user:pw@host/aobo "
        "(default: SQLite file aobo.db in the data directory)",
        show_default=False,
    ),
]


def open_store(settings: Settings) -> Store:
    """Open the configured database and bring its schema up to date."""
    import sqlalchemy.exc

    from aobo.domain.store import Store

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        store = Store.open(settings.database_url)
    except (sqlalchemy.exc.SQLAlchemyError, ImportError) as exc:
        raise AoboError(f"cannot open database {safe_url(settings.database_url)}: {exc}") from exc
    try:
        store.migrate()
    except sqlalchemy.exc.SQLAlchemyError as exc:
        store.close()
        raise AoboError(f"cannot use database {safe_url(settings.database_url)}: {exc}") from exc
    except BaseException:
        store.close()
        raise
    return store


def safe_url(url: str) -> str:
    """The database URL with any password masked, fit for printing."""
    import sqlalchemy

    try:
        return sqlalchemy.make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return "<unparseable URL>"


@contextlib.contextmanager
def database(data: Path, db: str | None) -> Iterator[Store]:
    """The store of ``--data`` / ``--db``, migrated, closed when the block ends."""
    store = open_store(Settings(data_dir=data, db_url=db))
    try:
        yield store
    finally:
        store.close()


def tenant_named(store: Store, ref: str) -> Tenant:
    """The tenant a command option names (any of its domains, or its id); else a one-line error."""
    tenant = store.resolve_tenant(ref)
    if tenant is None:
        raise AoboError(f"no tenant {ref!r}")
    return tenant
