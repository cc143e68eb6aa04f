"""pypsrp as its documentation shows it: a new ``PowerShell(pool)`` per command, never closed.

Windows clients send Signal terminate after every pipeline; pypsrp scripts usually do not, and
WinRM servers keep serving them. A finished pipeline whose output was received keeps only a
tombstone, so such a loop runs to the end and a late ``close()`` still succeeds.
"""

from __future__ import annotations

import time

from pypsrp.powershell import PowerShell, PSInvocationState

from aobo.frontends.psrp.runspace import MAX_PIPELINES
from tests.e2e.helpers import PARTNER_ADMIN, Endpoint

COMMANDS = 300


def test_an_audit_loop_that_never_closes_its_pipelines(rps: Endpoint) -> None:
    with rps.pool(PARTNER_ADMIN, "contoso.onmicrosoft.com") as pool:
        first = PowerShell(pool)
        first.add_cmdlet("Get-Mailbox").add_parameter("ResultSize", "Unlimited")
        addresses = [str(m.extended_properties["PrimarySmtpAddress"]) for m in first.invoke()]
        (shell,) = [
            s for s in rps.server.app.state.wsman.shells.all() if s.scope.caller.user_principal_name == PARTNER_ADMIN
        ]

        kept = []
        for i in range(COMMANDS):
            mailbox = addresses[i % len(addresses)]
            ps = PowerShell(pool)  # never closed, as in the usual `Get-InboxRule -Mailbox x` loop
            ps.add_cmdlet("Get-InboxRule").add_parameter("Mailbox", mailbox)
            ps.invoke()
            assert ps.state == PSInvocationState.COMPLETED, (i, ps.streams.error)
            assert not ps.had_errors, (i, ps.streams.error)
            kept.append(ps)
        assert COMMANDS > MAX_PIPELINES
        # Only tombstones stay: no pipeline, outbox or psrpcore state per finished command (the
        # last one is retired in the background just after its answer went out).
        deadline = time.monotonic() + 5
        while shell.runspace.pipelines and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not shell.runspace.pipelines
        assert not shell.runspace.pool.pipeline_table
        assert not shell.commands
        assert len(shell.retired) == COMMANDS + 1

        # A late close() of any of them, old or new, still succeeds (Signal terminate).
        first.close()
        kept[0].close()
        kept[-1].close()

        # And the pool still runs commands.
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-Mailbox").add_parameter("Identity", addresses[0])
        (mailbox,) = ps.invoke()
        assert str(mailbox.extended_properties["PrimarySmtpAddress"]) == addresses[0]


def test_one_powershell_object_invoked_again_and_again(rps: Endpoint) -> None:
    # pypsrp reuses the pipeline id for each invoke() of one PowerShell object, right after the
    # previous one's Signal terminate: the retirement of the previous run must not get in the way.
    with rps.pool(PARTNER_ADMIN, "contoso.onmicrosoft.com") as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-Mailbox").add_parameter("ResultSize", 2)
        for i in range(50):
            output = ps.invoke()
            assert ps.state == PSInvocationState.COMPLETED, (i, ps.streams.error)
            assert len(output) == 2 * (i + 1), i  # pypsrp keeps adding to the same output list
