"""Granular delegated admin (GDAP) relationships and their access assignments (``store.gdap``).

Modelled on Microsoft Graph's delegatedAdminRelationship: a partner asks a customer for a set of
Entra roles for a fixed time (P1D to P730D). The partner creates it (``created``), locks it for
approval (``approvalPending``; the request lapses after 90 days), the customer approves it
(``active``), and either side may terminate it (``terminated``). An active relationship whose end
has passed is ``expired``, unless it auto-extends, which adds 180 days as often as needed.

Expiry is computed when a row is read, from the clock (:func:`clock`, which tests replace), so it
takes effect at once and no background job has to run. Stored statuses are only the ones a person
set.

Access assignments give some of a relationship's roles to a *security group* of the partner
tenant. Security groups are the partner users' groups (``role_group_members``, the same place
AdminAgents lives): a user is a member when the group's name is among its ``role_groups``. A
group's GUID (Graph's accessContainerId) is derived from the partner tenant and the lower-cased
name, so it is stable without a table of its own.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import Connection, Row
from sqlalchemy.exc import IntegrityError

from aobo.domain.entra import GLOBAL_ADMINISTRATOR
from aobo.domain.errors import AlreadyExists, InvalidChange, NotFound
from aobo.domain.models import AccessAssignment, GdapRelationship, GdapStatus, utcnow
from aobo.domain.repository import Repository
from aobo.domain.schema import gdap_access_assignments, gdap_relationships, role_group_members, tenants, users

__all__ = [
    "AUTO_EXTEND_DAYS",
    "MAX_DURATION_DAYS",
    "REQUEST_LIFETIME",
    "GdapStore",
    "clock",
    "format_duration",
    "group_guid",
    "parse_auto_extend",
    "parse_duration",
]

MAX_DURATION_DAYS: Final = 730
MIN_DURATION_DAYS: Final = 1
AUTO_EXTEND_DAYS: Final = 180
#: An approvalPending request the customer leaves alone lapses after this long.
REQUEST_LIFETIME: Final = timedelta(days=90)
MAX_NAME_LENGTH: Final = 50
MAX_GROUP_LENGTH: Final = 128
_AUTO_EXTEND_REFUSED: Final = (
    "Auto-extension is not supported for relationships that include the Microsoft Entra Global Administrator "
    "role. Set autoExtendDuration to PT0S or remove the Global Administrator role."
)
_GROUP_NAMESPACE: Final = uuid.UUID("0f4c2f6e-5b8a-4d0e-8a8b-6e2b3f1c9d10")
_DURATION: Final = re.compile(r"P(?:(\d{1,5})Y)?(?:(\d{1,5})W)?(?:(\d{1,5})D)?", re.IGNORECASE)
_GUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

_r, _a = gdap_relationships.c, gdap_access_assignments.c


def clock() -> datetime:
    """The time every status is computed at; tests replace it to move past an end date."""
    return utcnow()


def parse_duration(text: str) -> int:
    """An ISO 8601 duration in days (``P730D``, ``P2Y``, ``P8W``), within P1D..P730D."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or not any(match.groups()):
        raise InvalidChange(f"'{text}' is not a valid duration: give an ISO 8601 duration in days, such as P730D.")
    years, weeks, days = (int(g or 0) for g in match.groups())
    total = years * 365 + weeks * 7 + days
    if not MIN_DURATION_DAYS <= total <= MAX_DURATION_DAYS:
        raise InvalidChange(
            f"The duration '{text}' is out of range: a relationship lasts between P1D and P730D (two years)."
        )
    return total


def parse_auto_extend(text: str) -> int:
    """``PT0S`` / ``P0D`` (no extension) → 0, ``P180D`` → 180; Graph accepts nothing else."""
    value = text.strip().upper()
    if value in ("PT0S", "P0D"):
        return 0
    if value == f"P{AUTO_EXTEND_DAYS}D":
        return AUTO_EXTEND_DAYS
    raise InvalidChange(f"'{text}' is not a supported autoExtendDuration: the supported values are PT0S and P180D.")


def format_duration(days: int) -> str:
    """Days as Graph writes durations: ``P730D``, and ``PT0S`` for none."""
    return f"P{days}D" if days else "PT0S"


def group_guid(partner_tenant_guid: uuid.UUID | str, group: str) -> uuid.UUID:
    """The stable GUID of a partner security group (Graph's accessContainerId)."""
    return uuid.uuid5(_GROUP_NAMESPACE, f"{str(partner_tenant_guid).lower()}/{group.strip().lower()}")


