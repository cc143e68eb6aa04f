"""Base of the store's per-aggregate repositories (groups, permissions, rules, configuration...).

Each repository is reached through a :class:`~aobo.domain.store.Store` attribute
(``store.groups``) and runs on that store's connections, so a repository used inside
``store.transaction()`` takes part in that transaction.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from sqlalchemy import Connection

if TYPE_CHECKING:
    from aobo.domain.store import Store


class Repository:
    __slots__ = ("store",)

    def __init__(self, store: Store) -> None:
        self.store = store

    def reading(self) -> AbstractContextManager[Connection]:
        """A connection to read on (the transaction's, inside one)."""
        return self.store._read()

    def writing(self) -> AbstractContextManager[Connection]:
        """A connection in a write transaction (a savepoint inside an outer transaction)."""
        return self.store._write()
