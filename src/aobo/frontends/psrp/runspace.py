"""One remote runspace pool: psrpcore's server engine, per-target outboxes and pipeline workers.

psrpcore keeps a single outgoing queue for the whole pool; WS-Man delivers data per target (the
pool, or one pipeline), each with its own long-poll Receive. So every time psrpcore may have
queued something we *drain* its queue into per-target :class:`Outbox` es, each holding whole PSRP
fragments so that any Receive can take a prefix of it.

Pipelines run on worker threads (the engine and the store are synchronous). Output objects skip
psrpcore's generic serialiser: the fast CLIXML writer renders them, and this module frames the
PSRP messages itself, reserving object ids from the pool so they never collide with psrpcore's.
All psrpcore calls happen under ``self.lock``; nothing waits while holding it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import psrpcore
from psrpcore.types import HostMethodIdentifier, PSInvocationState, PSRPMessageType, RunspacePoolState

from aobo.cmdlets import results
from aobo.cmdlets.context import Host
from aobo.cmdlets.pipeline import CommandInvocation, PipelineStopped
from aobo.frontends.psrp import clixml, windows_types
from aobo.frontends.psrp.generic import generic_dumps
from aobo.frontends.psrp.host import HostCall, PipelineHost, host_call_failed, is_interactive
from aobo.frontends.psrp.records import from_psobject, to_category_info, to_error_record, to_net_exception

log = logging.getLogger(__name__)

windows_types.register()

#: Size of the PSRP fragments we queue. Receives take whole fragments, so this bounds the
#: smallest useful envelope; 32 KiB is what Windows uses and fits pypsrp's first 150 KiB envelope.
FRAGMENT_SIZE = 32_768
#: A pipeline worker pauses while this much output waits for the client: two full Receives keep
#: the client busy, and memory stays bounded however many pipelines stream at once.
HIGH_WATER = 1024 * 1024
#: Running pipelines one runspace pool may hold at once (PowerShell clients run one at a time).
MAX_PIPELINES = 16
#: Finished pipelines whose output the client has not read yet (each may hold up to HIGH_WATER).
MAX_UNREAD_PIPELINES = 16
#: Largest PSRP message a client may send in pieces (Exchange cmdlet input is small).
MAX_PARTIAL_MESSAGE = 16 * 1024 * 1024
#: PSRP bytes of input one pipeline may be sent: the input is kept until the pipeline starts.
MAX_PIPELINE_INPUT = 16 * 1024 * 1024
#: Output is handed to the outbox in chunks of about this size, or after this many seconds.
FLUSH_BYTES = FRAGMENT_SIZE - 1024
FLUSH_INTERVAL = 0.02

_SERVER_TO_CLIENT = struct.pack("<I", 0x00000001)
_PIPELINE_OUTPUT = struct.pack("<I", PSRPMessageType.PipelineOutput.value)


#: How long a prompt (PromptForChoice) waits for the user: Exchange Online's idle timeout.
HOST_CALL_TIMEOUT: Final = 900.0


class RunspaceError(Exception):
    """The client's PSRP data could not be processed (becomes a WS-Man fault)."""


class Outbox:
    """Fragments waiting for one target's Receive.

    Guarded by its own condition, never by the runspace lock: the event loop takes only this one,
    briefly, so a worker or a request thread busy in psrpcore under the runspace lock never stalls
    it. Lock order when both are needed: runspace lock, then outbox.
    """

    __slots__ = ("chunks", "cond", "event", "finished", "size", "waiting")

    def __init__(self) -> None:
        self.chunks: deque[bytes] = deque()
        self.size = 0
        self.event = asyncio.Event()
        self.cond = threading.Condition(threading.Lock())
        self.finished = False  # the pipeline reached a final state and all of it is queued
        # A Receive is parked on this outbox: producers wake the event loop only then (not once
        # per 32 KiB of output).
        self.waiting = False

    def take(self, budget: int) -> list[bytes]:
        """Whole fragments from the front, at most ``budget`` bytes (or one fragment if larger)."""
        out: list[bytes] = []
        used = 0
        while self.chunks:
            chunk = self.chunks[0]
            if used + len(chunk) > budget:
                head = _fragments_prefix(chunk, budget - used)
                if head == 0 and out:
                    break
                if head == 0:  # a single fragment larger than the budget still has to go
                    head = _fragment_length(chunk, 0)
                if head < len(chunk):
                    self.chunks[0] = chunk[head:]
                    chunk = chunk[:head]
                else:
                    self.chunks.popleft()
                out.append(chunk)
                used += len(chunk)
                break
            self.chunks.popleft()
            used += len(chunk)
            out.append(chunk)
        self.size -= used
        return out


