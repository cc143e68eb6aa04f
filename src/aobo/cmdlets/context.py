"""What a cmdlet knows about the call it serves: who, in which tenant, with which roles."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aobo.domain.models import Tenant, User
    from aobo.domain.store import Store


@dataclass(frozen=True, slots=True)
class CmdletContext:
    """The caller, the tenant the session acts in, and the Exchange role groups that apply there.

    ``roles`` are Exchange role-group names (``Organization Management``, ``View-Only Organization
    Management``, ``Recipient Management``, ``Help Desk``): for a partner acting through DAP they are
    derived from its AdminAgents / HelpdeskAgents membership. ``is_stopping`` lets long cmdlets
    notice a Stop signal between objects.
    """

    store: Store
    caller: User
    caller_tenant: Tenant
    tenant: Tenant
    roles: frozenset[str]
    session_id: str = ""
    is_stopping: Callable[[], bool] = field(default=lambda: False)

    @property
    def delegated(self) -> bool:
        return self.caller_tenant.id != self.tenant.id
