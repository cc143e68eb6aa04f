"""The message trace store and its seeding: filters, order, keyset pages, index use, tenant scope."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aobo.domain.message_trace import TraceFilter, TraceRecord
from aobo.domain.models import Tenant
from aobo.domain.seed_trace import RETENTION, generate_trace
from aobo.domain.store import Store

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(make_url: Callable[[], str]) -> Iterator[Store]:
    s = Store.open(make_url())
    s.migrate()
    yield s
    s.close()


def record(received: datetime, sender: str, recipient: str, **kw: Any) -> TraceRecord:
    values: dict[str, Any] = {
        "message_trace_id": uuid.uuid4(),
        "message_id": f"<{uuid.uuid4()}@example.com>",
        "subject": "Hello",
        "status": "Delivered",
        "size": 10_000,
        **kw,
    }
    return TraceRecord(received=received, sender_address=sender, recipient_address=recipient, **values)


def window(store: Store, tenant: Tenant, f: TraceFilter = TraceFilter()) -> list[str]:
    rows = store.message_trace.query(tenant.id, NOW - timedelta(days=1), NOW, f, limit=1000)
    return [f"{r.sender_address}>{r.recipient_address}" for r in rows]


def test_addresses_are_stored_lower_case_and_matched_without_regard_to_case(store: Store) -> None:
    t = store.create_tenant("contoso")
    store.message_trace.bulk_insert(t.id, [record(NOW - timedelta(hours=1), "Adele@Contoso.com", "Bob@Gmail.COM")])
    assert window(store, t, TraceFilter(senders=["ADELE@contoso.com"])) == ["adele@contoso.com>bob@gmail.com"]
    assert window(store, t, TraceFilter(recipients=["*@GMAIL.com"])) == ["adele@contoso.com>bob@gmail.com"]


def test_wildcards_and_like_metacharacters(store: Store) -> None:
    t = store.create_tenant("contoso")
    hour = timedelta(hours=1)
    store.message_trace.bulk_insert(
        t.id,
        [
            record(NOW - hour, "a_b@contoso.com", "x@gmail.com"),
            record(NOW - 2 * hour, "axb@contoso.com", "y@fabrikam.com"),
            record(NOW - 3 * hour, "c@litware.com", "z@contoso.com"),
        ],
    )
    # "_" is literal, not LIKE's any-character.
    assert window(store, t, TraceFilter(senders=["a_b@*"])) == ["a_b@contoso.com>x@gmail.com"]
    assert window(store, t, TraceFilter(senders=["*@contoso.com"])) == [
        "a_b@contoso.com>x@gmail.com",
        "axb@contoso.com>y@fabrikam.com",
    ]
    assert window(store, t, TraceFilter(recipients=["?@contoso.com"])) == ["c@litware.com>z@contoso.com"]
    assert len(window(store, t, TraceFilter(senders=["*@*"]))) == 3


def test_order_is_received_descending_then_recipient(store: Store) -> None:
    t = store.create_tenant("contoso")
    same = NOW - timedelta(minutes=5)
    store.message_trace.bulk_insert(
        t.id,
        [
            record(same, "s@contoso.com", "c@x.com"),
            record(NOW - timedelta(minutes=1), "s@contoso.com", "z@x.com"),
            record(same, "s@contoso.com", "a@x.com"),
            record(same, "s@contoso.com", "b@x.com"),
        ],
    )
    assert [r.split(">")[1] for r in window(store, t)] == ["z@x.com", "a@x.com", "b@x.com", "c@x.com"]


def test_keyset_pages_cover_rows_sharing_a_received_time_exactly_once(store: Store) -> None:
    t = store.create_tenant("contoso")
    same = NOW - timedelta(hours=2)
    rows = [record(same, "s@contoso.com", f"r{i:02d}@x.com") for i in range(23)]
    rows += [record(NOW - timedelta(minutes=i), "s@contoso.com", f"late{i}@x.com") for i in range(1, 8)]
    store.message_trace.bulk_insert(t.id, rows)
    seen: list[str] = []
    end, after = NOW, None
    while True:
        page = store.message_trace.query(t.id, NOW - timedelta(days=1), end, TraceFilter(after=after), limit=4)
        seen += [r.recipient_address for r in page]
        if len(page) < 4:
            break
        end, after = page[-1].received, (page[-1].received, page[-1].recipient_address)
    assert len(seen) == 30 and len(set(seen)) == 30


def test_filters_status_ids_ips_and_subject(store: Store) -> None:
    t = store.create_tenant("contoso")
    trace_id = uuid.uuid4()
    hour = timedelta(hours=1)
    store.message_trace.bulk_insert(
        t.id,
        [
            record(NOW - hour, "a@x.com", "b@y.com", status="FilteredAsSpam", subject="Win a prize", from_ip="1.2.3.4"),
            record(NOW - 2 * hour, "a@x.com", "c@y.com", message_trace_id=trace_id, message_id="<m1@x.com>"),
            record(NOW - 3 * hour, "a@x.com", "d@y.com", subject="Invoice 100%", to_ip="5.6.7.8"),
        ],
    )
    assert window(store, t, TraceFilter(statuses=["FilteredAsSpam"])) == ["a@x.com>b@y.com"]
    assert window(store, t, TraceFilter(message_trace_id=trace_id)) == ["a@x.com>c@y.com"]
    assert window(store, t, TraceFilter(message_ids=["<m1@x.com>"])) == ["a@x.com>c@y.com"]
    assert window(store, t, TraceFilter(from_ip="1.2.3.4")) == ["a@x.com>b@y.com"]
    assert window(store, t, TraceFilter(to_ip="5.6.7.8")) == ["a@x.com>d@y.com"]
    assert window(store, t, TraceFilter(subject="win", subject_filter="StartsWith")) == ["a@x.com>b@y.com"]
    assert window(store, t, TraceFilter(subject="prize", subject_filter="StartsWith")) == []
    assert window(store, t, TraceFilter(subject="100%", subject_filter="EndsWith")) == ["a@x.com>d@y.com"]
    assert window(store, t, TraceFilter(subject="0%", subject_filter="Contains")) == ["a@x.com>d@y.com"]


def test_a_tenant_never_reads_another_tenants_records(store: Store) -> None:
    a, b = store.create_tenant("contoso"), store.create_tenant("fabrikam")
    store.message_trace.bulk_insert(b.id, [record(NOW - timedelta(hours=1), "s@fabrikam.com", "r@x.com")])
    assert window(store, a) == []
    assert window(store, a, TraceFilter(senders=["*@*"])) == []
    assert window(store, b) == ["s@fabrikam.com>r@x.com"]


def test_queries_use_an_index_not_a_table_scan(store: Store, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("the plan text checked is SQLite's")
    t = store.create_tenant("contoso")
    generate_trace(store, t, 2000, random.Random(1), now=NOW)
    start = NOW - timedelta(days=10)
    plain = store.message_trace.plan(t.id, start, NOW, limit=1000)
    assert any("USING INDEX ix_message_trace_tenant_id_received" in line for line in plain)
    by_sender = store.message_trace.plan(t.id, start, NOW, TraceFilter(senders=["a@x.com"]), limit=1000)
    assert any("ix_message_trace_tenant_id_sender_address_received" in line for line in by_sender)
    by_recipient = store.message_trace.plan(t.id, start, NOW, TraceFilter(recipients=["a@x.com"]), limit=1000)
    assert any("ix_message_trace_tenant_id_recipient_address_received" in line for line in by_recipient)
    keyset = store.message_trace.plan(t.id, start, NOW, TraceFilter(after=(NOW, "m@x.com")), limit=1000)
    for plan in (plain, by_sender, by_recipient, keyset):
        assert not any(line.startswith("SCAN message_trace") for line in plan), plan


def test_generated_trace_is_realistic_deterministic_and_within_90_days(store: Store) -> None:
    t = store.create_tenant("contoso")
    assert generate_trace(store, t, 3000, random.Random(7), now=NOW) == 3000
    rows = store.message_trace.query(t.id, NOW - RETENTION, NOW, limit=5000)
    assert len(rows) == 3000
    assert all(NOW - RETENTION <= r.received < NOW for r in rows)
    assert min(r.received for r in rows) < NOW - timedelta(days=80)
    statuses = Counter(r.status for r in rows)
    assert statuses.most_common(1)[0][0] == "Delivered"
    assert {"FilteredAsSpam", "Quarantined", "Failed"} <= set(statuses)
    assert all(5 * 1024 <= r.size <= 25 * 1024 * 1024 for r in rows)
    senders = {r.sender_address.rsplit("@", 1)[1] for r in rows}
    assert "contoso.onmicrosoft.com" in senders and len(senders) > 3
    assert len({(r.received, r.recipient_address) for r in rows}) == 3000

    other = store.create_tenant("fabrikam")
    generate_trace(store, other, 3000, random.Random(7), now=NOW)
    again = store.message_trace.query(other.id, NOW - RETENTION, NOW, limit=5000)
    assert [(r.received, r.subject, r.status) for r in again] == [(r.received, r.subject, r.status) for r in rows]
