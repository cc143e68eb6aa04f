"""Message trace at scale: one tenant with 1,000,000 trace records over 90 days.

    .venv/bin/python bench/bench_message_trace.py [--rows 1000000] [--runs 20] [--pages 20]

A fresh SQLite database gets the demo world, then ``generate_trace`` puts ``--rows`` records into
tailspintoys (timed: target < 60 s). Then, for each query below, ``--runs`` timed runs after 2
warm-ups:

* engine: ``run_pipeline`` with the real registry and store, all output consumed (the server's own
  work, without CLIXML or transport);
* endpoint: the same command over WS-Man/PSRP to a server in a child process (this script with
  ``--serve``), timed with ``_common.RawClient`` from Command to the final pipeline state (server +
  loopback transport, no client-side deserialisation).

Queries: Get-MessageTrace over the last 10 days with -PageSize 1000 and 5000; Get-MessageTraceV2
with -SenderAddress over 10 days; Get-MessageTraceV2 paging (-ResultSize 1000, --pages pages, each
continuing from the previous page's last row). p50/p95 ms and rows/s, plus SQLite's plan lines.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import PARTNER_ADMIN, PASSWORD, RawClient, print_table, summary_ms, write_results

NAME = "bench_message_trace"
TENANT = "tailspintoys.onmicrosoft.com"
TARGET_GENERATE_S = 60.0


@dataclass(frozen=True)
class Query:
    label: str
    cmdlet: str
    params: dict[str, Any]


def serve(data: Path) -> int:
    """Child-process mode: serve the prepared database until stdin closes."""
    from aobo.domain.store import Store
    from aobo.server import BackgroundServer
    from aobo.settings import Settings

    settings = Settings(data_dir=data)
    store = Store.open(settings.database_url)
    server = BackgroundServer(settings, store).start()
    try:
        info = {"base_url": server.base_url, "ca_file": str(server.ca_file)}
        print("READY " + json.dumps(info), flush=True)
        sys.stdin.read()
    finally:
        server.stop()
        store.close()
    return 0


@dataclass(frozen=True)
class Served:
    """What RawClient needs of a server."""

    base_url: str
    ca_file: str


def prepare(data: Path, rows: int) -> dict[str, Any]:
    from aobo.domain.seed import seed_demo
    from aobo.domain.seed_trace import generate_trace
    from aobo.domain.store import Store
    from aobo.settings import Settings

    store = Store.open(Settings(data_dir=data).database_url)
    store.migrate()
    seed_demo(store, PASSWORD)
    tenant = store.resolve_tenant(TENANT)
    assert tenant is not None
    t = time.perf_counter()
    added = generate_trace(store, tenant, rows, random.Random(2026))
    seconds = time.perf_counter() - t
    store.close()
    return {"rows": added, "generate_s": seconds, "rows_per_s": added / seconds}


def engine_context(store: Any) -> Any:
    from aobo.cmdlets.context import CmdletContext
    from aobo.cmdlets.roles import roles_for_dap

    caller = store.find_user(PARTNER_ADMIN)
    return CmdletContext(
        store=store,
        caller=caller,
        caller_tenant=store.resolve_tenant("northwindit.onmicrosoft.com"),
        tenant=store.resolve_tenant(TENANT),
        roles=roles_for_dap(caller.role_groups),
    )


def run_engine(ctx: Any, registry: Any, q: Query) -> tuple[float, list[Any]]:
    from aobo.cmdlets.pipeline import CommandInvocation, run_pipeline

    t = time.perf_counter()
    out = list(run_pipeline(ctx, registry, [CommandInvocation(q.cmdlet, list(q.params.items()))]))
    return time.perf_counter() - t, out


def paging_queries(ctx: Any, registry: Any, start: str, end: str, pages: int) -> list[Query]:
    """The pages a script walks with Get-MessageTraceV2, each from the previous page's last row."""
    from aobo.cmdlets.results import ExchangeObject

    out: list[Query] = []
    params: dict[str, Any] = {"StartDate": start, "EndDate": end, "ResultSize": 1000}
    for n in range(pages):
        q = Query(f"V2 page {n + 1}", "Get-MessageTraceV2", params)
        out.append(q)
        _, result = run_engine(ctx, registry, q)
        rows = [o for o in result if isinstance(o, ExchangeObject)]
        if len(rows) < 1000:
            break
        last = rows[-1]
        params = {
            "StartDate": start,
            "EndDate": last["Received"].isoformat(),
            "StartingRecipientAddress": last["RecipientAddress"],
            "ResultSize": 1000,
        }
    return out


def rows_of(out: list[Any]) -> int:
    from aobo.cmdlets.results import ExchangeObject

    return sum(isinstance(o, ExchangeObject) for o in out)


