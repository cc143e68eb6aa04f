"""The run journal: after Ctrl-C, a crash or SIGKILL, --resume writes every tenant exactly once."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from aobo.toolkit.fanout import run_command_async
from aobo.toolkit.journal import JournalError, RunJournal, has_journal, run_dir_for
from tests.toolkit.test_fanout import URI, FakeService, FakeSleep, cred, rows_for

REPO = Path(__file__).resolve().parents[2]


def read_rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def commit(journal: RunJournal, tenant: str, rows: list[dict[str, Any]]) -> None:
    part = journal.begin(tenant)
    for row in rows:
        part.write(row)
    part.commit()


def journal_lines(out: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (run_dir_for(out) / "journal.jsonl").read_text().splitlines()]


def test_clean_run_renders_csv_and_removes_its_state(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    with RunJournal.open(out, command="Get-Mailbox", fsync=False) as j:
        commit(j, "a.onmicrosoft.com", [{"Name": "x"}, {"Name": "y", "Extra": [1, 2]}])
        part = j.begin("b.onmicrosoft.com")
        part.write({"Name": "never"})
        part.discard()  # a failed attempt leaves nothing
        commit(j, "b.onmicrosoft.com", [{"Other": True}])
        assert j.is_done("A.onmicrosoft.com") and j.rows_of("a.onmicrosoft.com") == 2
        assert list((j.run_dir / "parts").iterdir()) == []
        assert j.finish() == 3
    assert read_rows(out) == [
        {"Tenant": "a.onmicrosoft.com", "Name": "x", "Extra": "", "Other": ""},
        {"Tenant": "a.onmicrosoft.com", "Name": "y", "Extra": "1;2", "Other": ""},
        {"Tenant": "b.onmicrosoft.com", "Name": "", "Extra": "", "Other": "True"},
    ]
    assert not run_dir_for(out).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]


def test_journal_records_commits_with_lengths(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    j = RunJournal.open(out, command="Get-Mailbox")
    commit(j, "a", [{"N": 1}])
    j.record_failure("b", "AuthError: Access is denied.")
    commit(j, "c", [{"N": 2}, {"N": 3}])
    lines = journal_lines(out)
    assert [x["kind"] for x in lines] == ["start", "done", "failed", "done"]
    assert lines[1]["length"] == len(out.read_bytes().splitlines(keepends=True)[0])
    assert lines[3]["length"] == out.stat().st_size and lines[3]["rows"] == 2
    j.finish(failed=1)
    assert has_journal(out)  # failures keep it for --resume
    assert journal_lines(out)[-1]["kind"] == "complete"


def test_resume_after_a_crash_mid_commit(tmp_path: Path) -> None:
    """Bytes past the last recorded length (an append the journal never confirmed) and a torn journal
    line are both dropped; the tenant they belonged to runs again."""
    out = tmp_path / "r.csv"
    j = RunJournal.open(out, command="cmd")
    commit(j, "a", [{"N": 1}])
    commit(j, "b", [{"N": 2}])
    spool = j.spool_path
    j.close()  # the process "dies" here, after writing some of c's rows and half a journal line:
    with open(spool, "ab") as f:
        f.write(b'{"Tenant":"c","N":3}\n{"Tenant":"c","N"')
    with open(run_dir_for(out) / "journal.jsonl", "ab") as f:
        f.write(b'{"kind":"done","tenant":"c","ro')

    j2 = RunJournal.open(out, command="cmd", resume=True)
    assert j2.resumed and j2.done == ["a", "b"] and not j2.is_done("c")
    commit(j2, "c", [{"N": 3}])
    j2.finish()
    assert [(r["Tenant"], r["N"]) for r in read_rows(out)] == [("a", "1"), ("b", "2"), ("c", "3")]


def test_resume_refuses_another_command_or_a_changed_output(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    j = RunJournal.open(out, command="Get-Mailbox")
    commit(j, "a", [{"N": 1}])
    j.close()
    with pytest.raises(JournalError, match="another command"):
        RunJournal.open(out, command="Get-User", resume=True)
    out.write_text("")  # someone emptied the output
    with pytest.raises(JournalError, match="shorter than the journal"):
        RunJournal.open(out, command="Get-Mailbox", resume=True)


def test_two_runs_cannot_write_one_output(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    first = RunJournal.open(out, command="x")
    with pytest.raises(JournalError, match="another run"):
        RunJournal.open(out, command="x")
    with pytest.raises(JournalError, match="another run"):
        RunJournal.open(out, command="x", resume=True)
    first.close()
    RunJournal.open(out, command="x", resume=True).close()


def test_resume_without_a_journal_starts_afresh(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    out.write_text('{"stale":1}\n')
    j = RunJournal.open(out, command="x", resume=True)
    assert not j.resumed and j.done == []
    assert out.read_text() == ""  # a fresh run truncates the old output
    j.close()


def test_starting_without_resume_discards_an_old_journal(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    j = RunJournal.open(out, command="x")
    commit(j, "a", [{"N": 1}])
    j.close()
    j2 = RunJournal.open(out, command="x")
    assert j2.done == [] and out.read_text() == ""
    j2.close()


def test_a_tenant_cannot_be_committed_twice(tmp_path: Path) -> None:
    j = RunJournal.open(tmp_path / "r.jsonl", command="x")
    commit(j, "a", [{"N": 1}])
    with pytest.raises(JournalError, match="already in the output"):
        commit(j, "A", [{"N": 1}])
    j.close()


# ------------------------------------------------------------------------------------------ SIGKILL

TENANT_COUNT = 40
ROWS_EACH = 7

CHILD = """
import asyncio, random
from tests.toolkit.test_fanout import FakeService, FakeSleep, cred, rows_for, URI
from aobo.toolkit.fanout import run_command_async

