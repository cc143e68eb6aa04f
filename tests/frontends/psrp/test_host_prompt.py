"""Confirmation prompts through the client's host: PIPELINE_HOST_CALL / PIPELINE_HOST_RESPONSE, in memory.

The runspace runs the real engine (``run_pipeline``) over a one-cmdlet test registry whose
``Set-Thing`` calls ``should_process`` once per thing. psrpcore's *client* plays pypsrp or
PowerShell: it reads the server's bytes, sees the PromptForChoice host call and answers it with a
``pr`` Send (without CommandId, as pypsrp does). Pipelines run on plain threads, each test body under
``asyncio.run`` with a time limit, and every worker must have ended when the test does.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, cast

import psrpcore
import pytest
from psrpcore.types import (
    ErrorCategoryInfo,
    ErrorRecord,
    HostInfo,
    HostMethodIdentifier,
    NETException,
    PipelineHostResponse,
    PSInvocationState,
    RunspacePoolState,
)

import aobo.frontends.psrp.runspace as runspace_module
from aobo.cmdlets.confirm import CONFIRM_CHOICES
from aobo.cmdlets.context import CmdletContext, Host
from aobo.cmdlets.parameters import IntegerType
from aobo.cmdlets.pipeline import CommandInvocation, Invocation, run_pipeline
from aobo.cmdlets.registry import CmdletDefinition, Parameter, Registry
from aobo.frontends.psrp.host import is_interactive
from aobo.frontends.psrp.runspace import Runspace, SessionEngine
from aobo.frontends.wsman.service import application_private_data
from tests.psrp_events import final_state, outputs

BIG = 1_000_000
YES, YES_TO_ALL, NO, NO_TO_ALL = range(4)
#: What a client with an interactive host (PowerShell's console, pypsrp with a PSHost) sends.
INTERACTIVE = HostInfo(IsHostNull=False, IsHostUINull=False, IsHostRawUINull=True, UseRunspaceHost=False)
#: What pypsrp's pipelines send when the pool has a host: their own, the same one.
OWN_HOST = INTERACTIVE
#: What a pipeline sends to use the pool's host (pypsrp without host=, psrpcore's default).
USE_POOL_HOST = HostInfo()
NO_UI = HostInfo(IsHostNull=False, IsHostUINull=True, IsHostRawUINull=True, UseRunspaceHost=False)


def thing_registry(changed: list[int]) -> Registry:
    def set_thing(inv: Invocation) -> Iterator[Any]:
        for i in range(1, inv.bound["Count"] + 1):
            if inv.should_process(f'Setting thing "{i}".'):
                changed.append(i)
                yield f"changed {i}"

    return Registry(
        [
            CmdletDefinition(
                "Set-Thing",
                set_thing,
                (Parameter("Count", IntegerType(), default=1),),
                writes=True,
                confirm_impact="Medium",
                area="builtin",
            )
        ]
    )


class Harness:
    """One runspace over the real engine with a test registry, and one psrpcore client pool."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pool_host: HostInfo | None) -> None:
        self.changed: list[int] = []
        self.hosts: list[Host | None] = []
        self.audits: list[str | None] = []
        self.workers: list[threading.Thread] = []
        registry = thing_registry(self.changed)

        def run_with_host(
            invocations: list[CommandInvocation],
            input: list[Any] | None,
            is_stopping: Callable[[], bool],
            host: Host | None,
        ) -> Iterator[Any]:
            self.hosts.append(host)
            ctx = CmdletContext(
                store=cast(Any, None),
                caller=cast(Any, None),
                caller_tenant=cast(Any, None),
                tenant=cast(Any, None),
                roles=frozenset(),
                is_stopping=is_stopping,
                host=host,
            )
            return run_pipeline(ctx, registry, invocations, input)

        def run(invocations: list[CommandInvocation], input: list[Any] | None, stop: Callable[[], bool]) -> Any:
            raise AssertionError("run_with_host is set: run must not be used")

        def audit(invocations: list[CommandInvocation], error: str | None) -> None:
            self.audits.append(error)

        engine = SessionEngine(run=run, metadata=lambda names, kind: [], audit=audit, run_with_host=run_with_host)
        self.runspace = Runspace(engine, application_private_data(), loop, self._submit)
        self.client = psrpcore.ClientRunspacePool(host=pool_host)

    def _submit(self, fn: Callable[[], None]) -> None:
        worker = threading.Thread(target=fn, name="test-pipeline", daemon=True)
        self.workers.append(worker)
        worker.start()

    def outgoing(self) -> bytes:
        data = b""
        while (payload := self.client.data_to_send()) is not None:
            data += payload.data
        return data

    async def receive(self, pid: uuid.UUID | None, timeout: float = 5.0) -> tuple[list[psrpcore.PSRPEvent], bool]:
        result = await self.runspace.receive(pid, BIG, timeout)
        assert result is not None, f"nothing for {pid} within {timeout} s"
        chunks, done = result
        events = []
        for chunk in chunks:
            self.client.receive_data(psrpcore.PSRPPayload(chunk, psrpcore.StreamType.default, pid))
            while (event := self.client.next_event()) is not None:
                events.append(event)
        return events, done

    async def open(self) -> None:
        self.client.open()
        self.runspace.open(self.outgoing())
        while self.client.state != RunspacePoolState.Opened:
            await self.receive(None)

    def start(self, count: int, *, host: HostInfo | None = USE_POOL_HOST, **switches: Any) -> psrpcore.ClientPowerShell:
        ps = psrpcore.ClientPowerShell(self.client, host=host)
        ps.add_command("Set-Thing")
        ps.add_parameter("Count", count)
        for name, value in switches.items():
            ps.add_parameter(name, value)
        ps.start()
        assert self.runspace.create_pipeline(self.outgoing()) == ps.pipeline_id
        return ps

    async def next_prompt(self, ps: psrpcore.ClientPowerShell) -> tuple[psrpcore.PipelineHostCallEvent, list[Any]]:
        """Receive until the server asks; returns the host call and what came before it."""
        before: list[Any] = []
        while True:
            events, done = await self.receive(ps.pipeline_id)
            for i, event in enumerate(events):
                if isinstance(event, psrpcore.PipelineHostCallEvent):
                    assert i == len(events) - 1, "the server went on before the answer"
                    return event, before
                before.append(event)
            assert not done, f"the pipeline ended without asking: {before}"

    def answer(self, ps: psrpcore.ClientPowerShell, call: psrpcore.PipelineHostCallEvent, choice: int) -> None:
        psrpcore.ClientHostResponder(ps).prompt_for_choice(call.ci, choice)
        self.runspace.send(self.outgoing(), "pr", None)  # pypsrp sends host responses without CommandId

    async def finish(self, ps: psrpcore.ClientPowerShell) -> list[psrpcore.PSRPEvent]:
        events: list[psrpcore.PSRPEvent] = []
        while True:
            new, done = await self.receive(ps.pipeline_id)
            events += new
            assert not any(isinstance(e, psrpcore.PipelineHostCallEvent) for e in new), "an unexpected prompt"
            if done:
                return events

    def join_workers(self, timeout: float = 5.0) -> None:
        for worker in self.workers:
            worker.join(timeout)
            assert not worker.is_alive(), "a pipeline worker is still running"


