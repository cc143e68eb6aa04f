"""The exception tree shared by every layer.

    AoboError
    ├── StoreError                  domain: database problems
    │   └── NotFound
    ├── AuthenticationFailed        wrong user name or password, locked account (front ends answer 401)
    ├── AccessDenied                authenticated, but not allowed to reach that tenant or endpoint
    ├── SessionLimitExceeded        the account already has its maximum of open sessions
    └── CmdletError                 an error record raised inside the cmdlet engine (see cmdlets.results)

Nothing here knows about HTTP, WS-Man or PSRP: each front end maps these onto its own wire form.
"""

from __future__ import annotations


class AoboError(Exception):
    """Base of every error aobo raises on purpose."""


class StoreError(AoboError):
    """The store could not complete an operation."""


class NotFound(StoreError):
    """A looked-up row does not exist."""


class AuthenticationFailed(AoboError):
    """The caller's credentials were not accepted."""


class AccessDenied(AoboError):
    """The caller is authenticated but may not open this session."""


class SessionLimitExceeded(AoboError):
    """The account has already opened its maximum number of concurrent sessions."""

    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.limit = limit