def _fragment_length(data: bytes, offset: int) -> int:
    (length,) = struct.unpack_from(">I", data, offset + 17)
    return 21 + length


def _fragments_prefix(data: bytes, limit: int) -> int:
    """Length of the longest run of whole fragments at the start of ``data`` within ``limit`` bytes."""
    end = 0
    while end < len(data):
        nxt = end + _fragment_length(data, end)
        if nxt > limit:
            break
        end = nxt
    return end


def whole_fragments(data: bytes) -> bool:
    """Whether ``data`` is a sequence of complete PSRP fragments (as every WS-Man stream must be)."""
    offset = 0
    try:
        while offset < len(data):
            offset += _fragment_length(data, offset)
    except struct.error:
        return False
    return offset == len(data)


@dataclass
class SessionEngine:
    """What a runspace needs from the layers below, bound to one session."""

    #: Runs a pipeline: (invocations, input, is_stopping) -> records.
    run: Callable[[list[CommandInvocation], list[Any] | None, Callable[[], bool]], Iterator[Any]]
    #: Answers GET_COMMAND_METADATA: (names, command_type) -> objects.
    metadata: Callable[[list[str] | None, int], list[Any]]
    #: Called once per finished pipeline: (invocations, error message or None).
    audit: Callable[[list[CommandInvocation], str | None], None]
    #: Runs a pipeline instead of ``run`` when set, also given the client's host (None when it cannot prompt).
    run_with_host: (
        Callable[[list[CommandInvocation], list[Any] | None, Callable[[], bool], Host | None], Iterator[Any]] | None
    ) = None


@dataclass(eq=False)
class PipelineRun:
    pid: uuid.UUID
    pipe: psrpcore.ServerPipeline
    outbox: Outbox
    input: list[Any] = field(default_factory=list)
    input_bytes: int = 0
    stopping: threading.Event = field(default_factory=threading.Event)
    started: bool = False
    closed: bool = False
    #: Host calls waiting for the client's answer, by call id (at most one: the worker waits for each).
    host_calls: dict[int, HostCall] = field(default_factory=dict)


def _internal_error(exc: BaseException) -> results.ErrorRecord:
    return results.ErrorRecord(
        message=f"The command failed because of an internal error in the service ({type(exc).__name__}).",
        exception_type="System.InvalidOperationException",
        fully_qualified_error_id="InternalError",
        category=results.ErrorCategory.InvalidOperation,
    )


def _check_fragments(data: bytes) -> None:
    if not whole_fragments(data):
        raise RunspaceError("The stream data is not a sequence of whole PSRP fragments.")


def pipeline_id_of(first_fragment: bytes) -> uuid.UUID:
    """The PID of a CREATE_PIPELINE / GET_COMMAND_METADATA, peeked from its first fragment."""
    if len(first_fragment) < 61:
        raise RunspaceError("The command arguments are too short to hold a PSRP message.")
    # 21-byte fragment header, then destination, message type and RPID; PID at 45..61 (.NET byte order).
    return uuid.UUID(bytes_le=bytes(first_fragment[45:61]))


