"""-Filter queries, identity lookups and a bulk Get-Mailbox | Set-Mailbox on a 100,000-mailbox tenant.

    .venv/bin/python bench/bench_recipient_queries.py [--mailboxes 100000] [--calls 50] [--bulk 10000]

The server runs in a separate process (``bench/_server.py``) with the demo world plus one generated
customer, ``cust0001.onmicrosoft.com``, of ``--mailboxes`` mailboxes, on SQLite. The partner admin
talks to it through ``_common.RawClient`` (WS-Man + PSRP, output counted, not deserialised).

(a) server time: the same commands through ``run_pipeline`` in this process, on the server's
    database file (engine + store, no transport): what the target is about. Each query ``--calls``
    times after 3 warm-ups; p50/p95.
(b) round trip: the same over the endpoint (Command to final pipeline state).
(c) the SQL plan of each query, from SQLite's EXPLAIN QUERY PLAN: an index, not a scan.
(d) bulk: ``Get-Mailbox -ResultSize --bulk | Set-Mailbox -CustomAttribute5 <run>`` over the endpoint:
    mailboxes changed per second (every one is a real, committed change).

Targets (project issue): filter and identity lookups under 20 ms server time on SQLite; bulk set at
least 2,000 mailboxes/s.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from _common import (
    PARTNER_ADMIN,
    RawClient,
    ServerProcess,
    print_table,
    summary_ms,
    write_results,
)

ORG = "cust0001.onmicrosoft.com"


def _in_process(db: Path) -> tuple[Any, Any, Any]:
    from aobo.cmdlets.catalog import default_registry
    from aobo.cmdlets.context import CmdletContext
    from aobo.cmdlets.roles import roles_for_dap
    from aobo.domain.store import Store

    store = Store.open(f"sqlite:///{db}")
    caller = store.find_user(PARTNER_ADMIN)
    ctx = CmdletContext(
        store=store,
        caller=caller,
        caller_tenant=store.resolve_tenant("northwindit.onmicrosoft.com"),
        tenant=store.resolve_tenant(ORG),
        roles=roles_for_dap(caller.role_groups),
    )
    return store, ctx, default_registry()


def _time(fn: Any, calls: int) -> list[float]:
    for _ in range(3):
        fn()
    out = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def _plan(store: Any, ctx: Any, text: str) -> str:
    """SQLite's plan for the recipients query a -Filter compiles to."""
    import sqlalchemy as sa

    from aobo.cmdlets.exchange.common import _filterable, _with_addresses
    from aobo.cmdlets.exchange.mailbox_object import MAILBOX_SHAPE
    from aobo.cmdlets.filters import compile_filter, parse_filter
    from aobo.domain.schema import recipients

    properties = _with_addresses(_filterable(MAILBOX_SHAPE, True), ctx.tenant.id)
    compiled = compile_filter(parse_filter(text, properties), properties)
    where = [recipients.c.tenant_id == ctx.tenant.id]
    if compiled.sql is not None:
        where.append(compiled.sql)
    statement = sa.select(recipients.c.id).where(*where).order_by(recipients.c.id).limit(1001)
    sql = str(statement.compile(store.engine, compile_kwargs={"literal_binds": True}))
    with store.engine.connect() as conn:
        return "; ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))


def _identity_plan(store: Any, ctx: Any, identity: str) -> str:
    """SQLite's plan for the identity lookup, captured as the store really sends it."""
    import sqlalchemy as sa

    sent: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        sent.append((statement, parameters))

    sa.event.listen(store.engine, "before_cursor_execute", capture)
    try:
        store.find_recipients(ctx.tenant.id, identity, recipient_type_details=["UserMailbox"])
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", capture)
    statement, parameters = sent[-1]
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        return "; ".join(sorted({str(r[-1]) for r in rows}))


