"""pypsrp's usual loop, a new ``PowerShell(pool)`` per command never closed, for 10,000 commands in
one runspace pool: does it run to the end, and does the server's memory stay flat?

    .venv/bin/python bench/bench_rps_unclosed.py [--commands 10000] [--every 1000]

The server (``bench/_server.py``, demo world, a separate process) is driven by pypsrp 0.9.1 as its
documentation shows it: one ``RunspacePool`` to contoso, then ``PowerShell(pool)`` +
``add_cmdlet("Get-InboxRule").add_parameter("Mailbox", x)`` + ``invoke()`` per mailbox, cycling
through contoso's 40 mailboxes, and no ``close()`` (the audit loop of a business-email-compromise
check). The baseline, in the same run and the same pool first: the same loop closing each pipeline
(``ps.close()``, Signal terminate), as Windows clients do. Reported: commands/s and p50/p95 ms per
command, the server's VmRSS before the loop and every ``--every`` commands, and the RSS growth per
1,000 commands over the second half of each loop (flat means the finished pipelines are not kept).
Retired commands leave a 128-bit tombstone each, up to 1,024 per shell.

Pass 2 (a second server with ``tracemalloc``, slower, not for RSS or speed): the never-closed loop
for ``--heap-commands`` commands, the Python heap in use (after a gc) every ``--every`` commands,
so that allocator effects cannot hide a per-command leak.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from _common import ServerProcess, print_table, pypsrp_wsman, summary_ms, wait_for_quiet, write_results

NAME = "bench_rps_unclosed"
ORG = "contoso.onmicrosoft.com"


def loop(
    server: ServerProcess, pool: Any, mailboxes: list[str], n: int, every: int, close: bool, heap: bool = False
) -> dict[str, Any]:
    from pypsrp.powershell import PowerShell

    def memory() -> int:
        return server.traced_bytes() // 1024 if heap else server.rss_kib()

    wait_for_quiet(server)
    rss = [{"commands": 0, "rss_kib": memory()}]
    times = []
    t0 = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-InboxRule").add_parameter("Mailbox", mailboxes[i % len(mailboxes)])
        ps.invoke()
        if ps.had_errors:
            raise RuntimeError(f"command {i}: {[str(e) for e in ps.streams.error]}")
        if close:
            ps.close()
        times.append(time.perf_counter() - t)
        if (i + 1) % every == 0:
            rss.append({"commands": i + 1, "rss_kib": memory()})
            what = "Python heap" if heap else "RSS"
            label = "closed" if close else "never closed"
            print(f"  {label}: {i + 1:,} commands, {what} {rss[-1]['rss_kib']:,} KiB", flush=True)
    wall = time.perf_counter() - t0
    half = [p for p in rss if p["commands"] >= n // 2]
    growth = (half[-1]["rss_kib"] - half[0]["rss_kib"]) / max(1, (half[-1]["commands"] - half[0]["commands"])) * 1000
    return {
        "close": close,
        "commands": n,
        "seconds": wall,
        "commands_per_s": n / wall,
        "ms": summary_ms(times),
        "rss": rss,
        "rss_growth_kib_per_1000_second_half": growth,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=1_000)
    parser.add_argument("--heap-commands", type=int, default=6_000)
    args = parser.parse_args()
    started = time.perf_counter()

    from pypsrp.powershell import PowerShell, RunspacePool

    def mailboxes_of(pool: Any) -> list[str]:
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-Mailbox").add_parameter("ResultSize", "Unlimited")
        found = [str(m.extended_properties["PrimarySmtpAddress"]) for m in ps.invoke()]
        ps.close()
        return found

    print("pass 1: RSS and speed ...", flush=True)
    with ServerProcess() as server:
        rss_start = server.rss_kib()
        wsman = pypsrp_wsman(server, ORG)
        with wsman, RunspacePool(wsman, configuration_name="Microsoft.Exchange") as pool:
            mailboxes = mailboxes_of(pool)
            closed = loop(server, pool, mailboxes, args.commands, args.every, close=True)
            unclosed = loop(server, pool, mailboxes, args.commands, args.every, close=False)
        rss_end = server.rss_kib()
        problems = server.log_problems()

    print("pass 2: Python heap (tracemalloc) ...", flush=True)
    with ServerProcess(tracemalloc=True) as traced:
        wsman = pypsrp_wsman(traced, ORG)
        with wsman, RunspacePool(wsman, configuration_name="Microsoft.Exchange") as pool:
            heap = loop(traced, pool, mailboxes_of(pool), args.heap_commands, args.every, close=False, heap=True)
        problems += traced.log_problems()

    print_table(
        f"{args.commands:,} x Get-InboxRule -Mailbox x in one pool, pypsrp 0.9.1",
        ["pipelines", "commands/s", "p50 ms", "p95 ms", "RSS before KiB", "RSS after KiB", "KiB per 1,000 (2nd half)"],
        [
            [
                "closed (baseline)" if r["close"] else "never closed",
                f"{r['commands_per_s']:,.0f}",
                f"{r['ms']['p50_ms']:.2f}",
                f"{r['ms']['p95_ms']:.2f}",
                f"{r['rss'][0]['rss_kib']:,}",
                f"{r['rss'][-1]['rss_kib']:,}",
                f"{r['rss_growth_kib_per_1000_second_half']:+.0f}",
            ]
            for r in (closed, unclosed)
        ],
    )
    print(f"\nserver RSS: {rss_start:,} KiB at start, {rss_end:,} KiB at the end", flush=True)
    print_table(
        f"Python heap of a second server (tracemalloc), {args.heap_commands:,} never-closed commands",
        ["commands", "heap KiB"],
        [[f"{p['commands']:,}", f"{p['rss_kib']:,}"] for p in heap["rss"]],
    )
    print(f"heap growth per 1,000 commands, second half: {heap['rss_growth_kib_per_1000_second_half']:+.1f} KiB")
    write_results(
        NAME,
        {
            "closed": closed,
            "unclosed": unclosed,
            "rss_start_kib": rss_start,
            "rss_end_kib": rss_end,
            "heap_unclosed": heap,
        },
        started=started,
        problems=problems,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
