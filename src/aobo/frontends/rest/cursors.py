"""Paging cursors: running commands kept between pages, behind unguessable tokens.

A page that leaves objects unread stores its :class:`~aobo.frontends.rest.pages.RunningCommand`
under a fresh random token (the ``$skiptoken`` of ``@odata.nextLink``), bound to its owner (the
caller and the tenant). Reading the next page takes the command out of the table, so two requests
can never read one command at once; each page gets a new token, so a replayed link is refused
rather than silently skipping a page. Commands idle longer than the TTL are closed. Each owner and
each caller (across its tenants) have a cap, beyond which their own oldest command goes; a full
table refuses a new command (503) rather than drop another caller's.
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
#: Per caller across tenants: enough for a fan-out's concurrent listings, not for the whole table.
PER_CALLER: Final = 64
TOTAL: Final = 512
#: Tokens remembered after they expire, so a late client is told "expired" rather than "unknown".
_EXPIRED_MEMORY: Final = 4096


@dataclass(slots=True)
class _Entry:
    owner: tuple[Hashable, Hashable]  # (caller, tenant)
    command: RunningCommand
    expires: float


def table_full() -> RestError:
    error = RestError(
        503,
        "ServiceUnavailable",
        "The service holds too many unread listings right now. Run the command again shortly.",
        "System.InvalidOperationException",
        "TooManyListings",
    )
    error.headers["Retry-After"] = "5"
    return error


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
        per_caller: int = PER_CALLER,
        total: int = TOTAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.per_owner = per_owner
        self.per_caller = per_caller
        self.total = total
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # oldest first
        self._expired: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, owner: tuple[Hashable, Hashable], command: RunningCommand) -> str:
        """Keep ``command`` for ``owner`` (caller, tenant); the token to ask for its next page.
        Raises :class:`RestError` 503, having closed ``command``, when the table is full."""
        token = secrets.token_urlsafe(24)
        evicted: list[RunningCommand] = []
        with self._lock:
            for same, cap in (
                (lambda e: e.owner == owner, self.per_owner),
                (lambda e: e.owner[0] == owner[0], self.per_caller),
            ):
                mine = [t for t, e in self._entries.items() if same(e)]
                evicted += [self._forget(t) for t in mine[: max(0, len(mine) - cap + 1)]]
            full = len(self._entries) >= self.total
            if not full:
                self._entries[token] = _Entry(owner, command, self._clock() + self.ttl)
        for c in evicted:
            c.close("The command's page token was dropped: too many commands were left unread.")
        if full:
            command.close("The service held too many unread listings.")
            raise table_full()
        return token

    def take(self, owner: tuple[Hashable, Hashable], token: str) -> RunningCommand:
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
