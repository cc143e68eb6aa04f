"""Seeded message trace records spread over the 90 days before now.

Trace windows are relative to the present (Get-MessageTrace looks back 10 days, V2 90), so the
records are placed before "now" truncated to the hour; everything else comes from ``rng``. Each
message gets a distinct received time (to the millisecond) and distinct recipients, so
``(received, recipient)`` is unique and Get-MessageTraceV2's keyset pages never skip a row.
"""

from __future__ import annotations

import math
import random
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from aobo.domain.message_trace import TraceRecord
from aobo.domain.models import GROUP_TYPES, MAILBOX_TYPES, Tenant
from aobo.domain.store import Store

RETENTION: Final = timedelta(days=90)
#: Generated customers (``aobo seed``: cust0001...) get a small trace; demo tenants a few thousand rows.
_GENERATED_TENANT: Final = re.compile(r"cust\d+")
_GENERATED_ROWS: Final = (50, 120)
_DEMO_ROWS_BASE: Final = 1000
_DEMO_ROWS_PER_MAILBOX: Final = 20
_DEMO_ROWS_MAX: Final = 3000
_ADDRESS_SAMPLE: Final = 400

_MIN_SIZE: Final = 5 * 1024
_MAX_SIZE: Final = 25 * 1024 * 1024
_SIZE_MU: Final = math.log(48 * 1024)
_SIZE_SIGMA: Final = 1.2

_EXTERNAL_DOMAINS: Final = (
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "fabrikam.com",
    "adventure-works.com",
    "litware.com",
    "northwindtraders.com",
    "wingtiptoys.com",
    "proseware.com",
    "tailspin-mail.net",
)
_EXTERNAL_NAMES: Final = (
    "alex.johnson",
    "maria.garcia",
    "li.wei",
    "noreply",
    "billing",
    "support",
    "newsletter",
    "j.smith",
    "a.kumar",
    "orders",
    "hr-team",
    "sofia.rossi",
)
_SUBJECTS: Final = (
    "Quarterly report {n}",
    "RE: Project update {n}",
    "Invoice #{n}",
    "Meeting notes {n}",
    "FW: Contract draft v{n}",
    "Your order {n} has shipped",
    "Weekly newsletter - issue {n}",
    "Action required: password expires in {n} days",
    "Team lunch on Friday",
    "RE: Budget review",
    "Holiday schedule",
    "Welcome aboard!",
)
#: Public sending servers (FromIP of inbound mail) and destination MX hosts (ToIP of outbound mail).
_PUBLIC_PREFIXES: Final = ("40.92", "209.85", "52.100", "104.47", "198.2", "67.231")


@dataclass(frozen=True, slots=True)
class _Addresses:
    internal: tuple[str, ...]
    groups: tuple[str, ...]


def seed_trace(store: Store, tenant: Tenant, rng: random.Random) -> None:
    """Add this part of a freshly seeded tenant's content (deterministic for a given ``rng``,
    relative to the current hour)."""
    if _GENERATED_TENANT.fullmatch(tenant.name):
        rows = rng.randint(*_GENERATED_ROWS)
    else:
        mailboxes = store.count_mailboxes(tenant.id)
        rows = min(_DEMO_ROWS_MAX, _DEMO_ROWS_BASE + _DEMO_ROWS_PER_MAILBOX * mailboxes)
    generate_trace(store, tenant, rows, rng)


def generate_trace(store: Store, tenant: Tenant, rows: int, rng: random.Random, *, now: datetime | None = None) -> int:
    """Add ``rows`` trace records to ``tenant`` over the 90 days before ``now`` (default: the
    current hour); returns how many were added."""
    now = now or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    addresses = _addresses(store, tenant)
    return store.message_trace.bulk_insert(tenant.id, _records(addresses, rows, now, rng))


def _addresses(store: Store, tenant: Tenant) -> _Addresses:
    """A sample of the tenant's own addresses: mailboxes send and receive, groups get expanded."""
    mailboxes = tuple(
        r.primary_smtp_address
        for r in store.iter_recipients(tenant.id, recipient_type_details=MAILBOX_TYPES, limit=_ADDRESS_SAMPLE)
    )
    groups = tuple(
        r.primary_smtp_address
        for r in store.iter_recipients(tenant.id, recipient_type_details=GROUP_TYPES, limit=_ADDRESS_SAMPLE)
    )
    internal = mailboxes or tuple(f"user{n:03d}@{tenant.initial_domain}" for n in range(1, 21))
    return _Addresses(internal, groups)


