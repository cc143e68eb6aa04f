"""Paging cursors: running commands kept between pages, behind unguessable tokens.

A page that leaves objects unread stores its :class:`~aobo.frontends.rest.pages.RunningCommand`
under a fresh random token (the ``$skiptoken`` of ``@odata.nextLink``), bound to its owner (the
caller and the tenant). Reading the next page takes the command out of the table, so two requests
can never read one command at once; each page gets a new token, so a replayed link is refused
rather than silently skipping a page. Commands idle longer than the TTL are closed, and each
owner and the whole table have a cap (the oldest command goes first).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Final

from aobo.frontends.rest.errors import RestError
from aobo.frontends.rest.pages import RunningCommand

DEFAULT_TTL: Final = 300.0
PER_OWNER: Final = 8
TOTAL: Final = 512
#: Tokens remembered after they expire, so a late client is told "expired" rather than "unknown".
_EXPIRED_MEMORY: Final = 4096


@dataclass(slots=True)
class _Entry:
    owner: Hashable
    command: RunningCommand
    expires: float


def cursor_error(token: str, expired: bool) -> RestError:
    if expired:
        message = (
            f"The page token '{token[:12]}...' has expired: the next page was not asked for in time. "
            "Run the command again from its first page."
        )
    else:
        message = (
            f"The page token '{token[:12]}...' is not known: it was already used, or belongs to another "
            "caller. Follow the @odata.nextLink of the latest page, or run the command again."
        )
    return RestError(400, "BadRequest", message, "System.ArgumentException", "InvalidSkipToken")


class CursorTable:
    def __init__(
        self,
        *,
        ttl: float = DEFAULT_TTL,
        per_owner: int = PER_OWNER,
        total: int = TOTAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.per_owner = per_owner
        self.total = total
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # oldest first
        self._expired: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, owner: Hashable, command: RunningCommand) -> str:
        """Keep ``command`` for ``owner``; the token to ask for its next page."""
        token = secrets.token_urlsafe(24)
        evicted: list[RunningCommand] = []
        with self._lock:
            mine = [t for t, e in self._entries.items() if e.owner == owner]
            for t in mine[: max(0, len(mine) - self.per_owner + 1)]:
                evicted.append(self._forget(t))
            while len(self._entries) >= self.total:
                evicted.append(self._forget(next(iter(self._entries))))
            self._entries[token] = _Entry(owner, command, self._clock() + self.ttl)
        for c in evicted:
            c.close("The command's page token was dropped: too many commands were left unread.")
        return token

    def take(self, owner: Hashable, token: str) -> RunningCommand:
        """The command behind ``token`` for ``owner``, out of the table; :class:`RestError` if unknown,
        another owner's (told apart from unknown by nothing) or expired."""
        with self._lock:
            entry = self._entries.get(token)
            if entry is None or entry.owner != owner:
                raise cursor_error(token, token in self._expired and entry is None)
            del self._entries[token]
        if entry.expires <= self._clock():
            entry.command.close("The command's page token expired.")
            with self._lock:
                self._remember(token)
            raise cursor_error(token, True)
        return entry.command

    def expire(self) -> int:
        """Close commands idle past the TTL; how many."""
        now = self._clock()
        with self._lock:
            stale = [t for t, e in self._entries.items() if e.expires <= now]
            closed = [self._forget(t) for t in stale]
        for c in closed:
            c.close("The command's page token expired.")
        return len(closed)

    def close_all(self) -> None:
        with self._lock:
            closed = [e.command for e in self._entries.values()]
            self._entries.clear()
        for c in closed:
            c.close("The service stopped.")

    def _forget(self, token: str) -> RunningCommand:
        entry = self._entries.pop(token)
        self._remember(token)
        return entry.command

    def _remember(self, token: str) -> None:
        self._expired[token] = None
        while len(self._expired) > _EXPIRED_MEMORY:
            self._expired.popitem(last=False)
