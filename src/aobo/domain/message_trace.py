"""Message trace records (``message_trace``), one per message and recipient."""

from __future__ import annotations

from aobo.domain.repository import Repository


class MessageTraceStore(Repository):
    __slots__ = ()