def _plan_summary(plan: str) -> str:
    """What a reader needs from a plan: the indexes used, and any table scan."""
    steps = plan.split("; ")
    scans = [step for step in steps if step.startswith("SCAN ")]
    indexes = sorted({step.split(" USING ")[1].split(" (")[0] for step in steps if " USING " in step})
    return ("SCAN: " + ", ".join(scans) + "; " if scans else "no scan; ") + ", ".join(indexes)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mailboxes", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--bulk", type=int, default=10_000)
    args = parser.parse_args()
    started = time.perf_counter()
    from aobo.cmdlets.pipeline import CommandInvocation, run_pipeline

    results: dict[str, Any] = {"mailboxes": args.mailboxes, "calls": args.calls}
    with ServerProcess(extra_mailboxes=args.mailboxes, startup_timeout=1800) as server:
        results["seed"] = server.info
        store, ctx, registry = _in_process(server.tmp / "data" / "aobo.db")
        sample = list(store.iter_mailboxes(ctx.tenant.id, limit=args.mailboxes))[args.mailboxes // 2 + 17]
        filters = {
            "Name -like '<9-letter prefix>*'": f"Name -like '{sample.name[:9]}*'",
            "Name -like '<4-letter prefix>*' (many)": f"Name -like '{sample.name[:4]}*'",
            "Alias -eq": f"Alias -eq '{sample.alias}'",
            "PrimarySmtpAddress -eq": f"PrimarySmtpAddress -eq '{sample.primary_smtp_address}'",
            "RecipientTypeDetails -eq Room -and Name -like": (
                "RecipientTypeDetails -eq 'RoomMailbox' -and Name -like 'B*'"
            ),
            "EmailAddresses -like (object property)": f"EmailAddresses -like 'smtp:{sample.alias}@*'",
        }
        identities = {
            "alias": sample.alias,
            "primary SMTP": sample.primary_smtp_address,
            "proxy smtp:": f"smtp:{sample.alias}@{ORG}",
            "GUID": sample.guid,
            "DN": sample.distinguished_name,
            "display name": sample.display_name,
        }
        rows: list[list[Any]] = []
        detail: dict[str, Any] = {}
        with RawClient(server, ORG) as client:
            session = client.open_session()
            for label, text in filters.items():
                cmd = [CommandInvocation("Get-Mailbox", [("Filter", text), ("ResultSize", "Unlimited")])]
                found = [o for o in run_pipeline(ctx, registry, cmd) if hasattr(o, "shape")]
                server_s = _time(lambda cmd=cmd: list(run_pipeline(ctx, registry, cmd)), args.calls)
                trip_s = _time(
                    lambda text=text: session.run("Get-Mailbox", {"Filter": text, "ResultSize": "Unlimited"}),
                    args.calls,
                )
                plan = _plan(store, ctx, text)
                detail[f"filter: {label}"] = {
                    "objects": len(found),
                    "server_ms": summary_ms(server_s),
                    "round_trip_ms": summary_ms(trip_s),
                    "plan": plan,
                }
                p50s = summary_ms(server_s)["p50_ms"], summary_ms(trip_s)["p50_ms"]
                rows.append([f"-Filter {label}", len(found), *p50s, _plan_summary(plan)])
            for label, identity in identities.items():
                cmd = [CommandInvocation("Get-Mailbox", [("Identity", identity)])]
                server_s = _time(lambda cmd=cmd: list(run_pipeline(ctx, registry, cmd)), args.calls)
                trip_s = _time(lambda identity=identity: session.run("Get-Mailbox", {"Identity": identity}), args.calls)
                plan = _identity_plan(store, ctx, identity)
                detail[f"identity: {label}"] = {
                    "server_ms": summary_ms(server_s),
                    "round_trip_ms": summary_ms(trip_s),
                    "plan": plan,
                }
                p50s = summary_ms(server_s)["p50_ms"], summary_ms(trip_s)["p50_ms"]
                rows.append([f"-Identity {label}", 1, *p50s, _plan_summary(plan)])
            print_table(
                f"Lookups on a {args.mailboxes:,}-mailbox tenant (SQLite)",
                ["query", "objects", "server p50 ms", "round trip p50 ms", "SQL plan"],
                rows,
            )
            marker = f"bench-{int(time.time())}"
            t = time.perf_counter()
            bulk = session.run(
                "Get-Mailbox",
                {"ResultSize": args.bulk},
                ("Set-Mailbox", {"CustomAttribute5": marker}),
            )
            seconds = time.perf_counter() - t
            changed = (
                store.engine.connect()
                .exec_driver_sql(
                    "SELECT count(*) FROM recipients WHERE tenant_id = ? AND props LIKE ?",
                    (ctx.tenant.id, f'%"CustomAttribute5":"{marker}"%'),
                )
                .scalar_one()
            )
            session.delete()
        results["lookups"] = detail
        results["bulk_set"] = {
            "mailboxes": args.bulk,
            "changed": changed,
            "seconds": seconds,
            "per_second": changed / seconds if seconds else 0.0,
            "final_state": bulk.final_state,
            "errors": bulk.counts.get(0x00041005, 0),
        }
        print_table(
            "Bulk Get-Mailbox | Set-Mailbox over the endpoint",
            ["mailboxes", "changed", "seconds", "mailboxes/s", "errors"],
            [[args.bulk, changed, seconds, changed / seconds if seconds else 0.0, results["bulk_set"]["errors"]]],
        )
        store.close()
        problems = server.log_problems()
    write_results("recipient_queries", results, started=started, problems=problems)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
