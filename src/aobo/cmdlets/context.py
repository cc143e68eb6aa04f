"""What a cmdlet knows about the call it serves: who, in which tenant, with which roles."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from aobo.domain.models import Tenant, User
    from aobo.domain.store import Store


class HostUnavailable(Exception):
    """The client's host cannot prompt (no host, or a host without a user interface)."""


class Host(Protocol):
    """The client's PowerShell host, as far as cmdlets use it: asking the user to choose.

    A front end whose client has an interactive host passes one in the context; the call blocks
    until the user answers (or raises :class:`HostUnavailable`, or the pipeline's stop exception).
    """

    def prompt_for_choice(self, caption: str, message: str, choices: Sequence[tuple[str, str]], default: int) -> int:
        """Show ``choices`` as ``(label, help)`` pairs (``&`` marks the hot key); return the index chosen."""
        ...


@dataclass(frozen=True, slots=True)
class CmdletContext:
    """The caller, the tenant the session acts in, and the Exchange role groups that apply there.

    ``roles`` are Exchange role-group names (``Organization Management``, ``View-Only Organization
    Management``, ``Recipient Management``, ``Help Desk``): for a partner acting through DAP they are
    derived from its AdminAgents / HelpdeskAgents membership. ``is_stopping`` lets long cmdlets
    notice a Stop signal between objects. ``host`` is the client's interactive host, ``None`` when it
    has none (then a confirmation prompt fails as PowerShell's does in a non-interactive session).
    ``never_prompts`` says the caller's protocol has no confirmation step at all (Exchange Online's
    REST API): ShouldProcess then asks nobody and a change goes ahead; ``-WhatIf`` still applies.
    """

    store: Store
    caller: User
    caller_tenant: Tenant
    tenant: Tenant
    roles: frozenset[str]
    session_id: str = ""
    is_stopping: Callable[[], bool] = field(default=lambda: False)
    host: Host | None = None
    never_prompts: bool = False

    @property
    def delegated(self) -> bool:
        return self.caller_tenant.id != self.tenant.id
