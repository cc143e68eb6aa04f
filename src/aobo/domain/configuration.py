"""Tenant-wide configuration objects (``config_objects``): organisation and transport configuration,
remote domains, transport rules and protection policies.

Every kind shares one table: a name unique within the tenant and kind, an optional priority, and
the Exchange properties that differ from the kind's defaults as JSON. The defaults themselves
belong to the cmdlet layer, which knows each kind's object.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from aobo.domain.errors import AlreadyExists, NotFound
from aobo.domain.models import utcnow
from aobo.domain.repository import Repository
from aobo.domain.schema import config_objects

_c = config_objects.c


@dataclass(frozen=True, slots=True)
class ConfigObject:
    id: int
    tenant_id: int
    kind: str
    guid: uuid.UUID
    name: str
    priority: int | None
    props: Mapping[str, Any]
    when_created: datetime
    when_changed: datetime


def _object(row: Any) -> ConfigObject:
    return ConfigObject(
        id=row.id,
        tenant_id=row.tenant_id,
        kind=row.kind,
        guid=uuid.UUID(row.guid),
        name=row.name,
        priority=row.priority,
        props=json.loads(row.props),
        when_created=row.when_created,
        when_changed=row.when_changed,
    )


def _dumps(props: Mapping[str, Any]) -> str:
    return json.dumps(dict(props), separators=(",", ":"), ensure_ascii=False, default=str)


class ConfigStore(Repository):
    __slots__ = ()

    def list(self, tenant_id: int, kind: str) -> list[ConfigObject]:
        """Objects of ``kind``, by priority (where set) then name."""
        stmt = (
            sa.select(config_objects)
            .where(_c.tenant_id == tenant_id, _c.kind == kind)
            .order_by(_c.priority.is_(None), _c.priority, _c.name_lower)
        )
        with self.reading() as conn:
            return [_object(r) for r in conn.execute(stmt)]

    def find(self, tenant_id: int, kind: str, identity: str) -> list[ConfigObject]:
        """Objects of ``kind`` named ``identity`` (any case) or whose GUID it is; at most two, which
        is enough to tell unique from ambiguous."""
        text = identity.strip()
        condition = _c.name_lower == text.lower()
        with contextlib.suppress(ValueError):
            condition = sa.or_(condition, _c.guid == str(uuid.UUID(text)))
        stmt = sa.select(config_objects).where(_c.tenant_id == tenant_id, _c.kind == kind, condition).limit(2)
        with self.reading() as conn:
            return [_object(r) for r in conn.execute(stmt)]

    def get(self, tenant_id: int, object_id: int) -> ConfigObject:
        with self.reading() as conn:
            row = conn.execute(
                sa.select(config_objects).where(_c.tenant_id == tenant_id, _c.id == object_id)
            ).one_or_none()
        if row is None:
            raise NotFound(f"No configuration object with id {object_id} in tenant {tenant_id}.")
        return _object(row)

    def create(
        self,
        tenant_id: int,
        kind: str,
        name: str,
        props: Mapping[str, Any] | None = None,
        *,
        priority: int | None = None,
        guid: uuid.UUID | None = None,
        when_created: datetime | None = None,
    ) -> ConfigObject:
        """Add an object; :class:`AlreadyExists` when the tenant has one of this kind and name."""
        name = name.strip()
        if not name:
            raise ValueError("A configuration object needs a name.")
        now = when_created or utcnow()
        values = {
            "tenant_id": tenant_id,
            "kind": kind,
            "guid": str(guid or uuid.uuid4()),
            "name": name,
            "name_lower": name.lower(),
            "priority": priority,
            "props": _dumps(props or {}),
            "when_created": now,
            "when_changed": now,
        }
        try:
            with self.writing() as conn:
                new_id = conn.execute(config_objects.insert().values(values)).inserted_primary_key[0]  # type: ignore[index]
        except IntegrityError as err:
            raise AlreadyExists(f"A {kind} named {name!r} already exists.") from err
        return self.get(tenant_id, new_id)

    def singleton(self, tenant_id: int, kind: str, name: str) -> ConfigObject:
        """The tenant's one object of ``kind`` (OrganizationConfig...), created empty on first use."""
        found = self.find(tenant_id, kind, name)
        if found:
            return found[0]
        try:
            return self.create(tenant_id, kind, name)
        except AlreadyExists:  # created meanwhile by a concurrent first use
            return self.find(tenant_id, kind, name)[0]

    def update(
        self,
        tenant_id: int,
        object_id: int,
        changes: Mapping[str, Any] | Callable[[ConfigObject], Mapping[str, Any]],
        *,
        name: str | None = None,
        priority: int | None = None,
    ) -> ConfigObject:
        """Merge ``changes`` into the object's props in one transaction (a function of the current
        object is called inside it, so read-modify-write changes are safe); rename or reorder it."""
        try:
            with self.writing() as conn:
                row = conn.execute(
                    sa.select(config_objects).where(_c.tenant_id == tenant_id, _c.id == object_id)
                ).one_or_none()
                if row is None:
                    raise NotFound(f"No configuration object with id {object_id} in tenant {tenant_id}.")
                current = _object(row)
                if callable(changes):
                    changes = changes(current)
                values: dict[str, Any] = {"props": _dumps({**current.props, **changes}), "when_changed": utcnow()}
                if name is not None:
                    values["name"] = name.strip()
                    values["name_lower"] = name.strip().lower()
                if priority is not None:
                    values["priority"] = priority
                conn.execute(config_objects.update().where(_c.id == object_id).values(values))
        except IntegrityError as err:
            raise AlreadyExists(f"A {row.kind} named {name!r} already exists.") from err
        return self.get(tenant_id, object_id)

    def delete(self, tenant_id: int, object_id: int) -> None:
        with self.writing() as conn:
            deleted = conn.execute(
                config_objects.delete().where(_c.tenant_id == tenant_id, _c.id == object_id)
            ).rowcount
        if not deleted:
            raise NotFound(f"No configuration object with id {object_id} in tenant {tenant_id}.")
