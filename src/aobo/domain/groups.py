"""Distribution group and Microsoft 365 group membership (``group_members``)."""

from __future__ import annotations

from aobo.domain.repository import Repository


class GroupStore(Repository):
    __slots__ = ()
