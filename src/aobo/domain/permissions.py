"""Mailbox permissions (FullAccess...), recipient permissions (SendAs) and mailbox folder permissions.

Every method takes the tenant and checks that each recipient it touches (the mailbox and the
trustee) belongs to it: a trustee of another tenant is refused as not found, never stored or shown.
A recipient trustee is keyed by its GUID in the ``trustee`` column (stable across renames); the
well-known folder users ``Default`` and ``Anonymous`` are keyed by their names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from aobo.domain.errors import AlreadyExists, NotFound
from aobo.domain.models import utcnow
from aobo.domain.repository import Repository
from aobo.domain.schema import folder_permissions, permissions, recipients

Scope = Literal["mailbox", "recipient"]
#: Folder users that are not recipients.
SPECIAL_FOLDER_USERS: Final = ("Default", "Anonymous")


@dataclass(frozen=True, slots=True)
class Trustee:
    """Who an entry is for: a recipient of the tenant (``id`` set) or a special folder user."""

    id: int | None
    key: str
    name: str
    display_name: str
    user_principal_name: str | None
    primary_smtp_address: str
    guid: str


@dataclass(frozen=True, slots=True)
class PermissionEntry:
    """One stored access right of a trustee on a recipient."""

    trustee: Trustee
    access_right: str
    deny: bool
    inherited: bool
    automapping: bool


@dataclass(frozen=True, slots=True)
class FolderEntry:
    """One stored folder permission: the trustee's rights on one folder of a mailbox."""

    folder: str
    trustee: Trustee
    access_rights: tuple[str, ...]
    sharing_permission_flags: tuple[str, ...]


_TRUSTEE_COLUMNS: Final = (
    recipients.c.name,
    recipients.c.display_name,
    recipients.c.user_principal_name,
    recipients.c.primary_smtp_address,
    recipients.c.guid,
)


def _trustee(row: Any, key: str) -> Trustee:
    if row.name is None:
        return Trustee(None, key, key, key, None, "", "")
    return Trustee(
        row.trustee_id, key, row.name, row.display_name, row.user_principal_name, row.primary_smtp_address, row.guid
    )


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (text or "").split(",") if p.strip())


@dataclass(frozen=True, slots=True)
class Grant:
    """One right to add in bulk (:meth:`PermissionStore.import_entries`)."""

    recipient_id: int
    scope: Scope
    trustee_id: int
    access_right: str
    automapping: bool = False


@dataclass(frozen=True, slots=True)
class FolderGrant:
    """One folder permission to add in bulk; ``trustee`` is a recipient id or "Default"/"Anonymous"."""

    mailbox_id: int
    folder: str
    trustee: int | str
    access_rights: tuple[str, ...]
    flags: tuple[str, ...] = ()


