"""ShouldProcess: -WhatIf, -Confirm and ConfirmImpact, as PowerShell applies them to a write.

A writing cmdlet calls :meth:`Confirmation.should_process` once per object it is about to change,
with the sentence Exchange uses for that change (``Setting mailbox "x".``):

* with ``-WhatIf`` the sentence is written as ``What if: ...`` and nothing is changed;
* with ``-Confirm`` (or when the cmdlet's ConfirmImpact reaches ``$ConfirmPreference``, High, and the
  caller did not pass ``-Confirm:$false``) the client's host is asked Yes / Yes to All / No / No to
  All, and the answer is remembered for the rest of the command;
* a client without an interactive host gets PowerShell's non-interactive error, which ends the
  pipeline: nothing after it runs unconfirmed;
* a caller whose protocol never prompts (:attr:`CmdletContext.never_prompts`, REST) is asked nothing,
  whatever ``-Confirm`` or ConfirmImpact say: its change goes ahead, as with ``-Confirm:$false``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from aobo.cmdlets.context import CmdletContext, HostUnavailable
from aobo.cmdlets.results import CmdletError, ErrorCategory, ErrorRecord, InformationalRecord

_IMPACT: Final = {"None": 0, "Low": 1, "Medium": 2, "High": 3}
#: $ConfirmPreference in an Exchange Online runspace.
CONFIRM_PREFERENCE: Final = "High"

# PowerShell's own words (CommandBaseStrings.resx): InquireCaptionDefault, ShouldProcessWarningFallback,
# and the labels and help of MshCommandRuntime.InquireHelper's choices, in its order, default Yes.
CONFIRM_CAPTION: Final = "Confirm"
CONFIRM_QUESTION: Final = "Are you sure you want to perform this action?"
#: InquireHelper leaves Suspend out in a remote session (IsSuspendPromptAllowed): no nested prompt there.
CONFIRM_CHOICES: Final = (
    ("&Yes", "Continue with only the next step of the operation."),
    ("Yes to &All", "Continue with all the steps of the operation."),
    ("&No", "Skip this operation and proceed with the next operation."),
    ("No to A&ll", "Skip this operation and all subsequent operations."),
)
_YES, _YES_TO_ALL, _NO, _NO_TO_ALL = range(4)

#: HostInterfaceExceptionsStrings.HostFunctionPromptNotImplemented: what InternalHostUserInterface.PromptForChoice
#: throws (a HostException, error id HostFunctionNotImplemented, category NotImplemented) when the remote
#: host has no UI (ServerRemoteHost with HostInfo.IsHostUINull). ``{message}`` is the prompt's whole message.
NON_INTERACTIVE: Final = (
    "A command that prompts the user failed because the host program or the command type does not support "
    "user interaction. The host was attempting to request confirmation with the following message: {message}"
)


def confirmation_message(description: str) -> str:
    """The prompt's message for one change: ShouldProcessWarningFallback around Exchange's sentence."""
    return f"{CONFIRM_QUESTION}\n{description}"


def non_interactive_error(description: str, cmdlet: str) -> ErrorRecord:
    return ErrorRecord(
        message=NON_INTERACTIVE.format(message=confirmation_message(description)),
        exception_type="System.Management.Automation.Host.HostException",
        fully_qualified_error_id=f"HostFunctionNotImplemented,{cmdlet}",
        category=ErrorCategory.NotImplemented,
        activity=cmdlet,
        reason="HostException",
    )


class Confirmation:
    """The ShouldProcess state of one command: its switches and any "to All" answer so far."""

    __slots__ = ("_answer_all", "_cmdlet", "_ctx", "_emit", "_impact", "confirm", "whatif")

    def __init__(
        self,
        ctx: CmdletContext,
        cmdlet: str,
        confirm_impact: str,
        bound: Mapping[str, Any],
        emit: Callable[[Any], None],
    ) -> None:
        self._ctx = ctx
        self._emit = emit
        self._cmdlet = cmdlet
        self._impact = _IMPACT.get(confirm_impact, 2)
        self.whatif = bool(bound.get("WhatIf"))
        # MshCommandRuntime.CanShouldProcessAutoConfirm: -Confirm lowers $ConfirmPreference to Low and
        # -Confirm:$false raises it to None; a cmdlet whose ConfirmImpact is None never asks.
        given = bound.get("Confirm")
        if self._impact == 0 or ctx.never_prompts:
            # Nobody can be asked there, and clients of such a protocol (portals over REST) send
            # removals without -Confirm:$false, expecting them to run.
            self.confirm = False
        elif given is None:
            self.confirm = self._impact >= _IMPACT[CONFIRM_PREFERENCE]
        else:
            self.confirm = bool(given)
        self._answer_all: bool | None = None

    def should_process(self, message: str) -> bool:
        """May the change ``message`` describes go ahead? Writes the ``What if:`` record, asks the
        host, or raises the terminating non-interactive error."""
        if self.whatif:
            self._emit(InformationalRecord(f"What if: {message}"))
            return False
        if not self.confirm or self._answer_all is not None:
            return self._answer_all is not False
        host = self._ctx.host
        if host is None:
            raise CmdletError(non_interactive_error(message, self._cmdlet), terminating=True)
        choice = -1
        while choice not in (_YES, _YES_TO_ALL, _NO, _NO_TO_ALL):  # InquireHelper asks again on any other answer
            try:
                choice = host.prompt_for_choice(CONFIRM_CAPTION, confirmation_message(message), CONFIRM_CHOICES, _YES)
            except HostUnavailable:
                raise CmdletError(non_interactive_error(message, self._cmdlet), terminating=True) from None
        if choice == _YES_TO_ALL:
            self._answer_all = True
        elif choice == _NO_TO_ALL:
            self._answer_all = False
        return choice in (_YES, _YES_TO_ALL)
