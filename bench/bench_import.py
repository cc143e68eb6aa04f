"""Times the toolkit's Import-PSSession equivalent: cold (from the server) and cached (from disk).

    .venv/bin/python bench/bench_import.py [--rounds N]

Starts a private server (``_common.ServerProcess``), opens one toolkit session in contoso as the
partner admin and times :func:`aobo.toolkit.importer.import_commands` for every command:

* cold: ``refresh=True`` (one GET_COMMAND_METADATA pipeline, one ``Get-Command -Syntax`` pipeline,
  parsing, writing the JSON cache), and each of the two pipelines alone;
* cached, in the same process (the cache file read and parsed, the namespace built);
* cached, first import in a fresh Python process (nothing warm but the OS file cache);
* the first call of a function from a cached namespace (its signature and docstring are built lazily).

p50 of N rounds each (default 10). Target (issue 4): cached import under 50 ms.
Results go to ``bench/results/bench_import.json``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PARTNER_ADMIN, PASSWORD, ROOT, ServerProcess, print_table, summary_ms, write_results

NAME = "bench_import"
ORG = "contoso.onmicrosoft.com"

FRESH_PROCESS = textwrap.dedent(
    """
    import sys, time
    from aobo.toolkit.credential import Credential
    from aobo.toolkit.importer import import_commands
    from aobo.toolkit.session import connect
    url, ca, cache, user, password, org = sys.argv[1:7]
    with connect(org, Credential(user, password), url, ca_file=ca) as s:
        t = time.perf_counter()
        ns = import_commands(s, cache_dir=cache, progress=False)
        print(time.perf_counter() - t, ns.from_cache, len(ns))
    """
)


def timed(fn: Any, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    started = time.perf_counter()

    import psrpcore

    from aobo.toolkit.credential import Credential
    from aobo.toolkit.importer import import_commands
    from aobo.toolkit.session import connect

    results: dict[str, Any] = {"rounds": args.rounds}
    with ServerProcess() as server, tempfile.TemporaryDirectory(prefix="aobo-import-") as cache:
        url = f"{server.base_url}/powershell-liveid"
        cred = Credential(PARTNER_ADMIN, PASSWORD)
        with connect(ORG, cred, url, ca_file=server.ca_file) as session:
            import_commands(session, cache_dir=cache, progress=False, refresh=True)  # warm-up (imports, TLS)
            cold = timed(lambda: import_commands(session, cache_dir=cache, progress=False, refresh=True), args.rounds)
            gcm = timed(
                lambda: list(session.stream_pipeline(lambda pool: psrpcore.ClientGetCommandMetadata(pool, ["*"]))),
                args.rounds,
            )
            syntax = timed(lambda: session.invoke("Get-Command", Name=["*"], Syntax=True), args.rounds)
            cached = timed(lambda: import_commands(session, cache_dir=cache, progress=False), args.rounds)
            ns = import_commands(session, cache_dir=cache, progress=False)
            assert ns.from_cache
            commands = len(ns)
            cache_bytes = ns.cache_path.stat().st_size if ns.cache_path else 0

            first_fn = []
            for _ in range(args.rounds):
                fresh_ns = import_commands(session, cache_dir=cache, progress=False)
                t = time.perf_counter()
                _ = fresh_ns.set_mailbox  # built on first access: binder, signature, docstring
                first_fn.append(time.perf_counter() - t)

        fresh: list[float] = []
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        for _ in range(args.rounds):
            out = subprocess.run(
                [sys.executable, "-c", FRESH_PROCESS, url, server.ca_file, cache, PARTNER_ADMIN, PASSWORD, ORG],
                capture_output=True,
                text=True,
                env=env,
                check=True,
                timeout=120,
            ).stdout.split()
            assert out[1] == "True", out
            fresh.append(float(out[0]))
        problems = server.log_problems()

    rows = [
        ("cold import (refresh=True): both pipelines + parse + write", summary_ms(cold)),
        ("  GET_COMMAND_METADATA pipeline alone", summary_ms(gcm)),
        ("  Get-Command -Syntax pipeline alone", summary_ms(syntax)),
        ("cached import, same process", summary_ms(cached)),
        ("cached import, first in a fresh process", summary_ms(fresh)),
        ("first access of ns.set_mailbox (built lazily)", summary_ms(first_fn)),
    ]
    print(f"\n{commands} commands; cache file {cache_bytes:,} bytes")
    print_table(
        f"import_commands, every command (n={args.rounds})",
        ["what", "p50 ms", "p95 ms", "min ms", "max ms"],
        [(name, s["p50_ms"], s["p95_ms"], s["min_ms"], s["max_ms"]) for name, s in rows],
    )
    target = summary_ms(fresh)["p50_ms"] < 50 and summary_ms(cached)["p50_ms"] < 50
    print(f"\ncached import under 50 ms: {'yes' if target else 'NO'}")
    results |= {
        "commands": commands,
        "cache_bytes": cache_bytes,
        "cold": summary_ms(cold),
        "get_command_metadata": summary_ms(gcm),
        "get_command_syntax": summary_ms(syntax),
        "cached_same_process": summary_ms(cached),
        "cached_fresh_process": summary_ms(fresh),
        "first_function_access": summary_ms(first_fn),
        "target_cached_under_50ms": target,
    }
    write_results(NAME, results, started=started, problems=problems)
    return 0


if __name__ == "__main__":
    sys.exit(main())
