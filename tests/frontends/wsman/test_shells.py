"""Tombstones of finished commands: laid before the command leaves the live table, bounded."""

from __future__ import annotations

import tracemalloc
import uuid
from typing import Any

from aobo.frontends.wsman.shells import RETIRED_COMMANDS, Shell


def _shell() -> Shell:
    scope: Any = None
    runspace: Any = None
    return Shell("S", "owner", scope, runspace, "uri", "127.0.0.1", 900.0)


def test_a_retired_command_leaves_the_table_and_stays_known() -> None:
    shell = _shell()
    command_id = str(uuid.uuid4()).upper()
    shell.commands[command_id] = uuid.UUID(command_id)
    shell.retire(command_id)
    assert command_id not in shell.commands
    assert shell.is_retired(command_id)
    assert shell.is_retired(command_id.lower())  # the same GUID in another spelling
    assert not shell.is_retired(str(uuid.uuid4()))


def test_commands_that_are_not_guids_are_remembered_by_their_text() -> None:
    shell = _shell()
    shell.commands["CMD-1"] = uuid.uuid4()
    shell.retire("CMD-1")
    assert shell.is_retired("CMD-1")
    assert not shell.is_retired("CMD-2")


def test_only_the_newest_tombstones_are_kept() -> None:
    shell = _shell()
    ids = [str(uuid.uuid4()).upper() for _ in range(RETIRED_COMMANDS + 10)]
    for command_id in ids:
        shell.retire(command_id)
    assert len(shell.retired) == RETIRED_COMMANDS
    assert not any(shell.is_retired(c) for c in ids[:10])
    assert all(shell.is_retired(c) for c in ids[10:])


def test_a_retired_commands_id_may_be_claimed_again_a_live_ones_not() -> None:
    shell = _shell()
    assert shell.claim("A")
    assert not shell.claim("A")  # live
    shell.retire("A")
    assert shell.claim("A")  # pypsrp's next invoke() of the same PowerShell object
    assert not shell.is_retired("A")
    assert "A" in shell.commands


def test_a_full_tombstone_table_stays_under_200_kib() -> None:
    shell = _shell()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        peak = 0
        for _ in range(3 * RETIRED_COMMANDS):  # full, then turned over twice
            shell.retire(str(uuid.uuid4()).upper())
            peak = max(peak, tracemalloc.get_traced_memory()[0] - before)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 200 * 1024, held
    assert peak < 300 * 1024, peak  # while the table resizes
