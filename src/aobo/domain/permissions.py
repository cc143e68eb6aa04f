"""Mailbox permissions (FullAccess...), recipient permissions (SendAs) and mailbox folder permissions."""

from __future__ import annotations

from aobo.domain.repository import Repository


class PermissionStore(Repository):
    __slots__ = ()
