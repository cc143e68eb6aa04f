"""A real aobo server on a freshly seeded demo world, for test modules that need one of their own."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aobo.domain.seed import seed_demo
from aobo.domain.store import Store
from aobo.server import BackgroundServer
from aobo.settings import Settings


@contextlib.contextmanager
def seeded_server(data: Path, password: str, **settings: Any) -> Iterator[BackgroundServer]:
    """The demo world (every account's password ``password``) in ``data``, served over HTTPS unless
    ``settings`` say otherwise; the server's ``store`` is open until the block ends."""
    store = Store.open(f"sqlite:///{data / 'aobo.db'}")
    try:
        store.migrate()
        seed_demo(store, password)
        with BackgroundServer(Settings(data_dir=data, **settings), store) as running:
            yield running
    finally:
        store.close()
