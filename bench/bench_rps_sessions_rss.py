"""Memory of idle sessions: the server's RSS before and after opening 100 sessions, and after closing.

    .venv/bin/python bench/bench_rps_sessions_rss.py [--sessions 100] [--rounds 4]

The server runs in a separate process (``bench/_server.py``, demo world) with the per-account
session cap raised to ``2 * --sessions`` (Exchange's default is 3). The raw client
(``_common.RawClient``: Create + pool Receive until RUNSPACEPOOL_STATE Opened) opens the sessions
one after another on one keep-alive connection, as the partner admin to contoso, and leaves them
idle. RSS is ``VmRSS`` from ``/proc/<pid>/status`` of the server process.

Pass 1 (RSS): after start-up; after one warm-up session (opened, one Get-Mailbox, closed: one-time
costs such as imports, worker threads and caches); every 10 sessions while opening; with all open
(+1 s settle); after closing all. Then ``--rounds - 1`` more rounds of open-all/close-all show
whether RSS keeps growing (a leak) or levels off (allocator and cache warm-up).
KiB per idle session = (RSS with all open - RSS after warm-up) / sessions, first round. Target: < 200 KiB.

Pass 2 (a second server with ``tracemalloc``, so slower and not for RSS): Python heap in use
(after a gc) after warm-up, with all sessions open and after closing them: the Python objects an
idle session holds, without allocator effects.
"""

from __future__ import annotations

import argparse
import sys
import time

from _common import (
    RawClient,
    ServerProcess,
    print_table,
    proc_status_kib,
    proc_threads,
    write_results,
)

NAME = "bench_rps_sessions_rss"
TARGET_KIB = 200.0
ORG = "contoso.onmicrosoft.com"


def warm_up(client: RawClient) -> None:
    session = client.open_session()
    session.run("Get-Mailbox", {"ResultSize": 5})
    session.delete()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    n = args.sessions

    started = time.perf_counter()
    print(f"pass 1: server (demo world, max {2 * n} sessions per account), RSS ...", flush=True)
    with ServerProcess(max_sessions=2 * n) as server:
        pid = server.pid
        points: list[dict[str, object]] = []

        def mark(label: str, sessions: int) -> int:
            time.sleep(1.0)
            rss = server.rss_kib()
            points.append(
                {
                    "label": label,
                    "open_sessions": sessions,
                    "rss_kib": rss,
                    "hwm_kib": proc_status_kib(pid, "VmHWM"),
                    "threads": proc_threads(pid),
                }
            )
            return rss

        rss_start = mark("after start-up", 0)
        with RawClient(server, ORG) as client:
            warm_up(client)
            rss_warm = mark("after one warm-up session (opened, one Get-Mailbox, closed)", 0)

            curve = []
            rounds = []
            open_s = 0.0
            for r in range(args.rounds):
                sessions = []
                t0 = time.perf_counter()
                for i in range(n):
                    sessions.append(client.open_session())
                    if r == 0 and (i + 1) % 10 == 0 and i + 1 < n:
                        curve.append({"open_sessions": i + 1, "rss_kib": server.rss_kib()})
                if r == 0:
                    open_s = time.perf_counter() - t0
                rss_open = mark(f"round {r + 1}: {n} idle sessions open", n)
                for s in sessions:
                    s.delete()
                rss_closed = mark(f"round {r + 1}: all {n} closed", 0)
                rounds.append({"round": r + 1, "rss_open_kib": rss_open, "rss_closed_kib": rss_closed})
                if r == 0:
                    curve.append({"open_sessions": n, "rss_kib": rss_open})
        problems = server.log_problems()
    server.cleanup()

    print("pass 2: server with tracemalloc, Python heap ...", flush=True)
    with ServerProcess(max_sessions=2 * n, tracemalloc=True) as traced:
        with RawClient(traced, ORG) as client:
            warm_up(client)
            heap_warm = traced.traced_bytes()
            sessions = [client.open_session() for _ in range(n)]
            heap_open = traced.traced_bytes()
            for s in sessions:
                s.delete()
            heap_closed = traced.traced_bytes()
        problems += traced.log_problems()
    traced.cleanup()

    first = rounds[0]
    per_session = (first["rss_open_kib"] - rss_warm) / n
    retained = (first["rss_closed_kib"] - rss_warm) / n
    heap_per_session = (heap_open - heap_warm) / n / 1024
    heap_retained = (heap_closed - heap_warm) / n / 1024
    print_table(
        f"Server RSS (VmRSS of pid {pid})",
        ["point", "open sessions", "RSS KiB", "HWM KiB", "threads"],
        [[p["label"], p["open_sessions"], p["rss_kib"], p["hwm_kib"], p["threads"]] for p in points],
    )
    print_table(
        "RSS while opening (round 1)",
        ["open sessions", "RSS KiB", "KiB above warm-up"],
        [[c["open_sessions"], c["rss_kib"], c["rss_kib"] - rss_warm] for c in curve],
    )
    print_table(
        "Per idle session",
        ["measure", "KiB/session", "target", "met"],
        [
            [
                f"RSS: (all {n} open - after warm-up) / {n}, round 1",
                per_session,
                f"< {TARGET_KIB:.0f}",
                "yes" if per_session < TARGET_KIB else "NO",
            ],
            [f"RSS: (all {n} closed - after warm-up) / {n}, round 1", retained, "", ""],
            [f"Python heap (tracemalloc): (all {n} open - after warm-up) / {n}", heap_per_session, "", ""],
            [f"Python heap (tracemalloc): (all {n} closed - after warm-up) / {n}", heap_retained, "", ""],
        ],
    )
    closed_list = ", ".join(f"{r['rss_closed_kib']:,}" for r in rounds)
    print(
        f"\nopening {n} sessions took {open_s:.2f} s ({open_s / n * 1000:.1f} ms each); "
        f"start-up RSS {rss_start:,} KiB; RSS after each round's close: {closed_list} KiB"
    )
    write_results(
        NAME,
        {
            "parameters": vars(args),
            "target_kib_per_session": TARGET_KIB,
            "kib_per_idle_session": per_session,
            "target_met": per_session < TARGET_KIB,
            "rss_retained_after_close_kib_per_session": retained,
            "python_heap_kib_per_idle_session": heap_per_session,
            "python_heap_retained_after_close_kib_per_session": heap_retained,
            "python_heap_bytes": {"after_warm_up": heap_warm, "all_open": heap_open, "all_closed": heap_closed},
            "rss_start_kib": rss_start,
            "rss_warm_kib": rss_warm,
            "rounds": rounds,
            "points": points,
            "curve": curve,
            "open_seconds": open_s,
        },
        started=started,
        problems=problems,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
