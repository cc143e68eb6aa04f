"""A real aobo server on the seeded demo world, for the toolkit's end-to-end tests.

The toolkit is a network client: these fixtures start :class:`aobo.server.BackgroundServer` the way
``tests/e2e/conftest.py`` does (a test may import the server; the toolkit never does).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aobo.domain.seed import seed_demo
from aobo.domain.store import Store
from aobo.server import BackgroundServer
from aobo.settings import Settings

PASSWORD = "Toolkit-Test-Password-1!"
PARTNER_ADMIN = "admin@northwindit.onmicrosoft.com"
PARTNER_HELPDESK = "helpdesk@northwindit.onmicrosoft.com"
CONTOSO = "contoso.onmicrosoft.com"
FABRIKAM = "fabrikam.onmicrosoft.com"
TAILSPIN = "tailspintoys.onmicrosoft.com"


@dataclass(frozen=True)
class Cred:
    """The credential shape the toolkit codes against (``toolkit.credential.Credential`` has it too)."""

    username: str
    secret: str

    def password(self) -> str:
        return self.secret

    def __repr__(self) -> str:
        return f"Cred({self.username!r}, ********)"


@dataclass
class LiveServer:
    """A running server: its endpoint, CA file, and a view of its shell table."""

    server: BackgroundServer
    password: str

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ca_file(self) -> str:
        assert self.server.ca_file is not None
        return str(self.server.ca_file)

    def credential(self, user: str = PARTNER_ADMIN, password: str | None = None) -> Cred:
        return Cred(user, self.password if password is None else password)

    def open_sessions(self, user: str = PARTNER_ADMIN) -> int:
        return int(self.server.app.state.wsman.shells.count(user.lower()))  # type: ignore[union-attr]


@pytest.fixture(scope="session")
def toolkit_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Path]]:
    data = tmp_path_factory.mktemp("aobo-toolkit")
    store = Store.open(f"sqlite:///{data / 'aobo.db'}")
    store.migrate()
    seed_demo(store, PASSWORD)
    yield store, data
    store.close()


@pytest.fixture(scope="session")
def live(toolkit_store: tuple[Store, Path]) -> Iterator[LiveServer]:
    """The demo world behind a real HTTPS server with its self-signed certificate."""
    store, data = toolkit_store
    with BackgroundServer(Settings(data_dir=data), store) as server:
        yield LiveServer(server, PASSWORD)