def timing(seconds: list[float], rows: int) -> dict[str, Any]:
    s = summary_ms(seconds)
    return {**s, "rows": rows, "rows_per_s": rows / (s["p50_ms"] / 1000) if s["p50_ms"] else 0.0}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve)

    started = time.perf_counter()
    import subprocess

    from aobo.cmdlets.catalog import default_registry
    from aobo.domain.message_trace import TraceFilter
    from aobo.domain.store import Store
    from aobo.settings import Settings

    data = Path(tempfile.mkdtemp(prefix="aobo-bench-trace-"))
    print(f"generating {args.rows:,} trace records in {TENANT} ...", flush=True)
    generated = prepare(data, args.rows)
    print(f"  {generated['rows']:,} rows in {generated['generate_s']:.1f} s ({generated['rows_per_s']:,.0f} rows/s)")

    store = Store.open(Settings(data_dir=data).database_url)
    ctx = engine_context(store)
    registry = default_registry()
    now = datetime.now(UTC)
    start, end = (now - timedelta(days=10)).isoformat(), now.isoformat()
    top_sender = Counter(
        r.sender_address for r in store.message_trace.query(ctx.tenant.id, now - timedelta(days=10), now, limit=5000)
    ).most_common(1)[0][0]
    window = {"StartDate": start, "EndDate": end}
    queries = [
        Query("V1 10 days, PageSize 1000", "Get-MessageTrace", {**window, "PageSize": 1000}),
        Query("V1 10 days, PageSize 5000", "Get-MessageTrace", {**window, "PageSize": 5000}),
        Query(
            f"V2 10 days, -SenderAddress {top_sender}", "Get-MessageTraceV2", {**window, "SenderAddress": top_sender}
        ),
    ]
    pages = paging_queries(ctx, registry, start, end, args.pages)

    plans = {
        "window": store.message_trace.plan(ctx.tenant.id, now - timedelta(days=10), now, limit=5000),
        "sender": store.message_trace.plan(
            ctx.tenant.id, now - timedelta(days=10), now, TraceFilter(senders=[top_sender]), limit=1000
        ),
        "keyset": store.message_trace.plan(
            ctx.tenant.id, now - timedelta(days=10), now, TraceFilter(after=(now, "m@x.com")), limit=1001
        ),
    }

    results: dict[str, Any] = {"generate": generated, "plans": plans, "engine": {}, "endpoint": {}}
    for q in queries:
        for _ in range(2):
            run_engine(ctx, registry, q)
        timed = [run_engine(ctx, registry, q) for _ in range(args.runs)]
        results["engine"][q.label] = timing([t for t, _ in timed], rows_of(timed[0][1]))
    page_times = [run_engine(ctx, registry, q) for q in pages]
    results["engine"][f"V2 paging ({len(pages)} pages of 1000)"] = timing(
        [t for t, _ in page_times], rows_of(page_times[0][1])
    )
    store.close()

    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(data)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    problems: list[str] = []
    err_lines: list[str] = []
    drain = threading.Thread(target=lambda: err_lines.extend(proc.stderr or []), daemon=True)
    drain.start()
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"server did not start: {line}")
        served = Served(**json.loads(line[6:]))
        with RawClient(served, TENANT) as client:  # type: ignore[arg-type]
            session = client.open_session()
            for q in queries:
                for _ in range(2):
                    session.run(q.cmdlet, q.params)
                timed_runs = [session.run(q.cmdlet, q.params) for _ in range(args.runs)]
                results["endpoint"][q.label] = timing([r.seconds for r in timed_runs], timed_runs[0].objects)
            paged = [session.run(q.cmdlet, q.params) for q in pages]
            results["endpoint"][f"V2 paging ({len(pages)} pages of 1000)"] = timing(
                [r.seconds for r in paged], paged[0].objects
            )
            session.delete()
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(30)
        drain.join(5)
        problems = [ln.rstrip() for ln in err_lines if ln.strip() and " INFO " not in ln and "INFO:" not in ln]

    for where in ("engine", "endpoint"):
        print_table(
            f"{where} ({args.runs} runs each; paging: one run per page)",
            ["query", "rows", "p50 ms", "p95 ms", "rows/s (p50)"],
            [
                [label, r["rows"], r["p50_ms"], r["p95_ms"], round(r["rows_per_s"])]
                for label, r in results[where].items()
            ],
        )
    print("\nSQLite plans")
    for label, lines in plans.items():
        print(f"  {label}: " + " | ".join(lines))
    results["generate_target_met"] = generated["generate_s"] < TARGET_GENERATE_S
    write_results(NAME, results, started=started, problems=problems)
    return 0


if __name__ == "__main__":
    sys.exit(main())
