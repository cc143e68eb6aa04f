"""``aobo.frontends.psrp.runspace.Runspace`` against psrpcore's *client*, in memory (sans-IO).

No sockets and no WS-Man: the test plays the transport. Client bytes go in through
``open()`` / ``create_pipeline()`` / ``send()``, server bytes come out of ``await receive()`` and
are fed to a ``psrpcore.ClientRunspacePool``, whose events are what a real client would see.
The engine below the runspace is a set of small test functions yielding ``aobo.cmdlets.results``
records, and pipelines run on plain threads (``submit``). Each test body runs under
``asyncio.run`` (pytest-asyncio is not used) with an overall time limit.

Note on ``submit``: it must not run the callable inline. The runspace calls it while holding its
own (non-reentrant) lock, and the worker takes that lock first thing.
"""

from __future__ import annotations

import asyncio
import datetime
import struct
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import psrpcore
import pytest
from psrpcore.types import CommandTypes, PSCustomObject, PSInvocationState, PSVersion, RunspacePoolState

from aobo.cmdlets import results
from aobo.cmdlets.pipeline import CommandInvocation, PipelineStopped
from aobo.frontends.psrp import runspace as runspace_module
from aobo.frontends.psrp.runspace import FRAGMENT_SIZE, Runspace, RunspaceError, SessionEngine
from aobo.frontends.wsman.service import application_private_data
from tests import psrp_events
from tests.psrp_events import outputs

BIG = 1_000_000  # a receive budget nothing here exceeds
MAILBOX = results.ObjectShape(
    (
        "Microsoft.Exchange.Data.Directory.Management.Mailbox",
        "Microsoft.Exchange.Data.Directory.Management.MailEnabledOrgPerson",
        "System.Object",
    ),
    (
        "Name",
        "Alias",
        "Guid",
        "WhenCreated",
        "RecipientTypeDetails",
        "EmailAddresses",
        "ProhibitSendQuota",
        "IsShared",
        "Office",
    ),
)
USER_MAILBOX = results.EnumValue(
    (
        "Microsoft.Exchange.Data.Directory.Recipient.RecipientTypeDetails",
        "System.Enum",
        "System.ValueType",
        "System.Object",
    ),
    "UserMailbox",
    1,
)
NOTE = results.ObjectShape(("Test.Note", "System.Object"), ("Index", "Text"))
FINAL_STATES = (PSInvocationState.Completed, PSInvocationState.Failed, PSInvocationState.Stopped)

Run = Callable[[list[CommandInvocation], list[Any] | None, Callable[[], bool]], Iterator[Any]]


def note(index: int, text: str = "") -> results.ExchangeObject:
    return NOTE.make([index, text], to_string=f"note {index}")


def nothing(invocations: list[CommandInvocation], input: list[Any] | None, is_stopping: Callable[[], bool]) -> Any:
    return iter(())


# --------------------------------------------------------------------------------------- harness


