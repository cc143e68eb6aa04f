"""Benchmark server entry: a private aobo server in its own process (started by :mod:`_common`).

    python bench/_server.py --data DIR --password PW [--max-sessions N] [--extra-mailboxes N]
                            [--extra-tenants N [--tenant-mailboxes M]] [--tracemalloc]

Opens a SQLite store in DIR, seeds the demo world (and, with ``--extra-mailboxes N``, one more
generated customer ``cust0001.onmicrosoft.com`` of N mailboxes; with ``--extra-tenants N``, N more
generated customers of M mailboxes each, numbered after it; both timed), serves it with
:class:`aobo.server.BackgroundServer` on a free loopback port, prints one line
``READY {json}`` on stdout and serves until its stdin is closed (or SIGTERM/SIGINT).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--max-sessions", type=int, default=3)
    parser.add_argument("--extra-mailboxes", type=int, default=0)
    parser.add_argument("--extra-tenants", type=int, default=0, help="generated customers to add (seed_generated)")
    parser.add_argument("--tenant-mailboxes", type=int, default=50, help="mailboxes of each --extra-tenants customer")
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="trace Python allocations; SIGUSR1 writes the traced size (after gc) to DATA/tracemalloc.json",
    )
    parser.add_argument("--switch-interval", type=float, default=None, help="sys.setswitchinterval (s) for experiments")
    args = parser.parse_args()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)

    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    from aobo.domain.seed import seed_demo, seed_generated
    from aobo.domain.store import Store
    from aobo.server import BackgroundServer
    from aobo.settings import Settings

    info: dict[str, object] = {"pid": os.getpid()}
    settings = Settings(data_dir=args.data, max_sessions_per_user=args.max_sessions)
    store = Store.open(settings.database_url)
    t = time.perf_counter()
    store.migrate()
    info["migrate_s"] = time.perf_counter() - t
    t = time.perf_counter()
    world = seed_demo(store, args.password)
    info["seed_demo_s"] = time.perf_counter() - t
    info["demo_customers"] = [tenant.initial_domain for tenant in world.customers]
    if args.extra_mailboxes:
        t = time.perf_counter()
        tenants = seed_generated(store, 1, args.extra_mailboxes, password=args.password)
        info["seed_generated_s"] = time.perf_counter() - t
        info["generated_tenant"] = tenants[0].initial_domain
        info["generated_mailboxes"] = store.count_mailboxes(tenants[0].id)
    if args.extra_tenants:
        t = time.perf_counter()
        tenants = seed_generated(store, args.extra_tenants, args.tenant_mailboxes, password=args.password)
        info["seed_tenants_s"] = time.perf_counter() - t
        info["extra_tenants"] = [tenant.initial_domain for tenant in tenants]
        info["tenant_mailboxes"] = args.tenant_mailboxes

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    if args.tracemalloc:
        import gc
        import tracemalloc

        tracemalloc.start()

        def report(*_: object) -> None:
            gc.collect()
            current, peak = tracemalloc.get_traced_memory()
            out = args.data / "tracemalloc.json"
            out.with_suffix(".tmp").write_text(json.dumps({"current": current, "peak": peak}))
            out.with_suffix(".tmp").replace(out)

        signal.signal(signal.SIGUSR1, report)

    server = BackgroundServer(settings, store).start()
    try:
        info.update(
            host=server.settings.host,
            port=server.settings.port,
            url=server.url,
            base_url=server.base_url,
            ca_file=str(server.ca_file),
            database_url=settings.database_url,
        )
        print("READY " + json.dumps(info), flush=True)
        # Serve until the parent closes our stdin (or a signal arrives).
        reader = threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True)
        reader.start()
        while not stop.wait(0.2):
            pass
    finally:
        server.stop()
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
