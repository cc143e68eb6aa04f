"""Per-mailbox statistics (``mailbox_statistics``): item counts, sizes, last logon."""

from __future__ import annotations

from aobo.domain.repository import Repository


class MailboxStatisticsStore(Repository):
    __slots__ = ()