def serve(
    body: Callable[[Harness], Awaitable[None]], *, pool_host: HostInfo | None = INTERACTIVE, limit: float = 20.0
) -> Harness:
    async def main() -> Harness:
        harness = Harness(asyncio.get_running_loop(), pool_host)
        try:
            await asyncio.wait_for(body(harness), limit)
        finally:
            harness.runspace.close()
        return harness

    harness = asyncio.run(main())
    harness.join_workers()
    return harness


# --------------------------------------------------------------------------------------- answers


def test_the_prompt_is_powershells_confirm_prompt_and_yes_goes_ahead() -> None:
    async def body(h: Harness) -> None:
        await h.open()
        ps = h.start(1, Confirm=True)
        call, _ = await h.next_prompt(ps)
        assert call.method_identifier == HostMethodIdentifier.PromptForChoice
        caption, message, choices, default = call.method_parameters
        assert caption == "Confirm"
        assert message == 'Are you sure you want to perform this action?\nSetting thing "1".'
        assert [(c.Label, c.HelpMessage) for c in choices] == [
            ("&Yes", "Continue with only the next step of the operation."),
            ("Yes to &All", "Continue with all the steps of the operation."),
            ("&No", "Skip this operation and proceed with the next operation."),
            ("No to A&ll", "Skip this operation and all subsequent operations."),
        ]
        assert [c.Label for c in choices] == [label for label, _ in CONFIRM_CHOICES]
        assert default == YES
        assert h.changed == []  # nothing before the answer
        h.answer(ps, call, YES)
        events = await h.finish(ps)
        assert outputs(events) == ["changed 1"]
        assert final_state(events).state == PSInvocationState.Completed

    h = serve(body)
    assert h.changed == [1]
    assert h.audits == [None]


def test_no_skips_that_change_and_asks_again_for_the_next() -> None:
    async def body(h: Harness) -> None:
        await h.open()
        ps = h.start(3, Confirm=True)
        call, _ = await h.next_prompt(ps)
        h.answer(ps, call, NO)
        call, _ = await h.next_prompt(ps)
        assert call.method_parameters[1].endswith('Setting thing "2".')
        h.answer(ps, call, YES)
        call, before = await h.next_prompt(ps)
        assert outputs(before) == ["changed 2"]  # output written before a prompt reaches the client first
        assert call.method_parameters[1].endswith('Setting thing "3".')
        h.answer(ps, call, NO)
        events = await h.finish(ps)
        assert final_state(events).state == PSInvocationState.Completed

    h = serve(body)
    assert h.changed == [2]


