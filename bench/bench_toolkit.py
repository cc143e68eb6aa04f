"""End-to-end ``Get-Mailbox -ResultSize Unlimited`` with the aobo toolkit, pypsrp 0.9.1 and the raw client.

    .venv/bin/python bench/bench_toolkit.py [--mailboxes 100000] [--subset 10000] [--runs 2] [--pypsrp-full]

The server runs in its own process (``bench/_server.py``: the demo world plus one generated customer
``cust0001.onmicrosoft.com`` of ``--mailboxes`` mailboxes, HTTPS with a fresh CA the clients verify).
In one run, on three sizes (fabrikam's 1,500 mailboxes; the first ``--subset`` of the big tenant via
``-ResultSize N``; the whole big tenant), it times the pipeline alone (the session is opened before
the clock starts and closed after it stops) for

* the toolkit's sync facade: ``aobo.toolkit.connect(...).invoke("Get-Mailbox", ResultSize=...)``
  (every Record kept in a list, as a script would);
* the toolkit's async core: ``async for record in session.stream(...)`` (records counted, not kept);
* pypsrp 0.9.1 (``PowerShell(pool).add_cmdlet("Get-Mailbox")...invoke()``), as the e2e tests use it,
  on the two smaller sizes only: at several ms of client CPU per mailbox it would need many minutes
  for 100,000 (``--pypsrp-full`` runs it anyway);
* the raw counting client (``_common.RawClient``: no deserialisation at all) as the ceiling the server
  allows: what any client could reach at best.

For each: objects/s, server and client CPU per object (``CpuMeter``), the client's RSS growth, and the
ratios toolkit/pypsrp and toolkit/raw. To say where the time goes, the CLIXML reader alone
(``aobo.toolkit.clixml.loads`` on the same messages, in process) is timed, and py-spy samples this
process while the toolkit streams the middle workload; its samples are split into the reader,
the WS-Man envelope parse, base64, httpx/TLS, psrpcore and the rest (``--no-profile`` skips it).

Targets (issue 4): >= 10,000 objects/s end to end, >= 10x pypsrp.
Results go to ``bench/results/bench_toolkit.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    PARTNER_ADMIN,
    PASSWORD,
    RESULTS_DIR,
    CpuMeter,
    PySpy,
    RawClient,
    ServerProcess,
    parse_collapsed,
    print_profile,
    print_table,
    proc_status_kib,
    pypsrp_wsman,
    pyspy_path,
    wait_for_quiet,
    write_results,
)

NAME = "bench_toolkit"
TARGET_OBJECTS_PER_S = 10_000
TARGET_RATIO_TO_PYPSRP = 10.0
FABRIKAM = "fabrikam.onmicrosoft.com"
CLIENTS = ("toolkit sync invoke", "toolkit async stream", "pypsrp 0.9.1", "raw client (ceiling)")


@dataclass(frozen=True)
class Size:
    """One workload: a tenant and the ResultSize asked for."""

    label: str
    tenant: str
    result_size: str | int
    expected: int


class Meter:
    """Times one pipeline: wall clock, server/client/other CPU, the client's RSS growth."""

    def __init__(self, server: ServerProcess, size: Size) -> None:
        self.server = server
        self.size = size

    def _result(self, meter: CpuMeter, objects: int, rss_before: int, rss_after: int) -> dict[str, Any]:
        if objects != self.size.expected:
            raise RuntimeError(f"{self.size.label}: got {objects} objects, expected {self.size.expected}")
        n = max(objects, 1)
        return {
            "objects": objects,
            "seconds": meter.wall,
            "objects_per_s": objects / meter.wall,
            "server_cpu_us_per_object": meter.server_cpu / n * 1e6,
            "client_cpu_us_per_object": meter.client_cpu / n * 1e6,
            "client_rss_growth_mib": (rss_after - rss_before) / 1024,
            **meter.as_dict(),
        }

    def measure(self, run: Callable[[], tuple[int, Any]]) -> dict[str, Any]:
        """``run()`` returns (objects, whatever it keeps); RSS is read while that is still alive."""
        gc.collect()
        rss = proc_status_kib(os.getpid(), "VmRSS")
        with CpuMeter(self.server) as meter:
            objects, kept = run()
        after = proc_status_kib(os.getpid(), "VmRSS")
        del kept
        return self._result(meter, objects, rss, after)

    async def measure_async(self, run: Callable[[], Awaitable[int]]) -> dict[str, Any]:
        gc.collect()
        rss = proc_status_kib(os.getpid(), "VmRSS")
        with CpuMeter(self.server) as meter:
            objects = await run()
        return self._result(meter, objects, rss, proc_status_kib(os.getpid(), "VmRSS"))