def effective_status(row: Any, now: datetime) -> tuple[GdapStatus, datetime | None]:
    """The status and end date a stored row has at ``now``: expiry and auto-extension from the clock."""
    if row.status == "approvalPending" and row.request_expires is not None and now >= row.request_expires:
        return "expired", row.request_expires
    if row.status != "active" or row.end_at is None:
        return row.status, row.end_at
    end: datetime = row.end_at
    if now < end:
        return "active", end
    if row.auto_extend_days <= 0:
        return "expired", end
    step = timedelta(days=row.auto_extend_days)
    periods = (now - end) // step + 1  # enough whole extensions to reach past now
    return "active", end + periods * step


def _roles_text(roles: Iterable[str]) -> str:
    return ",".join(sorted(roles))


def _roles_of(text: str) -> tuple[str, ...]:
    return tuple(r for r in text.split(",") if r)


def _check_roles(roles: Iterable[str]) -> frozenset[str]:
    wanted = frozenset(r.strip().lower() for r in roles)
    if not wanted:
        raise InvalidChange("A relationship needs at least one role (accessDetails.unifiedRoles is empty).")
    bad = sorted(r for r in wanted if not _GUID.fullmatch(r))
    if bad:
        raise InvalidChange(f"'{bad[0]}' is not a role template id.")
    return wanted