class Runspace:
    def __init__(
        self,
        engine: SessionEngine,
        application_private_data: dict[str, Any],
        loop: asyncio.AbstractEventLoop,
        submit: Callable[[Callable[[], None]], Any],
    ) -> None:
        self.engine = engine
        self.lock = threading.Lock()
        self.pool = psrpcore.ServerRunspacePool(application_private_data)
        self.loop = loop
        self._submit = submit
        self.outboxes: dict[uuid.UUID | None, Outbox] = {None: Outbox()}
        self.pipelines: dict[uuid.UUID, PipelineRun] = {}
        self.closed = False
        #: Size of the fragments queued from now on: never more than the client's smallest Receive takes.
        self.fragment_size = FRAGMENT_SIZE

    # ----------------------------------------------------------------- client data in

    def open(self, creation: bytes) -> None:
        _check_fragments(creation)
        with self.lock:
            self._feed(creation, psrpcore.StreamType.default, None)
            if self.pool.state != RunspacePoolState.Opened:
                raise RunspaceError(
                    "The creationXml did not open a runspace pool (SESSION_CAPABILITY and "
                    "INIT_RUNSPACEPOOL are required)."
                )
            self._drain()

    def create_pipeline(self, arguments: bytes) -> uuid.UUID:
        pid = pipeline_id_of(arguments)
        _check_fragments(arguments)
        with self.lock:
            if self.closed:
                raise RunspaceError("The runspace pool is closed.")
            # A finished pipeline costs only its unread output: clients such as pypsrp's PowerShell
            # objects never close theirs, and WinRM servers keep serving them.
            running = sum(1 for run in self.pipelines.values() if not run.outbox.finished)
            if running >= MAX_PIPELINES:
                raise RunspaceError(
                    f"The runspace pool already has {MAX_PIPELINES} running pipelines; stop or close one first."
                )
            if len(self.pipelines) - running >= MAX_UNREAD_PIPELINES:
                raise RunspaceError(
                    f"The runspace pool already has {MAX_UNREAD_PIPELINES} finished pipelines whose output was "
                    "not received; receive or close them first."
                )
            if (old := self.pipelines.get(pid)) is not None:
                if not (old.outbox.finished and not old.outbox.chunks):
                    raise RunspaceError(f"A pipeline with id {pid} already exists.")
                # Read to the end, and the client reuses its id (pypsrp's second invoke() of one
                # PowerShell object) before the retirement got to close it.
                self._forget(old)
            run = PipelineRun(pid, psrpcore.ServerPipeline(self.pool, pid), Outbox())
            self.pipelines[pid] = run
            self.outboxes[pid] = run.outbox
            try:
                self._feed(arguments, psrpcore.StreamType.default, pid)
            except RunspaceError:
                # Leave nothing behind, so the client may retry with the same pipeline id.
                del self.pipelines[pid], self.outboxes[pid]
                self.pool.pipeline_table.pop(pid, None)
                raise
            self._drain()
        return pid

    def send(self, data: bytes, stream: str, pid: uuid.UUID | None) -> None:
        _check_fragments(data)
        stream_type = psrpcore.StreamType.prompt_response if stream == "pr" else psrpcore.StreamType.default
        with self.lock:
            if (run := self.pipelines.get(pid) if pid else None) is not None:
                run.input_bytes += len(data)
                if run.input_bytes > MAX_PIPELINE_INPUT:
                    raise RunspaceError(
                        f"The pipeline's input exceeds {MAX_PIPELINE_INPUT} bytes; send it in several commands."
                    )
            self._feed(data, stream_type, pid)
            self._drain()

    def _feed(self, data: bytes, stream_type: psrpcore.StreamType, pid: uuid.UUID | None) -> None:
        """Give client bytes to psrpcore and act on the events they complete. Caller holds the lock.

        Anything psrpcore cannot decode (bad CLIXML, nesting deep enough for a RecursionError, ...)
        becomes a RunspaceError, and psrpcore's half-read state is dropped so the next request of
        the session starts clean.
        """
        if self.closed:
            raise RunspaceError("The runspace pool is closed.")
        try:
            self.pool.receive_data(psrpcore.PSRPPayload(data, stream_type, pid))
            while (event := self.pool.next_event()) is not None:
                self._on_event(event)
            # A message spread over many Sends must not grow without bound.
            pending = sum(len(f) for frags in self.pool._incoming_fragments.values() for f in frags)
            if pending > MAX_PARTIAL_MESSAGE:
                raise RunspaceError(f"A PSRP message larger than {MAX_PARTIAL_MESSAGE} bytes was refused.")
        except RunspaceError:
            self._reset_incoming()
            raise
        except Exception as exc:
            self._reset_incoming()
            raise RunspaceError(f"The PSRP data could not be processed: {type(exc).__name__}: {exc}") from None

    def _reset_incoming(self) -> None:
        # psrpcore keeps undecoded bytes and partial messages; after an error they are garbage.
        self.pool._receive_buffer = bytearray()
        self.pool._incoming_fragments.clear()
        self.pool._incoming_messages.clear()

    def _on_event(self, event: psrpcore.PSRPEvent) -> None:
        run = self.pipelines.get(event.pipeline_id) if event.pipeline_id else None
        if isinstance(event, psrpcore.GetCommandMetadataEvent | psrpcore.CreatePipelineEvent):
            if run is None:
                raise RunspaceError("Pipeline message for an unknown pipeline.")
            if isinstance(event, psrpcore.GetCommandMetadataEvent) or event.pipeline.no_input:
                self._start(run)
        elif isinstance(event, psrpcore.PipelineInputEvent):
            if run is not None:
                run.input.append(from_psobject(event.data))
        elif isinstance(event, psrpcore.EndOfPipelineInputEvent):
            if run is not None and not run.started:
                self._start(run)
        elif isinstance(event, psrpcore.PipelineHostResponseEvent):
            call = run.host_calls.pop(event.ci, None) if run is not None else None
            if call is None:  # not asked, answered twice, or the pipeline is gone: nothing waits for it
                log.debug("host response for no outstanding call (pipeline %s, ci %s)", event.pipeline_id, event.ci)
            else:
                call.answer(event.result, event.error)
        elif isinstance(
            event,
            psrpcore.SetMaxRunspacesEvent | psrpcore.SetMinRunspacesEvent | psrpcore.ResetRunspaceStateEvent,
        ):
            self.pool.runspace_availability_response(event.ci, True)
        elif isinstance(event, psrpcore.GetAvailableRunspacesEvent):
            self.pool.runspace_availability_response(event.ci, 1)
        # Session capability, init, key exchange: psrpcore queued its replies already.

    # ----------------------------------------------------------------- data out

    def fit_fragments(self, receive_budget: int) -> None:
        """Make later fragments fit a Receive of ``receive_budget`` bytes ([MS-WSMV] MaxEnvelopeSize)."""
        self.fragment_size = max(256, min(FRAGMENT_SIZE, receive_budget))

    def _drain(self, finished: Outbox | None = None) -> None:
        """Move whatever psrpcore queued into the per-target outboxes. Caller holds the lock.

        ``finished`` is marked finished in the same step that hands it its last messages, so no
        Receive can take the final pipeline state without also learning that the command is done.
        """
        pending: dict[Outbox, list[bytes]] = {} if finished is None else {finished: []}
        while (payload := self.pool.data_to_send(self.fragment_size)) is not None:
            outbox = self.outboxes.get(payload.pipeline_id)
            if outbox is None:  # the pipeline was closed meanwhile; nobody will read it
                continue
            pending.setdefault(outbox, []).append(payload.data)
        for outbox, chunks in pending.items():
            self._put(outbox, chunks, finished=outbox is finished)

    def _put(self, outbox: Outbox, chunks: list[bytes], *, finished: bool = False) -> None:
        with outbox.cond:
            for chunk in chunks:
                outbox.chunks.append(chunk)
                outbox.size += len(chunk)
            if finished:
                outbox.finished = True
            self._notify(outbox)

    def _notify(self, outbox: Outbox, *, force: bool = False) -> None:
        """Wake a Receive parked on ``outbox``. Caller holds ``outbox.cond`` (or is closing it)."""
        if not (outbox.waiting or force):
            return
        outbox.waiting = False
        try:
            on_loop = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            outbox.event.set()
        elif not self.loop.is_closed():
            self.loop.call_soon_threadsafe(outbox.event.set)

    async def receive(self, pid: uuid.UUID | None, budget: int, timeout: float) -> tuple[list[bytes], bool] | None:
        """Wait for data for one target; None when the timeout passed with nothing to send."""
        outbox = self.outboxes.get(pid)
        if outbox is None:
            raise KeyError(pid)
        deadline = time.monotonic() + timeout
        while True:
            outbox.event.clear()
            with outbox.cond:
                chunks = outbox.take(budget)
                done = outbox.finished and not outbox.chunks
                outbox.waiting = not (chunks or done)
                if chunks:
                    outbox.cond.notify_all()  # a worker paused for back-pressure may go on
            if chunks or done:
                return chunks, done
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed or self.outboxes.get(pid) is not outbox:
                return None
            try:
                await asyncio.wait_for(outbox.event.wait(), remaining)
            except TimeoutError:
                return None

    # ----------------------------------------------------------------- pipelines

    def _start(self, run: PipelineRun) -> None:
        run.started = True
        self._submit(lambda: self._execute(run))

    def stop(self, pid: uuid.UUID) -> None:
        if (run := self.pipelines.get(pid)) is not None:
            self._stop(run)

    def _stop(self, run: PipelineRun) -> None:
        run.stopping.set()
        self._wake(run.outbox)
        with self.lock:
            self._release_host_calls(run)
            if not run.started and run.pipe.state == PSInvocationState.NotStarted:
                # Waiting for input: nothing runs, so stop it here.
                run.started = True
                run.pipe.start()
                run.pipe.stop()
                self._finish(run)

    def close_pipeline(self, pid: uuid.UUID, only: PipelineRun | None = None) -> None:
        """Stop and forget the pipeline ``pid``; with ``only``, just when that is still the one
        (a client may reuse a pipeline id once it has closed the first: pypsrp's second ``invoke``)."""
        run = self.pipelines.get(pid)
        if run is None or (only is not None and run is not only):
            return
        self._stop(run)
        with self.lock:
            if self.pipelines.get(pid) is run:
                self._forget(run)

    def _forget(self, run: PipelineRun) -> None:
        """Drop a pipeline from the pool. Caller holds the lock."""
        del self.pipelines[run.pid]
        run.closed = True
        self.pool.pipeline_table.pop(run.pid, None)
        if (outbox := self.outboxes.pop(run.pid, None)) is not None:
            self._wake(outbox)  # a Receive parked on it returns now

    def close(self) -> None:
        for pid in list(self.pipelines):
            self.close_pipeline(pid)
        with self.lock:
            self.closed = True
            for outbox in self.outboxes.values():
                self._wake(outbox)
            try:
                self.pool.begin_close()
                self.pool.close()
            except psrpcore.PSRPCoreError:
                log.debug("runspace pool already closed", exc_info=True)

    def _release_host_calls(self, run: PipelineRun) -> None:
        """Wake a worker waiting for the client's host; it sees the stop. Caller holds the lock."""
        calls = list(run.host_calls.values())
        run.host_calls.clear()
        for call in calls:
            call.done.set()

    def call_host(self, run: PipelineRun, method: HostMethodIdentifier, parameters: list[Any]) -> Any:
        """Worker thread: send one PIPELINE_HOST_CALL that expects an answer and wait for it.

        The wait holds no lock; a PIPELINE_HOST_RESPONSE fed by a later Send ends it, and so do
        ``stop`` and ``close_pipeline`` / ``close`` (then :class:`PipelineStopped` is raised). A client
        that answers with an error fails the pipeline with that error.
        """
        call = HostCall()
        with self.lock:
            if run.stopping.is_set() or run.closed or self.closed:
                raise PipelineStopped()
            ci = run.pipe.host_call(method, parameters)
            run.host_calls[ci] = call
            self._drain()
        # Bounded: a client that keeps the session alive but never answers must not hold a pipeline
        # worker for ever. Unanswered, the pipeline ends as if stopped.
        call.done.wait(HOST_CALL_TIMEOUT)
        if not call.answered:
            with self.lock:
                run.host_calls.pop(ci, None)
            raise PipelineStopped()
        if call.error is not None:
            raise host_call_failed(method.name, call.error)
        return call.result

    def _wake(self, outbox: Outbox) -> None:
        """Wake whoever waits on ``outbox``: a parked Receive and a worker paused for back-pressure."""
        with outbox.cond:
            outbox.cond.notify_all()
            self._notify(outbox, force=True)

    def _finish(self, run: PipelineRun) -> None:
        """After a final state was queued: drain it and mark the outbox finished. Caller holds the lock."""
        self._drain(finished=run.outbox)

    def _execute(self, run: PipelineRun) -> None:
        """Worker thread: run one pipeline to a final state."""
        invocations: list[CommandInvocation] = []
        audited = False
        out = _OutputWriter(self, run)

        def audit(error: str | None) -> None:
            # Before the final state goes out: a client that reads the audit log right after the
            # command ended must find it there.
            nonlocal audited
            if invocations and not audited:
                audited = True
                try:
                    self.engine.audit(invocations, error)
                except Exception:
                    log.exception("could not write the audit log")

        try:
            with self.lock:
                if run.closed or self.closed:
                    return
                # Windows never sends PipelineState Running; skipping it saves a message and a wake-up.
                run.pipe._change_state(PSInvocationState.Running, emit=False)
            metadata = run.pipe.metadata
            if isinstance(metadata, psrpcore.GetMetadata):
                names = [str(n) for n in (metadata.name or [])] or None
                items: Iterable[Any] = self.engine.metadata(names, int(metadata.command_type or 0))
            else:
                invocations = [
                    CommandInvocation(
                        name=str(cmd.command_text),
                        parameters=list(cmd.parameters),
                        is_script=bool(cmd.is_script),
                        end_of_statement=bool(cmd.end_of_statement),
                    )
                    for cmd in metadata.commands
                ]
                input = run.input if not metadata.no_input else None
                if self.engine.run_with_host is not None:
                    host = self._host_for(run, metadata.host, out)
                    items = self.engine.run_with_host(invocations, input, run.stopping.is_set, host)
                else:
                    items = self.engine.run(invocations, input, run.stopping.is_set)
            for item in items:
                if run.stopping.is_set():
                    raise PipelineStopped()
                if isinstance(item, results.STREAM_RECORD_TYPES):
                    out.flush()
                    self._write_record(run, item)
                else:
                    out.write(item)
            last = out.frame()
            audit(None)
            with self.lock:
                if run.closed or self.closed:
                    return
                # The last output and the Completed state reach the client in the same Receive.
                self._put(run.outbox, last)
                run.pipe.complete()
                self._finish(run)
        except PipelineStopped:
            audit("The pipeline has been stopped.")
            out.discard()
            with self.lock:
                if not (run.closed or self.closed):
                    run.pipe.stop()
                    self._finish(run)
        except results.CmdletError as exc:
            audit(exc.record.message)
            out.flush()
            self._fail(run, exc.record)
        except Exception as exc:
            log.exception("pipeline %s failed", run.pid)
            audit(f"{type(exc).__name__}: {exc}")
            self._fail(run, _internal_error(exc))
        finally:
            if not (run.outbox.finished or run.closed or self.closed):
                # A handler above failed too; the client must still see the pipeline end.
                log.error("pipeline %s ended without a final state; failing it", run.pid)
                with contextlib.suppress(Exception):
                    self._fail(run, _internal_error(RuntimeError("no final state")))
            audit("The pipeline ended without a final state.")

    def _host_for(self, run: PipelineRun, pipeline_host: Any, out: _OutputWriter) -> Host | None:
        """The client's host for this pipeline, or None when it cannot prompt (no host, or no UI)."""
        if not is_interactive(pipeline_host, self.pool.host):
            return None

        def call(method: HostMethodIdentifier, parameters: list[Any]) -> Any:
            out.flush()  # output written before the prompt reaches the client before it
            return self.call_host(run, method, parameters)

        return PipelineHost(call)

    def _fail(self, run: PipelineRun, record: results.ErrorRecord) -> None:
        with self.lock:
            if run.closed or self.closed:
                return
            # psrpcore has no "fail" helper; _change_state emits the PIPELINE_STATE message.
            run.pipe._change_state(PSInvocationState.Failed, error=to_error_record(record))
            self._finish(run)

    def _write_record(self, run: PipelineRun, record: results.StreamRecord) -> None:
        with self.lock:
            if run.closed or self.closed:
                return
            pipe = run.pipe
            if isinstance(record, results.ErrorRecord):
                pipe.write_error(
                    to_net_exception(record),
                    to_category_info(record),
                    target_object=record.target_object if isinstance(record.target_object, str) else None,
                    fully_qualified_error_id=record.fully_qualified_error_id,
                )
            elif isinstance(record, results.WarningRecord):
                pipe.write_warning(record.message)
            elif isinstance(record, results.VerboseRecord):
                pipe.write_verbose(record.message)
            elif isinstance(record, results.InformationalRecord):
                # What PowerShell shows through the host (What if: ...): an information record tagged
                # PSHOST reaches 2.3 clients the same way; older clients get it as verbose text.
                if self._client_protocol() >= (2, 3):
                    pipe.write_information(record.message, source="aobo", tags=["PSHOST"])
                else:
                    pipe.write_verbose(record.message)
            elif isinstance(record, results.ProgressRecord):
                pipe.write_progress(
                    activity=record.activity,
                    activity_id=record.activity_id,
                    status_description=record.status,
                    current_operation=record.current_operation or None,
                    percent_complete=record.percent_complete,
                    seconds_remaining=record.seconds_remaining,
                    record_type=psrpcore.types.ProgressRecordType.Completed
                    if record.completed
                    else psrpcore.types.ProgressRecordType.Processing,
                )
            self._drain()

    def _client_protocol(self) -> tuple[int, ...]:
        version = getattr(self.pool.their_capability, "protocolversion", None)
        try:
            return tuple(int(p) for p in str(version).split("."))
        except ValueError:
            return (2, 0)

    def reserve_object_ids(self, count: int) -> int:
        """Reserve ``count`` PSRP object ids; caller holds the lock."""
        # psrpcore numbers every outgoing message from this counter; sharing it keeps ids unique.
        first = self.pool._fragment_count
        self.pool._fragment_count += count
        return first


