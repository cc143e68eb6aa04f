from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from aobo.domain.seed import seed_demo
from aobo.domain.store import Store
from aobo.server import BackgroundServer
from aobo.settings import Settings
from tests.e2e.helpers import Endpoint

PASSWORD = "E2e-Test-Password-1!"


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Path]]:
    data = tmp_path_factory.mktemp("aobo-e2e")
    store = Store.open(f"sqlite:///{data / 'aobo.db'}")
    store.migrate()
    seed_demo(store, PASSWORD)
    yield store, data
    store.close()


@pytest.fixture(scope="session", params=["https", "http"])
def rps(request: pytest.FixtureRequest, demo_store: tuple[Store, Path]) -> Iterator[Endpoint]:
    """The demo world behind a real server, over HTTPS (the default) and plain HTTP."""
    store, data = demo_store
    settings = Settings(data_dir=data, insecure_http=request.param == "http")
    with BackgroundServer(settings, store) as server:
        yield Endpoint(server, PASSWORD)


@pytest.fixture(scope="module")
def rps_rw(demo_store: tuple[Store, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    """A server of its own on a private copy of the demo world, for a module whose tests write:
    the shared servers' data stays as seeded. Plain HTTP (TLS is covered by ``rps``)."""
    _, data = demo_store
    own = tmp_path_factory.mktemp("aobo-e2e-rw")
    source = sqlite3.connect(str(data / "aobo.db"))
    target = sqlite3.connect(str(own / "aobo.db"))
    with source, target:
        source.backup(target)
    source.close()
    target.close()
    copy = Store.open(f"sqlite:///{own / 'aobo.db'}")
    settings = Settings(data_dir=own, insecure_http=True)
    with BackgroundServer(settings, copy) as server:
        yield Endpoint(server, PASSWORD)
    copy.close()


@pytest.fixture
def rps_short_idle(demo_store: tuple[Store, Path]) -> Iterator[Endpoint]:
    store, data = demo_store
    settings = dataclasses.replace(Settings(data_dir=data), idle_timeout=0.5)
    with BackgroundServer(settings, store) as server:
        yield Endpoint(server, PASSWORD)
