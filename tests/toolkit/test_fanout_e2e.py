"""Fan-out against a real aobo server: the demo customers, MaxConcurrency held elsewhere, a tenant
that fails while the others succeed, cancellation leaving no session, and 200 generated customers."""

from __future__ import annotations

import asyncio
import csv
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aobo.toolkit.session")

from aobo.domain.seed import seed_demo, seed_generated
from aobo.domain.store import Store
from aobo.server import BackgroundServer
from aobo.settings import Settings
from aobo.toolkit.credential import Credential
from aobo.toolkit.fanout import FanoutEvent, RetryPolicy, run_across, run_command
from aobo.toolkit.session import open_session
from tests.toolkit.conftest import CONTOSO, FABRIKAM, PARTNER_ADMIN, TAILSPIN, LiveServer

CUSTOMERS = [CONTOSO, FABRIKAM, TAILSPIN]
NOT_A_CUSTOMER = "woodgrove.onmicrosoft.com"
FAST = RetryPolicy(attempts=6, base_delay=0.05, max_delay=0.5, limit_recovery=60)


def mailbox_count(live: LiveServer, domain: str) -> int:
    store = live.server.store
    tenant = store.resolve_tenant(domain)
    assert tenant is not None
    return int(store.count_mailboxes(tenant.id))


def test_run_across_the_demo_customers_to_csv(live: LiveServer, tmp_path: Path) -> None:
    out = tmp_path / "mailboxes.csv"
    credential = Credential(PARTNER_ADMIN, live.password)
    summary = run_command(
        ["Get-Mailbox -ResultSize Unlimited"],
        [*CUSTOMERS, NOT_A_CUSTOMER],
        credential,
        uri=live.url,
        ca_file=live.ca_file,
        out=out,
        retry=FAST,
    )
    by = {r.tenant: r for r in summary.results}
    assert [r.tenant for r in summary.failed] == [NOT_A_CUSTOMER]
    assert by[NOT_A_CUSTOMER].error_type == "AuthError" and by[NOT_A_CUSTOMER].attempts == 1
    assert summary.exit_code == 1
    with open(out, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    counts = Counter(r["Tenant"] for r in rows)
    assert counts == {t: mailbox_count(live, t) for t in CUSTOMERS}
    assert counts[FABRIKAM] > 1000  # -ResultSize Unlimited reached the command
    assert all(by[t].objects == counts[t] for t in CUSTOMERS)
    first = rows[0]
    assert next(iter(first)) == "Tenant"
    assert all(r["Tenant"].split(".")[0] in r["PrimarySmtpAddress"] for r in rows)  # each row in its own tenant
    multi = [r["EmailAddresses"] for r in rows if ";" in r["EmailAddresses"]]
    assert multi and all(a.split(";")[0].lower().startswith("smtp:") for a in multi)
    assert live.open_sessions() == 0


def test_warnings_and_non_terminating_errors_reach_the_summary(live: LiveServer) -> None:
    credential = Credential(PARTNER_ADMIN, live.password)
    summary = run_command(
        ["Get-Mailbox", "Get-Mailbox -Identity nobody-here"], [FABRIKAM], credential, uri=live.url, ca_file=live.ca_file
    )
    (result,) = summary.results
    assert result.ok and result.objects == 1000 and summary.exit_code == 0
    assert len(result.warnings) == 1 and result.warnings[0].startswith("By default, only the first 1000 items")
    assert len(result.errors) == 1 and "nobody-here" in result.errors[0]


def test_max_concurrency_held_elsewhere_is_backed_off(live: LiveServer) -> None:
    credential = Credential(PARTNER_ADMIN, live.password)
    events: list[FanoutEvent] = []
    open_at_once: list[int] = []

    async def fn(session: Any) -> int:
        result = await session.invoke("Get-Mailbox", ResultSize=5)
        open_at_once.append(live.open_sessions())
        await asyncio.sleep(0.3)  # hold the session so that the three overlap
        return len(result)

    async def main() -> list[Any]:
        held = await open_session(live.url, credential, CONTOSO, ca_file=live.ca_file)  # "a fourth, elsewhere"
        try:
            assert live.open_sessions() == 1
            return [
                r
                async for r in run_across(
                    CUSTOMERS, credential, fn, uri=live.url, ca_file=live.ca_file, retry=FAST, on_event=events.append
                )
            ]
        finally:
            await held.close()

    results = asyncio.run(main())
    assert [r.status for r in results] == ["ok"] * 3, [r.error for r in results]
    assert all(r.value == 5 for r in results)
    refusals = [e for e in events if e.kind == "retry"]
    assert refusals and all("SessionLimitError" in (e.error or "") for e in refusals)
    assert max(open_at_once) == 3  # ours (at most 2) plus the one held elsewhere: never over the limit
    assert live.open_sessions() == 0


def test_cancelling_a_run_leaves_no_session_on_the_server(live: LiveServer) -> None:
    credential = Credential(PARTNER_ADMIN, live.password)
    started = asyncio.Event()

    async def fn(session: Any) -> int:
        n = 0
        async for _ in session.stream("Get-Mailbox", ResultSize="Unlimited"):
            n += 1
            if n == 10:
                started.set()
            await asyncio.sleep(0.001)
        return n

    async def main() -> None:
        task = asyncio.create_task(
            _drain(run_across(CUSTOMERS * 1, credential, fn, uri=live.url, ca_file=live.ca_file))
        )
        await asyncio.wait_for(started.wait(), 30)
        assert live.open_sessions() >= 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert live.open_sessions() == 0


async def _drain(results: Any) -> None:
    async for _ in results:
        pass


# ------------------------------------------------------------------------------------------ 200 customers


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("aobo-fanout-200")
    store = Store.open(f"sqlite:///{data / 'aobo.db'}")
    store.migrate()
    password = "Fanout-200-Password-1!"
    seed_demo(store, password)
    seed_generated(store, 200, 3, password=password)
    with BackgroundServer(Settings(data_dir=data), store) as server:
        yield LiveServer(server, password)
    store.close()


@pytest.mark.slow
def test_fan_out_across_200_generated_customers(generated: LiveServer, tmp_path: Path) -> None:
    out = tmp_path / "all.jsonl"
    tenants = [f"cust{i:04d}.onmicrosoft.com" for i in range(1, 201)]
    random.Random(3).shuffle(tenants)
    began = time.perf_counter()
    summary = run_command(
        ["Get-Mailbox -ResultSize Unlimited"],
        tenants,
        Credential(PARTNER_ADMIN, generated.password),
        uri=generated.url,
        ca_file=generated.ca_file,
        out=out,
        retry=FAST,
    )
    elapsed = time.perf_counter() - began
    assert summary.exit_code == 0, [r.error for r in summary.failed]
    rows = out.read_text(encoding="utf-8").splitlines()
    counts = Counter(line.split('"Tenant":"', 1)[1].split('"', 1)[0] for line in rows)
    assert counts == {t: mailbox_count(generated, t) for t in tenants}
    assert generated.open_sessions() == 0
    print(f"\n200 tenants, {len(rows)} rows in {elapsed:.2f} s ({200 / elapsed:.1f} tenants/s)")
