from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from aobo.domain.schema import metadata
from aobo.domain.store import Store

MIGRATIONS = Path(__file__).parents[2] / "src" / "aobo" / "domain" / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _index_names(engine: sa.Engine) -> set[str]:
    if engine.dialect.name == "sqlite":
        # The inspector leaves out expression indexes on SQLite; the catalogue has them all.
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
            return set(rows.scalars())
    inspector = sa.inspect(engine)
    return {
        ix["name"]
        for table in inspector.get_table_names()
        for ix in inspector.get_indexes(table)
        if ix["name"] and not ix.get("duplicates_constraint")  # the index behind a UNIQUE constraint
    }


def test_migrate_creates_every_table_and_is_idempotent(store: Store) -> None:
    store.migrate()  # the fixture already ran it once
    tables = set(sa.inspect(store.engine).get_table_names())
    assert tables == set(metadata.tables) | {"alembic_version"}
    with store.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    assert current == ScriptDirectory.from_config(_config()).get_current_head()


def test_migrations_produce_exactly_the_schema(store: Store) -> None:
    with store.engine.connect() as conn, warnings.catch_warnings():
        # SQLite cannot reflect expression indexes; they are compared by name below instead.
        warnings.simplefilter("ignore")
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diffs == []
    wanted = {ix.name for table in metadata.tables.values() for ix in table.indexes}
    assert _index_names(store.engine) == wanted


def test_downgrade_to_base_and_back(store: Store) -> None:
    config = _config()
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert set(sa.inspect(store.engine).get_table_names()) <= {"alembic_version"}
    store.migrate()
    assert set(sa.inspect(store.engine).get_table_names()) == set(metadata.tables) | {"alembic_version"}


def test_concurrent_migrations_on_a_fresh_database(make_url: Callable[[], str]) -> None:
    url = make_url()
    stores = [Store.open(url) for _ in range(3)]
    errors: list[BaseException] = []

    def run(s: Store) -> None:
        try:
            s.migrate()
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    assert errors == []


def test_offline_sql_generation(tmp_path: Path) -> None:
    # ``alembic upgrade head --sql`` for administrators who apply DDL by hand.
    config = _config()
    config.set_main_option("sqlalchemy.url", "postgresql+psycopg://u@h/db")
    config.output_buffer = io.StringIO()
    command.upgrade(config, "head", sql=True)
    sql = config.output_buffer.getvalue()
    for table in metadata.tables:
        assert f"CREATE TABLE {table}" in sql
    assert "lower(name)" in sql
