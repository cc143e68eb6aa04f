"""Message trace records (``message_trace``), one per message and recipient.

Addresses are stored lower-cased, so exact address filters are index lookups and wildcard ones
(``*@contoso.com``) a ``LIKE`` on the stored value. Every query is one tenant's, bounded by a
``received`` window (the ``(tenant_id, received)`` index, or an address index), newest first, then
by recipient address: the order Get-MessageTraceV2 pages in with ``(EndDate,
StartingRecipientAddress)`` as its keyset.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Row

from aobo.domain.repository import Repository
from aobo.domain.schema import message_trace

#: Delivery statuses Exchange reports, in its documentation's order.
STATUSES: Final = (
    "None",
    "GettingStatus",
    "Failed",
    "Pending",
    "Delivered",
    "Expanded",
    "Quarantined",
    "FilteredAsSpam",
)
#: How Get-MessageTraceV2 -SubjectFilterType matches -Subject.
SUBJECT_FILTERS: Final = ("Contains", "EndsWith", "StartsWith")

_INSERT_CHUNK: Final = 20_000
_LIKE_ESCAPE: Final = "\\"
_WILDCARDS: Final = frozenset("*?")


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One message as one recipient got it."""

    message_trace_id: uuid.UUID
    message_id: str
    received: datetime
    sender_address: str
    recipient_address: str
    subject: str
    status: str
    size: int
    from_ip: str | None = None
    to_ip: str | None = None


@dataclass(frozen=True, slots=True)
class TraceFilter:
    """What a trace query asks for besides its tenant and window. ``after`` is the keyset of the
    previous page's last row: ``(received, recipient_address)``; rows strictly after it in the
    query's order follow."""

    senders: Sequence[str] = ()
    recipients: Sequence[str] = ()
    statuses: Sequence[str] = ()
    message_ids: Sequence[str] = ()
    message_trace_id: uuid.UUID | None = None
    from_ip: str | None = None
    to_ip: str | None = None
    subject: str | None = None
    subject_filter: str = "Contains"
    after: tuple[datetime, str] | None = None


def has_wildcard(address: str) -> bool:
    return any(c in _WILDCARDS for c in address)


def _like_pattern(text: str, *, wildcards: bool) -> str:
    """``text`` as a LIKE pattern (lower-case); with ``wildcards``, ``*`` and ``?`` keep their meaning."""
    out = []
    for c in text.lower():
        if c in "%_" + _LIKE_ESCAPE:
            out.append(_LIKE_ESCAPE + c)
        elif wildcards and c == "*":
            out.append("%")
        elif wildcards and c == "?":
            out.append("_")
        else:
            out.append(c)
    return "".join(out)


def _address_condition(column: Any, addresses: Sequence[str]) -> Any:
    """Exact addresses as one ``IN`` (an index lookup), wildcard ones as ``LIKE``; any may match."""
    exact = sorted({a.lower() for a in addresses if not has_wildcard(a)})
    likes = [column.like(_like_pattern(a, wildcards=True), escape=_LIKE_ESCAPE) for a in addresses if has_wildcard(a)]
    conditions = ([column.in_(exact)] if exact else []) + likes
    return conditions[0] if len(conditions) == 1 else sa.or_(*conditions)


def _subject_condition(subject: str, how: str) -> Any:
    needle = _like_pattern(subject, wildcards=False)
    pattern = {"StartsWith": f"{needle}%", "EndsWith": f"%{needle}"}.get(how, f"%{needle}%")
    return sa.func.lower(message_trace.c.subject).like(pattern, escape=_LIKE_ESCAPE)


def _conditions(tenant_id: int, start: datetime, end: datetime, f: TraceFilter) -> list[Any]:
    c = message_trace.c
    where: list[Any] = [c.tenant_id == tenant_id, c.received >= start, c.received <= end]
    if f.senders:
        where.append(_address_condition(c.sender_address, f.senders))
    if f.recipients:
        where.append(_address_condition(c.recipient_address, f.recipients))
    if f.statuses:
        where.append(c.status.in_(list(f.statuses)))
    if f.message_ids:
        where.append(c.message_id.in_(list(f.message_ids)))
    if f.message_trace_id is not None:
        where.append(c.message_trace_id == str(f.message_trace_id))
    if f.from_ip:
        where.append(c.from_ip == f.from_ip)
    if f.to_ip:
        where.append(c.to_ip == f.to_ip)
    if f.subject:
        where.append(_subject_condition(f.subject, f.subject_filter))
    if f.after is not None:
        received, recipient = f.after
        # Written so the received bound stays a plain range the index can seek to.
        where.append(c.received <= received)
        where.append(sa.or_(c.received < received, c.recipient_address > recipient.lower()))
    return where


def trace_statement(
    tenant_id: int, start: datetime, end: datetime, f: TraceFilter, *, limit: int, offset: int = 0
) -> sa.Select[Any]:
    """The one query every trace read runs: newest first, then by recipient address."""
    c = message_trace.c
    return (
        sa.select(message_trace)
        .where(*_conditions(tenant_id, start, end, f))
        .order_by(c.received.desc(), c.recipient_address, c.id)
        .limit(limit)
        .offset(offset)
    )


def _row(tenant_id: int, record: TraceRecord) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "message_trace_id": str(record.message_trace_id),
        "message_id": record.message_id,
        "received": record.received,
        "sender_address": record.sender_address.lower(),
        "recipient_address": record.recipient_address.lower(),
        "subject": record.subject,
        "status": record.status,
        "size": record.size,
        "from_ip": record.from_ip,
        "to_ip": record.to_ip,
    }


class MessageTraceStore(Repository):
    __slots__ = ()

    def bulk_insert(self, tenant_id: int, records: Iterable[TraceRecord]) -> int:
        """Add records (one transaction, executemany in chunks); returns how many."""
        count = 0
        insert = message_trace.insert()
        with self.writing() as conn:
            it = iter(records)
            while chunk := [_row(tenant_id, r) for r in itertools.islice(it, _INSERT_CHUNK)]:
                conn.execute(insert, chunk)
                count += len(chunk)
        return count

    def query(
        self,
        tenant_id: int,
        start: datetime,
        end: datetime,
        trace_filter: TraceFilter = TraceFilter(),
        *,
        limit: int,
        offset: int = 0,
    ) -> list[Row[Any]]:
        """One tenant's records received in ``[start, end]`` that pass ``trace_filter``: newest
        first, then by recipient address; ``limit`` rows after skipping ``offset``."""
        stmt = trace_statement(tenant_id, start, end, trace_filter, limit=limit, offset=offset)
        with self.reading() as conn:
            return list(conn.execute(stmt).all())

    def plan(
        self, tenant_id: int, start: datetime, end: datetime, trace_filter: TraceFilter = TraceFilter(), *, limit: int
    ) -> list[str]:
        """The database's plan for :meth:`query` (SQLite's EXPLAIN QUERY PLAN details, PostgreSQL's
        EXPLAIN lines), to show which index a query uses. The statement runs through SQLAlchemy as
        :meth:`query` runs it (same bound values), with EXPLAIN put in front at the cursor."""
        stmt = trace_statement(tenant_id, start, end, trace_filter, limit=limit)
        with self.reading() as conn:
            sqlite = conn.dialect.name == "sqlite"
            prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "

            def explain(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> tuple[str, Any]:
                return prefix + statement, parameters

            event.listen(conn, "before_cursor_execute", explain, retval=True)
            try:
                rows = conn.execute(stmt).cursor.fetchall()
            finally:
                event.remove(conn, "before_cursor_execute", explain)
        return [str(r[3] if sqlite else r[0]) for r in rows]
