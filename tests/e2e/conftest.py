from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def _private_copy(data: Path, tmp_path_factory: pytest.TempPathFactory, frontend: str) -> Iterator[Endpoint]:
    own = tmp_path_factory.mktemp("aobo-e2e-rw")
    source = sqlite3.connect(str(data / "aobo.db"))
    target = sqlite3.connect(str(own / "aobo.db"))
    with source, target:
        source.backup(target)
    source.close()
    target.close()
    copy = Store.open(f"sqlite:///{own / 'aobo.db'}")
    # msal insists on an HTTPS authority; remote PowerShell is tested over plain HTTP here too.
    settings = Settings(data_dir=own, insecure_http=frontend == "psrp")
    with BackgroundServer(settings, copy) as server:
        endpoint = Endpoint(server, PASSWORD, frontend)
        yield endpoint
        endpoint.close()
    copy.close()


@pytest.fixture(scope="module")
def rps_rw(demo_store: tuple[Store, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    """A server of its own on a private copy of the demo world, for a module whose tests write:
    the shared servers' data stays as seeded. Plain HTTP (TLS is covered by ``rps``)."""
    with _private_copy(demo_store[1], tmp_path_factory, "psrp") as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def rest_rw(demo_store: tuple[Store, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    """The same for a module that writes over REST (HTTPS: msal insists on it)."""
    with _private_copy(demo_store[1], tmp_path_factory, "rest") as endpoint:
        yield endpoint


# The command surface runs over both front ends from one suite: the same test body drives remote
# PowerShell (pypsrp) and REST InvokeCommand (httpx + msal tokens), see tests/e2e/helpers.py.
FRONTENDS = ["psrp", "rest"]


@pytest.fixture(scope="session")
def _surface_server(demo_store: tuple[Store, Path]) -> Iterator[BackgroundServer]:
    store, data = demo_store
    with BackgroundServer(Settings(data_dir=data), store) as server:
        yield server


@pytest.fixture(scope="session", params=FRONTENDS)
def surface(request: pytest.FixtureRequest, _surface_server: BackgroundServer) -> Iterator[Endpoint]:
    """The demo world over HTTPS, reached over each front end in turn (read-only tests)."""
    endpoint = Endpoint(_surface_server, PASSWORD, request.param)
    yield endpoint
    endpoint.close()


@pytest.fixture(scope="module", params=FRONTENDS)
def surface_rw(
    request: pytest.FixtureRequest, demo_store: tuple[Store, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Endpoint]:
    """A private copy of the demo world per module and front end, for tests that write."""
    with _private_copy(demo_store[1], tmp_path_factory, request.param) as endpoint:
        yield endpoint


@pytest.fixture
def rps_short_idle(demo_store: tuple[Store, Path]) -> Iterator[Endpoint]:
    store, data = demo_store
    settings = dataclasses.replace(Settings(data_dir=data), idle_timeout=0.5)
    with BackgroundServer(settings, store) as server:
        yield Endpoint(server, PASSWORD)