class Harness:
    """One runspace, one psrpcore client pool, and the bookkeeping a test wants to look at."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        run: Run = nothing,
        metadata: Callable[[list[str] | None, int], list[Any]] | None = None,
    ) -> None:
        self.calls: list[tuple[list[CommandInvocation], list[Any] | None]] = []
        self.metadata_calls: list[tuple[list[str] | None, int]] = []
        self.audits: list[tuple[list[CommandInvocation], str | None]] = []
        self.workers: list[threading.Thread] = []
        self.received: list[tuple[uuid.UUID | None, bytes]] = []  # every chunk, in order
        self.receipts: list[tuple[uuid.UUID | None, list[bytes]]] = []  # every receive() result

        def engine_run(
            invocations: list[CommandInvocation], input: list[Any] | None, stopping: Callable[[], bool]
        ) -> Any:
            self.calls.append((invocations, None if input is None else list(input)))
            return run(invocations, input, stopping)

        def engine_metadata(names: list[str] | None, command_type: int) -> list[Any]:
            self.metadata_calls.append((names, command_type))
            return metadata(names, command_type) if metadata else []

        def audit(invocations: list[CommandInvocation], error: str | None) -> None:
            self.audits.append((invocations, error))

        engine = SessionEngine(run=engine_run, metadata=engine_metadata, audit=audit)
        self.runspace = Runspace(engine, application_private_data(), loop, self._submit)
        self.client = psrpcore.ClientRunspacePool()

    def _submit(self, fn: Callable[[], None]) -> None:
        worker = threading.Thread(target=fn, name="test-pipeline", daemon=True)
        self.workers.append(worker)
        worker.start()

    def outgoing(self) -> bytes:
        data = b""
        while (payload := self.client.data_to_send()) is not None:
            data += payload.data
        return data

    def feed(self, data: bytes, pid: uuid.UUID | None) -> list[psrpcore.PSRPEvent]:
        self.client.receive_data(psrpcore.PSRPPayload(data, psrpcore.StreamType.default, pid))
        events = []
        while (event := self.client.next_event()) is not None:
            events.append(event)
        return events

    async def receive(
        self, pid: uuid.UUID | None, budget: int = BIG, timeout: float = 5.0
    ) -> tuple[list[psrpcore.PSRPEvent], bool]:
        result = await self.runspace.receive(pid, budget, timeout)
        assert result is not None, f"nothing for {pid} within {timeout} s"
        chunks, done = result
        self.receipts.append((pid, chunks))
        events = []
        for chunk in chunks:
            self.received.append((pid, chunk))
            events += self.feed(chunk, pid)
        return events, done

    async def open(self) -> list[psrpcore.PSRPEvent]:
        self.client.open()
        self.runspace.open(self.outgoing())
        events = []
        while self.client.state != RunspacePoolState.Opened:
            new, _ = await self.receive(None)
            events += new
        return events

    def command(
        self, name: str = "Get-Thing", *, no_input: bool = True, **parameters: Any
    ) -> psrpcore.ClientPowerShell:
        ps = psrpcore.ClientPowerShell(self.client, no_input=no_input)
        ps.add_command(name)
        for key, value in parameters.items():
            ps.add_parameter(key, value)
        return ps

    def start(self, pipe: psrpcore.ClientPowerShell | psrpcore.ClientGetCommandMetadata) -> uuid.UUID:
        pipe.start()
        pid = self.runspace.create_pipeline(self.outgoing())
        assert pid == pipe.pipeline_id
        return pid

    def send_input(self, pid: uuid.UUID) -> None:
        self.runspace.send(self.outgoing(), "stdin", pid)

    async def finish(self, pid: uuid.UUID, budget: int = BIG) -> list[psrpcore.PSRPEvent]:
        """Receive until the runspace says the pipeline's data is all out (CommandState Done)."""
        events = []
        for _ in range(10_000):
            new, done = await self.receive(pid, budget)
            events += new
            if done:
                return events
        raise AssertionError("the pipeline never finished")

    def join_workers(self, timeout: float = 5.0) -> None:
        for worker in self.workers:
            worker.join(timeout)
            assert not worker.is_alive(), "a pipeline worker is still running"


def serve(body: Callable[[Harness], Awaitable[None]], *, limit: float = 20.0, **engine: Any) -> Harness:
    """Run ``body`` against a fresh harness on a fresh event loop; workers must end too."""

    async def main() -> Harness:
        harness = Harness(asyncio.get_running_loop(), **engine)
        try:
            await asyncio.wait_for(body(harness), limit)
        finally:
            harness.runspace.close()
        return harness

    harness = asyncio.run(main())
    harness.join_workers()
    return harness


def kinds(events: list[psrpcore.PSRPEvent]) -> list[str]:
    return [type(e).__name__.removesuffix("Event") for e in events]


def final_state(events: list[psrpcore.PSRPEvent]) -> psrpcore.PipelineStateEvent:
    state = psrp_events.final_state(events)
    assert events[-1] is state, "something came after the final pipeline state"
    return state