def test_yes_to_all_answers_for_the_rest_of_the_command() -> None:
    async def body(h: Harness) -> None:
        await h.open()
        ps = h.start(4, Confirm=True)
        call, _ = await h.next_prompt(ps)
        h.answer(ps, call, YES_TO_ALL)
        events = await h.finish(ps)  # no second prompt
        assert outputs(events) == [f"changed {i}" for i in range(1, 5)]
        assert final_state(events).state == PSInvocationState.Completed
        # The answer lasts for one command only: the next one asks again.
        ps = h.start(2, Confirm=True)
        call, _ = await h.next_prompt(ps)
        h.answer(ps, call, NO_TO_ALL)
        assert final_state(await h.finish(ps)).state == PSInvocationState.Completed

    h = serve(body)
    assert h.changed == [1, 2, 3, 4]


def test_no_to_all_skips_everything_after_one_prompt() -> None:
    async def body(h: Harness) -> None:
        await h.open()
        ps = h.start(1 + 2, Confirm=True)
        call, _ = await h.next_prompt(ps)
        h.answer(ps, call, YES)
        call, _ = await h.next_prompt(ps)
        h.answer(ps, call, NO_TO_ALL)
        events = await h.finish(ps)
        assert outputs(events) == []  # "changed 1" came before the second prompt
        assert final_state(events).state == PSInvocationState.Completed

    h = serve(body)
    assert h.changed == [1]


def test_an_answer_that_is_no_choice_is_asked_again() -> None:
    async def body(h: Harness) -> None:
        await h.open()
        ps = h.start(1, Confirm=True)
        call, _ = await h.next_prompt(ps)
        h.answer(ps, call, 7)
        call, _ = await h.next_prompt(ps)
        h.answer(ps, call, YES)
        assert final_state(await h.finish(ps)).state == PSInvocationState.Completed

    assert serve(body).changed == [1]


def test_a_host_that_answers_with_an_error_fails_the_pipeline() -> None:
    async def body(h: Harness) -> None:
        await h.open()
        ps = h.start(2, Confirm=True)
        call, _ = await h.next_prompt(ps)
        error = ErrorRecord(
            Exception=NETException("The user closed the dialog."),
            CategoryInfo=ErrorCategoryInfo(),
            FullyQualifiedErrorId="DialogClosed",
        )
        ps.host_response(call.ci, error_record=error)
        h.runspace.send(h.outgoing(), "pr", ps.pipeline_id)
        state = final_state(await h.finish(ps))
        assert state.state == PSInvocationState.Failed
        assert str(state.reason) == "The user closed the dialog."

    h = serve(body)
    assert h.changed == []


def test_without_confirm_or_with_whatif_nobody_is_asked() -> None:
    async def body(h: Harness) -> None:
        await h.open()
        ps = h.start(2)  # ConfirmImpact Medium is below $ConfirmPreference High
        assert outputs(await h.finish(ps)) == ["changed 1", "changed 2"]
        ps = h.start(2, Confirm=True, WhatIf=True)
        events = await h.finish(ps)
        assert [e.record.MessageData for e in events if isinstance(e, psrpcore.InformationRecordEvent)] == [
            'What if: Setting thing "1".',
            'What if: Setting thing "2".',
        ]
        assert final_state(events).state == PSInvocationState.Completed

    assert serve(body).changed == [1, 2]


def test_stray_or_repeated_host_responses_are_ignored() -> None:
    def stray(h: Harness, pid: uuid.UUID, ci: int) -> None:
        response = PipelineHostResponse(ci=ci, mi=HostMethodIdentifier.PromptForChoice, mr=YES)
        h.client.prepare_message(response, pipeline_id=pid, stream_type=psrpcore.StreamType.prompt_response)
        h.runspace.send(h.outgoing(), "pr", None)

    async def body(h: Harness) -> None:
        await h.open()
        ps = h.start(1, Confirm=True)
        call, _ = await h.next_prompt(ps)
        h.answer(ps, call, NO)
        assert final_state(await h.finish(ps)).state == PSInvocationState.Completed
        ps2 = h.start(1, Confirm=True)
        call2, _ = await h.next_prompt(ps2)
        stray(h, ps.pipeline_id, call.ci)  # answered already, and that pipeline has ended
        stray(h, ps2.pipeline_id, call2.ci + 1000)  # a call never made
        stray(h, uuid.uuid4(), call2.ci)  # a pipeline that does not exist
        await asyncio.sleep(0.05)
        assert h.workers[-1].is_alive()  # still waiting for the real answer
        assert h.changed == []
        h.answer(ps2, call2, YES)
        assert outputs(await h.finish(ps2)) == ["changed 1"]

    assert serve(body).changed == [1]


