"""The fan-out scheduler against a fake opener that plays the service's session table.

The fake keeps Exchange's per-account MaxConcurrency (refusing with the real error type), can hold
sessions "elsewhere", and plays scripted faults and slow tenants. End-to-end runs against the real
server are in test_fanout_e2e.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from aobo.toolkit.credential import Credential
from aobo.toolkit.errors import AuthError, BudgetError, CommandError, SessionLimitError, TransientError
from aobo.toolkit.fanout import (
    Account,
    FanoutEvent,
    Note,
    RetryPolicy,
    RunSummary,
    TenantResult,
    accounts_of,
    describe_error,
    run_across,
    run_across_sync,
    run_command,
    run_command_async,
    unique_tenants,
)
from aobo.toolkit.journal import has_journal

REPO = Path(__file__).resolve().parents[2]
MAX_CONCURRENCY = (
    "[AuthZRequestId=1][FailureCategory=AuthZ-AuthorizationException] Fail to create a runspace because you have "
    "exceeded the maximum number of connections allowed : 3 for the policy party : MaxConcurrency. Please close "
    "existing runspace and try again.\r\nPolicy: CN=GlobalThrottlingPolicy; \r\nSnapshot: Owner: Sid~x"
)
PASSWORD = "Fake-Password-42!"


def cred(user: str = "admin@northwindit.onmicrosoft.com") -> Credential:
    return Credential(user, PASSWORD)


def rows_for(tenant: str, n: int = 3) -> list[dict[str, Any]]:
    return [{"Name": f"{tenant.split('.')[0]}-{i}", "Emails": [f"SMTP:u{i}@{tenant}"], "Index": i} for i in range(n)]


class StreamFault:
    """An attempt that streams ``after`` rows, then raises ``error``."""

    def __init__(self, after: int, error: Exception) -> None:
        self.after, self.error = after, error


class FakeService:
    """The service side as the fan-out sees it: sessions per account, MaxConcurrency, faults.

    ``faults[tenant]`` lists what each successive open of that tenant does: an exception (raised by
    the open), a :class:`StreamFault`, or None (works). ``external[user]`` sessions are held elsewhere.
    """

    def __init__(
        self,
        *,
        limit: int = 3,
        rows: Callable[[str], list[dict[str, Any]]] = rows_for,
        faults: dict[str, list[Any]] | None = None,
        external: dict[str, int] | None = None,
        row_delay: float = 0.0,
        open_delay: float = 0.0,
        slow: dict[str, float] | None = None,
    ) -> None:
        self.limit = limit
        self.rows = rows
        self.faults = {k: list(v) for k, v in (faults or {}).items()}
        self.external = Counter(external or {})
        self.row_delay = row_delay
        self.open_delay = open_delay
        self.slow = slow or {}
        self.open_now: Counter[str] = Counter()
        self.max_open: Counter[str] = Counter()
        self.opens: list[tuple[str, str]] = []
        self.closes = 0
        self.refusals = 0
        self.commands: defaultdict[str, list[Any]] = defaultdict(list)
        self.sessions: list[FakeSession] = []

    async def open(
        self, uri: str, credential: Credential, org: str, *, ca_file: Any = None, insecure: bool = False
    ) -> Any:
        assert uri == "https://aobo.test/powershell-liveid"
        await asyncio.sleep(self.open_delay)
        user = credential.username
        plan = self.faults.get(org)
        action = plan.pop(0) if plan else None
        if isinstance(action, Exception):
            raise action
        if self.open_now[user] + self.external[user] >= self.limit:
            self.refusals += 1
            raise SessionLimitError(0x803381A6, MAX_CONCURRENCY)
        self.open_now[user] += 1
        self.max_open[user] = max(self.max_open[user], self.open_now[user])
        self.opens.append((user, org))
        session = FakeSession(self, user, org, action)
        self.sessions.append(session)
        return session

    @property
    def open_total(self) -> int:
        return sum(self.open_now.values())


class FakeSession:
    def __init__(self, service: FakeService, user: str, org: str, fault: StreamFault | None) -> None:
        self.service, self.user, self.org, self.fault = service, user, org, fault
        self.closed = False

    async def stream(self, command: Any, /, **parameters: Any) -> AsyncIterator[dict[str, Any]]:
        assert not self.closed, "stream on a closed session"
        self.service.commands[self.org].append((id(self), command))
        delay = self.service.slow.get(self.org, self.service.row_delay)
        for i, row in enumerate(self.service.rows(self.org)):
            if self.fault is not None and i == self.fault.after:
                raise self.fault.error
            await asyncio.sleep(delay)
            yield dict(row, Command=command)
        if self.fault is not None and self.fault.after >= len(self.service.rows(self.org)):
            raise self.fault.error

    async def invoke(self, command: Any, /, **parameters: Any) -> list[dict[str, Any]]:
        return [row async for row in self.stream(command)]

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.service.open_now[self.user] -= 1
            self.service.closes += 1


class FakeSleep:
    """Records backoff delays without waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


class ManualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


URI = "https://aobo.test/powershell-liveid"
TENANTS = [f"t{i:02d}.onmicrosoft.com" for i in range(12)]


def collect(
    tenants: list[str], accounts: Any, fn: Any, service: FakeService, **kwargs: Any
) -> tuple[list[TenantResult[Any]], list[FanoutEvent]]:
    events: list[FanoutEvent] = []
    kwargs.setdefault("sleep", FakeSleep())
    kwargs.setdefault("rng", random.Random(7))

    async def main() -> list[TenantResult[Any]]:
        return [
            r
            async for r in run_across(
                tenants, accounts, fn, uri=URI, opener=service.open, on_event=events.append, **kwargs
            )
        ]

    return asyncio.run(main()), events


async def two_commands(session: Any) -> list[Any]:
    first = await session.invoke("Get-Mailbox")
    second = await session.invoke("Get-User")
    return [*first, *second]


# ------------------------------------------------------------------------------------------ scheduling


def test_every_tenant_once_one_session_each_within_the_limit() -> None:
    service = FakeService()
    results, events = collect(TENANTS, cred(), two_commands, service)
    assert sorted(r.tenant for r in results) == TENANTS
    assert all(r.status == "ok" and r.attempts == 1 for r in results)
    assert all(len(r.value) == 6 and r.objects == 6 for r in results)
    assert service.max_open["admin@northwindit.onmicrosoft.com"] == 3  # used the limit, never more
    assert service.refusals == 0
    assert service.closes == len(service.opens) == len(TENANTS)
    # one session per tenant, reused for both commands
    for tenant in TENANTS:
        ids = {sid for sid, _ in service.commands[tenant]}
        assert len(ids) == 1 and [c for _, c in service.commands[tenant]] == ["Get-Mailbox", "Get-User"]
    kinds = Counter(e.kind for e in events)
    assert kinds["started"] == kinds["finished"] == 1
    assert kinds["tenant_done"] == len(TENANTS)
    final = events[-1].progress
    assert (final.total, final.done, final.failed, final.running, final.objects) == (12, 12, 0, 0, 72)


def test_results_stream_as_tenants_finish() -> None:
    service = FakeService(slow={"t00.onmicrosoft.com": 0.05})
    results, _ = collect(TENANTS[:4], cred(), two_commands, service)
    assert results[-1].tenant == "t00.onmicrosoft.com"  # started first, finished last


def test_several_accounts_each_within_its_own_limit() -> None:
    service = FakeService(row_delay=0.001)
    a, b = cred("a@northwindit.onmicrosoft.com"), cred("b@northwindit.onmicrosoft.com")
    results, _ = collect(TENANTS, [Account(a, limit=2), b], two_commands, service, per_account_limit=1)
    assert all(r.ok for r in results)
    assert service.max_open == Counter({"a@northwindit.onmicrosoft.com": 2, "b@northwindit.onmicrosoft.com": 1})
    by_account = Counter(r.account for r in results)
    assert set(by_account) == {"a@northwindit.onmicrosoft.com", "b@northwindit.onmicrosoft.com"}
    assert sum(by_account.values()) == len(TENANTS)


def test_a_session_held_elsewhere_shrinks_the_account_instead_of_failing_tenants() -> None:
    user = "admin@northwindit.onmicrosoft.com"
    service = FakeService(external={user: 1}, row_delay=0.001)
    results, events = collect(TENANTS, cred(), two_commands, service)
    assert all(r.status == "ok" for r in results), [r.error for r in results if not r.ok]
    assert service.max_open[user] == 2  # 3 minus the one held elsewhere
    assert 1 <= service.refusals <= 2  # learnt once, not once per tenant
    retries = [e for e in events if e.kind == "retry"]
    assert all("MaxConcurrency" in (e.error or "") and e.delay == 0 for e in retries)
    assert service.closes == len(service.opens)