def credential() -> Any:
    from aobo.toolkit import Credential

    return Credential(PARTNER_ADMIN, PASSWORD)


# ------------------------------------------------------------------------------------------- clients
# Each opens its session, measures the pipeline alone, and closes the session.


def toolkit_sync(server: ServerProcess, size: Size) -> dict[str, Any]:
    from aobo.toolkit import connect

    with connect(size.tenant, credential(), uri=server.info["url"], ca_file=server.ca_file) as session:

        def run() -> tuple[int, Any]:
            result = session.invoke("Get-Mailbox", ResultSize=size.result_size)
            return len(result), result

        return Meter(server, size).measure(run)


def toolkit_async(server: ServerProcess, size: Size) -> dict[str, Any]:
    from aobo.toolkit import open_session

    async def main() -> dict[str, Any]:
        session = await open_session(server.info["url"], credential(), size.tenant, ca_file=server.ca_file)
        async with session:

            async def run() -> int:
                n = 0
                async for _record in session.stream("Get-Mailbox", ResultSize=size.result_size):
                    n += 1
                return n

            return await Meter(server, size).measure_async(run)

    return asyncio.run(main())


def pypsrp_client(server: ServerProcess, size: Size) -> dict[str, Any]:
    from pypsrp.powershell import PowerShell, RunspacePool

    wsman = pypsrp_wsman(server, size.tenant)
    with wsman, RunspacePool(wsman, configuration_name="Microsoft.Exchange") as pool:

        def run() -> tuple[int, Any]:
            ps = PowerShell(pool)
            ps.add_cmdlet("Get-Mailbox").add_parameter("ResultSize", size.result_size)
            ps.invoke()
            if ps.had_errors:
                raise RuntimeError(f"pypsrp: {[str(e) for e in ps.streams.error]}")
            return len(ps.output), ps.output

        return Meter(server, size).measure(run)


def raw_client(server: ServerProcess, size: Size) -> dict[str, Any]:
    with RawClient(server, size.tenant) as client:
        session = client.open_session()
        try:

            def run() -> tuple[int, Any]:
                result = session.run("Get-Mailbox", {"ResultSize": size.result_size})
                if result.final_state != "Completed":
                    raise RuntimeError(f"raw client: the pipeline ended {result.final_state}")
                return result.objects, None

            return Meter(server, size).measure(run)
        finally:
            session.delete()


RUNNERS: dict[str, Callable[[ServerProcess, Size], dict[str, Any]]] = {
    "toolkit sync invoke": toolkit_sync,
    "toolkit async stream": toolkit_async,
    "pypsrp 0.9.1": pypsrp_client,
    "raw client (ceiling)": raw_client,
}


# ------------------------------------------------------------------------------------------- decode split


def decode_cost(server: ServerProcess, tenant: str, repeat: int = 3) -> dict[str, Any]:
    """CPU µs per mailbox of the toolkit's CLIXML reader alone, on the server's own messages for ``tenant``."""
    from aobo.toolkit.clixml import loads

    with RawClient(server, tenant) as client:
        session = client.open_session()
        try:
            payloads = session.run("Get-Mailbox", {"ResultSize": "Unlimited"}, collect=True).outputs
        finally:
            session.delete()
    for payload in payloads[:50]:  # warm: the reader compiles a plan per object shape
        loads(payload)
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for payload in payloads:
            loads(payload)
        best = min(best, time.process_time() - started)
    return {
        "objects": len(payloads),
        "clixml_bytes_per_object": sum(map(len, payloads)) / len(payloads),
        "decode_us_per_object": best / len(payloads) * 1e6,
    }


#: Where a client CPU sample goes: the first of these (from the leaf up) found in its stack.
CLIENT_PARTS = (
    ("CLIXML reader (records)", ("loads (aobo/toolkit/clixml.py",)),
    ("base64 of the Receive streams", ("b64decode (base64.py",)),
    ("WS-Man envelope XML parse", ("fromstring (defusedxml", "parse (aobo/toolkit/wsman.py")),
    ("psrpcore (state, non-output messages)", ("psrpcore/",)),
    ("httpx, h11, TLS, sockets", ("Transport.post (aobo/toolkit/transport.py", "httpx/", "httpcore/", "ssl.py")),
)


