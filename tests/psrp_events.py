"""What tests read out of the events psrpcore's client pool yields for one pipeline."""

from __future__ import annotations

from typing import Any

import psrpcore
from psrpcore.types import PSInvocationState

FINAL_STATES = (PSInvocationState.Completed, PSInvocationState.Failed, PSInvocationState.Stopped)


def outputs(events: list[psrpcore.PSRPEvent]) -> list[Any]:
    return [e.data for e in events if isinstance(e, psrpcore.PipelineOutputEvent)]


def warnings(events: list[psrpcore.PSRPEvent]) -> list[str]:
    return [str(e.record.Message) for e in events if isinstance(e, psrpcore.WarningRecordEvent)]


def final_state(events: list[psrpcore.PSRPEvent]) -> psrpcore.PipelineStateEvent:
    """The pipeline's last state, which must be a final one."""
    states = [e for e in events if isinstance(e, psrpcore.PipelineStateEvent)]
    assert states and states[-1].state in FINAL_STATES, [type(e).__name__ for e in events]
    return states[-1]