def test_the_account_grows_back_after_the_recovery_time() -> None:
    user = "admin@northwindit.onmicrosoft.com"
    service = FakeService(row_delay=0.001)
    clock = ManualClock()

    async def fn(session: Any) -> list[Any]:
        if session.org == "t03.onmicrosoft.com":  # the other session went away; time passes
            service.external[user] = 0
            clock.now += 100
        return await session.invoke("Get-Mailbox")

    service.external[user] = 1
    results, _ = collect(TENANTS, cred(), fn, service, clock=clock, retry=RetryPolicy(limit_recovery=60))
    assert all(r.ok for r in results)
    assert service.max_open[user] == 3  # back to the full limit


def test_max_concurrency_with_nothing_of_ours_open_backs_off_and_counts() -> None:
    user = "admin@northwindit.onmicrosoft.com"
    service = FakeService(external={user: 3})
    sleep = FakeSleep()
    policy = RetryPolicy(attempts=4, base_delay=0.5, max_delay=1.5)
    results, _ = collect(TENANTS[:2], cred(), two_commands, service, sleep=sleep, retry=policy)
    assert [r.status for r in results] == ["failed", "failed"]
    assert all(
        r.attempts >= 4 and r.error.startswith("gave up after") and "SessionLimitError" in r.error for r in results
    )
    assert all(r.error_type == "SessionLimitError" for r in results)
    assert service.opens == []


def test_transient_faults_are_retried_with_full_jitter_backoff() -> None:
    tenant = "t00.onmicrosoft.com"
    faults = {tenant: [TransientError("connection reset"), BudgetError(0x803381A6, "budget"), TransientError("reset")]}
    service = FakeService(faults=faults)
    sleep = FakeSleep()
    policy = RetryPolicy(attempts=6, base_delay=1.0, max_delay=3.0)
    results, events = collect([tenant], cred(), two_commands, service, sleep=sleep, retry=policy)
    assert results[0].status == "ok" and results[0].attempts == 4
    assert len(sleep.delays) == 3
    for n, delay in enumerate(sleep.delays, start=1):
        assert 0 <= delay < min(3.0, 2 ** (n - 1))
    # full jitter: the delays are the injected random source's draws, reproducible
    rng = random.Random(7)
    assert sleep.delays == [rng.uniform(0, min(3.0, 2 ** (n - 1))) for n in (1, 2, 3)]
    assert [e.attempt for e in events if e.kind == "retry"] == [1, 2, 3]