def _fanouts(rows: int, rng: random.Random, groups: bool) -> list[int]:
    """Recipients per message (a negative value -m: a group send expanded to m members), adding up
    to exactly ``rows`` records."""
    out: list[int] = []
    left = rows
    while left > 0:
        roll = rng.random()
        if groups and roll < 0.03 and left >= 3:
            members = min(rng.randint(2, 6), left - 1)
            out.append(-members)
            left -= members + 1
            continue
        n = 1 if roll < 0.78 else 2 if roll < 0.9 else rng.randint(3, 5)
        n = min(n, left)
        out.append(n)
        left -= n
    return out


def _records(a: _Addresses, rows: int, now: datetime, rng: random.Random) -> Iterator[TraceRecord]:
    fanouts = _fanouts(rows, rng, bool(a.groups))
    span_ms = int(RETENTION.total_seconds() * 1000)
    # Distinct millisecond offsets before now, newest last.
    offsets = sorted(rng.sample(range(1, span_ms), len(fanouts)), reverse=True)
    recent = now - timedelta(hours=1)
    for fanout, offset in zip(fanouts, offsets, strict=True):
        received = now - timedelta(milliseconds=offset)
        yield from _message(a, fanout, received, received >= recent, rng)


def _message(a: _Addresses, fanout: int, received: datetime, recent: bool, rng: random.Random) -> Iterator[TraceRecord]:
    """The records of one message: one per recipient (a group send adds the group's Expanded row)."""
    roll = rng.random()
    direction = "inbound" if roll < 0.45 else "outbound" if roll < 0.7 else "internal"
    if fanout < 0:
        direction = "inbound" if roll < 0.5 else "internal"
    sender = _external(rng) if direction == "inbound" else rng.choice(a.internal)
    pool = a.internal if direction != "outbound" else None
    count = -fanout if fanout < 0 else fanout
    recipients = _distinct(lambda: rng.choice(pool) if pool else _external(rng), count, {sender})
    trace_id = uuid.UUID(int=rng.getrandbits(128), version=4)
    message_id = _message_id(sender, direction, rng)
    subject = rng.choice(_SUBJECTS).format(n=rng.randint(2, 9999))
    size = int(min(_MAX_SIZE, max(_MIN_SIZE, rng.lognormvariate(_SIZE_MU, _SIZE_SIGMA))))
    from_ip = _public_ip(rng) if direction == "inbound" else None
    if fanout < 0:
        group = rng.choice(a.groups)
        yield TraceRecord(trace_id, message_id, received, sender, group, subject, "Expanded", size, from_ip, None)
    for recipient in recipients:
        to_ip = _public_ip(rng) if direction == "outbound" else None
        status = _status(direction, recent, rng)
        yield TraceRecord(trace_id, message_id, received, sender, recipient, subject, status, size, from_ip, to_ip)


def _distinct(draw: Callable[[], str], count: int, exclude: set[str]) -> list[str]:
    """``count`` different addresses from ``draw()`` (fewer when the pool is too small)."""
    out: list[str] = []
    seen = {e.lower() for e in exclude}
    for _ in range(count * 4):
        if len(out) == count:
            break
        address = draw()
        if address.lower() not in seen:
            seen.add(address.lower())
            out.append(address)
    return out or [draw()]


def _status(direction: str, recent: bool, rng: random.Random) -> str:
    roll = rng.random()
    if recent and roll < 0.3:
        return "Pending" if roll < 0.2 else "GettingStatus"
    if direction == "inbound":
        return _pick(roll, (("Delivered", 0.87), ("FilteredAsSpam", 0.94), ("Quarantined", 0.97), ("Failed", 0.99)))
    if direction == "outbound":
        return _pick(roll, (("Delivered", 0.95), ("Failed", 1.0)))
    return _pick(roll, (("Delivered", 0.99), ("Failed", 1.0)))


def _pick(roll: float, table: Sequence[tuple[str, float]]) -> str:
    return next((name for name, limit in table if roll < limit), "None")


def _external(rng: random.Random) -> str:
    return f"{rng.choice(_EXTERNAL_NAMES)}@{rng.choice(_EXTERNAL_DOMAINS)}"


def _public_ip(rng: random.Random) -> str:
    return f"{rng.choice(_PUBLIC_PREFIXES)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _message_id(sender: str, direction: str, rng: random.Random) -> str:
    local = uuid.UUID(int=rng.getrandbits(128), version=4)
    if direction == "inbound":
        return f"<{local}@{sender.rsplit('@', 1)[-1]}>"
    server = f"DM{rng.randint(1, 8)}PR{rng.randint(10, 19)}MB{rng.randint(1000, 9999)}"
    return f"<{local.hex.upper()}@{server}.namprd{rng.randint(1, 20):02d}.prod.outlook.com>"