class PermissionStore(Repository):
    __slots__ = ()

    # -- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _owned(conn: Connection, tenant_id: int, *recipient_ids: int | None) -> dict[int, str]:
        """The GUIDs of ``recipient_ids`` (None skipped); NotFound unless every one is the tenant's."""
        wanted = {i for i in recipient_ids if i is not None}
        rows = conn.execute(
            sa.select(recipients.c.id, recipients.c.guid).where(
                recipients.c.tenant_id == tenant_id, recipients.c.id.in_(sorted(wanted))
            )
        ).all()
        found = {r.id: r.guid for r in rows}
        missing = wanted - set(found)
        if missing:
            raise NotFound(f"No recipient with id {min(missing)} in tenant {tenant_id}.")
        return found

    def import_entries(self, tenant_id: int, grants: Sequence[Grant], folders: Sequence[FolderGrant] = ()) -> None:
        """Insert many new entries at once (seeding): one ownership check, two multi-row inserts."""
        with self.writing() as conn:
            ids = [g.recipient_id for g in grants] + [g.trustee_id for g in grants]
            ids += [f.mailbox_id for f in folders] + [f.trustee for f in folders if isinstance(f.trustee, int)]
            guids = self._owned(conn, tenant_id, *ids)
            now = utcnow()
            if grants:
                conn.execute(
                    permissions.insert(),
                    [
                        {
                            "tenant_id": tenant_id,
                            "recipient_id": g.recipient_id,
                            "scope": g.scope,
                            "trustee_id": g.trustee_id,
                            "trustee": guids[g.trustee_id],
                            "access_right": g.access_right,
                            "deny": False,
                            "inherited": False,
                            "automapping": g.automapping,
                            "created": now,
                        }
                        for g in grants
                    ],
                )
            if folders:
                conn.execute(
                    folder_permissions.insert(),
                    [
                        {
                            "tenant_id": tenant_id,
                            "mailbox_id": f.mailbox_id,
                            "folder": f.folder,
                            "folder_lower": f.folder.lower(),
                            "trustee_id": f.trustee if isinstance(f.trustee, int) else None,
                            "trustee": guids[f.trustee] if isinstance(f.trustee, int) else f.trustee,
                            "access_rights": ", ".join(f.access_rights),
                            "sharing_permission_flags": ", ".join(f.flags) or None,
                        }
                        for f in folders
                    ],
                )

    # -- mailbox and recipient permissions --------------------------------------------------------

    def entries(self, tenant_id: int, recipient_id: int, scope: Scope) -> list[PermissionEntry]:
        """The explicit entries on a recipient, oldest first."""
        p = permissions.c
        stmt = (
            sa.select(p.trustee_id, p.trustee, p.access_right, p.deny, p.inherited, p.automapping, *_TRUSTEE_COLUMNS)
            .select_from(
                permissions.outerjoin(
                    recipients, sa.and_(recipients.c.id == p.trustee_id, recipients.c.tenant_id == tenant_id)
                )
            )
            .where(p.tenant_id == tenant_id, p.recipient_id == recipient_id, p.scope == scope)
            .order_by(p.id)
        )
        with self.reading() as conn:
            rows = conn.execute(stmt).all()
        return [
            PermissionEntry(_trustee(r, r.trustee), r.access_right, r.deny, r.inherited, r.automapping) for r in rows
        ]

    def grant(
        self,
        tenant_id: int,
        recipient_id: int,
        scope: Scope,
        trustee_id: int,
        rights: Sequence[str],
        *,
        deny: bool = False,
        automapping: bool = False,
    ) -> list[str]:
        """Add ``rights`` for a recipient trustee; returns the rights that were not there yet."""
        added: list[str] = []
        with self.writing() as conn:
            guids = self._owned(conn, tenant_id, recipient_id, trustee_id)
            key = guids[trustee_id]
            present = set(
                conn.execute(
                    sa.select(permissions.c.access_right).where(
                        permissions.c.recipient_id == recipient_id,
                        permissions.c.scope == scope,
                        permissions.c.trustee == key,
                        permissions.c.deny == deny,
                    )
                ).scalars()
            )
            for right in dict.fromkeys(rights):
                if right in present:
                    continue
                conn.execute(
                    permissions.insert(),
                    {
                        "tenant_id": tenant_id,
                        "recipient_id": recipient_id,
                        "scope": scope,
                        "trustee_id": trustee_id,
                        "trustee": key,
                        "access_right": right,
                        "deny": deny,
                        "inherited": False,
                        "automapping": automapping,
                        "created": utcnow(),
                    },
                )
                added.append(right)
        return added

    def revoke(
        self, tenant_id: int, recipient_id: int, scope: Scope, trustee_id: int, rights: Sequence[str], *, deny: bool
    ) -> list[str]:
        """Remove ``rights`` of a recipient trustee; returns the rights that were there."""
        with self.writing() as conn:
            key = self._owned(conn, tenant_id, recipient_id, trustee_id)[trustee_id]
            where = (
                permissions.c.tenant_id == tenant_id,
                permissions.c.recipient_id == recipient_id,
                permissions.c.scope == scope,
                permissions.c.trustee == key,
                permissions.c.deny == deny,
                permissions.c.access_right.in_(list(rights)),
            )
            removed = list(conn.execute(sa.select(permissions.c.access_right).where(*where)).scalars())
            conn.execute(permissions.delete().where(*where))
        return [r for r in rights if r in removed]

    # -- folder permissions -----------------------------------------------------------------------

    def folder_entries(self, tenant_id: int, mailbox_id: int, folder: str) -> list[FolderEntry]:
        """The stored entries of one folder (overrides of Default/Anonymous included), oldest first."""
        f = folder_permissions.c
        stmt = (
            sa.select(f.folder, f.trustee_id, f.trustee, f.access_rights, f.sharing_permission_flags, *_TRUSTEE_COLUMNS)
            .select_from(
                folder_permissions.outerjoin(
                    recipients, sa.and_(recipients.c.id == f.trustee_id, recipients.c.tenant_id == tenant_id)
                )
            )
            .where(f.tenant_id == tenant_id, f.mailbox_id == mailbox_id, f.folder_lower == folder.lower())
            .order_by(f.id)
        )
        with self.reading() as conn:
            rows = conn.execute(stmt).all()
        return [
            FolderEntry(r.folder, _trustee(r, r.trustee), _split(r.access_rights), _split(r.sharing_permission_flags))
            for r in rows
        ]

    def _folder_key(
        self, conn: Connection, tenant_id: int, mailbox_id: int, trustee: int | str
    ) -> tuple[int | None, str]:
        if isinstance(trustee, str):
            if trustee not in SPECIAL_FOLDER_USERS:
                raise ValueError(f"{trustee!r} is not a special folder user.")
            self._owned(conn, tenant_id, mailbox_id)
            return None, trustee
        return trustee, self._owned(conn, tenant_id, mailbox_id, trustee)[trustee]

    def add_folder(
        self,
        tenant_id: int,
        mailbox_id: int,
        folder: str,
        trustee: int | str,
        rights: Sequence[str],
        flags: Sequence[str] = (),
    ) -> None:
        """A new entry (``trustee``: a recipient id, or "Default"/"Anonymous"); AlreadyExists if one is there."""
        try:
            with self.writing() as conn:
                trustee_id, key = self._folder_key(conn, tenant_id, mailbox_id, trustee)
                conn.execute(
                    folder_permissions.insert(),
                    {
                        "tenant_id": tenant_id,
                        "mailbox_id": mailbox_id,
                        "folder": folder,
                        "folder_lower": folder.lower(),
                        "trustee_id": trustee_id,
                        "trustee": key,
                        "access_rights": ", ".join(rights),
                        "sharing_permission_flags": ", ".join(flags) or None,
                    },
                )
        except IntegrityError as err:
            raise AlreadyExists(f"The user already has a permission entry on {folder}.") from err

    def set_folder(
        self,
        tenant_id: int,
        mailbox_id: int,
        folder: str,
        trustee: int | str,
        rights: Sequence[str],
        flags: Sequence[str] = (),
    ) -> bool:
        """Replace an entry's rights; a special folder user's entry is created when missing (it
        exists implicitly). Returns whether anything changed; NotFound for a user without one."""
        with self.writing() as conn:
            trustee_id, key = self._folder_key(conn, tenant_id, mailbox_id, trustee)
            f = folder_permissions.c
            where = (
                f.tenant_id == tenant_id,
                f.mailbox_id == mailbox_id,
                f.folder_lower == folder.lower(),
                f.trustee == key,
            )
            current = conn.execute(sa.select(f.access_rights, f.sharing_permission_flags).where(*where)).one_or_none()
            values = {"access_rights": ", ".join(rights), "sharing_permission_flags": ", ".join(flags) or None}
            if current is None:
                if trustee_id is not None:
                    raise NotFound(f"{key} has no permission entry on {folder}.")
                conn.execute(
                    folder_permissions.insert(),
                    {
                        "tenant_id": tenant_id,
                        "mailbox_id": mailbox_id,
                        "folder": folder,
                        "folder_lower": folder.lower(),
                        "trustee_id": None,
                        "trustee": key,
                        **values,
                    },
                )
                return True
            if (current.access_rights, current.sharing_permission_flags) == tuple(values.values()):
                return False
            conn.execute(folder_permissions.update().where(*where).values(values))
            return True

    def remove_folder(self, tenant_id: int, mailbox_id: int, folder: str, trustee: int | str) -> bool:
        """Delete an entry; returns whether there was one (a special user's override counts)."""
        with self.writing() as conn:
            _, key = self._folder_key(conn, tenant_id, mailbox_id, trustee)
            f = folder_permissions.c
            return bool(
                conn.execute(
                    folder_permissions.delete().where(
                        f.tenant_id == tenant_id,
                        f.mailbox_id == mailbox_id,
                        f.folder_lower == folder.lower(),
                        f.trustee == key,
                    )
                ).rowcount
            )

    def recipients_granting(self, tenant_id: int, scope: Scope, trustee_id: int) -> list[Any]:
        """The tenant's recipients on which ``trustee_id`` holds an entry of ``scope`` (reverse lookup)."""
        p = permissions.c
        granting = sa.select(p.recipient_id).where(
            p.tenant_id == tenant_id, p.scope == scope, p.trustee_id == trustee_id
        )
        with self.reading() as conn:
            return list(
                conn.execute(
                    sa.select(recipients)
                    .where(recipients.c.tenant_id == tenant_id, recipients.c.id.in_(granting.scalar_subquery()))
                    .order_by(recipients.c.id)
                ).all()
            )
