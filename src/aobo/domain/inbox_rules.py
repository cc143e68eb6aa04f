"""Inbox rules of mailboxes (``inbox_rules``).

A rule's conditions and actions are kept as JSON under their cmdlet parameter names; the cmdlet
layer gives them meaning. Priorities run 1..n within a mailbox without gaps, as Exchange keeps
them: inserting at a priority moves the rules at and after it down, removing one closes the gap.
Every method is scoped by tenant: a mailbox of another tenant has no rules here.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import Connection

from aobo.domain.errors import NotFound
from aobo.domain.models import utcnow
from aobo.domain.repository import Repository
from aobo.domain.schema import inbox_rules, recipients

_c = inbox_rules.c
#: Exchange's RuleIdentity values are 64-bit, shown unsigned; new ones are random below this.
_MAX_RULE_IDENTITY: Final = 2**63 - 1


@dataclass(frozen=True, slots=True)
class InboxRuleRow:
    id: int
    mailbox_id: int
    rule_identity: int
    name: str
    enabled: bool
    priority: int
    props: Mapping[str, Any]
    created: datetime


@dataclass(frozen=True, slots=True)
class NewInboxRule:
    """A rule to add; ``priority`` None puts it last, ``rule_identity`` None draws one."""

    name: str
    props: Mapping[str, Any]
    enabled: bool = True
    priority: int | None = None
    rule_identity: int | None = None


def _rule(row: Any) -> InboxRuleRow:
    return InboxRuleRow(
        id=row.id,
        mailbox_id=row.mailbox_id,
        rule_identity=row.rule_identity,
        name=row.name,
        enabled=row.enabled,
        priority=row.priority,
        props=json.loads(row.props),
        created=row.created,
    )


def _dumps(props: Mapping[str, Any]) -> str:
    return json.dumps(dict(props), separators=(",", ":"), ensure_ascii=False, default=str)


class InboxRuleStore(Repository):
    __slots__ = ()

    def list(self, tenant_id: int, mailbox_id: int) -> list[InboxRuleRow]:
        """The mailbox's rules in priority order."""
        stmt = (
            sa.select(inbox_rules)
            .where(_c.tenant_id == tenant_id, _c.mailbox_id == mailbox_id)
            .order_by(_c.priority, _c.id)
        )
        with self.reading() as conn:
            return [_rule(r) for r in conn.execute(stmt)]

    def get(self, tenant_id: int, rule_id: int) -> InboxRuleRow:
        with self.reading() as conn:
            return _rule(self._row(conn, tenant_id, rule_id))

    def create(self, tenant_id: int, mailbox_id: int, rule: NewInboxRule) -> InboxRuleRow:
        """Add a rule to a mailbox of the tenant, moving later rules down to make room."""
        with self.writing() as conn:
            self._check_mailbox(conn, tenant_id, mailbox_id)
            count = self._count(conn, mailbox_id)
            priority = count + 1 if rule.priority is None else max(1, min(rule.priority, count + 1))
            conn.execute(
                inbox_rules.update()
                .where(_c.mailbox_id == mailbox_id, _c.priority >= priority)
                .values(priority=_c.priority + 1)
            )
            identity = rule.rule_identity or self._new_identity(conn, mailbox_id)
            new_id = conn.execute(
                inbox_rules.insert().values(
                    tenant_id=tenant_id,
                    mailbox_id=mailbox_id,
                    rule_identity=identity,
                    name=rule.name,
                    enabled=rule.enabled,
                    priority=priority,
                    props=_dumps(rule.props),
                    created=utcnow(),
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            return _rule(self._row(conn, tenant_id, new_id))

    def add_many(self, tenant_id: int, rules: Iterable[tuple[int, NewInboxRule]]) -> None:
        """Bulk insert for seeding: (mailbox id, rule) pairs whose priorities and rule identities
        are given and consistent. Mailboxes must belong to the tenant."""
        now = utcnow()
        rows = [
            {
                "tenant_id": tenant_id,
                "mailbox_id": mailbox_id,
                "rule_identity": r.rule_identity,
                "name": r.name,
                "enabled": r.enabled,
                "priority": r.priority,
                "props": _dumps(r.props),
                "created": now,
            }
            for mailbox_id, r in rules
        ]
        if rows:
            with self.writing() as conn:
                conn.execute(inbox_rules.insert(), rows)

    def update(
        self, tenant_id: int, rule_id: int, changes: Callable[[InboxRuleRow], Mapping[str, Any]]
    ) -> tuple[InboxRuleRow, bool]:
        """Apply ``changes(current rule)`` (keys ``name``, ``enabled``, ``priority``, ``props``) in one
        transaction; returns the rule and whether anything changed."""
        with self.writing() as conn:
            current = _rule(self._row(conn, tenant_id, rule_id, for_update=True))
            wanted = dict(changes(current))
            if not wanted:
                return current, False
            priority = wanted.pop("priority", None)
            if priority is not None and priority != current.priority:
                self._move(conn, current, priority)
            values: dict[str, Any] = {}
            for key in ("name", "enabled"):
                if key in wanted:
                    values[key] = wanted[key]
            if "props" in wanted:
                values["props"] = _dumps(wanted["props"])
            if values:
                conn.execute(inbox_rules.update().where(_c.id == rule_id).values(values))
            return _rule(self._row(conn, tenant_id, rule_id)), True

    def delete(self, tenant_id: int, rule_id: int) -> None:
        """Remove a rule and close the gap it leaves in the priorities."""
        with self.writing() as conn:
            rule = _rule(self._row(conn, tenant_id, rule_id))
            conn.execute(inbox_rules.delete().where(_c.id == rule_id))
            conn.execute(
                inbox_rules.update()
                .where(_c.mailbox_id == rule.mailbox_id, _c.priority > rule.priority)
                .values(priority=_c.priority - 1)
            )

    # -- helpers -----------------------------------------------------------------------------

    def _row(self, conn: Connection, tenant_id: int, rule_id: int, *, for_update: bool = False) -> Any:
        statement = sa.select(inbox_rules).where(_c.tenant_id == tenant_id, _c.id == rule_id)
        if for_update:  # PostgreSQL: a concurrent update of the rule waits, so none is lost
            statement = statement.with_for_update()
        row = conn.execute(statement).one_or_none()
        if row is None:
            raise NotFound(f"No inbox rule with id {rule_id} in tenant {tenant_id}.")
        return row

    def _check_mailbox(self, conn: Connection, tenant_id: int, mailbox_id: int) -> None:
        found = conn.execute(
            sa.select(recipients.c.id).where(recipients.c.tenant_id == tenant_id, recipients.c.id == mailbox_id)
        ).first()
        if found is None:
            raise NotFound(f"No recipient with id {mailbox_id} in tenant {tenant_id}.")

    def _count(self, conn: Connection, mailbox_id: int) -> int:
        return conn.execute(
            sa.select(sa.func.count()).select_from(inbox_rules).where(_c.mailbox_id == mailbox_id)
        ).scalar_one()

    def _new_identity(self, conn: Connection, mailbox_id: int) -> int:
        taken = set(conn.execute(sa.select(_c.rule_identity).where(_c.mailbox_id == mailbox_id)).scalars())
        while True:
            candidate = random.randint(1 << 40, _MAX_RULE_IDENTITY)
            if candidate not in taken:
                return candidate

    def _move(self, conn: Connection, rule: InboxRuleRow, priority: int) -> None:
        """Give ``rule`` a new priority, shifting the rules between its old and new place."""
        priority = max(1, min(priority, self._count(conn, rule.mailbox_id)))
        if priority < rule.priority:
            shift = _c.priority + 1
            between = sa.and_(_c.priority >= priority, _c.priority < rule.priority)
        else:
            shift = _c.priority - 1
            between = sa.and_(_c.priority > rule.priority, _c.priority <= priority)
        conn.execute(
            inbox_rules.update()
            .where(_c.mailbox_id == rule.mailbox_id, _c.id != rule.id, between)
            .values(priority=shift)
        )
        conn.execute(inbox_rules.update().where(_c.id == rule.id).values(priority=priority))