def fragments(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """(object id, fragment id, flags, blob) of every fragment in server data."""
    out = []
    offset = 0
    while offset < len(data):
        object_id, fragment_id, flags, length = struct.unpack(">QQBI", data[offset : offset + 21])
        out.append((object_id, fragment_id, flags, data[offset + 21 : offset + 21 + length]))
        offset += 21 + length
    assert offset == len(data)
    return out


def check_framing(received: list[tuple[uuid.UUID | None, bytes]], rpid: uuid.UUID) -> int:
    """Object ids unique, fragment ids 0..n with start/end flags, destination 1, RPID and PID right.

    Returns the number of messages. SESSION_CAPABILITY may carry an all-zero RPID (Windows does).
    """
    seen: dict[int, uuid.UUID | None] = {}
    parts: dict[int, list[bytes]] = {}
    messages = 0
    for target, data in received:
        for object_id, fragment_id, flags, blob in fragments(data):
            if fragment_id == 0:
                assert object_id not in seen, f"object id {object_id} used twice"
                assert flags & 1, f"object {object_id}: first fragment without the start flag"
                seen[object_id] = target
                parts[object_id] = []
            else:
                assert seen.get(object_id) == target and object_id in parts, f"stray fragment of {object_id}"
                assert not flags & 1, f"object {object_id}: start flag on fragment {fragment_id}"
                assert fragment_id == len(parts[object_id]), f"object {object_id}: fragment ids out of sequence"
            parts[object_id].append(blob)
            if flags & 2:
                message = b"".join(parts.pop(object_id))
                destination, message_type = struct.unpack("<II", message[:8])
                assert destination == 1, f"object {object_id} is not for the client"
                message_rpid = uuid.UUID(bytes_le=message[8:24])
                assert message_rpid == rpid or (message_type == 0x00010002 and message_rpid.int == 0)
                assert uuid.UUID(bytes_le=message[24:40]) == (target or uuid.UUID(int=0))
                messages += 1
    assert not parts, f"unfinished messages {sorted(parts)}"
    return messages


# --------------------------------------------------------------------------------------- open


def test_open_publishes_session_capability_private_data_and_opened() -> None:
    async def body(h: Harness) -> None:
        events = await h.open()
        assert kinds(events) == ["SessionCapability", "ApplicationPrivateData", "RunspacePoolState"]
        assert h.runspace.pool.state == RunspacePoolState.Opened
        table = h.client.application_private_data["PSVersionTable"]
        assert table["PSVersion"] == PSVersion("5.1.17763.6414")
        assert table["PSEdition"] == "Desktop"
        assert table["PSRemotingProtocolVersion"] == PSVersion("2.3")
        assert str(h.client.their_capability.protocolversion) == "2.3"
        # Nothing else is queued for the pool.
        assert await h.runspace.receive(None, BIG, 0.05) is None

    h = serve(body)
    check_framing(h.received, h.client.runspace_pool_id)


def test_open_without_init_runspacepool_is_refused() -> None:
    async def body(h: Harness) -> None:
        h.client.open()
        session_capability = h.client.data_to_send(250)  # the first message only
        assert session_capability is not None
        with pytest.raises(RunspaceError, match="INIT_RUNSPACEPOOL"):
            h.runspace.open(session_capability.data)

    serve(body)


# --------------------------------------------------------------------------------------- output


def test_output_objects_read_back_with_type_names_and_values() -> None:
    guid = uuid.UUID("5e0c6f4a-7d0e-4a43-9a53-0b1a2f3c4d5e")
    created = datetime.datetime(2024, 2, 29, 13, 14, 15, tzinfo=datetime.UTC)

    def run(invocations: list[CommandInvocation], input: Any, stopping: Any) -> Iterator[Any]:
        yield MAILBOX.make(
            [
                "Adele Vance",
                "AdeleV",
                guid,
                created,
                USER_MAILBOX,
                results.MultiValued(("SMTP:AdeleV@contoso.com", "smtp:adele@contoso.onmicrosoft.com")),
                results.Int64(107374182400),
                False,
                None,
            ],
            to_string="Adele Vance",
        )
        yield "plain text"
        yield 42

    async def body(h: Harness) -> None:
        await h.open()
        pid = h.start(h.command("Get-Mailbox", Identity="AdeleV"))
        events = await h.finish(pid)
        assert final_state(events).state == PSInvocationState.Completed
        mailbox, text, number = outputs(events)
        assert mailbox.PSObject.type_names == [
            "Deserialized.Microsoft.Exchange.Data.Directory.Management.Mailbox",
            "Deserialized.Microsoft.Exchange.Data.Directory.Management.MailEnabledOrgPerson",
            "Deserialized.System.Object",
        ]
        assert mailbox.PSObject.to_string == "Adele Vance"
        assert [p.name for p in mailbox.PSObject.extended_properties] == list(MAILBOX.property_names)
        assert mailbox.Name == "Adele Vance" and mailbox.Alias == "AdeleV"
        assert uuid.UUID(str(mailbox.Guid)) == guid
        assert mailbox.WhenCreated == created
        assert int(mailbox.RecipientTypeDetails) == 1
        assert mailbox.RecipientTypeDetails.PSObject.type_names[0] == (
            "Deserialized.Microsoft.Exchange.Data.Directory.Recipient.RecipientTypeDetails"
        )
        assert list(mailbox.EmailAddresses) == ["SMTP:AdeleV@contoso.com", "smtp:adele@contoso.onmicrosoft.com"]
        assert mailbox.ProhibitSendQuota == 107374182400
        assert mailbox.IsShared is False and mailbox.Office is None
        assert (text, number) == ("plain text", 42)

    h = serve(body, run=run)
    ((invocation,), input) = h.calls[0]
    assert invocation.name == "Get-Mailbox" and input is None
    assert invocation.parameters == [("Identity", "AdeleV")]
    assert h.audits == [([invocation], None)]


def test_warnings_errors_and_progress_keep_their_place_among_output() -> None:
    def run(invocations: list[CommandInvocation], input: Any, stopping: Any) -> Iterator[Any]:
        yield note(1)
        yield results.WarningRecord("careful")
        yield note(2)
        yield results.ErrorRecord(
            "The operation couldn't be performed because object 'nobody' couldn't be found.",
            "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
            "6F3DB6E1,Microsoft.Exchange.Management.RecipientTasks.GetMailbox",
            results.ErrorCategory.ObjectNotFound,
            activity="Get-Mailbox",
            target_object="nobody",
        )
        yield results.ProgressRecord("Gathering", "3 of 4", activity_id=7, percent_complete=75)
        yield results.VerboseRecord("verbose text")
        yield note(3)

    async def body(h: Harness) -> None:
        await h.open()
        events = await h.finish(h.start(h.command()))
        assert kinds(events) == [
            "PipelineOutput",
            "WarningRecord",
            "PipelineOutput",
            "ErrorRecord",
            "ProgressRecord",
            "VerboseRecord",
            "PipelineOutput",
            "PipelineState",
        ]
        assert [o.Index for o in outputs(events)] == [1, 2, 3]
        warning = next(e for e in events if isinstance(e, psrpcore.WarningRecordEvent))
        assert warning.record.Message == "careful"
        error = next(e for e in events if isinstance(e, psrpcore.ErrorRecordEvent)).record
        assert str(error) == "The operation couldn't be performed because object 'nobody' couldn't be found."
        assert error.FullyQualifiedErrorId == "6F3DB6E1,Microsoft.Exchange.Management.RecipientTasks.GetMailbox"
        assert error.CategoryInfo.Category.name == "ObjectNotFound"
        assert error.Exception.PSObject.type_names[0] == (
            "Deserialized.Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
        )
        progress = next(e for e in events if isinstance(e, psrpcore.ProgressRecordEvent)).record
        assert (progress.Activity, progress.StatusDescription, progress.ActivityId, progress.PercentComplete) == (
            "Gathering",
            "3 of 4",
            7,
            75,
        )
        # A non-terminating error does not fail the pipeline.
        assert final_state(events).state == PSInvocationState.Completed

    serve(body, run=run)


def test_cmdlet_error_fails_the_pipeline_after_the_output_before_it() -> None:
    record = results.ErrorRecord(
        "Cannot bind parameter 'ResultSize'.",
        "System.Management.Automation.ParameterBindingException",
        "CannotConvertArgumentNoMessage,Get-Mailbox",
        results.ErrorCategory.InvalidArgument,
    )

    def run(invocations: list[CommandInvocation], input: Any, stopping: Any) -> Iterator[Any]:
        yield note(1)
        raise results.CmdletError(record)

    async def body(h: Harness) -> None:
        await h.open()
        ps = h.command()
        events = await h.finish(h.start(ps))
        assert [o.Index for o in outputs(events)] == [1]
        state = final_state(events)
        assert state.state == PSInvocationState.Failed
        assert str(state.reason) == "Cannot bind parameter 'ResultSize'."
        assert state.reason.FullyQualifiedErrorId == "CannotConvertArgumentNoMessage,Get-Mailbox"
        assert ps.state == PSInvocationState.Failed

    h = serve(body, run=run)
    assert h.audits[0][1] == "Cannot bind parameter 'ResultSize'."


def test_unexpected_exception_fails_the_pipeline_without_leaking_its_text() -> None:
    def run(invocations: list[CommandInvocation], input: Any, stopping: Any) -> Iterator[Any]:
        yield note(1)
        raise RuntimeError("connection string with a secret")

    async def body(h: Harness) -> None:
        await h.open()
        events = await h.finish(h.start(h.command()))
        state = final_state(events)
        assert state.state == PSInvocationState.Failed
        assert str(state.reason) == "The command failed because of an internal error in the service (RuntimeError)."

    h = serve(body, run=run)
    assert all(b"secret" not in chunk for _, chunk in h.received)
    assert h.audits[0][1] == "RuntimeError: connection string with a secret"


def test_engine_raising_pipeline_stopped_ends_in_stopped() -> None:
    def run(invocations: list[CommandInvocation], input: Any, stopping: Any) -> Iterator[Any]:
        yield note(1)
        raise PipelineStopped()

    async def body(h: Harness) -> None:
        await h.open()
        ps = h.command()
        events = await h.finish(h.start(ps))
        assert final_state(events).state == PSInvocationState.Stopped
        assert ps.state == PSInvocationState.Stopped

    h = serve(body, run=run)
    assert h.audits[0][1] == "The pipeline has been stopped."


def test_get_command_metadata_goes_to_the_metadata_engine() -> None:
    def metadata(names: list[str] | None, command_type: int) -> list[Any]:
        return [note(0, "count"), note(1, "Get-Mailbox")]

    async def body(h: Harness) -> None:
        await h.open()
        meta = psrpcore.ClientGetCommandMetadata(h.client, ["Get-*", "Set-Mailbox"], command_type=CommandTypes.Cmdlet)
        events = await h.finish(h.start(meta))
        assert [o.Text for o in outputs(events)] == ["count", "Get-Mailbox"]
        assert final_state(events).state == PSInvocationState.Completed

    h = serve(body, metadata=metadata)
    assert h.metadata_calls == [(["Get-*", "Set-Mailbox"], int(CommandTypes.Cmdlet))]
    assert h.calls == [] and h.audits == []  # metadata is not a pipeline run and is not audited


# --------------------------------------------------------------------------------------- stop


def test_stop_ends_a_pipeline_blocked_on_back_pressure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runspace_module, "HIGH_WATER", 64 * 1024)
    produced = [0]

    def run(invocations: list[CommandInvocation], input: Any, stopping: Any) -> Iterator[Any]:
        while True:  # never looks at is_stopping: the runspace must stop it on its own
            produced[0] += 1
            yield note(produced[0], "x" * 2000)

    async def body(h: Harness) -> None:
        await h.open()
        ps = h.command()
        pid = h.start(ps)
        outbox = h.runspace.outboxes[pid]
        deadline = time.monotonic() + 5
        while outbox.size <= 64 * 1024 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        before = produced[0]
        await asyncio.sleep(0.2)
        assert produced[0] == before, "the worker kept producing past the high-water mark"
        assert h.workers[0].is_alive()
        h.runspace.stop(pid)
        events = await h.finish(pid)
        assert final_state(events).state == PSInvocationState.Stopped
        assert ps.state == PSInvocationState.Stopped
        assert 0 < len(outputs(events)) <= produced[0]

    h = serve(body, run=run)
    assert h.audits[0][1] == "The pipeline has been stopped."