def test_full_jitter_bounds() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=8.0)

    class Top(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    assert [policy.delay(n, Top()) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 8, 8]


def test_a_failing_tenant_does_not_stop_the_others() -> None:
    faults = {
        "t01.onmicrosoft.com": [AuthError("Access is denied.")],
        "t02.onmicrosoft.com": [StreamFault(1, CommandError("boom", fully_qualified_error_id="X,Get-Mailbox"))],
        "t03.onmicrosoft.com": [TransientError("reset")] * 10,
    }
    service = FakeService(faults=faults)
    results, events = collect(TENANTS[:6], cred(), two_commands, service, retry=RetryPolicy(attempts=3))
    by = {r.tenant: r for r in results}
    assert by["t01.onmicrosoft.com"].attempts == 1
    assert by["t01.onmicrosoft.com"].error == "AuthError: Access is denied."
    assert by["t02.onmicrosoft.com"].attempts == 1  # a command error is not retried
    assert by["t02.onmicrosoft.com"].error == "CommandError: boom (X,Get-Mailbox)"
    assert by["t03.onmicrosoft.com"].attempts == 3
    assert by["t03.onmicrosoft.com"].error == "gave up after 3 attempts: TransientError: reset"
    assert [r.status for r in results].count("ok") == 3
    assert service.closes == len(service.opens)
    assert events[-1].progress.failed == 3 and events[-1].progress.done == 3
    assert PASSWORD not in repr(results) + repr(events)


def test_a_bug_in_fn_fails_that_tenant_only() -> None:
    async def fn(session: Any) -> Any:
        if session.org == "t00.onmicrosoft.com":
            raise KeyError("oops")
        return await session.invoke("Get-Mailbox")

    service = FakeService()
    results, _ = collect(TENANTS[:3], cred(), fn, service)
    by = {r.tenant: r for r in results}
    assert by["t00.onmicrosoft.com"].status == "failed" and by["t00.onmicrosoft.com"].attempts == 1
    assert by["t00.onmicrosoft.com"].error == "KeyError: 'oops'"
    assert by["t01.onmicrosoft.com"].ok


def test_notes_go_to_the_result_not_the_rows_and_a_failed_attempt_leaves_none(tmp_path: Path) -> None:
    attempts: Counter[str] = Counter()

    async def fn(session: Any) -> AsyncIterator[Any]:
        attempts[session.org] += 1
        yield {"Name": "row"}
        yield Note("warning", f"attempt {attempts[session.org]}")
        if attempts[session.org] == 1:
            raise TransientError("reset")
        yield Note("error", 'Couldn\'t find object "nobody"')

    out = tmp_path / "n.jsonl"
    from aobo.toolkit.journal import RunJournal

    with RunJournal.open(out, command="x", fsync=False) as journal:
        results, _ = collect(TENANTS[:1], cred(), fn, FakeService(), sink=journal)
        journal.finish()
    (result,) = results
    assert result.ok and result.attempts == 2 and result.objects == 1
    assert result.warnings == ["attempt 2"]
    assert result.errors == ['Couldn\'t find object "nobody"']
    assert read_rows(out) == [{"Tenant": TENANTS[0], "Name": "row"}]


# ------------------------------------------------------------------------------------------ closing


def test_cancelling_the_run_closes_every_session() -> None:
    service = FakeService(row_delay=0.01)

    async def main() -> None:
        seen = []

        async def consume() -> None:
            async for r in run_across(TENANTS, cred(), two_commands, uri=URI, opener=service.open):
                seen.append(r)

        task = asyncio.create_task(consume())
        while len(service.opens) < 5:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert service.open_total == 0  # whatever was open is closed by the time the task ends

    asyncio.run(main())
    assert service.closes == len(service.opens) >= 5


def test_stopping_early_closes_every_session() -> None:
    service = FakeService(row_delay=0.002)

    async def main() -> None:
        async with contextlib.aclosing(
            run_across(TENANTS, cred(), two_commands, uri=URI, opener=service.open)
        ) as results:
            async for _ in results:
                break
        assert service.open_total == 0

    asyncio.run(main())
    assert service.closes == len(service.opens) < len(TENANTS)


def test_a_session_still_opening_when_cancelled_is_closed_once_open() -> None:
    service = FakeService(open_delay=0.05)

    async def main() -> None:
        task = asyncio.create_task(
            run_across(TENANTS[:2], cred(), two_commands, uri=URI, opener=service.open).__anext__()
        )
        await asyncio.sleep(0.01)  # both opens in flight
        assert service.opens == []
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert len(service.opens) == 2 and service.closes == 2


def test_close_failure_is_a_warning_not_a_failure() -> None:
    service = FakeService()

    async def fn(session: Any) -> Any:
        original = session.close

        async def broken() -> None:
            await original()
            raise TransientError("reset during Delete")

        session.close = broken
        return await session.invoke("Get-Mailbox")

    results, _ = collect(TENANTS[:1], cred(), fn, service)
    assert results[0].ok
    assert results[0].warnings == ["closing the session failed: TransientError: reset during Delete"]


def test_sync_wrapper_yields_results_and_closes_on_break() -> None:
    service = FakeService(row_delay=0.001)
    results = list(run_across_sync(TENANTS[:5], cred(), two_commands, uri=URI, opener=service.open))
    assert sorted(r.tenant for r in results) == TENANTS[:5]
    service2 = FakeService(row_delay=0.002)
    gen = run_across_sync(TENANTS, cred(), two_commands, uri=URI, opener=service2.open)
    first = next(gen)
    gen.close()
    assert first.ok and service2.open_total == 0 and service2.closes == len(service2.opens) < len(TENANTS)


# ------------------------------------------------------------------------------------------ helpers


def test_tenants_and_accounts() -> None:
    class Customer:
        default_domain = "Fabrikam.onmicrosoft.com"

    assert unique_tenants(["contoso.onmicrosoft.com ", "CONTOSO.onmicrosoft.com", Customer()]) == [
        "contoso.onmicrosoft.com",
        "Fabrikam.onmicrosoft.com",
    ]
    with pytest.raises(ValueError):
        unique_tenants([" "])
    c = cred()
    assert accounts_of(c, 2) == [Account(c, 2)]
    assert [a.limit for a in accounts_of([c, Account(c, 5)])] == [3, 5]
    with pytest.raises(ValueError):
        accounts_of([])
    with pytest.raises(ValueError):
        Account(c, 0)
    assert PASSWORD not in repr(Account(c))
    assert describe_error(SessionLimitError(1, MAX_CONCURRENCY)).startswith("SessionLimitError: [AuthZRequestId=1]")
    assert "\n" not in describe_error(SessionLimitError(1, MAX_CONCURRENCY))


# ------------------------------------------------------------------------------------------ aobo run


def read_rows(path: Path) -> list[dict[str, str]]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".xlsx"])
def test_run_command_writes_every_tenant_once_and_resumes_failed_ones(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"mailboxes{suffix}"
    bad = "t02.onmicrosoft.com"
    # t05 streams two rows then fails transiently once: its retry must not double those rows.
    faults = {bad: [AuthError("Access is denied.")], "t05.onmicrosoft.com": [StreamFault(2, TransientError("reset"))]}
    service = FakeService(faults=faults)
    options = {"opener": service.open, "sleep": FakeSleep(), "rng": random.Random(1), "fsync": False}
    summary = asyncio.run(run_command_async(["Get-Mailbox"], TENANTS, cred(), uri=URI, out=out, **options))
    assert summary.exit_code == 1 and [r.tenant for r in summary.failed] == [bad]
    assert len(summary.succeeded) == 11 and summary.rows == 33 and summary.objects == 33
    assert has_journal(out)  # kept for --resume
    if suffix == ".xlsx":
        import openpyxl

        sheet = openpyxl.load_workbook(out)["Results"]
        rows = [
            dict(zip(["Tenant", "Name", "Emails", "Index", "Command"], r, strict=True))
            for r in sheet.iter_rows(min_row=2, values_only=True)
        ]
    else:
        rows = read_rows(out)
    assert Counter(r["Tenant"] for r in rows) == {t: 3 for t in TENANTS if t != bad}

    service.faults.clear()
    again = run_command(["Get-Mailbox"], TENANTS, cred(), uri=URI, out=out, resume=True, **options)
    assert again.exit_code == 0 and again.resumed
    assert [r.tenant for r in again.succeeded] == [bad]
    assert len(again.skipped) == 11 and all(r.objects == 3 for r in again.skipped)
    assert again.rows == 36
    assert not has_journal(out)
    if suffix != ".xlsx":
        rows = read_rows(out)
        assert Counter(r["Tenant"] for r in rows) == {t: 3 for t in TENANTS}
        names = [r["Name"] for r in rows]
        assert len(names) == len(set(names)) == 36


def test_run_command_without_output_counts_objects() -> None:
    service = FakeService()
    summary = run_command(["Get-Mailbox", "Get-User"], TENANTS[:3], cred(), uri=URI, opener=service.open)
    assert summary.ok and summary.objects == 18 and summary.output is None
    assert isinstance(summary, RunSummary)


def test_ctrl_c_closes_sessions_and_keeps_the_journal(tmp_path: Path) -> None:
    """SIGINT to a real process running ``run_command``: sessions closed, journal left for --resume."""
    out = tmp_path / "m.jsonl"
    log = tmp_path / "log.json"
    script = textwrap.dedent(
        f"""
        import asyncio, json, sys
        from tests.toolkit.test_fanout import FakeService, cred, TENANTS, URI
        from aobo.toolkit.fanout import run_command
        service = FakeService(row_delay=0.02)
        try:
            run_command(["Get-Mailbox"], TENANTS * 1, cred(), uri=URI, out={str(out)!r}, opener=service.open)
        except KeyboardInterrupt:
            json.dump({{"opens": len(service.opens), "closes": service.closes}}, open({str(log)!r}, "w"))
            sys.exit(130)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    journal = out.with_name(out.name + ".aobo-run") / "journal.jsonl"
    try:
        _wait_for(lambda: journal.exists() and journal.read_text().count('"kind": "done"') >= 2, proc)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    counts = json.loads(log.read_text())
    assert counts["opens"] >= 3 and counts["opens"] == counts["closes"]
    assert has_journal(out)


def _wait_for(condition: Callable[[], bool], proc: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, "the run ended before the test could interrupt it"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
