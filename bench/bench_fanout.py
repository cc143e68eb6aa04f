"""A fan-out over 1,000 customer tenants with one account: ``aobo run`` as a library call, timed.

    .venv/bin/python bench/bench_fanout.py [--tenants 1000] [--mailboxes 50] [--profile]

The server runs in its own process (``bench/_server.py --extra-tenants N --tenant-mailboxes M``: the
demo world plus N generated customers ``cust0001...`` of M mailboxes each, all with an active DAP
relationship to the demo partner; the seeding is timed there). As the partner admin (one account,
Exchange Online's limit of 3 concurrent sessions), the script

1. discovers the customers with the partner API (``aobo.toolkit.partner.list_customers``, timed)
   and keeps the generated ones;
2. runs ``run_command([parse("Get-Mailbox -ResultSize Unlimited")], tenants, credential, uri=...,
   out=<tmp>/mailboxes.csv)``: one session per tenant (open, Get-Mailbox, close), at most 3 at a
   time, rows streamed into a CSV through the resume journal, exactly as ``aobo run`` does;
3. checks the CSV: a header and ``N * M`` rows, every tenant present with M rows.

It reports the total time (and how much of it is rendering the CSV after the last tenant: the
journal spools rows as JSON Lines and writes the CSV at the end, when its columns are known),
tenants/s, objects/s, the per-tenant time (p50/p95), the time to open and to close a session, the
peak number of sessions open at once, counted by wrapping the session opener (from the start of an
open to the end of its close; it must never exceed 3), the retries the run made (a fourth session
refused by the server would show there), and the server's and client's CPU.

Target (issue 4): the 1,000-tenant fan-out under 2 minutes.
Results go to ``bench/results/bench_fanout.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BENCH_DIR,
    PARTNER_ADMIN,
    PASSWORD,
    RESULTS_DIR,
    CpuMeter,
    PySpy,
    ServerProcess,
    parse_collapsed,
    print_profile,
    print_table,
    pyspy_path,
    summary_ms,
    wait_for_quiet,
    write_results,
)

NAME = "bench_fanout"
TARGET_SECONDS = 120.0
SESSION_LIMIT = 3
COMMAND = "Get-Mailbox -ResultSize Unlimited"


class FanoutServer(ServerProcess):
    """:class:`ServerProcess` seeding ``tenants`` generated customers of ``mailboxes`` mailboxes each."""

    def __init__(self, tenants: int, mailboxes: int, **options: Any) -> None:
        super().__init__(**options)
        self.extra_args = ["--extra-tenants", str(tenants), "--tenant-mailboxes", str(mailboxes)]

    def __enter__(self) -> FanoutServer:
        # ServerProcess builds its command line itself; add ours by wrapping the one Popen it makes.
        real_popen = subprocess.Popen
        extra = self.extra_args

        def popen(cmd: list[str], *args: Any, **kwargs: Any) -> Any:
            if len(cmd) > 1 and cmd[1] == str(BENCH_DIR / "_server.py"):
                cmd = [*cmd, *extra]
            return real_popen(cmd, *args, **kwargs)

        subprocess.Popen = popen  # type: ignore[assignment,misc]
        try:
            super().__enter__()
        finally:
            subprocess.Popen = real_popen  # type: ignore[misc]
        return self


class SessionCounter:
    """Wraps ``open_session``: how many sessions are open at once (open started → close finished)."""

    def __init__(self) -> None:
        self.current = 0
        self.peak = 0
        self.opened = 0
        self.open_s: list[float] = []
        self.close_s: list[float] = []
        self.refused = 0

    async def open(self, uri: str, credential: Any, org: str | None, **options: Any) -> Any:
        from aobo.toolkit.errors import SessionLimitError
        from aobo.toolkit.session import open_session

        self.current += 1
        self.peak = max(self.peak, self.current)
        started = time.perf_counter()
        try:
            session = await open_session(uri, credential, org, **options)
        except SessionLimitError:
            self.refused += 1
            self.current -= 1
            raise
        except BaseException:
            self.current -= 1
            raise
        self.open_s.append(time.perf_counter() - started)
        self.opened += 1
        close = session.close
        counted = False

        async def counted_close() -> None:
            nonlocal counted
            began = time.perf_counter()
            try:
                await close()
            finally:
                if not counted:
                    counted = True
                    self.current -= 1
                    self.close_s.append(time.perf_counter() - began)

        session.close = counted_close
        return session


def check_csv(path: Path, tenants: list[str], mailboxes: int) -> dict[str, Any]:
    per_tenant: Counter[str] = Counter()
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader)
        column = header.index("Tenant")
        for row in reader:
            per_tenant[row[column]] += 1
    rows = sum(per_tenant.values())
    wrong = {t: per_tenant.get(t, 0) for t in tenants if per_tenant.get(t, 0) != mailboxes}
    return {
        "rows": rows,
        "columns": len(header),
        "tenants_in_file": len(per_tenant),
        "tenants_with_wrong_count": len(wrong),
        "examples_wrong": dict(list(wrong.items())[:5]),
        "bytes": path.stat().st_size,
    }


def run_fanout(server: ServerProcess, tenants: list[str], out: Path, *, profile: bool = False) -> dict[str, Any]:
    from aobo.toolkit import Credential, parse
    from aobo.toolkit.fanout import RunSummary, run_command_async

    counter = SessionCounter()
    events: Counter[str] = Counter()
    summary = RunSummary()
    next_report = [100]
    last_tenant = [0.0]

    def on_event(event: Any) -> None:
        events[event.kind] += 1
        if event.kind in ("tenant_done", "tenant_failed"):
            last_tenant[0] = time.perf_counter()
        p = event.progress
        if event.kind in ("tenant_done", "tenant_failed") and p.finished >= next_report[0]:
            next_report[0] += 100
            print(
                f"    {p.finished:>5,} tenants, {p.objects:>7,} objects, {p.elapsed:6.1f} s, "
                f"{counter.current} sessions open (peak {counter.peak})",
                flush=True,
            )

    spy = PySpy(os.getpid(), RESULTS_DIR / f"{NAME}.pyspy-client.txt", rate=100) if profile else None
    with CpuMeter(server) as meter:
        asyncio.run(
            run_command_async(
                [parse(COMMAND)],
                tenants,
                Credential(PARTNER_ADMIN, PASSWORD),
                uri=server.info["url"],
                ca_file=server.ca_file,
                out=out,
                command_text=COMMAND,
                summary=summary,
                per_account_limit=SESSION_LIMIT,
                opener=counter.open,
                on_event=on_event,
            )
        )
    if spy is not None:
        spy.stop()
    per_tenant = [r.elapsed for r in summary.results]
    finishing = time.perf_counter() - last_tenant[0] if last_tenant[0] else 0.0
    return {
        "seconds": meter.wall,
        "seconds_to_last_tenant": meter.wall - finishing,
        "seconds_finishing_output": finishing,
        "tenants": len(summary.results),
        "succeeded": len(summary.succeeded),
        "failed": len(summary.failed),
        "failures": [r.error for r in summary.failed][:5],
        "objects": summary.objects,
        "rows_written": summary.rows,
        "tenants_per_s": len(summary.results) / meter.wall,
        "objects_per_s": summary.objects / meter.wall,
        "per_tenant": summary_ms(per_tenant),
        "session_open": summary_ms(counter.open_s) if counter.open_s else None,
        "session_close": summary_ms(counter.close_s) if counter.close_s else None,
        "sessions_opened": counter.opened,
        "peak_sessions_open": counter.peak,
        "sessions_open_at_end": counter.current,
        "refused_by_server": counter.refused,
        "retries": events["retry"],
        "events": dict(events),
        **meter.as_dict(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=1000, help="generated customer tenants")
    parser.add_argument("--mailboxes", type=int, default=50, help="mailboxes per generated tenant")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy this process (the client) during the run (needs py-spy)"
    )
    args = parser.parse_args()
    if args.profile and pyspy_path() is None:
        parser.error("--profile needs py-spy (.venv/bin/pip install py-spy)")

    started = time.perf_counter()
    print(f"starting server (demo world + {args.tenants:,} tenants of {args.mailboxes} mailboxes) ...", flush=True)
    with FanoutServer(args.tenants, args.mailboxes) as server:
        seeded = list(server.info["extra_tenants"])
        seed_s = float(server.info["seed_tenants_s"])
        print(f"  seeded {len(seeded):,} tenants in {seed_s:.1f} s", flush=True)
        from aobo.toolkit import Credential
        from aobo.toolkit.partner import list_customers

        wait_for_quiet(server)
        t0 = time.perf_counter()
        customers = list_customers(server.info["url"], Credential(PARTNER_ADMIN, PASSWORD), ca_file=server.ca_file)
        discovery_s = time.perf_counter() - t0
        generated = {d.lower() for d in seeded}
        tenants = [c.domain for c in customers if c.domain.lower() in generated]
        print(f"  partner API: {len(customers):,} customers in {discovery_s * 1000:.0f} ms", flush=True)
        if len(tenants) != args.tenants:
            raise RuntimeError(f"the partner API lists {len(tenants)} of the {args.tenants} generated customers")
        with tempfile.TemporaryDirectory(prefix="aobo-bench-fanout-") as tmp:
            out = Path(tmp) / "mailboxes.csv"
            wait_for_quiet(server)
            print(f"  run_command({COMMAND!r}) across {len(tenants):,} tenants into {out.name} ...", flush=True)
            run = run_fanout(server, tenants, out, profile=args.profile)
            output = check_csv(out, tenants, args.mailboxes)
        problems = server.log_problems()
    server.cleanup()

    expected_rows = args.tenants * args.mailboxes
    checks = {
        "under_target_seconds": run["seconds"] < TARGET_SECONDS,
        "peak_sessions_within_limit": run["peak_sessions_open"] <= SESSION_LIMIT,
        "no_refusal_by_server": run["refused_by_server"] == 0,
        "all_tenants_ok": run["failed"] == 0 and run["succeeded"] == args.tenants,
        "rows_equal_expected": output["rows"] == expected_rows,
        "every_tenant_complete": output["tenants_in_file"] == args.tenants and output["tenants_with_wrong_count"] == 0,
    }
    print_table(
        f"fan-out: {COMMAND} across {args.tenants:,} tenants x {args.mailboxes} mailboxes, one account",
        ["quantity", "value"],
        [
            ["seeding the tenants (server process), s", seed_s],
            ["partner API discovery, ms", discovery_s * 1000],
            ["total time, s", run["seconds"]],
            ["  until the last tenant is done, s", run["seconds_to_last_tenant"]],
            ["  then rendering the CSV from the journal's spool, s", run["seconds_finishing_output"]],
            ["tenants/s", run["tenants_per_s"]],
            ["objects/s", run["objects_per_s"]],
            ["tenants ok / failed", f"{run['succeeded']:,} / {run['failed']:,}"],
            ["objects received", run["objects"]],
            ["CSV rows (expected)", f"{output['rows']:,} ({expected_rows:,})"],
            ["CSV size, MB", output["bytes"] / 1e6],
            ["per tenant p50 / p95, ms", f"{run['per_tenant']['p50_ms']:.0f} / {run['per_tenant']['p95_ms']:.0f}"],
            ["session open p50, ms", run["session_open"]["p50_ms"] if run["session_open"] else float("nan")],
            ["session close p50, ms", run["session_close"]["p50_ms"] if run["session_close"] else float("nan")],
            ["peak sessions open (limit 3)", run["peak_sessions_open"]],
            ["sessions refused by the server / retries", f"{run['refused_by_server']} / {run['retries']}"],
            [
                "client cores / server cores / others",
                f"{run['client_cores']:.2f} / {run['server_cores']:.2f} / {run['other_cores']:.2f}",
            ],
        ],
    )
    print_table("checks", ["check", "passed"], [[k, "yes" if v else "NO"] for k, v in checks.items()])
    profile = None
    if args.profile:
        profile = parse_collapsed(RESULTS_DIR / f"{NAME}.pyspy-client.txt", top=30)
        print_profile("client CPU during the fan-out (py-spy, this process)", profile)
    data = {
        "parameters": vars(args),
        "target_seconds": TARGET_SECONDS,
        "seeding": {
            "seed_demo_s": server.info.get("seed_demo_s"),
            "seed_tenants_s": seed_s,
            "tenants": len(seeded),
            "tenant_mailboxes": args.mailboxes,
        },
        "discovery": {"customers": len(customers), "seconds": discovery_s},
        "fanout": run,
        "output": output,
        "checks": checks,
        "client_profile": profile,
    }
    write_results(NAME, data, started=started, problems=problems)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