# --------------------------------------------------------------------------------------- stop and close


def test_stop_while_waiting_for_the_answer_ends_stopped_and_frees_the_worker() -> None:
    async def body(h: Harness) -> None:
        await h.open()
        ps = h.start(2, Confirm=True)
        await h.next_prompt(ps)
        worker = h.workers[-1]
        assert worker.is_alive()  # blocked on the host, holding no lock:
        assert h.runspace.lock.acquire(timeout=1)
        h.runspace.lock.release()
        h.runspace.stop(ps.pipeline_id)
        await asyncio.to_thread(worker.join, 5)
        assert not worker.is_alive()
        events = await h.finish(ps)
        assert final_state(events).state == PSInvocationState.Stopped
        assert ps.state == PSInvocationState.Stopped

    h = serve(body)
    assert h.changed == []
    assert h.audits == ["The pipeline has been stopped."]


def test_a_prompt_nobody_answers_ends_the_pipeline_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runspace_module, "HOST_CALL_TIMEOUT", 0.3)

    async def body(h: Harness) -> None:
        await h.open()
        ps = h.start(1, Confirm=True)
        await h.next_prompt(ps)  # ... and never answered
        worker = h.workers[-1]
        await asyncio.to_thread(worker.join, 5)
        assert not worker.is_alive()
        assert final_state(await h.finish(ps)).state == PSInvocationState.Stopped

    h = serve(body)
    assert h.changed == []


def test_closing_the_session_while_waiting_frees_the_worker() -> None:
    async def body(h: Harness) -> None:
        await h.open()
        ps = h.start(1, Confirm=True)
        await h.next_prompt(ps)
        worker = h.workers[-1]
        h.runspace.close()  # Delete, or the idle sweep
        await asyncio.to_thread(worker.join, 5)
        assert not worker.is_alive()

    h = serve(body)
    assert h.changed == []


def test_terminate_signal_while_waiting_frees_the_worker() -> None:
    async def body(h: Harness) -> None:
        await h.open()
        ps = h.start(1, Confirm=True)
        await h.next_prompt(ps)
        h.runspace.close_pipeline(ps.pipeline_id)
        await asyncio.to_thread(h.workers[-1].join, 5)
        assert not h.workers[-1].is_alive()

    assert serve(body).changed == []


# --------------------------------------------------------------------------------------- no host


@pytest.mark.parametrize(
    ("pool_host", "pipeline_host"),
    [
        (None, USE_POOL_HOST),  # psrpcore's and pypsrp's default: no host anywhere
        (NO_UI, USE_POOL_HOST),  # a host without a user interface
        (INTERACTIVE, NO_UI),  # the pipeline's own host wins over the pool's unless it says UseRunspaceHost
    ],
)
def test_a_client_that_cannot_prompt_gets_the_non_interactive_error(
    pool_host: HostInfo | None, pipeline_host: HostInfo
) -> None:
    async def body(h: Harness) -> None:
        await h.open()
        ps = h.start(2, host=pipeline_host, Confirm=True)
        state = final_state(await h.finish(ps))
        assert state.state == PSInvocationState.Failed
        assert str(state.reason) == (
            "A command that prompts the user failed because the host program or the command type does not "
            "support user interaction. The host was attempting to request confirmation with the following "
            'message: Are you sure you want to perform this action?\nSetting thing "1".'
        )
        assert state.reason.FullyQualifiedErrorId == "HostFunctionNotImplemented,Set-Thing"
        assert state.reason.Exception.PSObject.type_names[0].endswith("System.Management.Automation.Host.HostException")

    h = serve(body, pool_host=pool_host)
    assert h.hosts == [None]
    assert h.changed == []


def test_a_pipeline_with_its_own_interactive_host_is_asked() -> None:
    async def body(h: Harness) -> None:
        await h.open()
        ps = h.start(1, host=OWN_HOST, Confirm=True)
        call, _ = await h.next_prompt(ps)
        h.answer(ps, call, YES)
        assert final_state(await h.finish(ps)).state == PSInvocationState.Completed

    h = serve(body, pool_host=None)
    assert h.changed == [1]


def test_is_interactive() -> None:
    assert is_interactive(OWN_HOST, None)
    assert is_interactive(USE_POOL_HOST, INTERACTIVE)
    assert is_interactive(None, INTERACTIVE)
    assert not is_interactive(USE_POOL_HOST, None)
    assert not is_interactive(USE_POOL_HOST, HostInfo())
    assert not is_interactive(NO_UI, INTERACTIVE)
    assert not is_interactive(USE_POOL_HOST, NO_UI)
