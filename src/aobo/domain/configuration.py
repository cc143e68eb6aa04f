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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from aobo.domain.errors import AlreadyExists, NotFound
from aobo.domain.models import utcnow
from aobo.domain.repository import Repository
from aobo.domain.schema import config_objects, tenants

_c = config_objects.c

#: A value in :meth:`ConfigStore.update` changes that removes the property from the stored props
#: (the object then shows its kind's default again).
UNSET: Any = type("Unset", (), {"__repr__": lambda self: "UNSET"})()


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
        object is called inside it, so read-modify-write changes are safe; a value of :data:`UNSET`
        removes the property); rename or reorder it."""
        try:
            with self.writing() as conn:
                row = conn.execute(
                    sa.select(config_objects).where(_c.tenant_id == tenant_id, _c.id == object_id).with_for_update()
                ).one_or_none()
                if row is None:
                    raise NotFound(f"No configuration object with id {object_id} in tenant {tenant_id}.")
                current = _object(row)
                if callable(changes):
                    changes = changes(current)
                merged = {k: v for k, v in {**current.props, **changes}.items() if v is not UNSET}
                values: dict[str, Any] = {"props": _dumps(merged), "when_changed": utcnow()}
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

    def tenant_created(self, tenant_id: int) -> datetime:
        """When the tenant was created: the WhenCreated of the objects every tenant has from the start."""
        with self.reading() as conn:
            created = conn.execute(sa.select(tenants.c.created).where(tenants.c.id == tenant_id)).scalar_one_or_none()
        if created is None:
            raise NotFound(f"No tenant with id {tenant_id}.")
        return created

    def create_many(self, tenant_id: int, objects: Iterable[NewConfigObject]) -> None:
        """Add several objects in one statement (seeding); :class:`AlreadyExists` on a name clash."""
        rows = [
            {
                "tenant_id": tenant_id,
                "kind": o.kind,
                "guid": str(o.guid),
                "name": o.name,
                "name_lower": o.name.lower(),
                "priority": o.priority,
                "props": _dumps(o.props),
                "when_created": o.when_created,
                "when_changed": o.when_created,
            }
            for o in objects
        ]
        if not rows:
            return
        try:
            with self.writing() as conn:
                conn.execute(config_objects.insert(), rows)
        except IntegrityError as err:
            raise AlreadyExists("A configuration object of that kind and name already exists.") from err

    # -- ordered kinds (transport rules): priorities 0..n-1, unique, without gaps ----------------

    def count(self, tenant_id: int, kind: str) -> int:
        stmt = sa.select(sa.func.count()).select_from(config_objects).where(_c.tenant_id == tenant_id, _c.kind == kind)
        with self.reading() as conn:
            return int(conn.execute(stmt).scalar_one())

    def insert_at(
        self, tenant_id: int, kind: str, name: str, props: Mapping[str, Any], priority: int | None = None
    ) -> ConfigObject:
        """Add an object at ``priority`` (last when None), moving those at or after it down one."""
        with self.store.transaction() as tx:
            repo = tx.config
            size = repo.count(tenant_id, kind)
            at = size if priority is None else priority
            if not 0 <= at <= size:
                raise ValueError(f"Priority {at} is out of range 0..{size}.")
            with repo.writing() as conn:
                conn.execute(
                    config_objects.update()
                    .where(_c.tenant_id == tenant_id, _c.kind == kind, _c.priority >= at)
                    .values(priority=_c.priority + 1)
                )
            return repo.create(tenant_id, kind, name, props, priority=at)

    def move_to(self, tenant_id: int, object_id: int, priority: int) -> ConfigObject:
        """Give an object a new priority, shifting the ones in between by one."""
        with self.store.transaction() as tx:
            repo = tx.config
            current = repo.get(tenant_id, object_id)
            size = repo.count(tenant_id, current.kind)
            old = current.priority if current.priority is not None else size - 1
            if not 0 <= priority < size:
                raise ValueError(f"Priority {priority} is out of range 0..{size - 1}.")
            if priority == old:
                return current
            others = (_c.tenant_id == tenant_id, _c.kind == current.kind, _c.id != object_id)
            if priority < old:
                shift, step = _c.priority.between(priority, old - 1), 1
            else:
                shift, step = _c.priority.between(old + 1, priority), -1
            with repo.writing() as conn:
                conn.execute(config_objects.update().where(*others, shift).values(priority=_c.priority + step))
            return repo.update(tenant_id, object_id, {}, priority=priority)

    def delete_ordered(self, tenant_id: int, object_id: int) -> None:
        """Delete an object and close the gap in its kind's priorities."""
        with self.store.transaction() as tx:
            repo = tx.config
            current = repo.get(tenant_id, object_id)
            repo.delete(tenant_id, object_id)
            if current.priority is None:
                return
            with repo.writing() as conn:
                conn.execute(
                    config_objects.update()
                    .where(_c.tenant_id == tenant_id, _c.kind == current.kind, _c.priority > current.priority)
                    .values(priority=_c.priority - 1)
                )


@dataclass(frozen=True, slots=True)
class NewConfigObject:
    """One object for :meth:`ConfigStore.create_many`."""

    kind: str
    name: str
    guid: uuid.UUID
    when_created: datetime
    props: Mapping[str, Any] = field(default_factory=dict)
    priority: int | None = None


def default_guid(tenant_guid: uuid.UUID, kind: str, name: str) -> uuid.UUID:
    """The GUID of a tenant's built-in configuration object (Default policy, OrganizationConfig...):
    the same whether the object is shown from its defaults or stored after its first change."""
    return uuid.uuid5(tenant_guid, f"{kind}/{name}".lower())
