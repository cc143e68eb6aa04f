"""What Windows PowerShell's default stream compression costs: the 100,000-mailbox Get-Mailbox
stream with and without xpress framing, in one run.

    .venv/bin/python bench/bench_rps_xpress.py [--mailboxes 100000] [--runs 3]

Windows PowerShell asks for xpress compression in every Create unless ``-NoCompression`` is given;
aobo then frames every ReceiveResponse stream as stored blocks (MS-WSMV <134>: a 4-byte header per
64 KiB, the data as is). The server (``bench/_server.py``, a separate process) gets the demo world
plus one generated customer of ``--mailboxes`` mailboxes; the raw counting client
(``_common.RawClient``, the server's ceiling) streams ``Get-Mailbox -ResultSize Unlimited`` from
it in two sessions, one created without and one with the ``CompressionType`` header, alternating
plain / xpress for ``--runs`` rounds after a warm-up of each; the xpress client unframes every
stream with aobo's decoder before counting. Reported: mailboxes/s (best and median), server CPU
per mailbox, wire bytes, and the framing overhead (plain best / xpress best - 1).

Target (project issue): framing overhead under 5%.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from _common import CpuMeter, RawClient, ServerProcess, print_table, wait_for_quiet, write_results

NAME = "bench_rps_xpress"
TARGET_OVERHEAD = 0.05


def one_run(session: Any, server: ServerProcess, expected: int) -> dict[str, Any]:
    wait_for_quiet(server)
    with CpuMeter(server) as meter:
        r = session.run("Get-Mailbox", {"ResultSize": "Unlimited"})
    if r.objects != expected or r.final_state != "Completed":
        raise RuntimeError(f"got {r.objects} objects, state {r.final_state}")
    return {
        "seconds": r.seconds,
        "mailboxes_per_s": r.objects / r.seconds,
        "payload_bytes": r.payload_bytes,
        "wire_bytes": r.wire_bytes,
        "receives": r.receives,
        "server_cpu_us_per_mailbox": meter.server_cpu / r.objects * 1e6,
        "client_cpu_us_per_mailbox": meter.client_cpu / r.objects * 1e6,
        "other_cores": meter.other_cpu / r.seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mailboxes", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    org = "cust0001.onmicrosoft.com"
    print(f"server: demo world + {args.mailboxes:,} mailboxes in {org} ...", flush=True)
    with ServerProcess(extra_mailboxes=args.mailboxes) as server:
        org = server.info.get("generated_tenant", org)
        runs: dict[str, list[dict[str, Any]]] = {"plain": [], "xpress": []}
        with RawClient(server, org) as plain_client, RawClient(server, org, compress=True) as xpress_client:
            sessions = {"plain": plain_client.open_session(), "xpress": xpress_client.open_session()}
            for session in sessions.values():
                session.run("Get-Mailbox", {"ResultSize": "2000"})  # warm-up
            for i in range(args.runs):
                for mode in ("plain", "xpress"):
                    r = one_run(sessions[mode], server, args.mailboxes)
                    runs[mode].append(r)
                    print(
                        f"  round {i + 1} {mode:6}: {r['mailboxes_per_s']:,.0f} mailboxes/s, "
                        f"server {r['server_cpu_us_per_mailbox']:.1f} us/mailbox, {r['wire_bytes'] / 1e6:.1f} MB "
                        f"on the wire, others {r['other_cores']:.0%}",
                        flush=True,
                    )
            for session in sessions.values():
                session.delete()
        problems = server.log_problems()

    summary = {}
    for mode, results in runs.items():
        rates = [r["mailboxes_per_s"] for r in results]
        summary[mode] = {
            "best_mailboxes_per_s": max(rates),
            "median_mailboxes_per_s": statistics.median(rates),
            "server_cpu_us_per_mailbox_median": statistics.median(r["server_cpu_us_per_mailbox"] for r in results),
            "wire_bytes": results[0]["wire_bytes"],
            "payload_bytes": results[0]["payload_bytes"],
        }
    overhead = summary["plain"]["best_mailboxes_per_s"] / summary["xpress"]["best_mailboxes_per_s"] - 1
    median_overhead = summary["plain"]["median_mailboxes_per_s"] / summary["xpress"]["median_mailboxes_per_s"] - 1
    wire = summary["xpress"]["wire_bytes"] / summary["plain"]["wire_bytes"] - 1
    print_table(
        f"Get-Mailbox -ResultSize Unlimited, {args.mailboxes:,} mailboxes, raw counting client",
        ["mode", "best /s", "median /s", "server us/mailbox", "wire MB"],
        [
            [
                mode,
                f"{s['best_mailboxes_per_s']:,.0f}",
                f"{s['median_mailboxes_per_s']:,.0f}",
                f"{s['server_cpu_us_per_mailbox_median']:.1f}",
                f"{s['wire_bytes'] / 1e6:.1f}",
            ]
            for mode, s in summary.items()
        ],
    )
    verdict = "meets" if overhead < TARGET_OVERHEAD else "misses"
    print(
        f"\nxpress framing overhead: {overhead:+.1%} (best), {median_overhead:+.1%} (median); wire bytes "
        f"{wire:+.3%}; {verdict} the < {TARGET_OVERHEAD:.0%} target",
        flush=True,
    )
    write_results(
        NAME,
        {
            "mailboxes": args.mailboxes,
            "runs": runs,
            "summary": summary,
            "overhead_best": overhead,
            "overhead_median": median_overhead,
            "wire_growth": wire,
            "target_overhead": TARGET_OVERHEAD,
        },
        started=started,
        problems=problems,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
