"""Fan-out: run one task in every customer tenant, within each account's session limit.

:func:`run_across` opens one session per tenant (``DelegatedOrg=<tenant>``), hands it to ``fn`` for
every command of that tenant, closes it, and yields a :class:`TenantResult` as each tenant finishes.
It is the engine behind ``aobo run``; :func:`run_command` is that command's whole job (journal,
output file, summary) for the CLI to call with parsed options.

Scheduling
    Exchange Online lets an account hold three sessions (MaxConcurrency), so each account has that
    many slots, and a tenant takes a slot of the next account (round-robin) that has one free. The
    service refuses a fourth session with Exchange's MaxConcurrency text (:class:`SessionLimitError`);
    when that happens while this run holds other sessions of the account, something else holds one
    (another script, a forgotten session), so the account's usable slots shrink to what this run
    actually has open, and grow back one at a time after ``RetryPolicy.limit_recovery`` seconds. Such
    a refusal costs no attempt; a refusal with nothing of ours open does.
Retries
    :class:`SessionLimitError`, :class:`BudgetError` and :class:`TransientError` (every error whose
    ``retryable`` is true) are retried with exponential backoff and full jitter (a delay drawn
    uniformly from ``[0, min(max_delay, base_delay * 2**n))``), at most ``RetryPolicy.attempts``
    times; the slot is released while waiting. Anything else (:class:`AuthError`, a terminating
    :class:`CommandError`, a bug in ``fn``) fails the tenant at once. A failed tenant is reported in
    its result and the run goes on. A retry runs ``fn`` again from the start in a new session, and a
    row sink discards the failed attempt's rows, so rows are never doubled.
Closing
    Every session opened is closed whatever happens: success, failure, the consumer stopping early,
    cancellation or Ctrl-C. A session being opened when the run is cancelled is awaited and closed.
Determinism
    ``sleep``, ``rng`` and ``clock`` are injectable, so tests need no real time.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Generic, Literal, Protocol, TypeAlias, TypeVar

from aobo.toolkit.errors import SessionLimitError, ToolkitError
from aobo.toolkit.journal import RunJournal

T = TypeVar("T")

DEFAULT_SESSION_LIMIT: Final = 3  # Exchange Online's MaxConcurrency per account
CLOSE_TIMEOUT: Final = 30.0  # longest wait for one session to close (or a cancelled open to settle)
PROGRESS_INTERVAL: Final = 0.25  # seconds between "objects" progress events


# --------------------------------------------------------------------------------------------- shapes


class SessionLike(Protocol):
    """What the fan-out needs of :class:`aobo.toolkit.session.AsyncSession`."""

    org: str | None

    def stream(self, command: Any, /, **parameters: Any) -> AsyncIterator[Any]: ...

    async def close(self) -> None: ...


#: ``opener(uri, credential, org, *, ca_file=..., insecure=...)`` → an open session.
Opener: TypeAlias = Callable[..., Awaitable[Any]]
#: An async function returning a value, or an async generator yielding records (streamed to a sink).
TenantFn: TypeAlias = Callable[[Any], Awaitable[Any] | AsyncIterator[Any]]
#: One pipeline as ``AsyncSession.stream`` takes it: a cmdlet name, a Command, or a list of them.
Pipeline: TypeAlias = Any


class TenantRows(Protocol):
    """The rows of one tenant in flight (:class:`aobo.toolkit.journal.TenantPart`)."""

    def write(self, record: Any) -> None: ...

    def commit(self) -> None: ...

    def discard(self) -> None: ...


class RowSink(Protocol):
    """Where a run's rows go (:class:`aobo.toolkit.journal.RunJournal`)."""

    def begin(self, tenant: str) -> TenantRows: ...

    def record_failure(self, tenant: str, error: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Note:
    """Yielded by a streaming ``fn`` beside its records: a warning or a non-terminating error for
    the tenant's result rather than a row of output."""

    kind: Literal["warning", "error"]
    text: str


class OutputError(Exception):
    """The output could not be written (disk full, permissions): the whole run stops."""


@dataclass(frozen=True, slots=True)
class Account:
    """A credential and how many sessions it may hold at once (Exchange Online: 3)."""

    credential: Any
    limit: int = DEFAULT_SESSION_LIMIT

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError("an account needs a session limit of at least 1")

    @property
    def name(self) -> str:
        """The user name (never the password); a token provider's sign-in for REST."""
        cred = self.credential
        return str(getattr(cred, "username", None) or getattr(cred, "display_name", None) or "account")

    def __repr__(self) -> str:
        return f"Account({self.name!r}, limit={self.limit})"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a tenant is tried again."""

    attempts: int = 6  # tries per tenant that count (a refusal that shrank the account's slots does not)
    base_delay: float = 1.0
    max_delay: float = 30.0
    limit_recovery: float = 30.0  # after a MaxConcurrency refusal, seconds before trying one more slot

    def delay(self, failures: int, rng: random.Random) -> float:
        """Full jitter: uniform in ``[0, min(max_delay, base_delay * 2**(failures-1)))``."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(0, failures - 1))
        return rng.uniform(0, ceiling)


Status: TypeAlias = Literal["ok", "failed", "skipped"]


@dataclass(slots=True)
class TenantResult(Generic[T]):
    """What happened in one tenant. ``skipped``: done by an earlier run (``--resume``)."""

    tenant: str
    status: Status
    value: T | None = None
    objects: int = 0
    attempts: int = 0
    account: str | None = None
    elapsed: float = 0.0
    error: str | None = None  # one line: type, message, Exchange's FullyQualifiedErrorId
    error_type: str | None = None
    exception: BaseException | None = field(default=None, repr=False, compare=False)
    warnings: list[str] = field(default_factory=list)  # Exchange's warnings; sessions that did not close
    errors: list[str] = field(default_factory=list)  # non-terminating error records (the tenant still succeeded)

    @property
    def ok(self) -> bool:
        return self.status != "failed"


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot for a progress bar: tenants finished, objects per second, failures."""

    total: int
    done: int
    failed: int
    skipped: int
    running: int
    objects: int
    elapsed: float

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.skipped

    @property
    def objects_per_second(self) -> float:
        return self.objects / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def tenants_per_second(self) -> float:
        return (self.done + self.failed) / self.elapsed if self.elapsed > 0 else 0.0


EventKind: TypeAlias = Literal[
    "started", "tenant_started", "retry", "tenant_done", "tenant_failed", "objects", "finished"
]


@dataclass(frozen=True, slots=True)
class FanoutEvent:
    """One step of a run, with the progress after it; ``on_event`` receives these."""

    kind: EventKind
    progress: Progress
    tenant: str | None = None
    attempt: int = 0
    delay: float | None = None  # retry: seconds until the next attempt
    error: str | None = None  # retry, tenant_failed
    result: TenantResult[Any] | None = None  # tenant_done, tenant_failed


@dataclass
class RunSummary:
    """Per-tenant outcomes of a run; the CLI prints it and exits with :attr:`exit_code`."""

    results: list[TenantResult[Any]] = field(default_factory=list)
    elapsed: float = 0.0
    output: Path | None = None
    rows: int = 0  # rows in the output file, earlier (resumed) runs included
    resumed: bool = False

    def add(self, result: TenantResult[Any]) -> None:
        self.results.append(result)

    def _with(self, status: Status) -> list[TenantResult[Any]]:
        return [r for r in self.results if r.status == status]

    @property
    def succeeded(self) -> list[TenantResult[Any]]:
        return self._with("ok")

    @property
    def failed(self) -> list[TenantResult[Any]]:
        return self._with("failed")

    @property
    def skipped(self) -> list[TenantResult[Any]]:
        return self._with("skipped")

    @property
    def objects(self) -> int:
        """Objects received in this run (not counting resumed tenants)."""
        return sum(r.objects for r in self.results if r.status != "skipped")

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def exit_code(self) -> int:
        """0 when every tenant succeeded (or was already done), 1 when any failed."""
        return 0 if self.ok else 1


# --------------------------------------------------------------------------------------------- helpers


def tenant_name(tenant: Any) -> str:
    """A tenant given as a domain name, or as a discovered customer (``partner.Customer.domain``,
    its initial domain, which never changes; else its ``default_domain``)."""
    if isinstance(tenant, str):
        name = tenant
    else:
        found = (getattr(tenant, a, None) for a in ("domain", "initial_domain", "default_domain"))
        name = next((d for d in found if isinstance(d, str) and d.strip()), str(tenant))
    name = str(name).strip()
    if not name:
        raise ValueError("a tenant needs a name")
    return name


def unique_tenants(tenants: Iterable[Any]) -> list[str]:
    """Tenant names in order, each once (domain names compare case-insensitively)."""
    seen: dict[str, str] = {}
    for t in tenants:
        name = tenant_name(t)
        seen.setdefault(name.casefold(), name)
    return list(seen.values())


def accounts_of(credential_or_accounts: Any, per_account_limit: int = DEFAULT_SESSION_LIMIT) -> list[Account]:
    """One credential, an :class:`Account`, or a list of either → accounts with their limits."""
    items = (
        list(credential_or_accounts) if isinstance(credential_or_accounts, list | tuple) else [credential_or_accounts]
    )
    if not items:
        raise ValueError("run_across needs at least one credential")
    return [a if isinstance(a, Account) else Account(a, per_account_limit) for a in items]


def describe_error(exc: BaseException) -> str:
    """One line for a summary: type, first line of the message, Exchange's FullyQualifiedErrorId."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    fqid = getattr(exc, "fully_qualified_error_id", "")
    line = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return f"{line} ({fqid})" if fqid else line


def is_retryable(exc: BaseException) -> bool:
    """MaxConcurrency, runspace budget and transient network faults are worth another try."""
    return isinstance(exc, ToolkitError) and bool(getattr(exc, "retryable", False))


async def _settle(task: asyncio.Future[Any], timeout: float | None) -> bool:
    """Wait for ``task`` even if this task is cancelled meanwhile (up to ``timeout``, then cancel
    it; None: as long as it takes). Returns whether a cancellation arrived, for the caller to
    re-raise once cleanup is done."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout if timeout is not None else float("inf")
    interrupted = gave_up = False
    while not task.done():
        remaining = deadline - loop.time()
        if remaining <= 0:
            if gave_up:
                break
            task.cancel()
            gave_up, deadline = True, loop.time() + 1.0
            continue
        try:
            await asyncio.wait({task}, timeout=None if timeout is None else remaining)
        except asyncio.CancelledError:
            interrupted = True
    if task.done() and not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" noise
    return interrupted


class _Slots:
    """Per-account session slots, taken round-robin among accounts with room; fair (FIFO) waiting."""

    def __init__(self, accounts: Sequence[Account], clock: Callable[[], float], recovery: float) -> None:
        self.limits = [a.limit for a in accounts]
        self.usable = list(self.limits)
        self.in_use = [0] * len(accounts)
        self._shrunk_at = [0.0] * len(accounts)
        self._next = 0
        self._waiters: collections.deque[asyncio.Future[int]] = collections.deque()
        self._clock = clock
        self._recovery = recovery

    def _pick(self) -> int | None:
        n = len(self.limits)
        for step in range(n):
            i = (self._next + step) % n
            if self.in_use[i] < self.usable[i]:
                self._next = (i + 1) % n
                self.in_use[i] += 1
                return i
        return None

    async def acquire(self) -> int:
        if not self._waiters and (i := self._pick()) is not None:
            return i
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release(fut.result())  # granted just as we were cancelled
            raise

    def release(self, i: int, *, used: bool = False) -> None:
        """Give slot ``i`` back; ``used``: it held a session, so a shrunk account may grow again."""
        self.in_use[i] -= 1
        if used and self.usable[i] < self.limits[i] and self._clock() - self._shrunk_at[i] >= self._recovery:
            self.usable[i] += 1
            self._shrunk_at[i] = self._clock()
        self._wake()

    def refused(self, i: int) -> bool:
        """The service refused a session on account ``i`` (MaxConcurrency) while this slot was held.
        Shrink the account to the sessions this run has open; False if there are none to blame."""
        ours = self.in_use[i] - 1
        if ours < 1:
            return False
        if ours < self.usable[i]:
            self.usable[i] = ours
            self._shrunk_at[i] = self._clock()
        return True

    def _wake(self) -> None:
        while self._waiters:
            if self._waiters[0].done():
                self._waiters.popleft()
                continue
            i = self._pick()
            if i is None:
                return
            self._waiters.popleft().set_result(i)


@dataclass
class _Attempt:
    opened: bool = False
    shrunk: bool = False
    value: Any = None
    objects: int = 0
    error: Exception | None = None
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class _Fatal:
    """Carried through the results queue: the run must stop (output failure or a scheduler bug)."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


_WORKER_DONE: Final = object()


# --------------------------------------------------------------------------------------------- engine


class _Fanout:
    def __init__(
        self,
        tenants: Sequence[str],
        accounts: Sequence[Account],
        fn: TenantFn,
        *,
        uri: str | None,
        ca_file: Any,
        insecure: bool,
        retry: RetryPolicy,
        on_event: Callable[[FanoutEvent], None] | None,
        sink: RowSink | None,
        opener: Opener,
        sleep: Callable[[float], Awaitable[Any]],
        rng: random.Random,
        clock: Callable[[], float],
        resumed: int,
        close_timeout: float,
    ) -> None:
        self._queue = collections.deque(tenants)
        self._accounts = list(accounts)
        self._fn = fn
        self._uri = uri
        self._ca_file = ca_file
        self._insecure = insecure
        self._retry = retry
        self._on_event = on_event
        self._sink = sink
        self._opener = opener
        self._sleep = sleep
        self._rng = rng
        self._clock = clock
        self._close_timeout = close_timeout
        self._slots = _Slots(accounts, clock, retry.limit_recovery)
        self._out: asyncio.Queue[Any] = asyncio.Queue()
        self._total = len(tenants) + resumed
        self._done = self._failed = self._running = self._objects = 0
        self._skipped = resumed
        self._t0 = clock()
        self._last_objects_event = self._t0

    # ---- progress

    def progress(self) -> Progress:
        return Progress(
            total=self._total,
            done=self._done,
            failed=self._failed,
            skipped=self._skipped,
            running=self._running,
            objects=self._objects,
            elapsed=max(0.0, self._clock() - self._t0),
        )

    def _emit(self, kind: EventKind, **details: Any) -> None:
        if self._on_event is not None:
            self._on_event(FanoutEvent(kind, self.progress(), **details))

    def _count_objects(self, n: int) -> None:
        self._objects += n
        now = self._clock()
        if now - self._last_objects_event >= PROGRESS_INTERVAL:
            self._last_objects_event = now
            self._emit("objects")

    # ---- the run

    async def results(self) -> AsyncIterator[TenantResult[Any]]:
        self._t0 = self._last_objects_event = self._clock()
        self._emit("started")
        workers_wanted = min(len(self._queue), sum(self._slots.limits))
        workers = [asyncio.create_task(self._worker(), name=f"aobo-fanout-{i}") for i in range(workers_wanted)]
        try:
            remaining = len(workers)
            while remaining:
                item = await self._out.get()
                if item is _WORKER_DONE:
                    remaining -= 1
                elif isinstance(item, _Fatal):
                    raise item.error
                else:
                    yield item
            self._emit("finished")
        finally:
            for w in workers:
                w.cancel()
            interrupted = False
            pending = {w for w in workers if not w.done()}
            while pending:  # every worker closes its session before it ends
                try:
                    _, pending = await asyncio.wait(pending)
                except asyncio.CancelledError:
                    interrupted = True
            for w in workers:
                if not w.cancelled():
                    w.exception()
            if interrupted:
                raise asyncio.CancelledError

    async def _worker(self) -> None:
        try:
            while self._queue:
                tenant = self._queue.popleft()
                self._running += 1
                try:
                    result = await self._run_tenant(tenant)
                finally:
                    self._running -= 1
                self._finish(result)
                self._out.put_nowait(result)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # output failure, a bug, or an on_event callback that raised
            self._out.put_nowait(_Fatal(exc))
        finally:
            self._out.put_nowait(_WORKER_DONE)

    def _finish(self, result: TenantResult[Any]) -> None:
        if result.status == "ok":
            self._done += 1
            self._emit("tenant_done", tenant=result.tenant, attempt=result.attempts, result=result)
            return
        self._failed += 1
        if self._sink is not None:
            try:
                self._sink.record_failure(result.tenant, result.error or "")
            except Exception as exc:
                raise OutputError(f"cannot write the run journal: {exc}") from exc
        self._emit("tenant_failed", tenant=result.tenant, attempt=result.attempts, error=result.error, result=result)

    async def _run_tenant(self, tenant: str) -> TenantResult[Any]:
        started = self._clock()
        warnings: list[str] = []  # close problems, from every attempt
        attempts = failures = 0
        while True:
            slot = await self._slots.acquire()
            account = self._accounts[slot]
            attempts += 1
            self._emit("tenant_started", tenant=tenant, attempt=attempts)
            outcome = _Attempt()
            try:
                await self._attempt(tenant, slot, outcome, warnings)
            finally:
                self._slots.release(slot, used=outcome.opened)
            exc = outcome.error
            result = TenantResult[Any](tenant, "ok", attempts=attempts, account=account.name, warnings=warnings)
            if exc is None:
                result.value, result.objects = outcome.value, outcome.objects
                result.warnings, result.errors = outcome.warnings + warnings, outcome.errors
                result.elapsed = self._clock() - started
                return result
            self._count_objects(-outcome.objects)  # the attempt's rows were discarded
            if not outcome.shrunk:
                failures += 1
            if not is_retryable(exc) or failures >= self._retry.attempts:
                prefix = f"gave up after {attempts} attempts: " if is_retryable(exc) else ""
                result.status, result.error = "failed", prefix + describe_error(exc)
                result.error_type, result.exception = type(exc).__name__, exc
                result.elapsed = self._clock() - started
                return result
            delay = 0.0 if outcome.shrunk else self._retry.delay(failures, self._rng)
            self._emit("retry", tenant=tenant, attempt=attempts, delay=delay, error=describe_error(exc))
            if delay > 0:
                await self._sleep(delay)

    async def _attempt(self, tenant: str, slot: int, outcome: _Attempt, warnings: list[str]) -> None:
        """One try: open, run ``fn`` (rows to a part), commit, close. Errors land in ``outcome``."""
        account = self._accounts[slot]
        session: Any = None
        part: TenantRows | None = None
        try:
            session = await self._open(tenant, account)
            outcome.opened = True
            part = self._begin(tenant)
            outcome.value = await self._call(session, part, outcome)
            if part is not None:
                committing, part = part, None
                await self._commit(committing)
        except OutputError:
            raise
        except SessionLimitError as exc:
            outcome.error = exc
            outcome.shrunk = not outcome.opened and self._slots.refused(slot)
        except Exception as exc:
            outcome.error = exc
        finally:
            if part is not None:
                with contextlib.suppress(Exception):
                    part.discard()
            if session is not None:
                problem = await self._close(session)
                if problem:
                    warnings.append(problem)

    def _begin(self, tenant: str) -> TenantRows | None:
        if self._sink is None:
            return None
        sink = self._sink
        return self._output(lambda: sink.begin(tenant))

    @staticmethod
    def _output(action: Callable[[], T]) -> T:
        try:
            return action()
        except Exception as exc:
            raise OutputError(f"cannot write the output: {exc}") from exc

    async def _commit(self, part: TenantRows) -> None:
        """Commit on a thread: its fsyncs must not stall the other tenants' network traffic. A
        cancellation waits for the commit to end (the tenant is then in the output, or not at all)."""
        task = asyncio.ensure_future(asyncio.to_thread(self._output, part.commit))
        interrupted = await _settle(task, None)
        if interrupted:
            raise asyncio.CancelledError
        task.result()

    async def _call(self, session: Any, part: TenantRows | None, outcome: _Attempt) -> Any:
        produced = self._fn(session)
        if hasattr(produced, "__aiter__"):
            async with contextlib.aclosing(produced) if hasattr(produced, "aclose") else contextlib.nullcontext():
                async for record in produced:
                    self._take(record, part, outcome)
            return None
        value = await produced  # type: ignore[misc]
        if isinstance(value, Mapping):
            self._take(value, part, outcome)
        elif isinstance(value, Iterable) and not isinstance(value, str | bytes):
            if part is not None:
                for record in value:
                    self._take(record, part, outcome)
            elif isinstance(value, Sized):
                outcome.objects = len(value)
                self._count_objects(outcome.objects)
        return value

    def _take(self, record: Any, part: TenantRows | None, outcome: _Attempt) -> None:
        if type(record) is Note:
            (outcome.warnings if record.kind == "warning" else outcome.errors).append(record.text)
            return
        if part is not None:
            self._output(lambda: part.write(record))
        outcome.objects += 1
        self._count_objects(1)

    async def _open(self, tenant: str, account: Account) -> Any:
        task = asyncio.ensure_future(
            self._opener(self._uri, account.credential, tenant, ca_file=self._ca_file, insecure=self._insecure)
        )
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            # The service may have created the session already: wait for it, then close it.
            await _settle(task, self._close_timeout)
            if task.done() and not task.cancelled() and task.exception() is None:
                await self._close(task.result())
            raise

    async def _close(self, session: Any) -> str | None:
        """Close ``session`` even under cancellation; a warning text if that did not work."""
        task = asyncio.ensure_future(session.close())
        interrupted = await _settle(task, self._close_timeout)
        problem = None
        if not task.done() or task.cancelled():
            problem = f"closing the session timed out after {self._close_timeout:g} s"
        elif task.exception() is not None:
            problem = f"closing the session failed: {describe_error(task.exception())}"  # type: ignore[arg-type]
        if interrupted:
            raise asyncio.CancelledError
        return problem


def _default_opener() -> Opener:
    from aobo.toolkit.session import open_session

    return open_session


async def run_across(
    tenants: Iterable[Any],
    credential_or_accounts: Any,
    fn: TenantFn,
    *,
    uri: str | None,
    ca_file: Any = None,
    insecure: bool = False,
    per_account_limit: int = DEFAULT_SESSION_LIMIT,
    retry: RetryPolicy | None = None,
    on_event: Callable[[FanoutEvent], None] | None = None,
    sink: RowSink | None = None,
    opener: Opener | None = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    rng: random.Random | None = None,
    clock: Callable[[], float] = time.monotonic,
    resumed: int = 0,
    close_timeout: float = CLOSE_TIMEOUT,
) -> AsyncIterator[TenantResult[Any]]:
    """Run ``fn(session)`` in each tenant and yield a :class:`TenantResult` as each one finishes.

    ``fn`` is an async function (its return value becomes ``result.value``) or an async generator
    of records (streamed into ``sink``, counted in ``result.objects``). ``credential_or_accounts`` is
    a Credential, an :class:`Account` or a list of them; a plain credential gets
    ``per_account_limit`` slots. ``resumed`` counts tenants an earlier run finished, for progress.
    Stop early with ``contextlib.aclosing(run_across(...))``: open sessions are closed on exit.
    """
    names = unique_tenants(tenants)
    engine = _Fanout(
        names,
        accounts_of(credential_or_accounts, per_account_limit),
        fn,
        uri=uri,
        ca_file=ca_file,
        insecure=insecure,
        retry=retry or RetryPolicy(),
        on_event=on_event,
        sink=sink,
        opener=opener or _default_opener(),
        sleep=sleep,
        rng=rng or random.Random(),
        clock=clock,
        resumed=resumed,
        close_timeout=close_timeout,
    )
    try:
        async with contextlib.aclosing(engine.results()) as results:
            async for result in results:
                yield result
    finally:
        # An opener that keeps connections across tenants (REST's) is done with them now.
        closing = getattr(opener, "aclose", None)
        if closing is not None:
            await closing()


async def _next(results: AsyncIterator[T]) -> T:
    return await results.__anext__()


def run_across_sync(*args: Any, **kwargs: Any) -> Iterator[TenantResult[Any]]:
    """:func:`run_across` for scripts without asyncio: a generator of results as tenants finish.

    It drives its own event loop; Ctrl-C closes the open sessions, then raises KeyboardInterrupt.
    """
    with asyncio.Runner() as runner:
        results = run_across(*args, **kwargs)
        try:
            while True:
                try:
                    result = runner.run(_next(results))
                except StopAsyncIteration:
                    return
                yield result
        finally:
            runner.run(results.aclose())


# --------------------------------------------------------------------------------------------- aobo run


def _canonical(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if hasattr(value, "name") and hasattr(value, "parameters"):  # grammar.Command
        return {"command": value.name, "parameters": _canonical(value.parameters)}
    return f"<{type(value).__name__}>"  # e.g. the grammar's SWITCH marker


def command_text_of(commands: Sequence[Pipeline]) -> str:
    """A stable text for the journal to recognise the same command on ``--resume``."""
    return json.dumps(_canonical(list(commands)), ensure_ascii=False, sort_keys=False)


def _streamer(commands: Sequence[Pipeline]) -> Callable[[Any], AsyncIterator[Any]]:
    async def stream_all(session: Any) -> AsyncIterator[Any]:
        for pipeline in commands:
            stream = session.stream(pipeline)
            async with contextlib.aclosing(stream):  # leaving early releases the pipeline on the server
                async for record in stream:
                    yield record
            # PipelineStream keeps Exchange's warnings (the 1000-item ResultSize one) and
            # non-terminating errors; they belong in the tenant's result, not in the rows.
            for text in getattr(stream, "warnings", ()):
                yield Note("warning", str(text))
            for error in getattr(stream, "errors", ()):
                yield Note("error", describe_error(error))

    return stream_all


async def run_command_async(
    commands: Sequence[Pipeline],
    tenants: Iterable[Any],
    credential_or_accounts: Any,
    *,
    uri: str | None,
    out: str | Path | None = None,
    resume: bool = False,
    command_text: str | None = None,
    summary: RunSummary | None = None,
    fsync: bool = True,
    **options: Any,
) -> RunSummary:
    """``aobo run``: run ``commands`` (pipelines, each as ``AsyncSession.stream`` takes it, e.g.
    ``[grammar.parse("Get-Mailbox -ResultSize Unlimited")]``) in every tenant, one session each.
    Over REST, ``opener=rest.RestOpener(...)`` and ``uri`` the REST root (None: Microsoft's).

    With ``out`` (``.csv``, ``.jsonl`` or ``.xlsx``) rows go through a :class:`RunJournal`, so
    ``resume=True`` skips tenants an interrupted run finished; ``command_text`` (the command line
    as typed) identifies the command in the journal. ``summary`` is filled in as tenants finish, so
    a caller still has it after Ctrl-C. ``options`` go to :func:`run_across` (``ca_file``,
    ``insecure``, ``per_account_limit``, ``retry``, ``on_event``, ``opener``, ...).
    """
    names = unique_tenants(tenants)
    summary = summary if summary is not None else RunSummary()
    started = time.monotonic()
    journal = None
    if out is not None:
        text = command_text if command_text is not None else command_text_of(commands)
        journal = RunJournal.open(out, command=text, resume=resume, fsync=fsync)
        summary.output, summary.resumed = Path(out), journal.resumed
    try:
        todo = [t for t in names if journal is None or not journal.is_done(t)]
        if journal is not None:
            for t in names:
                if journal.is_done(t):
                    summary.add(TenantResult(t, "skipped", objects=journal.rows_of(t)))
        results = run_across(
            todo,
            credential_or_accounts,
            _streamer(commands),
            uri=uri,
            sink=journal,
            resumed=len(names) - len(todo),
            **options,
        )
        async with contextlib.aclosing(results):
            async for result in results:
                summary.add(result)
        if journal is not None:
            summary.rows = journal.finish(failed=len(summary.failed))
    finally:
        if journal is not None:
            journal.close()
        summary.elapsed = time.monotonic() - started
    return summary


def run_command(*args: Any, **kwargs: Any) -> RunSummary:
    """:func:`run_command_async` for the CLI. Ctrl-C closes the sessions, keeps the journal for
    ``--resume`` and raises KeyboardInterrupt."""
    from aobo.toolkit.session import run_sync

    return run_sync(run_command_async(*args, **kwargs))