def test_stop_reaches_a_cooperative_engine() -> None:
    started = threading.Event()

    def run(invocations: list[CommandInvocation], input: Any, stopping: Callable[[], bool]) -> Iterator[Any]:
        started.set()
        while not stopping():
            time.sleep(0.005)
        raise PipelineStopped()
        yield  # a generator

    async def body(h: Harness) -> None:
        await h.open()
        pid = h.start(h.command())
        assert await asyncio.to_thread(started.wait, 5)
        h.runspace.stop(pid)
        assert final_state(await h.finish(pid)).state == PSInvocationState.Stopped

    serve(body, run=run)


def test_stop_of_a_pipeline_still_waiting_for_input() -> None:
    async def body(h: Harness) -> None:
        await h.open()
        ps = h.command(no_input=False)
        pid = h.start(ps)
        assert await h.runspace.receive(pid, BIG, 0.05) is None  # nothing runs before input ends
        h.runspace.stop(pid)
        assert final_state(await h.finish(pid)).state == PSInvocationState.Stopped

    h = serve(body)
    assert h.calls == []


# --------------------------------------------------------------------------------------- input


def test_pipeline_input_runs_at_end_of_input() -> None:
    def run(invocations: list[CommandInvocation], input: list[Any] | None, stopping: Any) -> Iterator[Any]:
        yield from input or []

    async def body(h: Harness) -> None:
        await h.open()
        ps = h.command("Get-Mailbox", no_input=False)
        pid = h.start(ps)
        ps.send("AdeleV")
        ps.send(7)
        h.send_input(pid)
        await asyncio.sleep(0.05)
        assert h.calls == [], "the pipeline started before the end of its input"
        ps.send(PSCustomObject(Identity="AlexW", ResultSize=1))
        ps.send_eof()
        h.send_input(pid)
        events = await h.finish(pid)
        assert final_state(events).state == PSInvocationState.Completed
        text, number, table = outputs(events)
        assert (text, number) == ("AdeleV", 7)
        assert dict(table) == {"Identity": "AlexW", "ResultSize": 1}

    h = serve(body, run=run)
    assert h.calls[0][1] == ["AdeleV", 7, {"Identity": "AlexW", "ResultSize": 1}]


