"""Latency of a pypsrp client against aobo over loopback: session open, and one Get-Mailbox.

    .venv/bin/python bench/bench_rps_roundtrip.py [--opens 100] [--calls 200] [--org contoso.onmicrosoft.com]
                                                  [--no-profile]

The server runs in a separate process (``bench/_server.py``: demo world, HTTPS with its own
self-signed certificate, which the client verifies). The client is pypsrp 0.9.1 exactly as
``tests/e2e/helpers.py`` connects (``WSMan(..., auth="basic", cert_validation=ca_file)``), one
WSMan (one keep-alive connection) for the whole run.

(a) session open: ``RunspacePool(wsman, configuration_name="Microsoft.Exchange").open()`` then
    ``close()``, ``--opens`` times after 5 warm-ups; open alone and open+close. The same with the
    raw client (``_common.RawClient``: Create + pool Receive) for comparison.
(b) round trips in one open session, ``--calls`` times each after 3 warm-ups (the session's 17th
    mailbox, when aobo compiles its CLIXML template, falls inside the measurement):
    ``Get-Mailbox -Identity <mailbox>``; the same piped to ``Select-Object Name,PrimarySmtpAddress``;
    each timed as ``invoke()`` and as ``invoke()`` + ``close()`` (the Signal that frees the
    pipeline on the server). The same Get-Mailbox through the raw client (Command to final
    PIPELINE_STATE, no deserialisation) shows server + transport time.
(c) pypsrp's deserialisation of the captured 237-property mailbox message:
    ``Serializer().deserialize(xml)`` and ``Message.unpack(message, Serializer())`` (what pypsrp
    runs for each PIPELINE_OUTPUT message), ``--calls`` times.
(d) unless ``--no-profile`` (or py-spy is missing): py-spy (GIL holder only) on the server during
    ``--calls`` raw-client Get-Mailbox round trips; top cumulative and self functions.

Targets (project issue): open p50 <= 20 ms; round trip p50 <= 15 ms.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from _common import (
    RESULTS_DIR,
    ROOT,
    CpuMeter,
    PySpy,
    RawClient,
    ServerProcess,
    parse_collapsed,
    print_profile,
    print_table,
    pypsrp_wsman,
    pyspy_path,
    summary_ms,
    wait_for_quiet,
    write_results,
)

NAME = "bench_rps_roundtrip"
TARGET_OPEN_P50_MS = 20.0
TARGET_ROUNDTRIP_P50_MS = 15.0


def bench_open(server: ServerProcess, org: str, n: int) -> dict[str, Any]:
    from pypsrp.powershell import RunspacePool

    open_s: list[float] = []
    total_s: list[float] = []
    with pypsrp_wsman(server, org) as wsman:
        for i in range(n + 5):
            t0 = time.perf_counter()
            pool = RunspacePool(wsman, configuration_name="Microsoft.Exchange")
            pool.open()
            t1 = time.perf_counter()
            pool.close()
            t2 = time.perf_counter()
            if i >= 5:
                open_s.append(t1 - t0)
                total_s.append(t2 - t0)
    raw_open: list[float] = []
    raw_total: list[float] = []
    with RawClient(server, org) as client:
        for i in range(n + 5):
            t0 = time.perf_counter()
            session = client.open_session()
            t1 = time.perf_counter()
            session.delete()
            t2 = time.perf_counter()
            if i >= 5:
                raw_open.append(t1 - t0)
                raw_total.append(t2 - t0)
    return {
        "pypsrp_open": summary_ms(open_s),
        "pypsrp_open_close": summary_ms(total_s),
        "raw_open": summary_ms(raw_open),
        "raw_open_close": summary_ms(raw_total),
    }


def first_mailbox(server: ServerProcess, org: str) -> str:
    with RawClient(server, org) as client:
        session = client.open_session()
        r = session.run("Get-Mailbox", {"ResultSize": 1}, collect=True)
        session.delete()
    import re

    m = re.search(rb'<S N="PrimarySmtpAddress">([^<]+)</S>', r.outputs[0])
    assert m, "no PrimarySmtpAddress in the first mailbox"
    return m.group(1).decode()


def bench_calls(server: ServerProcess, org: str, identity: str, n: int) -> dict[str, Any]:
    from pypsrp.powershell import PowerShell, RunspacePool

    variants: dict[str, Any] = {}
    with pypsrp_wsman(server, org) as wsman:
        for label, select in (("Get-Mailbox -Identity", False), ("Get-Mailbox -Identity | Select-Object", True)):
            pool = RunspacePool(wsman, configuration_name="Microsoft.Exchange")
            pool.open()  # a fresh session each: the server compiles its template after 16 mailboxes
            invoke_s: list[float] = []
            with_close_s: list[float] = []
            with CpuMeter(server) as meter:
                for i in range(n + 3):
                    ps = PowerShell(pool)
                    ps.add_cmdlet("Get-Mailbox").add_parameter("Identity", identity)
                    if select:
                        ps.add_cmdlet("Select-Object").add_parameter("Property", ["Name", "PrimarySmtpAddress"])
                    t0 = time.perf_counter()
                    output = ps.invoke()
                    t1 = time.perf_counter()
                    ps.close()
                    t2 = time.perf_counter()
                    if len(output) != 1 or ps.had_errors:
                        raise RuntimeError(f"{label}: {len(output)} objects, errors {ps.streams.error}")
                    if i >= 3:
                        invoke_s.append(t1 - t0)
                        with_close_s.append(t2 - t0)
            pool.close()
            props = len(output[0].adapted_properties) + len(output[0].extended_properties)
            slowest = max(range(len(invoke_s)), key=invoke_s.__getitem__)
            variants[label] = {
                "invoke": summary_ms(invoke_s),
                "invoke_close": summary_ms(with_close_s),
                "slowest_call_index": slowest + 4,  # 1-based, counting the warm-ups
                "properties_received": props,
                "server_cpu_ms_per_call": meter.server_cpu / (n + 3) * 1000,
                "client_cpu_ms_per_call": meter.client_cpu / (n + 3) * 1000,
                "other_cores": meter.other_cpu / meter.wall,
                "samples_ms": [round(s * 1000, 3) for s in invoke_s],
            }

    # The same call through the raw client: Command .. final PIPELINE_STATE, nothing deserialised.
    raw_s: list[float] = []
    with RawClient(server, org) as client:
        session = client.open_session()
        captured = None
        for i in range(n + 3):
            r = session.run("Get-Mailbox", {"Identity": identity}, collect=True)
            if r.objects != 1:
                raise RuntimeError(f"raw Get-Mailbox: {r.named_counts()}")
            captured = r
            if i >= 3:
                raw_s.append(r.seconds)
        session.delete()
    assert captured is not None
    variants["raw client Get-Mailbox -Identity"] = {"invoke": summary_ms(raw_s)}
    return {"variants": variants, "message": captured.messages[0], "xml": captured.outputs[0]}


def profile_calls(server: ServerProcess, org: str, identity: str, n: int) -> dict[str, Any]:
    """py-spy on the server while the raw client runs ``n`` Get-Mailbox -Identity round trips."""
    out = RESULTS_DIR / f"{NAME}.pyspy.txt"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    with RawClient(server, org) as client:
        session = client.open_session()
        for _ in range(20):  # past the template compilation
            session.run("Get-Mailbox", {"Identity": identity})
        spy = PySpy(server.pid, out, rate=250, gil=True, threads=True)
        try:
            with CpuMeter(server) as meter:
                for _ in range(n):
                    session.run("Get-Mailbox", {"Identity": identity})
        finally:
            spy.stop()
        session.delete()
    profile = parse_collapsed(out)
    profile.update(
        raw_file=str(out.relative_to(ROOT)),
        calls=n,
        server_cpu_ms_per_call=meter.server_cpu / n * 1000,
        wall_ms_per_call=meter.wall / n * 1000,
    )
    return profile


def bench_deserialise(message: bytes, xml_bytes: bytes, n: int) -> dict[str, Any]:
    from pypsrp.messages import Message
    from pypsrp.serializer import Serializer

    xml = xml_bytes.decode("utf-8").lstrip("\ufeff")
    obj = Serializer().deserialize(xml)
    props = len(obj.adapted_properties) + len(obj.extended_properties)
    deser: list[float] = []
    unpack: list[float] = []
    for _ in range(n + 3):  # interleaved, so that machine noise hits both alike
        t0 = time.perf_counter()
        Serializer().deserialize(xml)
        deser.append(time.perf_counter() - t0)
        serializer = Serializer()
        t0 = time.perf_counter()
        Message.unpack(message, serializer)
        unpack.append(time.perf_counter() - t0)
    return {
        "xml_bytes": len(xml_bytes),
        "properties": props,
        "type_names": list(obj.types[:2]),
        "serializer_deserialize": summary_ms(deser[3:]),
        "message_unpack": summary_ms(unpack[3:]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--opens", type=int, default=100)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--org", default="contoso.onmicrosoft.com")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile of the server")
    args = parser.parse_args()

    started = time.perf_counter()
    print("starting server (demo world) ...", flush=True)
    with ServerProcess() as server:
        wait_for_quiet(server)
        print(f"(a) session open x {args.opens} (pypsrp, then raw client) ...", flush=True)
        with CpuMeter(server) as open_meter:
            opens = bench_open(server, args.org, args.opens)
        identity = first_mailbox(server, args.org)
        wait_for_quiet(server)
        print(f"(b) round trips x {args.calls} per variant, -Identity {identity} ...", flush=True)
        calls = bench_calls(server, args.org, identity, args.calls)
        profile = None
        if not args.no_profile and pyspy_path() is not None:
            wait_for_quiet(server)
            print(f"    profiling the server (py-spy) over {args.calls} raw-client round trips ...", flush=True)
            profile = profile_calls(server, args.org, identity, args.calls)
        problems = server.log_problems()
    server.cleanup()
    wait_for_quiet()
    print(f"(c) pypsrp deserialisation x {args.calls} ...", flush=True)
    deser = bench_deserialise(calls["message"], calls["xml"], args.calls)

    def row(label: str, s: dict[str, float]) -> list[Any]:
        return [label, s["n"], s["p50_ms"], s["p95_ms"], s["p99_ms"], s["max_ms"]]

    print_table(
        f"(a) Session open, {args.org} (one keep-alive connection; other processes used "
        f"{open_meter.other_cpu / open_meter.wall:.0%} of a core meanwhile)",
        ["operation", "n", "p50 ms", "p95 ms", "p99 ms", "max ms"],
        [
            row("pypsrp RunspacePool.open()", opens["pypsrp_open"]),
            row("pypsrp open() + close()", opens["pypsrp_open_close"]),
            row("raw client Create + Receive", opens["raw_open"]),
            row("raw client Create + Receive + Delete", opens["raw_open_close"]),
        ],
    )
    v = calls["variants"]
    rows = []
    for label, data in v.items():
        rows.append(row(f"{label}: invoke()" if "raw" not in label else f"{label} (Command..state)", data["invoke"]))
        if "invoke_close" in data:
            rows.append(row(f"{label}: invoke() + close()", data["invoke_close"]))
    print_table(
        f"(b) One round trip in an open session, -Identity {identity}",
        ["operation", "n", "p50 ms", "p95 ms", "p99 ms", "max ms"],
        rows,
    )
    for label, data in v.items():
        if "slowest_call_index" in data:
            print(
                f"  {label}: slowest call was the session's call #{data['slowest_call_index']} "
                f"({data['invoke']['max_ms']:.1f} ms); server CPU {data['server_cpu_ms_per_call']:.2f} ms/call, "
                f"client CPU {data['client_cpu_ms_per_call']:.2f} ms/call, {data['properties_received']} "
                f"properties received"
            )
    print_table(
        f"(c) pypsrp deserialisation of one mailbox ({deser['xml_bytes']:,} bytes of CLIXML, "
        f"{deser['properties']} properties)",
        ["operation", "n", "p50 ms", "p95 ms", "p99 ms", "max ms"],
        [
            row("Serializer().deserialize(xml)", deser["serializer_deserialize"]),
            row("Message.unpack(message) (pypsrp's per-message path)", deser["message_unpack"]),
        ],
    )
    full = v["Get-Mailbox -Identity"]["invoke"]["p50_ms"]
    raw = v["raw client Get-Mailbox -Identity"]["invoke"]["p50_ms"]
    unpack = deser["message_unpack"]["p50_ms"]
    split = {
        "pypsrp_invoke_p50_ms": full,
        "raw_client_p50_ms": raw,
        "pypsrp_unpack_p50_ms": unpack,
        "pypsrp_unpack_share": unpack / full,
        "pypsrp_other_client_ms": full - raw - unpack,
    }
    print(
        f"\nSplit of the p50 Get-Mailbox round trip ({full:.2f} ms): server + transport (raw client) {raw:.2f} ms, "
        f"pypsrp unpacking the mailbox {unpack:.2f} ms ({unpack / full:.0%}), rest of pypsrp "
        f"{full - raw - unpack:.2f} ms"
    )
    open_p50 = opens["pypsrp_open"]["p50_ms"]
    targets = {
        "open_p50_ms": {"value": open_p50, "target": TARGET_OPEN_P50_MS, "met": open_p50 <= TARGET_OPEN_P50_MS},
        "roundtrip_p50_ms": {"value": full, "target": TARGET_ROUNDTRIP_P50_MS, "met": full <= TARGET_ROUNDTRIP_P50_MS},
    }
    print_table(
        "Targets",
        ["target", "measured p50 ms", "target ms", "met"],
        [
            [
                "session open (pypsrp open())",
                open_p50,
                f"<= {TARGET_OPEN_P50_MS:.0f}",
                "yes" if targets["open_p50_ms"]["met"] else "NO",
            ],
            [
                "Get-Mailbox -Identity round trip (pypsrp invoke())",
                full,
                f"<= {TARGET_ROUNDTRIP_P50_MS:.0f}",
                "yes" if targets["roundtrip_p50_ms"]["met"] else "NO",
            ],
        ],
    )
    if profile:
        print_profile(
            f"py-spy on the server, GIL holder only (--gil), {profile['calls']} raw-client Get-Mailbox -Identity round "
            f"trips ({profile['wall_ms_per_call']:.1f} ms wall, {profile['server_cpu_ms_per_call']:.1f} ms server "
            "CPU per call)",
            profile,
        )
    write_results(
        NAME,
        {
            "parameters": vars(args) | {"identity": identity},
            "targets": targets,
            "session_open": opens,
            "session_open_cpu": open_meter.as_dict(),
            "round_trips": v,
            "deserialisation": deser,
            "split": split,
            "server_profile": profile,
        },
        started=started,
        problems=problems,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
