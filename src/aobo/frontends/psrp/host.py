"""The client's PowerShell host, reached through PSRP host calls ([MS-PSRP] 2.2.2.27, 2.2.3.17).

A pipeline whose client has a host with a user interface gets a :class:`PipelineHost` in its
:class:`~aobo.cmdlets.context.CmdletContext`; the engine asks it to prompt (ShouldProcess under
``-Confirm``). Each call sends a PIPELINE_HOST_CALL and blocks the pipeline's worker thread until the
client's PIPELINE_HOST_RESPONSE arrives with a later WS-Man Send; :class:`aobo.frontends.psrp.runspace.Runspace`
does the waiting (``call_host``), this module only words the calls and reads the answers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from psrpcore.types import ChoiceDescription, HostInfo, HostMethodIdentifier

from aobo.cmdlets.results import CmdletError, ErrorCategory, ErrorRecord

#: Sends one host call (method, parameters) on the pipeline's behalf and returns the client's answer (blocking).
CallHost = Callable[[HostMethodIdentifier, list[Any]], Any]


def is_interactive(pipeline_host: HostInfo | None, pool_host: HostInfo | None) -> bool:
    """Whether prompts can reach a user, decided as PowerShell's server does.

    A pipeline whose HostInfo says ``UseRunspaceHost`` (or that sent none) uses the runspace pool's
    host from INIT_RUNSPACEPOOL. PowerShell's ``ServerRemoteHost`` has no UI when ``IsHostUINull``,
    and a prompt on a host without a UI fails with the non-interactive error.
    """
    info = pipeline_host
    if info is None or getattr(info, "UseRunspaceHost", True):
        info = pool_host
    if info is None:
        return False
    return not (getattr(info, "IsHostNull", True) or getattr(info, "IsHostUINull", True))


class HostCall:
    """One outstanding host call: the worker waits on ``done``, set by the answer, a stop or a close."""

    __slots__ = ("answered", "done", "error", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.answered = False
        self.result: Any = None
        self.error: Any = None

    def answer(self, result: Any, error: Any) -> None:
        self.result = result
        self.error = error
        self.answered = True
        self.done.set()


def host_call_failed(method: str, error: Any) -> CmdletError:
    """The client's host answered with an error: PowerShell rethrows it in the pipeline, which fails."""
    try:
        message = str(error)
    except Exception:  # a client's malformed ErrorRecord
        message = ""
    return CmdletError(
        ErrorRecord(
            message=message or f"Remote host method {method} failed.",
            exception_type="System.Management.Automation.Host.HostException",
            fully_qualified_error_id="RemoteHostCallFailed",
            category=ErrorCategory.InvalidArgument,
            activity=method,
            reason="HostException",
        ),
        terminating=True,
    )


class PipelineHost:
    """:class:`aobo.cmdlets.context.Host` for one pipeline whose client has an interactive host."""

    __slots__ = ("_call",)

    def __init__(self, call: CallHost) -> None:
        self._call = call

    def prompt_for_choice(self, caption: str, message: str, choices: Sequence[tuple[str, str]], default: int) -> int:
        # As psrpcore's ServerHostRequestor and PowerShell send them: untyped objects with label/helpMessage.
        descriptions = [
            ChoiceDescription.ToPSObjectForRemoting(ChoiceDescription(Label=label, HelpMessage=text), for_host=True)
            for label, text in choices
        ]
        answer = self._call(HostMethodIdentifier.PromptForChoice, [caption, message, descriptions, default])
        # PromptForChoice returns an Int32; anything else cannot name a choice (the caller re-asks).
        if isinstance(answer, bool):
            return -1
        try:
            return int(answer)
        except (TypeError, ValueError):
            return -1