# --------------------------------------------------------------------------------------- sizes


def test_large_output_arrives_whole_through_small_receives() -> None:
    big = "".join(chr(0x41 + i % 26) for i in range(3 * FRAGMENT_SIZE + 123))  # one message of four fragments

    def run(invocations: list[CommandInvocation], input: Any, stopping: Any) -> Iterator[Any]:
        for i in range(300):
            yield note(i, f"{i:04d}" * 250)
            if i % 50 == 0:
                yield results.WarningRecord(f"warning {i}")
        yield note(300, big)

    async def body(h: Harness) -> None:
        await h.open()
        pid = h.start(h.command())
        events = await h.finish(pid, budget=4096)
        assert final_state(events).state == PSInvocationState.Completed
        notes = outputs(events)
        assert [n.Index for n in notes] == list(range(301))
        assert all(n.Text == f"{n.Index:04d}" * 250 for n in notes[:300])
        assert notes[300].Text == big
        assert len([e for e in events if isinstance(e, psrpcore.WarningRecordEvent)]) == 6
        assert len([r for r in h.receipts if r[0] == pid]) > 10

    h = serve(body, run=run)
    check_framing(h.received, h.client.runspace_pool_id)
    # The big object went out as several fragments of at most FRAGMENT_SIZE bytes.
    big_fragments = [f for _, data in h.received for f in fragments(data) if len(f[3]) > 30_000]
    assert len(big_fragments) >= 3 and all(len(f[3]) + 21 <= FRAGMENT_SIZE for f in big_fragments)