class _OutputWriter:
    """Frames output objects as PIPELINE_OUTPUT messages and hands them over in ~32 KiB chunks."""

    def __init__(self, runspace: Runspace, run: PipelineRun) -> None:
        self.runspace = runspace
        self.run = run
        self.messages: list[bytes] = []
        self.pending = 0
        self.last_flush = time.monotonic()
        # Destination, type, RPID and PID are the same for every output message of this pipeline.
        self.header = _SERVER_TO_CLIENT + _PIPELINE_OUTPUT + runspace.pool.runspace_pool_id.bytes_le + run.pid.bytes_le

    def write(self, value: Any) -> None:
        try:
            # One shared writer: its per-shape templates are built once per process, not per session.
            data = clixml.dumps(value)
        except (TypeError, ValueError):
            data = generic_dumps(value)
        self.messages.append(data)
        self.pending += len(data) + 61
        if self.pending >= FLUSH_BYTES or time.monotonic() - self.last_flush >= FLUSH_INTERVAL:
            self.flush()

    def discard(self) -> None:
        self.messages.clear()
        self.pending = 0

    def flush(self) -> None:
        chunks = self.frame()
        if not chunks:
            return
        rs = self.runspace
        outbox = self.run.outbox
        with rs.lock:
            if self.run.closed or rs.closed:
                return
            rs._put(outbox, chunks)
        # Back-pressure: a slow client must not make us buffer a whole tenant in memory. A client
        # that stops reading altogether is found by the idle sweep, whose close() ends the wait.
        run = self.run

        def may_go_on() -> bool:
            return outbox.size <= HIGH_WATER // 2 or run.stopping.is_set() or run.closed or rs.closed

        with outbox.cond:
            while outbox.size > HIGH_WATER and not may_go_on():
                outbox.cond.wait(timeout=1.0)

    def frame(self) -> list[bytes]:
        """The pending messages as PSRP fragments, in chunks of about FLUSH_BYTES."""
        if not self.messages:
            return []
        messages, self.messages, self.pending = self.messages, [], 0
        self.last_flush = time.monotonic()
        rs = self.runspace
        with rs.lock:
            first = rs.reserve_object_ids(len(messages))
        chunk = bytearray()
        chunks: list[bytes] = []
        header = self.header
        fragment_size = rs.fragment_size
        room = fragment_size - 21
        for i, data in enumerate(messages):
            message = header + data
            object_id = first + i
            if len(message) <= room:
                chunk += struct.pack(">QQBI", object_id, 0, 3, len(message))
                chunk += message
            else:
                for fid, start in enumerate(range(0, len(message), room)):
                    piece = message[start : start + room]
                    flags = (1 if fid == 0 else 0) | (2 if start + room >= len(message) else 0)
                    chunk += struct.pack(">QQBI", object_id, fid, flags, len(piece))
                    chunk += piece
                    if len(chunk) >= fragment_size:
                        chunks.append(bytes(chunk))
                        chunk = bytearray()
            if len(chunk) >= min(FLUSH_BYTES, fragment_size):
                chunks.append(bytes(chunk))
                chunk = bytearray()
        if chunk:
            chunks.append(bytes(chunk))
        return chunks
