"""The REST admin API (InvokeCommand) beside remote PowerShell (PSRP), in the same run.

    .venv/bin/python bench/bench_rest.py [--mailboxes 100000] [--roundtrips 300] [--page-size 1000]

The server runs in its own process (``bench/_server.py``: the demo world plus one generated customer
``cust0001.onmicrosoft.com`` of ``--mailboxes`` mailboxes, HTTPS with a fresh CA the clients verify).
The partner admin gets an access token for that customer from the server's identity endpoint
(password grant, as msal's ``acquire_token_by_username_password`` sends it). Then:

* **Round trip**: ``Get-Mailbox -Identity <one mailbox>``, ``--roundtrips`` times after a warm-up,
  p50/p95/p99: REST (httpx, one kept-alive HTTPS connection, ``Authorization: Bearer``; the response
  parsed with ``json.loads``) and PSRP (the toolkit's ``aobo.connect(...).invoke``, session opened
  before the clock starts).
* **Paged listing**: ``Get-Mailbox -ResultSize Unlimited`` over the whole generated tenant: REST pages
  of ``--page-size`` (``Prefer: odata.maxpagesize``), each page read and parsed with ``json.loads``
  by an httpx client following ``@odata.nextLink`` (GET), and the same pages read without parsing
  (the server's ceiling); PSRP with the toolkit's async stream (records counted) and the raw counting
  client (``_common.RawClient``, no deserialisation). Objects/s, server and client CPU per object.
  Every REST run checks that each mailbox came exactly once.

Targets (the REST issue): round trip p50 <= 5 ms; paged JSON >= 30,000 objects/s end to end.
Results go to ``bench/results/bench_rest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    PARTNER_ADMIN,
    PASSWORD,
    CpuMeter,
    RawClient,
    ServerProcess,
    print_table,
    summary_ms,
    wait_for_quiet,
    write_results,
)

NAME = "bench_rest"
TARGET_P50_MS = 5.0
TARGET_OBJECTS_PER_S = 30_000
CLIENT_ID = "fb78d390-0c51-40cd-8e17-fdbfab77341b"


def token_for(server: ServerProcess, tenant: str) -> str:
    with httpx.Client(verify=ssl.create_default_context(cafile=server.ca_file), trust_env=False) as client:
        response = client.post(
            f"{server.base_url}/{tenant}/oauth2/v2.0/token",
            data={
                "grant_type": "password",
                "client_id": CLIENT_ID,
                "username": PARTNER_ADMIN,
                "password": PASSWORD,
                "scope": "https://outlook.office365.com/.default",
            },
        )
        response.raise_for_status()
        return str(response.json()["access_token"])


def rest_client(server: ServerProcess) -> httpx.Client:
    return httpx.Client(
        base_url=server.base_url,
        verify=ssl.create_default_context(cafile=server.ca_file),
        trust_env=False,
        timeout=120,
    )


def invoke_body(cmdlet: str, **parameters: Any) -> bytes:
    return json.dumps({"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters}}).encode()


# ------------------------------------------------------------------------------------------- round trip


def rest_roundtrips(server: ServerProcess, tenant: str, token: str, identity: str, n: int) -> dict[str, Any]:
    body = invoke_body("Get-Mailbox", Identity=identity)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    url = f"/adminapi/beta/{tenant}/InvokeCommand"
    times = []
    with rest_client(server) as client:
        for _ in range(20):
            client.post(url, content=body, headers=headers).raise_for_status()
        wait_for_quiet(server)
        with CpuMeter(server) as meter:
            for _ in range(n):
                t0 = time.perf_counter()
                response = client.post(url, content=body, headers=headers)
                value = json.loads(response.content)["value"]
                times.append(time.perf_counter() - t0)
                if response.status_code != 200 or len(value) != 1:
                    raise RuntimeError(f"REST round trip failed: {response.status_code} {response.text[:300]}")
    return {**summary_ms(times), **meter.as_dict()}


def psrp_roundtrips(server: ServerProcess, tenant: str, identity: str, n: int) -> dict[str, Any]:
    from aobo.toolkit import Credential, connect

    times = []
    with connect(tenant, Credential(PARTNER_ADMIN, PASSWORD), uri=server.info["url"], ca_file=server.ca_file) as s:
        for _ in range(20):
            s.invoke("Get-Mailbox", Identity=identity)
        wait_for_quiet(server)
        with CpuMeter(server) as meter:
            for _ in range(n):
                t0 = time.perf_counter()
                result = s.invoke("Get-Mailbox", Identity=identity)
                times.append(time.perf_counter() - t0)
                if len(result) != 1:
                    raise RuntimeError(f"PSRP round trip returned {len(result)} objects")
    return {**summary_ms(times), **meter.as_dict()}


# ------------------------------------------------------------------------------------------- paged listing


def rest_pages(
    server: ServerProcess, tenant: str, token: str, page_size: int, expected: int, *, parse: bool
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}", "Prefer": f"odata.maxpagesize={page_size}"}
    body = invoke_body("Get-Mailbox", ResultSize="Unlimited")
    objects = pages = wire = 0
    guids: set[str] = set()
    with rest_client(server) as client, CpuMeter(server) as meter:
        response = client.post(f"/adminapi/beta/{tenant}/InvokeCommand", content=body, headers=headers)
        while True:
            if response.status_code != 200:
                raise RuntimeError(f"page {pages}: {response.status_code} {response.text[:300]}")
            content = response.content
            wire += len(content)
            pages += 1
            if parse:
                page = json.loads(content)
                value = page["value"]
                objects += len(value)
                guids.update(m["Guid"] for m in value)
                link = page.get("@odata.nextLink")
            else:
                # The ceiling: bytes read, the link found without parsing the page.
                objects += content.count(b'"ExchangeGuid":')
                at = content.rfind(b'"@odata.nextLink":"')
                link = content[at + 19 : content.index(b'"', at + 19)].decode() if at >= 0 else None
            if not link:
                break
            response = client.get(link, headers=headers)
    if objects != expected or (parse and len(guids) != expected):
        raise RuntimeError(f"REST paging returned {objects} objects ({len(guids)} distinct), expected {expected}")
    return {
        "objects": objects,
        "pages": pages,
        "seconds": meter.wall,
        "objects_per_s": objects / meter.wall,
        "json_bytes_per_object": wire / max(objects, 1),
        "server_cpu_us_per_object": meter.server_cpu / max(objects, 1) * 1e6,
        "client_cpu_us_per_object": meter.client_cpu / max(objects, 1) * 1e6,
        **meter.as_dict(),
    }


def psrp_stream(server: ServerProcess, tenant: str, expected: int) -> dict[str, Any]:
    from aobo.toolkit import Credential, open_session

    async def main() -> dict[str, Any]:
        session = await open_session(
            server.info["url"], Credential(PARTNER_ADMIN, PASSWORD), tenant, ca_file=server.ca_file
        )
        async with session:
            with CpuMeter(server) as meter:
                n = 0
                async for _record in session.stream("Get-Mailbox", ResultSize="Unlimited"):
                    n += 1
        if n != expected:
            raise RuntimeError(f"PSRP stream returned {n} objects, expected {expected}")
        return _rate(n, meter)

    return asyncio.run(main())


def rest_toolkit_stream(server: ServerProcess, tenant: str, expected: int) -> dict[str, Any]:
    """The partner toolkit over REST: msal sign-in, pages of 1000 followed, records built (orjson)."""
    from aobo.toolkit import Credential
    from aobo.toolkit.rest import open_rest_session

    async def main() -> dict[str, Any]:
        session = await open_rest_session(
            tenant,
            Credential(PARTNER_ADMIN, PASSWORD),
            uri=server.base_url,
            authority=server.base_url,
            ca_file=server.ca_file,
        )
        async with session:
            with CpuMeter(server) as meter:
                n = 0
                async for _record in session.stream("Get-Mailbox", ResultSize="Unlimited"):
                    n += 1
        if n != expected:
            raise RuntimeError(f"REST stream returned {n} objects, expected {expected}")
        return _rate(n, meter)

    return asyncio.run(main())


def psrp_raw(server: ServerProcess, tenant: str, expected: int) -> dict[str, Any]:
    with RawClient(server, tenant) as client:
        session = client.open_session()
        try:
            with CpuMeter(server) as meter:
                result = session.run("Get-Mailbox", {"ResultSize": "Unlimited"})
        finally:
            session.delete()
    if result.objects != expected:
        raise RuntimeError(f"raw client got {result.objects} objects, expected {expected}")
    return _rate(result.objects, meter)


def _rate(objects: int, meter: CpuMeter) -> dict[str, Any]:
    return {
        "objects": objects,
        "seconds": meter.wall,
        "objects_per_s": objects / meter.wall,
        "server_cpu_us_per_object": meter.server_cpu / max(objects, 1) * 1e6,
        "client_cpu_us_per_object": meter.client_cpu / max(objects, 1) * 1e6,
        **meter.as_dict(),
    }


# ------------------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mailboxes", type=int, default=100_000, help="mailboxes of the generated tenant")
    parser.add_argument("--roundtrips", type=int, default=300, help="round trips per front end")
    parser.add_argument("--page-size", type=int, default=1000, help="Prefer: odata.maxpagesize of the listing")
    args = parser.parse_args()

    started = time.perf_counter()
    print(f"starting server (demo world + 1 tenant of {args.mailboxes:,} mailboxes) ...", flush=True)
    with ServerProcess(extra_mailboxes=args.mailboxes) as server:
        tenant = str(server.info["generated_tenant"])
        expected = int(server.info["generated_mailboxes"])
        print(f"  seeded {expected:,} mailboxes in {server.info['seed_generated_s']:.1f} s")
        token = token_for(server, tenant)
        with rest_client(server) as client:
            first = client.post(
                f"/adminapi/beta/{tenant}/InvokeCommand",
                content=invoke_body("Get-Mailbox", ResultSize=1),
                headers={"Authorization": f"Bearer {token}"},
            ).json()["value"][0]
        identity = str(first["PrimarySmtpAddress"])

        roundtrip: dict[str, Any] = {}
        print(f"  round trips: REST, {args.roundtrips} ...", flush=True)
        roundtrip["REST InvokeCommand"] = rest_roundtrips(server, tenant, token, identity, args.roundtrips)
        print(f"  round trips: PSRP (toolkit), {args.roundtrips} ...", flush=True)
        roundtrip["PSRP toolkit invoke"] = psrp_roundtrips(server, tenant, identity, args.roundtrips)

        listing: dict[str, Any] = {}
        runs = {
            f"REST pages of {args.page_size}, json.loads": lambda: rest_pages(
                server, tenant, token, args.page_size, expected, parse=True
            ),
            "REST toolkit async stream": lambda: rest_toolkit_stream(server, tenant, expected),
            f"REST pages of {args.page_size}, unparsed (ceiling)": lambda: rest_pages(
                server, tenant, token, args.page_size, expected, parse=False
            ),
            "PSRP toolkit async stream": lambda: psrp_stream(server, tenant, expected),
            "PSRP raw client (ceiling)": lambda: psrp_raw(server, tenant, expected),
        }
        for label, run in runs.items():
            wait_for_quiet(server)
            print(f"  listing {expected:,}: {label} ...", flush=True)
            listing[label] = run()
            print(f"    {listing[label]['objects_per_s']:,.0f} objects/s", flush=True)
        problems = server.log_problems()
        seeding = {k: server.info.get(k) for k in ("seed_demo_s", "seed_generated_s", "generated_mailboxes")}
    server.cleanup()

    print_table(
        "Get-Mailbox -Identity round trip (ms)",
        ["front end", "n", "p50", "p95", "p99", "max", "server cores", "others"],
        [
            [k, r["n"], r["p50_ms"], r["p95_ms"], r["p99_ms"], r["max_ms"], r["server_cores"], r["other_cores"]]
            for k, r in roundtrip.items()
        ],
    )
    print_table(
        f"Get-Mailbox -ResultSize Unlimited over {expected:,} mailboxes",
        ["client", "objects", "s", "objects/s", "server µs/obj", "client µs/obj", "others"],
        [
            [
                k,
                r["objects"],
                r["seconds"],
                r["objects_per_s"],
                r["server_cpu_us_per_object"],
                r["client_cpu_us_per_object"],
                r["other_cores"],
            ]
            for k, r in listing.items()
        ],
    )
    data = {
        "parameters": vars(args),
        "targets": {"roundtrip_p50_ms": TARGET_P50_MS, "paged_objects_per_s": TARGET_OBJECTS_PER_S},
        "seeding": seeding,
        "roundtrip": roundtrip,
        "listing": listing,
    }
    write_results(NAME, data, started=started, problems=problems)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
