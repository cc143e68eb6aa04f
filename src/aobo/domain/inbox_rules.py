"""Inbox rules of mailboxes (``inbox_rules``)."""

from __future__ import annotations

from aobo.domain.repository import Repository


class InboxRuleStore(Repository):
    __slots__ = ()