def test_every_receive_fits_its_budget_unless_it_is_one_larger_fragment() -> None:
    def run(invocations: list[CommandInvocation], input: Any, stopping: Any) -> Iterator[Any]:
        for i in range(200):
            yield note(i, "y" * 500)

    async def body(h: Harness) -> None:
        await h.open()
        pid = h.start(h.command())
        await h.finish(pid, budget=4096)

    h = serve(body, run=run)
    for _, chunks in h.receipts:
        data = b"".join(chunks)
        assert len(data) <= 4096 or len(fragments(data)) == 1, f"{len(data)} bytes in {len(fragments(data))} fragments"


# --------------------------------------------------------------------------------------- waiting


def test_receive_times_out_with_none() -> None:
    async def body(h: Harness) -> None:
        await h.open()
        started = time.monotonic()
        assert await h.runspace.receive(None, BIG, 0.2) is None
        assert 0.19 <= time.monotonic() - started < 1.0
        with pytest.raises(KeyError):
            await h.runspace.receive(uuid.uuid4(), BIG, 0.1)

    serve(body)


def test_receive_is_woken_by_data_from_a_worker() -> None:
    release = threading.Event()

    def run(invocations: list[CommandInvocation], input: Any, stopping: Any) -> Iterator[Any]:
        release.wait(5)
        yield note(1)

    async def body(h: Harness) -> None:
        await h.open()
        pid = h.start(h.command())
        waiting = asyncio.ensure_future(h.runspace.receive(pid, BIG, 5.0))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        started = time.monotonic()
        release.set()
        result = await waiting
        assert result is not None and time.monotonic() - started < 1.0

    serve(body, run=run)


