"""The REST JSON of full mailboxes, in process: encoding on the service, parsing on the client.

    .venv/bin/python bench/bench_rest_json.py [--repeat 5]

The 1500 seeded ``fabrikam.onmicrosoft.com`` mailboxes (237 properties each) are built by the
engine's ``Get-Mailbox``, then, per mailbox (best of ``--repeat``):

* **build**: the engine's ``Get-Mailbox -ResultSize Unlimited`` itself (rows read, objects built);
* **encode**: the service's writer (:class:`aobo.frontends.rest.values.JsonWriter`, orjson) against
  the reference it is tested equal to (``dumps_plain``: the standard library's ``json.dumps`` of a
  plain conversion), on pages of 1000;
* **parse**: one page as the client reads it, ``json.loads`` against ``orjson.loads`` (the toolkit's);
* **records**: the toolkit building its ``Record``s from the parsed page (``restwire.parse_page``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from _common import write_results
from aobo.cmdlets.access import open_scope
from aobo.cmdlets.catalog import default_registry
from aobo.cmdlets.context import CmdletContext
from aobo.cmdlets.pipeline import CommandInvocation, run_pipeline
from aobo.domain.seed import seed_demo
from aobo.domain.store import Store
from aobo.frontends.rest.values import JsonWriter, dumps_plain
from aobo.toolkit.restwire import parse_page

ORG = "fabrikam.onmicrosoft.com"


def mailboxes(store: Store) -> list[Any]:
    user = store.find_user("admin@northwindit.onmicrosoft.com")
    assert user is not None
    scope = open_scope(store, user, ORG)
    ctx = CmdletContext(store, scope.caller, scope.caller_tenant, scope.tenant, scope.roles)
    command = CommandInvocation("Get-Mailbox", [("ResultSize", "Unlimited")])
    return [o for o in run_pipeline(ctx, default_registry(), [command]) if hasattr(o, "shape")]


def best(repeat: int, fn: Any) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'aobo.db'}")
        store.migrate()
        seed_demo(store, "Bench-Pass-2026!")
        objects = mailboxes(store)
        built = best(args.repeat, lambda: mailboxes(store)) / len(objects) * 1e6
        store.close()
    page = objects[:1000]
    n = len(page)
    writer = JsonWriter()
    writer.dumps({"value": page})  # per-shape preparation out of the timing
    body = writer.dumps({"value": page})
    payload = orjson.loads(body)
    results = {
        "mailboxes_per_page": n,
        "json_bytes_per_mailbox": len(body) / n,
        "build_us_engine": built,
        "encode_us_orjson_writer": best(args.repeat, lambda: writer.dumps({"value": page})) / n * 1e6,
        "encode_us_json_dumps_reference": best(args.repeat, lambda: dumps_plain({"value": page})) / n * 1e6,
        "parse_us_json_loads": best(args.repeat, lambda: json.loads(body)) / n * 1e6,
        "parse_us_orjson_loads": best(args.repeat, lambda: orjson.loads(body)) / n * 1e6,
        "records_us_toolkit": best(args.repeat, lambda: parse_page(orjson.loads(body), "Get-Mailbox")) / n * 1e6
        - best(args.repeat, lambda: orjson.loads(body)) / n * 1e6,
    }
    assert payload["value"][0]["Name"] == page[0]["Name"]
    for key, value in results.items():
        print(f"  {key:32} {value:10.1f}")
    write_results("bench_rest_json", results, started=started, problems=[])


if __name__ == "__main__":
    main()
