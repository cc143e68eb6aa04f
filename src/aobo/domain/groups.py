"""Distribution group and Microsoft 365 group membership (``group_members``).

Every method is scoped by tenant: the group and each member must be recipients of that tenant, or
the call is refused before anything is written (the cmdlet resolver is tenant-scoped already; this
guard keeps a bug elsewhere from linking two tenants). Writes are single transactions. Adding a
member that is already there and removing one that is not are reported (``False``), not errors:
the cmdlet layer decides how Exchange words them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import Connection, Row
from sqlalchemy.exc import IntegrityError

from aobo.domain.errors import NotFound
from aobo.domain.models import GROUP_TYPES
from aobo.domain.repository import Repository, keyset_pages
from aobo.domain.schema import group_members, recipients

#: Groups whose membership lives in group_members.
MEMBERSHIP_GROUP_TYPES: Final = GROUP_TYPES
_INSERT_CHUNK: Final = 1_000

_g, _r = group_members.c, recipients.c


class GroupStore(Repository):
    __slots__ = ()

    # -- writes ---------------------------------------------------------------------------------

    def add_member(self, tenant_id: int, group_id: int, member_id: int) -> bool:
        """Make ``member_id`` a member of ``group_id``; False when it already was."""
        return bool(self.add_members(tenant_id, group_id, [member_id]))

    def add_members(self, tenant_id: int, group_id: int, member_ids: Iterable[int]) -> list[int]:
        """Add every recipient of ``member_ids`` not yet a member, all or nothing; returns the ids added."""
        wanted = list(dict.fromkeys(member_ids))
        try:
            with self.writing() as conn:
                self._guard(conn, tenant_id, group_id, wanted)
                present = set(self._present(conn, group_id, wanted))
                new = [m for m in wanted if m not in present]
                if new:
                    conn.execute(
                        group_members.insert(),
                        [{"tenant_id": tenant_id, "group_id": group_id, "member_id": m} for m in new],
                    )
                return new
        except IntegrityError:
            # A concurrent writer added one of them between the check and the insert.
            return []

    def remove_member(self, tenant_id: int, group_id: int, member_id: int) -> bool:
        """Take ``member_id`` out of ``group_id``; False when it was not a member."""
        with self.writing() as conn:
            self._guard(conn, tenant_id, group_id, [member_id])
            removed = conn.execute(
                group_members.delete().where(
                    _g.tenant_id == tenant_id, _g.group_id == group_id, _g.member_id == member_id
                )
            ).rowcount
        return bool(removed)

    def bulk_add(self, tenant_id: int, pairs: Sequence[tuple[int, int]]) -> int:
        """Insert many ``(group_id, member_id)`` memberships at once (seeding); duplicates in
        ``pairs`` are dropped. Every id must belong to the tenant. Returns how many were written."""
        unique = list(dict.fromkeys(pairs))
        if not unique:
            return 0
        with self.writing() as conn:
            self._check(conn, tenant_id, {g for g, _ in unique}, {m for _, m in unique})
            for start in range(0, len(unique), _INSERT_CHUNK):
                chunk = unique[start : start + _INSERT_CHUNK]
                conn.execute(
                    group_members.insert(),
                    [{"tenant_id": tenant_id, "group_id": g, "member_id": m} for g, m in chunk],
                )
        return len(unique)

    # -- reads ----------------------------------------------------------------------------------

    def iter_members(
        self, tenant_id: int, group_id: int, *, limit: int | None = None, batch_size: int = 1000
    ) -> Iterator[Row[Any]]:
        """The member recipients' rows in member id order, read in keyset-paginated batches
        (no connection is held between batches)."""

        def read(after: int, size: int) -> list[Row[Any]]:
            with self.reading() as conn:
                return list(
                    conn.execute(
                        sa.select(recipients)
                        .join(group_members, _g.member_id == _r.id)
                        .where(
                            _g.group_id == group_id,
                            _g.tenant_id == tenant_id,
                            _r.tenant_id == tenant_id,
                            _g.member_id > after,
                        )
                        .order_by(_g.member_id)
                        .limit(size)
                    ).all()
                )

        return keyset_pages(read, limit=limit, batch_size=batch_size)

    def count_members(self, tenant_id: int, group_id: int, *, outside_domains: Sequence[str] | None = None) -> int:
        """How many members ``group_id`` has; with ``outside_domains`` (the tenant's accepted
        domains) only those whose primary address is in none of them: the group's external members."""
        where = [_g.group_id == group_id, _g.tenant_id == tenant_id]
        stmt = sa.select(sa.func.count()).select_from(group_members)
        if outside_domains is not None:
            stmt = stmt.join(recipients, _r.id == _g.member_id)
            address = sa.func.lower(_r.primary_smtp_address)
            where += [~address.like(f"%@{domain.lower()}") for domain in outside_domains]
        with self.reading() as conn:
            return int(conn.execute(stmt.where(*where)).scalar_one())

    def groups_of(self, tenant_id: int, member_id: int) -> list[Row[Any]]:
        """The groups ``member_id`` is a direct member of, in id order."""
        with self.reading() as conn:
            return list(
                conn.execute(
                    sa.select(recipients)
                    .join(group_members, _g.group_id == _r.id)
                    .where(_g.member_id == member_id, _g.tenant_id == tenant_id, _r.tenant_id == tenant_id)
                    .order_by(_r.id)
                ).all()
            )

    # -- guards ---------------------------------------------------------------------------------

    def _guard(self, conn: Connection, tenant_id: int, group_id: int, member_ids: Sequence[int]) -> None:
        if group_id in member_ids:
            raise ValueError("A group can't be a member of itself.")
        self._check(conn, tenant_id, {group_id}, set(member_ids))

    @staticmethod
    def _check(conn: Connection, tenant_id: int, group_ids: set[int], member_ids: set[int]) -> None:
        """Refuse ids that are not recipients of the tenant, and groups that are not groups (one query)."""
        kinds = dict(
            conn.execute(
                sa.select(_r.id, _r.recipient_type_details).where(
                    _r.tenant_id == tenant_id, _r.id.in_(group_ids | member_ids)
                )
            ).all()
        )
        missing = (group_ids | member_ids) - kinds.keys()
        if missing:
            raise NotFound(f"No recipients {sorted(missing)} in tenant {tenant_id}.")
        not_groups = sorted(g for g in group_ids if kinds[g] not in MEMBERSHIP_GROUP_TYPES)
        if not_groups:
            raise ValueError(f"Recipients {not_groups} are not groups.")

    @staticmethod
    def _present(
        conn: Connection, group_id: int, member_ids: Sequence[int], *, tenant_id: int | None = None
    ) -> list[int]:
        where = [_g.group_id == group_id, _g.member_id.in_(list(member_ids))]
        if tenant_id is not None:
            where.append(_g.tenant_id == tenant_id)
        return list(conn.execute(sa.select(_g.member_id).where(*where)).scalars())
