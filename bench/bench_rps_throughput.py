"""Server streaming throughput of ``Get-Mailbox -ResultSize Unlimited``, and where its time goes.

    .venv/bin/python bench/bench_rps_throughput.py [--mailboxes 100000] [--runs 3] [--sample 300]
                                                   [--profile-size 20000] [--no-profile]

1. Starts aobo in a separate process with the demo world (fabrikam: 1,500 mailboxes) plus one
   generated customer of ``--mailboxes`` mailboxes (``seed_generated(store, 1, N)``, timed).
2. For each tenant, a raw WS-Man client (``_common.RawClient``: http.client, HTTP/1.1 keep-alive, PSRP
   requests built with psrpcore's client) sends ``Get-Mailbox -ResultSize Unlimited`` and Receives
   until the final PIPELINE_STATE, counting PIPELINE_OUTPUT messages from the fragment headers
   without deserialising anything. ``--runs`` timed runs after one warm-up (of at most 2,000
   mailboxes); best and median.
   Server and client CPU time are recorded for each run.
   Supplementary: Receive latency with the server's worker idle (outbox pre-filled) versus while
   it produces, and ``--concurrent`` sessions streaming fabrikam at once (aggregate rate).
   Before each measurement the script waits (up to 60 s) for other processes to go quiet, and it
   records the CPU other processes used meanwhile ("others"): this machine is shared.
3. The generic serialisation route (``generic_dumps``: psrpcore PSObject build + serialise) and
   the fast writer (``ClixmlWriter().dumps``) on a sample of ``--sample`` mailbox objects built
   exactly as the server builds them, and the in-process ceiling (row fetch + object + writer, one
   thread, no transport).
4. Unless ``--no-profile``: py-spy (sampling, separate process) on the server during a run of
   ``-ResultSize --profile-size`` on the big tenant, once over the GIL holder only (where the CPU
   goes) and once wall-clock over the event loop and pipeline threads, idle included (where each
   thread waits); top 15 cumulative and self functions.

Targets (project issue): streaming >= 20,000 mailboxes/s and >= 20x the generic route.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _common import (
    PIPELINE_OUTPUT,
    RESULTS_DIR,
    ROOT,
    CpuMeter,
    PySpy,
    RawClient,
    ServerProcess,
    parse_collapsed,
    print_profile,
    print_table,
    pyspy_path,
    wait_for_quiet,
    write_results,
)

NAME = "bench_rps_throughput"
TARGET_RATE = 20_000
TARGET_RATIO = 20.0


def stream_runs(server: ServerProcess, org: str, expected: int, runs: int) -> dict[str, Any]:
    with RawClient(server, org) as client:
        session = client.open_session()
        # Warm-up (templates compiled, caches filled); for a big tenant the first 2,000 are enough.
        warm_size = "Unlimited" if expected <= 2000 else "2000"
        warm = session.run("Get-Mailbox", {"ResultSize": warm_size})
        if warm.objects != min(expected, 2000) or warm.final_state != "Completed":
            raise RuntimeError(f"{org}: warm-up got {warm.objects} objects, state {warm.final_state}")
        results = []
        for i in range(runs):
            wait_for_quiet(server)
            with CpuMeter(server) as meter:
                r = session.run("Get-Mailbox", {"ResultSize": "Unlimited"})
            server_cpu, client_cpu = meter.server_cpu, meter.client_cpu
            if r.objects != expected or r.final_state != "Completed":
                raise RuntimeError(f"{org}: run {i} got {r.objects} objects, state {r.final_state}")
            results.append(
                {
                    "seconds": r.seconds,
                    "objects": r.objects,
                    "mailboxes_per_s": r.objects / r.seconds,
                    "payload_mb_per_s": r.payload_bytes / r.seconds / 1e6,
                    "payload_bytes": r.payload_bytes,
                    "wire_bytes": r.wire_bytes,
                    "receives": r.receives,
                    "first_output_ms": (r.first_output_s or 0) * 1000,
                    "server_cpu_s": server_cpu,
                    "server_cpu_util": server_cpu / r.seconds,
                    "client_cpu_s": client_cpu,
                    "other_cores": meter.other_cpu / r.seconds,
                    "server_cpu_us_per_mailbox": server_cpu / r.objects * 1e6,
                    "mailboxes_per_receive": r.objects / r.receives,
                    "ms_per_receive": r.seconds / r.receives * 1000,
                    "server_cpu_ms_per_receive": server_cpu / r.receives * 1000,
                    "client_cpu_ms_per_receive": client_cpu / r.receives * 1000,
                    "messages": r.named_counts(),
                }
            )
            print(
                f"  {org} run {i + 1}: {r.objects:,} mailboxes in {r.seconds:.2f} s = "
                f"{r.objects / r.seconds:,.0f}/s, {r.payload_bytes / r.seconds / 1e6:.1f} MB/s, "
                f"server CPU {server_cpu / r.seconds:.0%}, client CPU {client_cpu / r.seconds:.0%}, "
                f"other processes {meter.other_cpu / r.seconds:.0%}",
                flush=True,
            )
        session.delete()
    rates = [r["mailboxes_per_s"] for r in results]
    mbps = [r["payload_mb_per_s"] for r in results]
    return {
        "tenant": org,
        "mailboxes": expected,
        "runs": results,
        "best_mailboxes_per_s": max(rates),
        "median_mailboxes_per_s": statistics.median(rates),
        "best_payload_mb_per_s": max(mbps),
        "median_payload_mb_per_s": statistics.median(mbps),
        "bytes_per_mailbox": results[0]["payload_bytes"] / expected,
    }


def receive_latency(server: ServerProcess, org: str, runs: int) -> dict[str, Any]:
    """Receive round trips with the pipeline worker idle versus producing.

    After Command the client waits 1.5 s, so the server's worker fills the outbox up to its
    back-pressure limit (4 MiB) and blocks: the first Receives then measure the transport alone
    (parse, base64, envelope, TLS, client read). Later Receives overlap the worker producing the
    rest. The gap is the client's own processing between Receives.
    """
    idle: list[float] = []
    steady: list[float] = []
    gaps: list[float] = []
    sizes: list[int] = []
    with RawClient(server, org) as client:
        session = client.open_session()
        session.run("Get-Mailbox", {"ResultSize": "500"})
        for _ in range(runs):
            wait_for_quiet(server, max_wait=15)
            r = session.run("Get-Mailbox", {"ResultSize": "4000"}, pause_after_command=1.5)
            log = r.receive_log
            lat = [(b - a) * 1000 for a, b, _ in log]
            idle += lat[:4]
            steady += lat[12:-2]
            gaps += [(log[k + 1][0] - log[k][1]) * 1000 for k in range(len(log) - 1)]
            sizes += [n for _, _, n in log[:-2]]
        session.delete()
    result = {
        "receive_ms_worker_idle_median": statistics.median(idle),
        "receive_ms_worker_producing_median": statistics.median(steady),
        "client_gap_ms_median": statistics.median(gaps),
        "response_bytes_median": statistics.median(sizes),
    }
    print(
        f"  Receive round trip: {result['receive_ms_worker_idle_median']:.2f} ms with the worker idle, "
        f"{result['receive_ms_worker_producing_median']:.2f} ms while it produces; client gap "
        f"{result['client_gap_ms_median']:.2f} ms",
        flush=True,
    )
    return result


def concurrent_streams(server: ServerProcess, org: str, expected: int, sessions: int, runs: int) -> dict[str, Any]:
    """``sessions`` streams of the same tenant at once (one client thread and session each): does the
    server have capacity left over while a single stream waits for its client?"""
    clients = [RawClient(server, org) for _ in range(sessions)]
    try:
        opened = [c.open_session() for c in clients]
        for s in opened:  # warm-up, one at a time
            s.run("Get-Mailbox", {"ResultSize": "Unlimited"})
        results = []
        for _ in range(runs):
            cpu0 = server.cpu_seconds()
            t0 = time.perf_counter()
            with ThreadPoolExecutor(sessions) as pool:
                done = list(pool.map(lambda s: s.run("Get-Mailbox", {"ResultSize": "Unlimited"}), opened))
            wall = time.perf_counter() - t0
            cpu = server.cpu_seconds() - cpu0
            objects = sum(r.objects for r in done)
            if objects != expected * sessions:
                raise RuntimeError(f"concurrent run got {objects} objects")
            results.append(
                {
                    "seconds": wall,
                    "objects": objects,
                    "aggregate_mailboxes_per_s": objects / wall,
                    "server_cpu_util": cpu / wall,
                }
            )
        for s in opened:
            s.delete()
    finally:
        for c in clients:
            c.close()
    rates = [r["aggregate_mailboxes_per_s"] for r in results]
    print(
        f"  {sessions} concurrent streams of {org}: aggregate best {max(rates):,.0f}/s, median "
        f"{statistics.median(rates):,.0f}/s",
        flush=True,
    )
    return {
        "tenant": org,
        "sessions": sessions,
        "runs": results,
        "best_aggregate_mailboxes_per_s": max(rates),
        "median_aggregate_mailboxes_per_s": statistics.median(rates),
    }


def serialisation_routes(database_url: str, org: str, sample: int) -> dict[str, Any]:
    """Per-object cost of the generic route and the fast writer on ``sample`` mailboxes of ``org``."""
    from aobo.cmdlets.exchange.mailbox_object import mailbox_factory
    from aobo.domain.models import MAILBOX_TYPES
    from aobo.domain.store import Store
    from aobo.frontends.psrp.clixml import ClixmlWriter
    from aobo.frontends.psrp.generic import generic_dumps

    store = Store.open(database_url)
    try:
        tenant = store.resolve_tenant(org)
        assert tenant is not None
        total = store.count_mailboxes(tenant.id, recipient_type_details=MAILBOX_TYPES)
        stride = max(1, total // sample)
        # The whole listing as the server reads it (keyset pages of 1000), timed: the store's share.
        t = time.perf_counter()
        rows = list(store.iter_mailboxes(tenant.id, recipient_type_details=MAILBOX_TYPES))
        fetch_s = time.perf_counter() - t
        picked = rows[::stride][:sample]
        make = mailbox_factory(tenant)
        t = time.perf_counter()
        objects = [make(row) for row in rows]
        make_s = time.perf_counter() - t
        sample_objects = [objects[i * stride] for i in range(len(picked))]

        writer = ClixmlWriter()
        for obj in sample_objects[:32]:  # past generate_after: templates compiled, as in a server session
            writer.dumps(obj)
        t = time.perf_counter()
        fast_out = [writer.dumps(obj) for obj in sample_objects]
        fast_s = time.perf_counter() - t
        # The whole tenant through the fast writer too (the in-process ceiling below).
        t = time.perf_counter()
        for obj in objects:
            writer.dumps(obj)
        fast_all_s = time.perf_counter() - t

        generic_dumps(sample_objects[0])
        t = time.perf_counter()
        generic_out = [generic_dumps(obj) for obj in sample_objects]
        generic_s = time.perf_counter() - t
    finally:
        store.close()
    n = len(sample_objects)
    return {
        "tenant": org,
        "sample": n,
        "generic_us_per_object": generic_s / n * 1e6,
        "generic_objects_per_s": n / generic_s,
        "fast_us_per_object": fast_s / n * 1e6,
        "fast_objects_per_s": n / fast_s,
        "fast_over_generic": generic_s / fast_s,
        "fast_bytes_per_object": sum(map(len, fast_out)) / n,
        "generic_bytes_per_object": sum(map(len, generic_out)) / n,
        "store_fetch_us_per_row": fetch_s / len(rows) * 1e6,
        "make_us_per_object": make_s / len(objects) * 1e6,
        "fast_all_us_per_object": fast_all_s / len(objects) * 1e6,
        "in_process_ceiling_per_s": len(objects) / (fetch_s + make_s + fast_all_s),
    }


def profile_run(server: ServerProcess, org: str, size: int, out_dir: Path, *, gil: bool) -> dict[str, Any]:
    """``gil``: samples of the GIL holder only (where the CPU goes); otherwise wall-clock samples of
    the event loop and pipeline threads, idle included (where each waits)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = out_dir / f"{NAME}.pyspy{'-gil' if gil else '-wall'}.txt"
    with RawClient(server, org) as client:
        session = client.open_session()
        spy = PySpy(server.pid, raw, gil=gil, idle=not gil, threads=True)
        try:
            r = session.run("Get-Mailbox", {"ResultSize": str(size)})
        finally:
            spy.stop()
        session.delete()
    profile = parse_collapsed(raw, threads_like=() if gil else ("aobo-server", "aobo-pipeline"))
    profile.update(
        mode="GIL holder only (--gil)" if gil else "wall clock (--idle), event loop + pipeline threads",
        raw_file=str(raw.relative_to(ROOT)),
        objects=r.counts[PIPELINE_OUTPUT],
        seconds=r.seconds,
        mailboxes_per_s_while_profiled=r.counts[PIPELINE_OUTPUT] / r.seconds,
    )
    return profile


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mailboxes", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--profile-size", type=int, default=20_000)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument(
        "--concurrent", type=int, default=2, help="sessions of the supplementary concurrent run (1: skip)"
    )
    args = parser.parse_args()

    started = time.perf_counter()
    print(f"starting server (demo world + {args.mailboxes:,} generated mailboxes) ...", flush=True)
    with ServerProcess(extra_mailboxes=args.mailboxes) as server:
        info = server.info
        seeding = {
            "seed_demo_s": info["seed_demo_s"],
            "seed_generated_s": info["seed_generated_s"],
            "generated_mailboxes": info["generated_mailboxes"],
            "seed_generated_mailboxes_per_s": info["generated_mailboxes"] / info["seed_generated_s"],
        }
        print(
            f"seed_generated(store, 1, {args.mailboxes:,}): {info['seed_generated_s']:.1f} s "
            f"({seeding['seed_generated_mailboxes_per_s']:,.0f} mailboxes/s); demo world {info['seed_demo_s']:.1f} s"
        )
        big_org = info["generated_tenant"]
        workloads = [("fabrikam.onmicrosoft.com", 1500), (big_org, int(info["generated_mailboxes"]))]

        streaming = []
        for org, expected in workloads:
            print(f"\nstreaming {org} ({expected:,} mailboxes), {args.runs} runs after a warm-up", flush=True)
            streaming.append(stream_runs(server, org, expected, args.runs))

        print(f"\nReceive latency, worker idle vs producing ({big_org}, supplementary)", flush=True)
        latency = receive_latency(server, big_org, 3)

        concurrency = None
        if args.concurrent > 1:
            print(f"\n{args.concurrent} concurrent streams of fabrikam (supplementary)", flush=True)
            wait_for_quiet(server)
            concurrency = concurrent_streams(server, "fabrikam.onmicrosoft.com", 1500, args.concurrent, args.runs)

        print(f"\nserialisation routes on {args.sample} objects per tenant (in this process) ...", flush=True)
        wait_for_quiet(server)
        routes = [serialisation_routes(info["database_url"], org, args.sample) for org, _ in workloads]

        profiles: list[dict[str, Any]] = []
        if not args.no_profile:
            if pyspy_path() is None:
                print("\npy-spy not installed: skipping the profiles (.venv/bin/pip install py-spy)")
            else:
                for gil in (True, False):
                    print(
                        f"\nprofiling the server with py-spy{' --gil' if gil else ''} during "
                        f"Get-Mailbox -ResultSize {args.profile_size:,} on {big_org} ...",
                        flush=True,
                    )
                    wait_for_quiet(server)
                    profiles.append(profile_run(server, big_org, args.profile_size, RESULTS_DIR, gil=gil))
        problems = server.log_problems()
    server.cleanup()

    # ------------------------------------------------------------------ report
    print_table(
        "Server streaming, Get-Mailbox -ResultSize Unlimited (raw client, messages counted not deserialised)",
        [
            "tenant",
            "mailboxes",
            "best mbx/s",
            "median mbx/s",
            "best MB/s",
            "median MB/s",
            "KB/mbx",
            "srv CPU",
            "cli CPU",
            "others",
            "1st obj ms",
        ],
        [
            [
                s["tenant"],
                s["mailboxes"],
                s["best_mailboxes_per_s"],
                s["median_mailboxes_per_s"],
                s["best_payload_mb_per_s"],
                s["median_payload_mb_per_s"],
                s["bytes_per_mailbox"] / 1000,
                f"{statistics.median(r['server_cpu_util'] for r in s['runs']):.0%}",
                f"{statistics.median(r['client_cpu_s'] / r['seconds'] for r in s['runs']):.0%}",
                f"{statistics.median(r['other_cores'] for r in s['runs']):.0%}",
                statistics.median(r["first_output_ms"] for r in s["runs"]),
            ]
            for s in streaming
        ],
    )
    print_table(
        "Per Receive round trip (medians over the runs; the client keeps one Receive outstanding, as pypsrp does)",
        ["tenant", "receives", "mbx/receive", "wall ms", "server CPU ms", "client CPU ms", "srv CPU µs/mbx"],
        [
            [
                s["tenant"],
                s["runs"][0]["receives"],
                s["runs"][0]["mailboxes_per_receive"],
                statistics.median(r["ms_per_receive"] for r in s["runs"]),
                statistics.median(r["server_cpu_ms_per_receive"] for r in s["runs"]),
                statistics.median(r["client_cpu_ms_per_receive"] for r in s["runs"]),
                statistics.median(r["server_cpu_us_per_mailbox"] for r in s["runs"]),
            ]
            for s in streaming
        ],
    )
    print(
        f"  Receive round trip with the server's worker idle (outbox pre-filled): "
        f"{latency['receive_ms_worker_idle_median']:.2f} ms; while it produces: "
        f"{latency['receive_ms_worker_producing_median']:.2f} ms; client's own gap between Receives "
        f"{latency['client_gap_ms_median']:.2f} ms; response {latency['response_bytes_median']:,.0f} bytes"
    )
    if concurrency:
        print_table(
            "Supplementary: concurrent streams (aggregate)",
            ["tenant", "sessions", "best agg mbx/s", "median agg mbx/s", "srv CPU"],
            [
                [
                    concurrency["tenant"],
                    concurrency["sessions"],
                    concurrency["best_aggregate_mailboxes_per_s"],
                    concurrency["median_aggregate_mailboxes_per_s"],
                    f"{statistics.median(r['server_cpu_util'] for r in concurrency['runs']):.0%}",
                ]
            ],
        )
    print_table(
        f"Serialisation routes per object (sample of {args.sample} mailboxes, this process, one thread)",
        [
            "tenant",
            "generic µs",
            "generic obj/s",
            "fast µs",
            "fast obj/s",
            "fast/generic",
            "fetch µs",
            "make µs",
            "ceiling obj/s",
        ],
        [
            [
                r["tenant"],
                r["generic_us_per_object"],
                r["generic_objects_per_s"],
                r["fast_us_per_object"],
                r["fast_objects_per_s"],
                r["fast_over_generic"],
                r["store_fetch_us_per_row"],
                r["make_us_per_object"],
                r["in_process_ceiling_per_s"],
            ]
            for r in routes
        ],
    )
    verdict_rows = []
    for s, r in zip(streaming, routes, strict=True):
        ratio = s["best_mailboxes_per_s"] / r["generic_objects_per_s"]
        s["ratio_to_generic_best"] = ratio
        s["ratio_to_generic_median"] = s["median_mailboxes_per_s"] / r["generic_objects_per_s"]
        s["target_rate_met"] = s["best_mailboxes_per_s"] >= TARGET_RATE
        s["target_ratio_met"] = ratio >= TARGET_RATIO
        verdict_rows.append(
            [
                s["tenant"],
                s["best_mailboxes_per_s"],
                f">= {TARGET_RATE:,}",
                "yes" if s["target_rate_met"] else "NO",
                f"{ratio:.1f}x",
                f">= {TARGET_RATIO:.0f}x",
                "yes" if s["target_ratio_met"] else "NO",
            ]
        )
    print_table("Targets", ["tenant", "best mbx/s", "target", "met", "stream/generic", "target", "met"], verdict_rows)
    print(
        f"\nseeding: seed_generated(store, 1, {seeding['generated_mailboxes']:,}) took "
        f"{seeding['seed_generated_s']:.1f} s ({seeding['seed_generated_mailboxes_per_s']:,.0f} mailboxes/s)"
    )
    for p in profiles:
        print_profile(
            f"py-spy, {p['mode']}, during {p['objects']:,} mailboxes at {p['mailboxes_per_s_while_profiled']:,.0f}/s",
            p,
        )
    write_results(
        NAME,
        {
            "parameters": vars(args),
            "targets": {"mailboxes_per_s": TARGET_RATE, "ratio_to_generic": TARGET_RATIO},
            "seeding": seeding,
            "streaming": streaming,
            "concurrent_streams": concurrency,
            "receive_latency": latency,
            "serialisation_routes": routes,
            "profiles": profiles,
        },
        started=started,
        problems=problems,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