def test_two_pipelines_interleave_without_taking_each_others_data() -> None:
    def run(invocations: list[CommandInvocation], input: Any, stopping: Any) -> Iterator[Any]:
        tag = invocations[0].name
        for i in range(150):
            if i % 10 == 0:
                time.sleep(0.002)
                yield results.WarningRecord(f"{tag} {i}")
            yield note(i, f"{tag}-{i}")

    async def body(h: Harness) -> None:
        await h.open()
        pid_a = h.start(h.command("Get-A"))
        pid_b = h.start(h.command("Get-B"))
        events: dict[uuid.UUID, list[psrpcore.PSRPEvent]] = {pid_a: [], pid_b: []}
        done = {pid_a: False, pid_b: False}
        while not all(done.values()):
            for pid in (pid_a, pid_b):
                if not done[pid]:
                    new, done[pid] = await h.receive(pid, budget=2048)
                    events[pid] += new
        for pid, tag in ((pid_a, "Get-A"), (pid_b, "Get-B")):
            assert all(e.pipeline_id == pid for e in events[pid])
            assert [o.Text for o in outputs(events[pid])] == [f"{tag}-{i}" for i in range(150)]
            assert [e.record.Message for e in events[pid] if isinstance(e, psrpcore.WarningRecordEvent)] == [
                f"{tag} {i}" for i in range(0, 150, 10)
            ]
            assert final_state(events[pid]).state == PSInvocationState.Completed
        assert await h.runspace.receive(None, BIG, 0.05) is None  # nothing leaked to the pool

    h = serve(body, run=run)
    check_framing(h.received, h.client.runspace_pool_id)


def test_close_wakes_a_waiting_pool_receive() -> None:
    async def body(h: Harness) -> None:
        await h.open()
        waiting = asyncio.ensure_future(h.runspace.receive(None, BIG, 5.0))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        h.runspace.close()
        assert await waiting is None
        assert time.monotonic() - started < 1.0

    serve(body)


def test_close_wakes_a_waiting_pipeline_receive() -> None:
    def run(invocations: list[CommandInvocation], input: Any, stopping: Callable[[], bool]) -> Iterator[Any]:
        while not stopping():
            time.sleep(0.005)
        raise PipelineStopped()
        yield  # a generator

    async def body(h: Harness) -> None:
        await h.open()
        pid = h.start(h.command())
        waiting = asyncio.ensure_future(h.runspace.receive(pid, BIG, 3.0))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        h.runspace.close()
        assert await waiting is None
        assert time.monotonic() - started < 1.0

    serve(body, run=run)


# --------------------------------------------------------------------------------------- ids


def test_object_ids_are_unique_across_psrpcore_messages_and_the_fast_output_path() -> None:
    def run(invocations: list[CommandInvocation], input: Any, stopping: Any) -> Iterator[Any]:
        for i in range(60):
            yield note(i)  # fast path (aobo frames it)
            if i % 3 == 0:
                yield results.WarningRecord(f"w{i}")  # psrpcore frames it
            if i % 7 == 0:
                yield results.ProgressRecord("a", "s", percent_complete=i)

    async def body(h: Harness) -> None:
        await h.open()
        for _ in range(2):  # two rounds of two concurrent pipelines
            pids = [h.start(h.command()), h.start(h.command())]
            for pid in pids:
                assert final_state(await h.finish(pid, budget=3000)).state == PSInvocationState.Completed

    h = serve(body, run=run)
    messages = check_framing(h.received, h.client.runspace_pool_id)
    assert messages == 3 + 4 * (1 + 60 + 20 + 9)  # per pipeline: Completed state, outputs, warnings, progress


# --------------------------------------------------------------------------------------- bad client data


def test_create_pipeline_refuses_short_and_duplicate_messages() -> None:
    async def body(h: Harness) -> None:
        await h.open()
        ps = h.command()
        ps.start()
        arguments = h.outgoing()
        with pytest.raises(RunspaceError, match="too short"):
            h.runspace.create_pipeline(arguments[:60])
        pid = h.runspace.create_pipeline(arguments)
        with pytest.raises(RunspaceError, match="already exists"):
            h.runspace.create_pipeline(arguments)
        await h.finish(pid)

    serve(body)