def client_split(path: Path) -> dict[str, float]:
    """Share of the client's CPU samples per part of :data:`CLIENT_PARTS` (the rest: event loop, fragments)."""
    counts = dict.fromkeys([name for name, _ in CLIENT_PARTS] + ["event loop, fragments, the rest"], 0)
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        part = next(
            (name for frame in reversed(frames) for name, marks in CLIENT_PARTS if any(m in frame for m in marks)),
            "event loop, fragments, the rest",
        )
        counts[part] += count
    return {name: n / total for name, n in counts.items()} if total else {}


def profile_client(server: ServerProcess, size: Size) -> dict[str, Any]:
    """py-spy on this process while the toolkit streams ``size`` (async): where the client's CPU goes."""
    from aobo.toolkit import open_session

    out = RESULTS_DIR / f"{NAME}.pyspy-client.txt"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)

    async def main() -> None:
        session = await open_session(server.info["url"], credential(), size.tenant, ca_file=server.ca_file)
        async with session:
            spy = PySpy(os.getpid(), out, rate=250)
            try:
                async for _record in session.stream("Get-Mailbox", ResultSize=size.result_size):
                    pass
            finally:
                spy.stop()

    asyncio.run(main())
    return {**parse_collapsed(out, top=25), "split": client_split(out)}


