"""-Confirm and -WhatIf end to end: pypsrp 0.9.1 against the real server, with and without a host.

pypsrp answers the server's PIPELINE_HOST_CALLs through the ``PSHost`` given to its RunspacePool
(``PSHost.run_method`` dispatches PromptForChoice, method 26, to ``PSHostUserInterface.PromptForChoice``)
and sends the answer as a PIPELINE_HOST_RESPONSE on the ``pr`` stream. Without a host, pypsrp's HostInfo
says IsHostNull, and PowerShell's non-interactive error ends the command before anything changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pypsrp.host import PSHost, PSHostUserInterface
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool

from tests.e2e.helpers import PARTNER_ADMIN, Endpoint, objects_of

ORG = "tailspintoys.onmicrosoft.com"
YES, YES_TO_ALL, NO, NO_TO_ALL = range(4)


@dataclass
class Prompt:
    caption: str
    message: str
    choices: list[tuple[str, str]]
    default: int


class ScriptedUI(PSHostUserInterface):
    """A user who answers each PromptForChoice from a script and remembers what was asked."""

    def __init__(self, answers: list[int] | None = None) -> None:
        super().__init__(raw_ui=None)
        self.answers = list(answers or [])
        self.prompts: list[Prompt] = []

    def PromptForChoice(  # pypsrp dispatches by the host method's name
        self,
        runspace: Any,
        pipeline: Any,
        caption: str,
        message: str,
        choices: list[Any],
        default_choice: int,
    ) -> int:
        labels = [(c.extended_properties["label"], c.extended_properties["helpMessage"]) for c in choices]
        self.prompts.append(Prompt(caption, message, labels, default_choice))
        return self.answers.pop(0)


def host_with(ui: ScriptedUI) -> PSHost:
    return PSHost(None, None, False, "aobo-e2e", None, ui, "1.0")


def run(pool: RunspacePool, cmdlet: str, *params: tuple[str, object]) -> PowerShell:
    ps = PowerShell(pool)
    ps.add_cmdlet(cmdlet)
    for name, value in params:
        if value is None:
            ps.add_parameter(name)
        else:
            ps.add_parameter(name, value)
    ps.invoke()
    return ps


def display_name(pool: RunspacePool, name: str) -> str:
    [mailbox] = objects_of(run(pool, "Get-Mailbox", ("Identity", name)))
    return str(mailbox["DisplayName"])


@pytest.fixture
def mailbox(rps: Endpoint) -> Iterator[tuple[str, str]]:
    """A tailspintoys mailbox (its Name and DisplayName); its DisplayName is put back afterwards."""
    with rps.pool(PARTNER_ADMIN, ORG) as pool:
        [first] = objects_of(run(pool, "Get-Mailbox", ("ResultSize", 1)))
        name, original = str(first["Name"]), str(first["DisplayName"])
        try:
            yield name, original
        finally:
            ps = run(pool, "Set-Mailbox", ("Identity", name), ("DisplayName", original), ("Confirm", False))
            assert not ps.had_errors, ps.streams.error
            assert display_name(pool, name) == original


def open_with_host(rps: Endpoint, ui: ScriptedUI) -> RunspacePool:
    pool = RunspacePool(rps.wsman(PARTNER_ADMIN, ORG), configuration_name="Microsoft.Exchange", host=host_with(ui))
    pool.open()
    return pool


def test_confirm_prompts_through_the_clients_host_and_no_leaves_the_mailbox(
    rps: Endpoint, mailbox: tuple[str, str]
) -> None:
    name, original = mailbox
    ui = ScriptedUI(answers=[NO])
    pool = open_with_host(rps, ui)
    try:
        ps = run(pool, "Set-Mailbox", ("Identity", name), ("DisplayName", "Confirmed Name"), ("Confirm", None))
        assert ps.state == PSInvocationState.COMPLETED, ps.streams.error
        assert not ps.had_errors, ps.streams.error
        assert ui.prompts == [
            Prompt(
                "Confirm",
                f'Are you sure you want to perform this action?\nSetting mailbox "{name}".',
                [
                    ("&Yes", "Continue with only the next step of the operation."),
                    ("Yes to &All", "Continue with all the steps of the operation."),
                    ("&No", "Skip this operation and proceed with the next operation."),
                    ("No to A&ll", "Skip this operation and all subsequent operations."),
                ],
                YES,
            )
        ]
        assert display_name(pool, name) == original
    finally:
        pool.close()


def test_confirm_answered_yes_changes_the_mailbox(rps: Endpoint, mailbox: tuple[str, str]) -> None:
    name, _ = mailbox
    ui = ScriptedUI(answers=[YES])
    pool = open_with_host(rps, ui)
    try:
        ps = run(pool, "Set-Mailbox", ("Identity", name), ("DisplayName", "Confirmed Name"), ("Confirm", None))
        assert ps.state == PSInvocationState.COMPLETED, ps.streams.error
        assert len(ui.prompts) == 1
        assert display_name(pool, name) == "Confirmed Name"
    finally:
        pool.close()


def test_confirm_without_a_host_fails_with_the_non_interactive_error(rps: Endpoint, mailbox: tuple[str, str]) -> None:
    name, original = mailbox
    with rps.pool(PARTNER_ADMIN, ORG) as pool:  # pypsrp without host=: IsHostNull
        ps = run(pool, "Set-Mailbox", ("Identity", name), ("DisplayName", "Unconfirmed Name"), ("Confirm", None))
        assert ps.state == PSInvocationState.FAILED
        [error] = ps.streams.error
        assert str(error) == (
            "A command that prompts the user failed because the host program or the command type does not support "
            "user interaction. The host was attempting to request confirmation with the following message: "
            f'Are you sure you want to perform this action?\nSetting mailbox "{name}".'
        )
        assert error.fq_error.startswith("HostFunctionNotImplemented,")
        assert display_name(pool, name) == original


def test_whatif_writes_what_if_and_changes_nothing(rps: Endpoint, mailbox: tuple[str, str]) -> None:
    name, original = mailbox
    ui = ScriptedUI()
    pool = open_with_host(rps, ui)
    try:
        ps = run(
            pool,
            "Set-Mailbox",
            ("Identity", name),
            ("DisplayName", "WhatIf Name"),
            ("WhatIf", None),
            ("Confirm", None),
        )
        assert ps.state == PSInvocationState.COMPLETED, ps.streams.error
        # PowerShell writes it through the host; psrp 2.3 clients get it as an information record tagged PSHOST.
        assert [str(r.message_data) for r in ps.streams.information] == [f'What if: Setting mailbox "{name}".']
        assert ui.prompts == []  # -WhatIf wins over -Confirm
        assert display_name(pool, name) == original
    finally:
        pool.close()
