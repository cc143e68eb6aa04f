"""The toolkit's exceptions: one tree, so a script can catch ``ToolkitError`` and a fan-out can ask
``error.retryable`` instead of matching texts.

::

    ToolkitError
    ├── ConnectError        the session could not be opened or used (TLS, protocol, HTTP status)
    │   └── AuthError       401, or the service's "Access is denied." (wrong password, not a customer)
    ├── TransientError      network trouble worth retrying (refused, reset, timed out)
    ├── WSManFault          any other WS-Management fault: code, subcode, Exchange's message text
    │   ├── SessionLimitError   MaxConcurrency: the account already has its sessions open
    │   └── BudgetError         Exchange's runspace budget / throttling
    └── CommandError        an Exchange error record (terminating, raised; non-terminating, collected)

Messages are the service's own words, as Exchange's clients show them. Nothing here ever holds a
password or an Authorization header.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AuthError",
    "BudgetError",
    "CommandError",
    "ConnectError",
    "SessionLimitError",
    "ToolkitError",
    "TransientError",
    "WSManFault",
]


class ToolkitError(Exception):
    """Base of every error the toolkit raises."""

    #: Whether trying again later (with backoff) may succeed.
    retryable: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConnectError(ToolkitError):
    """The session could not be opened or used: TLS verification, an unexpected HTTP answer, bad XML."""


class AuthError(ConnectError):
    """The service refused the credentials or the organisation (Exchange shows "Access is denied.")."""

    def __init__(self, message: str = "Access is denied.", *, fault: WSManFault | None = None) -> None:
        super().__init__(message)
        self.fault = fault


class TransientError(ToolkitError):
    """A network failure (connection refused or reset, timeout, 502/503/504); retry with backoff."""

    retryable = True


class WSManFault(ToolkitError):
    """A WS-Management fault: ``code`` is the numeric ``WSManFault/@Code``, ``reason`` the text."""

    def __init__(self, code: int, reason: str, *, subcode: str = "", machine: str | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.subcode = subcode
        self.machine = machine

    @property
    def timed_out(self) -> bool:
        """The long-poll ended without data (``w:TimedOut``): not an error, poll again."""
        return self.subcode.endswith("TimedOut") or self.code == 0x80338029

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code:#x}, subcode={self.subcode!r}, reason={self.reason[:80]!r})"


class SessionLimitError(WSManFault):
    """Exchange's MaxConcurrency: the account has its three sessions open; close one or wait."""

    retryable = True


class BudgetError(WSManFault):
    """Exchange's runspace budget (too many sessions created in the period) or a throttling delay."""

    retryable = True


class CommandError(ToolkitError):
    """An Exchange error record: the text the cmdlet wrote, its FullyQualifiedErrorId, category and
    exception type, as ``Get-Mailbox nobody`` shows them in PowerShell."""

    def __init__(
        self,
        message: str,
        *,
        fully_qualified_error_id: str = "",
        category: str = "NotSpecified",
        exception_type: str = "",
        target_object: Any = None,
        reason: str = "",
        activity: str = "",
        terminating: bool = False,
    ) -> None:
        super().__init__(message)
        self.fully_qualified_error_id = fully_qualified_error_id
        self.category = category
        self.exception_type = exception_type
        self.target_object = target_object
        self.reason = reason
        self.activity = activity
        self.terminating = terminating

    @property
    def category_info(self) -> str:
        """PowerShell's ``CategoryInfo`` line, e.g.
        ``NotSpecified: (:) [Get-Mailbox], ManagementObjectNotFoundException``."""
        target = "" if self.target_object is None else str(self.target_object)
        return f"{self.category}: ({target}:) [{self.activity}], {self.reason}"

    def __repr__(self) -> str:
        return f"CommandError({self.message!r}, fully_qualified_error_id={self.fully_qualified_error_id!r})"