tenants = [f"c{{i:03d}}.onmicrosoft.com" for i in range({count})]
service = FakeService(rows=lambda t: rows_for(t, {rows}), row_delay=0.004)
asyncio.run(run_command_async(["Get-Mailbox"], tenants, cred(), uri=URI, out={out!r}, opener=service.open))
"""


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_resume_after_sigkill_writes_every_tenant_exactly_once(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"mailboxes{suffix}"
    journal = run_dir_for(out) / "journal.jsonl"
    for kill_after in (3, 9):  # two kills in one run, at different points
        script = textwrap.dedent(CHILD.format(count=TENANT_COUNT, rows=ROWS_EACH, out=str(out)))
        if kill_after == 9:
            script = script.replace("out=", "resume=True, out=")
        proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
        try:
            deadline = time.monotonic() + 60
            while not (journal.exists() and journal.read_text().count('"kind": "done"') >= kill_after):
                assert proc.poll() is None, "the run ended before it was killed"
                assert time.monotonic() < deadline
                time.sleep(0.002)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert has_journal(out)

    tenants = [f"c{i:03d}.onmicrosoft.com" for i in range(TENANT_COUNT)]
    service = FakeService(rows=lambda t: rows_for(t, ROWS_EACH))
    summary = asyncio.run(
        run_command_async(
            ["Get-Mailbox"],
            tenants,
            cred(),
            uri=URI,
            out=out,
            resume=True,
            opener=service.open,
            sleep=FakeSleep(),
            rng=random.Random(0),
        )
    )
    assert summary.exit_code == 0 and summary.resumed
    assert len(summary.skipped) >= 9 and len(summary.skipped) + len(summary.succeeded) == TENANT_COUNT
    assert {r.tenant for r in summary.succeeded}.isdisjoint(r.tenant for r in summary.skipped)
    rows = read_rows(out)
    assert Counter(r["Tenant"] for r in rows) == dict.fromkeys(tenants, ROWS_EACH)
    expected = {(t, row["Name"]) for t in tenants for row in rows_for(t, ROWS_EACH)}
    assert {(r["Tenant"], r["Name"]) for r in rows} == expected and len(rows) == len(expected)
    # each tenant's rows are contiguous and in order
    names = [r["Name"] for r in rows]
    for t in tenants:
        mine = [i for i, r in enumerate(rows) if r["Tenant"] == t]
        assert mine == list(range(mine[0], mine[0] + ROWS_EACH))
        assert [names[i] for i in mine] == [row["Name"] for row in rows_for(t, ROWS_EACH)]
    assert not has_journal(out)
