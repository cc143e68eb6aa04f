"""Per-mailbox statistics (``mailbox_statistics``): item counts, sizes, last logon. Sizes are byte
counts here; :mod:`aobo.domain.sizes` writes them as Exchange shows them.

A mailbox without a statistics row is a new, empty one: zero items, never logged on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa

from aobo.domain.repository import Repository
from aobo.domain.schema import mailbox_statistics, recipients

#: Keys of a mailbox's props holding its client access settings and its automatic replies (only
#: the values that differ from Exchange's defaults), read by Get-CASMailbox and
#: Get-MailboxAutoReplyConfiguration.
CAS_PROPS: Final = "CASMailbox"
AUTO_REPLY_PROPS: Final = "MailboxAutoReplyConfiguration"


@dataclass(frozen=True, slots=True)
class MailboxStatistics:
    """What Get-MailboxStatistics reports from the store for one mailbox."""

    item_count: int = 0
    total_item_size: int = 0
    deleted_item_count: int = 0
    total_deleted_item_size: int = 0
    last_logon_time: datetime | None = None
    last_user_action_time: datetime | None = None
    last_interaction_time: datetime | None = None


_COLUMNS: Final = (
    "item_count",
    "total_item_size",
    "deleted_item_count",
    "total_deleted_item_size",
    "last_logon_time",
    "last_user_action_time",
    "last_interaction_time",
)


class MailboxStatisticsStore(Repository):
    __slots__ = ()

    def get(self, tenant_id: int, recipient_id: int) -> MailboxStatistics:
        """The mailbox's statistics; an empty mailbox's when none were recorded."""
        s = mailbox_statistics.c
        stmt = sa.select(*(s[c] for c in _COLUMNS)).where(s.tenant_id == tenant_id, s.recipient_id == recipient_id)
        with self.reading() as conn:
            row = conn.execute(stmt).one_or_none()
        return MailboxStatistics() if row is None else MailboxStatistics(*row)

    def add_many(self, tenant_id: int, stats: Mapping[int, MailboxStatistics]) -> None:
        """Record statistics for recipients of the tenant that have none yet (recipient id →
        statistics), in one insert. Ids of other tenants' recipients are ignored."""
        if not stats:
            return
        with self.writing() as conn:
            own = set(
                conn.execute(
                    sa.select(recipients.c.id).where(
                        recipients.c.tenant_id == tenant_id, recipients.c.id.in_(list(stats))
                    )
                ).scalars()
            )
            ids = [i for i in stats if i in own]
            if not ids:
                return
            conn.execute(mailbox_statistics.insert(), list(_rows(tenant_id, ((i, stats[i]) for i in ids))))


def _rows(tenant_id: int, stats: Iterable[tuple[int, MailboxStatistics]]) -> Iterable[dict[str, Any]]:
    for recipient_id, st in stats:
        yield {
            "recipient_id": recipient_id,
            "tenant_id": tenant_id,
            **{c: getattr(st, c) for c in _COLUMNS},
        }
