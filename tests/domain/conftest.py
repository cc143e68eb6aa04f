"""Stores for the domain tests: a SQLite file per test, and PostgreSQL when AOBO_TEST_POSTGRES_URL is set.

Each PostgreSQL test gets a schema of its own (dropped afterwards) through libpq's ``options``, so
tests never see each other's rows and the database itself can be shared.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from aobo.domain.store import Store

POSTGRES_URL = os.environ.get("AOBO_TEST_POSTGRES_URL", "")

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgres",
        id="postgres",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not POSTGRES_URL, reason="AOBO_TEST_POSTGRES_URL is not set"),
        ],
    ),
]

UrlFactory = Callable[[], str]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_url(backend: str, tmp_path: Path) -> Iterator[UrlFactory]:
    """A function giving the URL of a fresh, empty database on the chosen backend at each call."""
    numbers = itertools.count()
    if backend == "sqlite":
        yield lambda: f"sqlite:///{tmp_path / f'db{next(numbers)}' / 'aobo.db'}"
        return

    admin = sa.create_engine(POSTGRES_URL)
    schemas: list[str] = []

    def postgres_url() -> str:
        schema = f"aobo_test_{uuid.uuid4().hex[:12]}"
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        schemas.append(schema)
        url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    try:
        yield postgres_url
    finally:
        with admin.begin() as conn:
            for schema in schemas:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def store(make_url: UrlFactory) -> Iterator[Store]:
    """A migrated, empty store."""
    s = Store.open(make_url())
    s.migrate()
    try:
        yield s
    finally:
        s.close()