@pytest.mark.parametrize("where", ["open", "create_pipeline", "send"])
def test_truncated_client_data_raises_runspace_error(where: str) -> None:
    async def body(h: Harness) -> None:
        if where == "open":
            h.client.open()
            with pytest.raises(RunspaceError):
                h.runspace.open(h.outgoing()[:-25])
            return
        await h.open()
        ps = h.command(no_input=where == "create_pipeline")
        ps.start()
        arguments = h.outgoing()
        if where == "create_pipeline":
            with pytest.raises(RunspaceError):
                h.runspace.create_pipeline(arguments[:-25])
            return
        pid = h.runspace.create_pipeline(arguments)
        ps.send("input")
        with pytest.raises(RunspaceError):
            h.runspace.send(h.outgoing()[:-10], "stdin", pid)

    serve(body)


def test_a_failed_create_pipeline_leaves_nothing_behind() -> None:
    async def body(h: Harness) -> None:
        await h.open()
        ps = h.command()
        ps.start()
        arguments = h.outgoing()
        with pytest.raises(Exception):  # noqa: B017 - which exception is the subject of another test
            h.runspace.create_pipeline(arguments[:-25])
        assert ps.pipeline_id not in h.runspace.pipelines
        pid = h.runspace.create_pipeline(arguments)  # the client tries again
        assert final_state(await h.finish(pid)).state == PSInvocationState.Completed

    serve(body)


def test_a_bad_send_does_not_poison_the_runspace() -> None:
    async def body(h: Harness) -> None:
        await h.open()
        with pytest.raises(Exception):  # noqa: B017 - which exception is the subject of another test
            h.runspace.send(b"0123456789", "stdin", None)
        pid = h.start(h.command())
        assert final_state(await h.finish(pid)).state == PSInvocationState.Completed

    serve(body)


# --------------------------------------------------------------------------------------- limits


def test_only_running_pipelines_count_toward_the_pool_limit() -> None:
    async def body(h: Harness) -> None:
        await h.open()
        # Finished, unread and never closed: they do not hold a running slot.
        for _ in range(runspace_module.MAX_UNREAD_PIPELINES - 1):
            h.start(h.command())
        h.join_workers()
        waiting = [h.start(h.command(no_input=False)) for _ in range(runspace_module.MAX_PIPELINES)]
        with pytest.raises(RunspaceError, match=f"already has {runspace_module.MAX_PIPELINES} running pipelines"):
            h.start(h.command(no_input=False))
        # Once one of them has finished (stopped) and been read, there is room again.
        h.runspace.stop(waiting[0])
        await h.finish(waiting[0])
        h.runspace.close_pipeline(waiting[0])  # what the service does after the Receive that says Done
        h.start(h.command(no_input=False))

    serve(body)


def test_finished_pipelines_whose_output_was_not_read_are_capped() -> None:
    async def body(h: Harness) -> None:
        await h.open()
        for _ in range(runspace_module.MAX_UNREAD_PIPELINES):
            h.start(h.command())
        h.join_workers()
        with pytest.raises(RunspaceError, match="finished pipelines whose output was not received"):
            h.start(h.command())
        # Closing one (what the service does once its output was received) makes room.
        h.runspace.close_pipeline(next(iter(h.runspace.pipelines)))
        h.start(h.command())

    serve(body)


def test_the_final_state_always_comes_with_done() -> None:
    # Retirement relies on it: a Receive that hands over the final PIPELINE_STATE also says Done.
    def run(invocations: list[CommandInvocation], input: Any, stopping: Any) -> Iterator[Any]:
        yield from (note(i) for i in range(3))

    async def body(h: Harness) -> None:
        await h.open()
        for _ in range(50):
            ps = h.command()
            pid = h.start(ps)
            while True:
                events, done = await h.receive(pid)
                if any(isinstance(e, psrpcore.PipelineStateEvent) for e in events):
                    assert done
                    break
                assert not done
            h.runspace.close_pipeline(pid)

    serve(body, run=run)


def test_pipeline_input_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runspace_module, "MAX_PIPELINE_INPUT", 4096)

    async def body(h: Harness) -> None:
        await h.open()
        ps = h.command("Get-Mailbox", no_input=False)
        pid = h.start(ps)
        for i in range(10):
            ps.send("x" * 300)
            if i < 5:
                h.send_input(pid)
        with pytest.raises(RunspaceError, match="input exceeds 4096 bytes"):
            for _ in range(10):
                ps.send("x" * 300)
                h.send_input(pid)
        h.runspace.stop(pid)

    h = serve(body)
    assert h.calls == []  # the pipeline never ran on part of its input
