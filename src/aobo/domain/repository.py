"""Base of the store's per-aggregate repositories (groups, permissions, rules, configuration...).

Each repository is reached through a :class:`~aobo.domain.store.Store` attribute
(``store.groups``) and runs on that store's connections, so a repository used inside
``store.transaction()`` takes part in that transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

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


def keyset_pages(read: Callable[[int, int], list[Any]], *, limit: int | None, batch_size: int) -> Iterator[Any]:
    """Rows in id order, read in batches by ``read(after_id, size)`` (rows with an ``id`` above
    ``after_id``), up to ``limit``. Each batch is its own short read: no connection is held while the
    consumer works, so a slow consumer does not pin the pool."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1.")
    if limit is not None and limit < 0:
        raise ValueError("limit must not be negative.")
    return _pages(read, limit, batch_size)  # checked above at the call, not at the first row


def _pages(read: Callable[[int, int], list[Any]], limit: int | None, batch_size: int) -> Iterator[Any]:
    last_id = 0
    remaining = limit
    while remaining is None or remaining > 0:
        size = batch_size if remaining is None else min(batch_size, remaining)
        batch = read(last_id, size)
        yield from batch
        if len(batch) < size:
            return
        last_id = batch[-1].id
        if remaining is not None:
            remaining -= len(batch)
