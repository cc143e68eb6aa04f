"""Alembic environment, run programmatically by :meth:`aobo.domain.store.Store.migrate`.

The store passes an open connection in ``config.attributes["connection"]``; the ``alembic`` command
line also works for developers, given ``-x url=...`` or ``sqlalchemy.url`` in their own ini file.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from aobo.domain.schema import metadata

config = context.config


def _configure(**kwargs: object) -> None:
    # Batch mode lets later revisions ALTER tables on SQLite (it copies and swaps the table).
    context.configure(target_metadata=metadata, render_as_batch=True, compare_type=True, **kwargs)


def _run(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("No database: pass -x url=... or set sqlalchemy.url.")
    return url


if context.is_offline_mode():
    _configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (connection := config.attributes.get("connection")) is not None:
    _run(connection)
else:
    engine = create_engine(_url())
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()
