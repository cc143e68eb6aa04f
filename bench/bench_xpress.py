"""Throughput of the xpress stream decoder (MS-WSMV note <134> framing, MS-XCA LZ77+Huffman), in process.

    .venv/bin/python bench/bench_xpress.py [--size 1000000] [--repeat 5]

What a Windows PowerShell client sends in ``rsp:Send/rsp:Stream`` when compression is on (the
default), decoded by :func:`aobo.frontends.wsman.xpress.decode_stream` (pure Python), in MB/s of
decoded output (best of ``--repeat``), for ``--size`` bytes of:

* **CLIXML, stored**: CLIXML-like objects framed as stored blocks (what aobo sends, and what Windows
  sends for messages under 300 bytes): a memory copy;
* **CLIXML, LZ77+Huffman**: the same framed as Windows frames it (64 KiB blocks compressed by
  wimlib's XPRESS compressor, ``tests/xpress_support.py``): mostly long matches;
* **letters, LZ77+Huffman**: random letters and digits, compressed: almost only literals, the
  decoder's worst case;
* **random bytes**: incompressible, so stored blocks as Windows sends them.

Beside each compressed case, libfwnt's C decoder (``pyfwnt``, a test dependency) on the same
blocks, in the same run, as the baseline; and ``encode_stored`` (the server's own framing) on the
CLIXML. Needs wimlib (Debian ``libwim15``) and pyfwnt; without them the compressed cases are skipped.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, machine_busy_seconds, print_table, wait_for_quiet, write_results

sys.path.insert(0, str(ROOT))  # for the test-side wimlib binding

from tests.xpress_support import blocks, clixml_like, frame_like_windows, pyfwnt_available, unframe, wimlib_available

from aobo.frontends.wsman.xpress import decode_stream, encode_stored

NAME = "bench_xpress"
LIMIT = 1 << 30


def clixml(size: int, seed: int = 1) -> bytes:
    return clixml_like(size, random.Random(seed))


def letters(size: int, seed: int = 2) -> bytes:
    r = random.Random(seed)
    return bytes(r.choice(b"abcdefghijklmnopqrstuvwxyz0123456789 ") for _ in range(size))


def measure(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    """Best wall time of ``repeat`` runs, and the cores other processes used meanwhile."""
    times = []
    busy0 = machine_busy_seconds()
    own0 = time.process_time()
    wall0 = time.perf_counter()
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    wall = time.perf_counter() - wall0
    others = max(0.0, machine_busy_seconds() - busy0 - (time.process_time() - own0))
    return {"best_s": min(times), "other_cores": others / wall if wall else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="bytes of decoded data per case")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (the best is kept)")
    args = parser.parse_args()
    started = time.perf_counter()
    have_wimlib = wimlib_available()
    have_pyfwnt = pyfwnt_available()
    if not have_wimlib:
        print("wimlib (libwim.so.15) is not installed: the compressed cases are skipped")
    if not have_pyfwnt:
        print("pyfwnt (libfwnt-python) is not installed: no C baseline")

    text = clixml(args.size)
    cases: list[tuple[str, bytes, bytes]] = [("CLIXML, stored blocks", text, encode_stored(text))]
    if have_wimlib:
        cases.append(("CLIXML, LZ77+Huffman (wimlib)", text, frame_like_windows(text)))
        literal_heavy = letters(args.size)
        cases.append(("letters, LZ77+Huffman (literal-heavy)", literal_heavy, frame_like_windows(literal_heavy)))
        noise = random.Random(3).randbytes(args.size)
        cases.append(("random bytes (stored as Windows does)", noise, frame_like_windows(noise)))

    wait_for_quiet(max_wait=60)
    results: dict[str, Any] = {"size": args.size, "repeat": args.repeat, "cases": []}
    rows = []
    for label, data, framed in cases:
        assert decode_stream(framed, LIMIT) == data
        sizes = [(n, len(block)) for n, block in blocks(framed)]
        compressed_blocks = sum(n != stored for n, stored in sizes)
        ours = measure(lambda framed=framed: decode_stream(framed, LIMIT), args.repeat)
        record: dict[str, Any] = {
            "case": label,
            "decoded_bytes": len(data),
            "framed_bytes": len(framed),
            "blocks": len(sizes),
            "compressed_blocks": compressed_blocks,
            "aobo_MBps": len(data) / ours["best_s"] / 1e6,
            "aobo_other_cores": ours["other_cores"],
        }
        if have_pyfwnt and compressed_blocks:
            assert unframe(framed) == data
            base = measure(lambda framed=framed: unframe(framed), args.repeat)
            record |= {"pyfwnt_MBps": len(data) / base["best_s"] / 1e6, "pyfwnt_other_cores": base["other_cores"]}
            record["pyfwnt_over_aobo"] = record["pyfwnt_MBps"] / record["aobo_MBps"]
        results["cases"].append(record)
        rows.append(
            [
                label,
                f"{len(framed) / len(data):.3f}",
                f"{compressed_blocks}/{len(sizes)}",
                record["aobo_MBps"],
                record.get("pyfwnt_MBps", float("nan")),
                f"{record['pyfwnt_over_aobo']:.1f}x" if "pyfwnt_over_aobo" in record else "-",
                f"{ours['other_cores']:.2f}",
            ]
        )
    print_table(
        f"decode_stream, {args.size:,} bytes decoded per case (best of {args.repeat})",
        ["input", "framed/decoded", "compressed blocks", "aobo MB/s", "pyfwnt (C) MB/s", "C/aobo", "other cores"],
        rows,
    )

    enc = measure(lambda: encode_stored(text), args.repeat)
    results["encode_stored_MBps"] = len(text) / enc["best_s"] / 1e6
    results["encode_stored_other_cores"] = enc["other_cores"]
    print_table(
        "encode_stored (the server's framing of its output)",
        ["input", "MB/s", "other cores"],
        [["CLIXML", results["encode_stored_MBps"], f"{enc['other_cores']:.2f}"]],
    )
    write_results(NAME, results, started=started, problems=[])


if __name__ == "__main__":
    main()