def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidChange("The displayName of a relationship must not be empty.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidChange(f"The displayName '{name}' is longer than {MAX_NAME_LENGTH} characters.")
    return name


def _relationship(row: Row[Any], now: datetime) -> GdapRelationship:
    status, end = effective_status(row, now)
    return GdapRelationship(
        id=row.id,
        guid=uuid.UUID(row.guid),
        display_name=row.display_name,
        partner_tenant_id=row.partner_tenant_id,
        customer_tenant_id=row.customer_tenant_id,
        roles=_roles_of(row.roles),
        duration_days=row.duration_days,
        auto_extend_days=row.auto_extend_days,
        status=status,
        created=row.created,
        last_modified=row.last_modified,
        activated=row.activated,
        end=end,
        request_expires=row.request_expires if row.status == "approvalPending" else None,
    )


def _assignment(row: Row[Any], partner_guid: str) -> AccessAssignment:
    return AccessAssignment(
        id=row.id,
        guid=uuid.UUID(row.guid),
        relationship_id=row.relationship_id,
        group=row.group_name,
        group_id=group_guid(partner_guid, row.group_name),
        roles=_roles_of(row.roles),
        status=row.status,
        created=row.created,
        last_modified=row.last_modified,
    )


class GdapStore(Repository):
    __slots__ = ()

    # -- relationships --------------------------------------------------------------------------

    def create(
        self,
        partner_tenant_id: int,
        customer_tenant_id: int,
        display_name: str,
        roles: Iterable[str],
        *,
        duration_days: int = MAX_DURATION_DAYS,
        auto_extend_days: int = 0,
        guid: uuid.UUID | None = None,
    ) -> GdapRelationship:
        """A new relationship in status ``created``, asked by the partner."""
        if partner_tenant_id == customer_tenant_id:
            raise InvalidChange("A tenant cannot be its own partner.")
        name = _check_name(display_name)
        wanted = _check_roles(roles)
        self._check_terms(duration_days, auto_extend_days, wanted)
        now = clock()
        values = {
            "guid": str(guid or uuid.uuid4()),
            "partner_tenant_id": partner_tenant_id,
            "customer_tenant_id": customer_tenant_id,
            "display_name": name,
            "display_name_lower": name.lower(),
            "roles": _roles_text(wanted),
            "duration_days": duration_days,
            "auto_extend_days": auto_extend_days,
            "status": "created",
            "created": now,
            "last_modified": now,
        }
        try:
            with self.writing() as conn:
                for tenant_id in (partner_tenant_id, customer_tenant_id):
                    if conn.execute(sa.select(tenants.c.id).where(tenants.c.id == tenant_id)).first() is None:
                        raise NotFound(f"No tenant with id {tenant_id}.")
                row = conn.execute(gdap_relationships.insert().returning(*gdap_relationships.c), values).one()
        except IntegrityError as err:
            raise AlreadyExists(
                f"A relationship with the displayName '{name}' already exists for this partner; "
                "display names are unique among a partner's relationships."
            ) from err
        return _relationship(row, now)

    def get(self, guid: uuid.UUID | str) -> GdapRelationship | None:
        key = _guid_text(guid)
        if key is None:
            return None
        with self.reading() as conn:
            row = conn.execute(sa.select(gdap_relationships).where(_r.guid == key)).one_or_none()
        return None if row is None else _relationship(row, clock())

    def relationships(self, tenant_id: int | None, *, status: str | None = None) -> list[GdapRelationship]:
        """Relationships where the tenant is partner or customer (every one for ``None``), oldest
        first, with their effective status."""
        where = (
            sa.true()
            if tenant_id is None
            else sa.or_(_r.partner_tenant_id == tenant_id, _r.customer_tenant_id == tenant_id)
        )
        with self.reading() as conn:
            rows = conn.execute(sa.select(gdap_relationships).where(where).order_by(_r.id)).all()
        now = clock()
        found = [_relationship(row, now) for row in rows]
        return [r for r in found if status is None or r.status == status]

    def update(
        self,
        guid: uuid.UUID | str,
        *,
        display_name: str | None = None,
        roles: Iterable[str] | None = None,
        duration_days: int | None = None,
        auto_extend_days: int | None = None,
    ) -> GdapRelationship:
        """Graph's PATCH: anything while ``created``; only autoExtendDuration once active."""
        with self.writing() as conn:
            row = self._locked(conn, guid)
            now = clock()
            status, _ = effective_status(row, now)
            only_extension = display_name is None and roles is None and duration_days is None
            if status != "created" and not (status == "active" and only_extension):
                raise InvalidChange(
                    f"The relationship is {status}: only a relationship in status created can be changed "
                    "(and an active one only its autoExtendDuration)."
                )
            wanted = _check_roles(roles) if roles is not None else frozenset(_roles_of(row.roles))
            days = row.duration_days if duration_days is None else duration_days
            extend = row.auto_extend_days if auto_extend_days is None else auto_extend_days
            self._check_terms(days, extend, wanted)
            values: dict[str, Any] = {
                "roles": _roles_text(wanted),
                "duration_days": days,
                "auto_extend_days": extend,
                "last_modified": now,
            }
            if display_name is not None:
                name = _check_name(display_name)
                values |= {"display_name": name, "display_name_lower": name.lower()}
            try:
                with conn.begin_nested():
                    row = conn.execute(
                        gdap_relationships.update()
                        .where(_r.id == row.id)
                        .values(values)
                        .returning(*gdap_relationships.c)
                    ).one()
            except IntegrityError as err:
                raise AlreadyExists(
                    f"A relationship with the displayName '{values['display_name']}' already exists for this partner."
                ) from err
        return _relationship(row, now)

    def lock_for_approval(self, guid: uuid.UUID | str) -> GdapRelationship:
        """created → approvalPending: the request the customer will see; it lapses after 90 days."""
        now = clock()
        return self._move(guid, ("created",), status="approvalPending", request_expires=now + REQUEST_LIFETIME)

    def approve(self, guid: uuid.UUID | str) -> GdapRelationship:
        """approvalPending → active, by the customer: the roles apply from now until now + duration."""
        return self._move(guid, ("approvalPending",), status="active", activated=True)

    def terminate(self, guid: uuid.UUID | str) -> GdapRelationship:
        """Either side ends it: access stops at once."""
        return self._move(guid, ("created", "approvalPending", "active"), status="terminated")

    def _move(
        self,
        guid: uuid.UUID | str,
        allowed: tuple[str, ...],
        *,
        status: str,
        request_expires: datetime | None = None,
        activated: bool = False,
    ) -> GdapRelationship:
        with self.writing() as conn:
            row = self._locked(conn, guid)
            now = clock()
            current, _ = effective_status(row, now)
            if current not in allowed:
                raise InvalidChange(
                    f"The relationship is {current}; this action needs it to be {' or '.join(allowed)}."
                )
            values: dict[str, Any] = {"status": status, "last_modified": now}
            if status == "approvalPending":
                values["request_expires"] = request_expires
            if activated:
                values |= {"activated": now, "end_at": now + timedelta(days=row.duration_days)}
            if status == "terminated":
                values["end_at"] = now
            row = conn.execute(
                gdap_relationships.update().where(_r.id == row.id).values(values).returning(*gdap_relationships.c)
            ).one()
        return _relationship(row, now)

    @staticmethod
    def _check_terms(duration_days: int, auto_extend_days: int, roles: Collection[str]) -> None:
        if not MIN_DURATION_DAYS <= duration_days <= MAX_DURATION_DAYS:
            raise InvalidChange(
                f"The duration P{duration_days}D is out of range: a relationship lasts between P1D and P730D "
                "(two years)."
            )
        if auto_extend_days not in (0, AUTO_EXTEND_DAYS):
            raise InvalidChange("The supported autoExtendDuration values are PT0S and P180D.")
        # Microsoft refuses auto-extension for relationships holding Global Administrator.
        if auto_extend_days and GLOBAL_ADMINISTRATOR in roles:
            raise InvalidChange(_AUTO_EXTEND_REFUSED)

    def _locked(self, conn: Connection, guid: uuid.UUID | str, *, lock: bool = True) -> Row[Any]:
        """The relationship's row, locked against concurrent changes on PostgreSQL (SQLite writers
        hold the database lock already)."""
        key = _guid_text(guid)
        stmt = sa.select(gdap_relationships).where(_r.guid == (key or ""))
        if lock and conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = conn.execute(stmt).one_or_none()
        if row is None:
            raise NotFound(f"No delegated admin relationship with id '{guid}'.")
        return row

    # -- access assignments ---------------------------------------------------------------------

    def assign(self, guid: uuid.UUID | str, group: str, roles: Iterable[str]) -> AccessAssignment:
        """Give ``roles`` (a subset of the relationship's) to a partner security group."""
        group = group.strip()
        if not group or len(group) > MAX_GROUP_LENGTH:
            raise InvalidChange(f"A security group name has 1 to {MAX_GROUP_LENGTH} characters.")
        wanted = _check_roles(roles)
        with self.writing() as conn:
            rel = self._locked(conn, guid)
            now = clock()
            status, _ = effective_status(rel, now)
            if status != "active":
                raise InvalidChange(f"The relationship is {status}: access can be assigned only in an active one.")
            outside = sorted(wanted - set(_roles_of(rel.roles)))
            if outside:
                raise InvalidChange(
                    f"The role '{outside[0]}' is not among the roles of the relationship; an access assignment can "
                    "only grant roles the customer approved."
                )
            taken = conn.execute(
                sa.select(_a.id).where(
                    _a.relationship_id == rel.id, _a.group_name_lower == group.lower(), _a.status == "active"
                )
            ).first()
            if taken is not None:
                raise AlreadyExists(
                    f"The security group '{group}' already has an access assignment in this relationship."
                )
            row = conn.execute(
                gdap_access_assignments.insert().returning(*gdap_access_assignments.c),
                {
                    "guid": str(uuid.uuid4()),
                    "relationship_id": rel.id,
                    "group_name": group,
                    "group_name_lower": group.lower(),
                    "roles": _roles_text(wanted),
                    "status": "active",
                    "created": now,
                    "last_modified": now,
                },
            ).one()
            partner_guid = self._tenant_guid(conn, rel.partner_tenant_id)
        return _assignment(row, partner_guid)

    def assignments(self, guid: uuid.UUID | str, *, include_deleted: bool = False) -> list[AccessAssignment]:
        with self.reading() as conn:
            rel = self._locked(conn, guid, lock=False)
            where = [_a.relationship_id == rel.id]
            if not include_deleted:
                where.append(_a.status == "active")
            rows = conn.execute(sa.select(gdap_access_assignments).where(*where).order_by(_a.id)).all()
            partner_guid = self._tenant_guid(conn, rel.partner_tenant_id)
        return [_assignment(row, partner_guid) for row in rows]

    def unassign(self, guid: uuid.UUID | str, assignment_guid: uuid.UUID | str) -> AccessAssignment:
        """Delete an access assignment: its group loses those roles at once."""
        key = _guid_text(assignment_guid) or ""
        with self.writing() as conn:
            rel = self._locked(conn, guid)
            row = conn.execute(
                gdap_access_assignments.update()
                .where(_a.relationship_id == rel.id, _a.guid == key, _a.status == "active")
                .values(status="deleted", last_modified=clock())
                .returning(*gdap_access_assignments.c)
            ).one_or_none()
            if row is None:
                raise NotFound(f"No access assignment with id '{assignment_guid}' in this relationship.")
            partner_guid = self._tenant_guid(conn, rel.partner_tenant_id)
        return _assignment(row, partner_guid)

    # -- what a partner user holds ----------------------------------------------------------------

    def grants(
        self, partner_tenant_id: int, groups: Iterable[str], *, customer_tenant_id: int | None = None
    ) -> dict[int, tuple[frozenset[str], list[GdapRelationship]]]:
        """Per customer tenant id: the Entra roles a partner user in ``groups`` holds there through
        active relationships, and the relationships that give them. Customers with an active
        relationship but no role for these groups are included with an empty role set."""
        member_of = {g.lower() for g in groups}
        with self.reading() as conn:
            where = [_r.partner_tenant_id == partner_tenant_id, _r.status == "active"]
            if customer_tenant_id is not None:
                where.append(_r.customer_tenant_id == customer_tenant_id)
            rows = conn.execute(sa.select(gdap_relationships).where(*where).order_by(_r.id)).all()
            now = clock()
            live = [rel for row in rows if (rel := _relationship(row, now)).active]
            assigned = (
                conn.execute(
                    sa.select(_a.relationship_id, _a.group_name_lower, _a.roles).where(
                        _a.relationship_id.in_([r.id for r in live]), _a.status == "active"
                    )
                ).all()
                if live
                else []
            )
        held: dict[int, set[str]] = {}
        for relationship_id, group, roles in assigned:
            if group in member_of:
                held.setdefault(relationship_id, set()).update(_roles_of(roles))
        result: dict[int, tuple[frozenset[str], list[GdapRelationship]]] = {}
        for rel in live:
            roles, giving = result.get(rel.customer_tenant_id, (frozenset(), []))
            mine = frozenset(held.get(rel.id, ())) & frozenset(rel.roles)
            result[rel.customer_tenant_id] = (roles | mine, [*giving, rel] if mine else giving)
        return result

    def granted(self, partner_tenant_id: int, customer_tenant_id: int) -> frozenset[str] | None:
        """Every Entra role the active relationships between the two tenants grant (whoever holds
        them); ``None`` when no relationship between them is active."""
        with self.reading() as conn:
            rows = conn.execute(
                sa.select(gdap_relationships).where(
                    _r.partner_tenant_id == partner_tenant_id,
                    _r.customer_tenant_id == customer_tenant_id,
                    _r.status == "active",
                )
            ).all()
        now = clock()
        live = [rel for row in rows if (rel := _relationship(row, now)).active]
        return frozenset(role for rel in live for role in rel.roles) if live else None

    def roles_in(self, partner_tenant_id: int, customer_tenant_id: int, groups: Iterable[str]) -> frozenset[str] | None:
        """The Entra roles a partner user in ``groups`` holds in the customer through GDAP; ``None``
        when no active relationship joins the two tenants at all."""
        found = self.grants(partner_tenant_id, groups, customer_tenant_id=customer_tenant_id).get(customer_tenant_id)
        return None if found is None else found[0]

    # -- partner security groups ------------------------------------------------------------------

    def add_to_group(self, user_id: int, group: str) -> bool:
        """Put a user in a security group of its tenant; False when it already was a member."""
        group = group.strip()
        if not group or len(group) > MAX_GROUP_LENGTH:
            raise InvalidChange(f"A security group name has 1 to {MAX_GROUP_LENGTH} characters.")
        with self.writing() as conn:
            if conn.execute(sa.select(users.c.id).where(users.c.id == user_id)).first() is None:
                raise NotFound(f"No user with id {user_id}.")
            present = conn.execute(
                sa.select(role_group_members.c.role_group).where(role_group_members.c.user_id == user_id)
            ).scalars()
            if group.lower() in {g.lower() for g in present}:
                return False
            conn.execute(role_group_members.insert(), {"user_id": user_id, "role_group": group})
        return True

    def security_groups(self, tenant_id: int) -> list[str]:
        """The groups the tenant's users are in (AdminAgents and the like included), sorted."""
        with self.reading() as conn:
            names = conn.execute(
                sa.select(role_group_members.c.role_group)
                .join(users, users.c.id == role_group_members.c.user_id)
                .where(users.c.tenant_id == tenant_id)
                .distinct()
            ).scalars()
            return sorted(set(names), key=str.lower)

    def remove_from_group(self, user_id: int, group: str) -> bool:
        with self.writing() as conn:
            removed = conn.execute(
                role_group_members.delete().where(
                    role_group_members.c.user_id == user_id,
                    sa.func.lower(role_group_members.c.role_group) == group.strip().lower(),
                )
            ).rowcount
        return bool(removed)

    @staticmethod
    def _tenant_guid(conn: Connection, tenant_id: int) -> str:
        return str(conn.execute(sa.select(tenants.c.guid).where(tenants.c.id == tenant_id)).scalar_one())


def _guid_text(value: uuid.UUID | str) -> str | None:
    text = str(value).strip().lower()
    return text if _GUID.fullmatch(text) else None