# ------------------------------------------------------------------------------------------- main


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    best = max(runs, key=lambda r: r["objects_per_s"])
    return {**best, "runs": len(runs), "all_objects_per_s": [r["objects_per_s"] for r in runs]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mailboxes", type=int, default=100_000, help="mailboxes of the big generated tenant")
    parser.add_argument("--subset", type=int, default=10_000, help="-ResultSize of the middle workload")
    parser.add_argument("--runs", type=int, default=2, help="runs per toolkit/raw client on fabrikam (best kept)")
    parser.add_argument("--pypsrp-full", action="store_true", help="also run pypsrp on the whole big tenant")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile of the toolkit client")
    args = parser.parse_args()

    started = time.perf_counter()
    print(f"starting server (demo world + 1 tenant of {args.mailboxes:,} mailboxes) ...", flush=True)
    with ServerProcess(extra_mailboxes=args.mailboxes) as server:
        big = str(server.info["generated_tenant"])
        print(f"  seeded {server.info['generated_mailboxes']:,} mailboxes in {server.info['seed_generated_s']:.1f} s")
        sizes = [
            Size("fabrikam 1,500", FABRIKAM, "Unlimited", 1500),
            Size(f"subset {args.subset:,}", big, args.subset, args.subset),
            Size(f"all {args.mailboxes:,}", big, "Unlimited", int(server.info["generated_mailboxes"])),
        ]
        results: dict[str, dict[str, dict[str, Any]]] = {}
        for index, size in enumerate(sizes):
            largest = index == len(sizes) - 1
            results[size.label] = {}
            for client, runner in RUNNERS.items():
                if client == "pypsrp 0.9.1" and largest and not args.pypsrp_full:
                    continue
                runs = []
                for run in range(args.runs if size.expected <= 2000 and client != "pypsrp 0.9.1" else 1):
                    wait_for_quiet(server)
                    print(f"  {size.label}: {client} (run {run + 1}) ...", flush=True)
                    runs.append(runner(server, size))
                    print(
                        f"    {runs[-1]['objects']:,} objects in {runs[-1]['seconds']:.2f} s: "
                        f"{runs[-1]['objects_per_s']:,.0f}/s",
                        flush=True,
                    )
                results[size.label][client] = best_of(runs)
        wait_for_quiet(server)
        print("  decoding alone (toolkit CLIXML reader, in process) ...", flush=True)
        decode = decode_cost(server, FABRIKAM)
        profile = None
        if not args.no_profile and pyspy_path() is not None:
            wait_for_quiet(server)
            print(f"  profiling the toolkit client (py-spy, async stream of {sizes[1].label}) ...", flush=True)
            profile = profile_client(server, sizes[1])
        problems = server.log_problems()
        seeding = {k: server.info.get(k) for k in ("seed_demo_s", "seed_generated_s", "generated_mailboxes")}
    server.cleanup()

    report(results, sizes, decode, profile)
    if profile is not None:
        print_profile(f"toolkit client CPU (py-spy, async stream of {sizes[1].label}, this process)", profile)
    data = {
        "parameters": vars(args),
        "targets": {"objects_per_s": TARGET_OBJECTS_PER_S, "ratio_to_pypsrp": TARGET_RATIO_TO_PYPSRP},
        "seeding": seeding,
        "results": results,
        "ratios": ratios(results),
        "decode": decode,
        "client_profile": profile,
    }
    write_results(NAME, data, started=started, problems=problems)
    return 0


def ratios(results: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for label, by_client in results.items():
        rate = {client: r["objects_per_s"] for client, r in by_client.items()}
        best_toolkit = max(rate["toolkit sync invoke"], rate["toolkit async stream"])
        pypsrp = rate.get("pypsrp 0.9.1")
        out[label] = {
            "toolkit_sync_over_pypsrp": rate["toolkit sync invoke"] / pypsrp if pypsrp else None,
            "toolkit_async_over_pypsrp": rate["toolkit async stream"] / pypsrp if pypsrp else None,
            "toolkit_best_over_raw": best_toolkit / rate["raw client (ceiling)"],
        }
    return out


def report(
    results: dict[str, dict[str, dict[str, Any]]],
    sizes: list[Size],
    decode: dict[str, Any],
    profile: dict[str, Any] | None,
) -> None:
    rows = []
    for size in sizes:
        for client, r in results[size.label].items():
            rows.append(
                [
                    size.label,
                    client,
                    r["objects"],
                    r["seconds"],
                    r["objects_per_s"],
                    r["client_cpu_us_per_object"],
                    r["server_cpu_us_per_object"],
                    r["client_cores"],
                    r["server_cores"],
                    r["other_cores"],
                    r["client_rss_growth_mib"],
                ]
            )
    print_table(
        "Get-Mailbox end to end (pipeline only; best run)",
        [
            "workload",
            "client",
            "objects",
            "s",
            "objects/s",
            "client µs/obj",
            "server µs/obj",
            "client cores",
            "server cores",
            "others",
            "RSS +MiB",
        ],
        rows,
    )
    ratio_rows = []
    for label, r in ratios(results).items():
        ratio_rows.append(
            [
                label,
                "n/a" if r["toolkit_sync_over_pypsrp"] is None else f"{r['toolkit_sync_over_pypsrp']:.1f}x",
                "n/a" if r["toolkit_async_over_pypsrp"] is None else f"{r['toolkit_async_over_pypsrp']:.1f}x",
                f"{r['toolkit_best_over_raw']:.0%}",
            ]
        )
    print_table(
        f"ratios (target: >= {TARGET_RATIO_TO_PYPSRP:.0f}x pypsrp; >= {TARGET_OBJECTS_PER_S:,} objects/s)",
        ["workload", "sync / pypsrp", "async / pypsrp", "toolkit / raw ceiling"],
        ratio_rows,
    )
    largest = results[sizes[-1].label]
    toolkit = largest["toolkit async stream"]
    raw = largest["raw client (ceiling)"]
    client_us = toolkit["client_cpu_us_per_object"]
    rows: list[list[Any]] = [
        ["raw client rate (what the server allows), objects/s", raw["objects_per_s"]],
        ["server CPU µs per object (raw client run)", raw["server_cpu_us_per_object"]],
        ["server-only ceiling (1 core), objects/s", 1e6 / max(raw["server_cpu_us_per_object"], 1e-9)],
        ["toolkit rate (async stream), objects/s", toolkit["objects_per_s"]],
        ["toolkit client CPU µs per object", client_us],
        ["client-only ceiling (1 core), objects/s", 1e6 / max(client_us, 1e-9)],
        ["CLIXML reader alone, in process, µs per object", decode["decode_us_per_object"]],
        ["CLIXML bytes per object", decode["clixml_bytes_per_object"]],
    ]
    if profile is not None and profile.get("split"):
        rows.append([f"client CPU split (py-spy, async stream of {sizes[1].label}):", ""])
        middle_us = results[sizes[1].label]["toolkit async stream"]["client_cpu_us_per_object"]
        for part, share in profile["split"].items():
            rows.append([f"  {part}", f"{share:5.1%}  ~{share * middle_us:4.0f} µs"])
    print_table(f"where the time goes ({sizes[-1].label})", ["quantity", "value"], rows)


if __name__ == "__main__":
    sys.exit(main())
