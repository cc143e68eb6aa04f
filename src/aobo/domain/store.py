"""The store: every read and write of aobo's state goes through :class:`Store`.

Synchronous and thread-safe: it holds nothing but an :class:`sqlalchemy.Engine`, and each call
checks a connection out of the pool and returns it before it ends, so the service can call it
from worker threads. Every write is one transaction.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.pool import StaticPool

from aobo.domain import passwords
from aobo.domain.apps import AppStore
from aobo.domain.configuration import ConfigStore
from aobo.domain.errors import AlreadyExists, NotFound, ProxyAddressConflict, StoreError
from aobo.domain.gdap import GdapStore
from aobo.domain.groups import GroupStore
from aobo.domain.inbox_rules import InboxRuleStore
from aobo.domain.message_trace import MessageTraceStore
from aobo.domain.models import (
    MAILBOX_DEFAULT_PROPS,
    MAILBOX_TYPES,
    RECIPIENT_KINDS,
    USER_TYPES,
    AuditEntry,
    NewMailbox,
    NewRecipient,
    Relationship,
    Tenant,
    User,
    utcnow,
)
from aobo.domain.permissions import PermissionStore
from aobo.domain.repository import keyset_pages
from aobo.domain.schema import (
    UTCDateTime,
    audit_log,
    partner_relationships,
    recipient_addresses,
    recipients,
    role_group_members,
    tenants,
    users,
)
from aobo.domain.schema import accepted_domains as domains_table
from aobo.domain.statistics import MailboxStatisticsStore
from aobo.errors import AuthenticationFailed

__all__ = [
    "AUTH_FAILED_MESSAGE",
    "COLUMN_PROPERTIES",
    "DN_SUFFIX",
    "MAILBOX_DEFAULT_PROPS",
    "NewMailbox",
    "Store",
    "redact",
]

#: The one text for an unknown user, a wrong password and a locked account.
AUTH_FAILED_MESSAGE: Final = "Access is denied."
#: How long wrong passwords lock an account (Entra ID's smart lock-out starts at a minute; an
#: on-premises AD policy commonly uses 15).
LOCKOUT_DURATION: Final = timedelta(minutes=15)

#: A fixed fake forest, in the shape Exchange Online's DNs have.
DN_SUFFIX: Final = "OU=Microsoft Exchange Hosted Organizations,DC=NAMPR01A001,DC=PROD,DC=OUTLOOK,DC=COM"

#: Exchange property names that live in their own recipients column (update_recipient accepts both).
COLUMN_PROPERTIES: Final[Mapping[str, str]] = {
    "Name": "name",
    "Alias": "alias",
    "DisplayName": "display_name",
    "FirstName": "first_name",
    "LastName": "last_name",
    "UserPrincipalName": "user_principal_name",
    "PrimarySmtpAddress": "primary_smtp_address",
    "RecipientTypeDetails": "recipient_type_details",
    "HiddenFromAddressListsEnabled": "hidden_from_address_lists_enabled",
    "ForwardingAddress": "forwarding_address",
    "ForwardingSmtpAddress": "forwarding_smtp_address",
    "DeliverToMailboxAndForward": "deliver_to_mailbox_and_forward",
    "EmailAddresses": "email_addresses",
}
_READ_ONLY = frozenset(
    {
        "id",
        "tenant_id",
        "guid",
        "exchange_guid",
        "external_directory_object_id",
        "distinguished_name",
        "recipient_type",
        "props",
        "when_created",
        "when_changed",
        "Id",
        "Identity",
        "Guid",
        "ExchangeGuid",
        "ExternalDirectoryObjectId",
        "DistinguishedName",
        "RecipientType",
        "WhenCreated",
        "WhenChanged",
        "WhenCreatedUTC",
        "WhenChangedUTC",
    }
)
_BOOL_COLUMNS = frozenset(
    {"hidden_from_address_lists_enabled", "deliver_to_mailbox_and_forward"},
)

_SQLITE_BUSY_TIMEOUT_MS = 10_000
_SQLITE_CACHE_KIB = 32 * 1024
_INSERT_CHUNK = 1_000
_LOOKUP_CHUNK = 500
_TENANT_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$")
_WHITESPACE = re.compile(r"\s")
_PROXY = re.compile(r"^([A-Za-z0-9]{1,9}):(.+)$")
_SENSITIVE_KEY = re.compile(r"password|secret|token|credential", re.IGNORECASE)
#: What every audit record shows instead of a secret (the cmdlet engine redacts with it too).
REDACTED: Final = "******"


def is_secret_name(name: str) -> bool:
    """Whether a parameter or key of this name holds a secret (password, token, ...)."""
    return _SENSITIVE_KEY.search(name) is not None


class Store:
    """aobo's persistent state on SQLite or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        # Writes on SQLite take the write lock up front (BEGIN IMMEDIATE): a deferred transaction
        # that reads and then writes can fail at once with "database is locked" instead of waiting
        # for busy_timeout when another writer got there first.
        self._writer = engine.execution_options(aobo_begin="IMMEDIATE") if self._sqlite else engine
        # Set only on the view handed out by transaction(): every call then runs on this connection.
        self._conn: Connection | None = None

    @classmethod
    def open(cls, url: str, *, echo: bool = False) -> Store:
        """Connect to ``sqlite:///path`` (parent folder created) or ``postgresql+psycopg://...``.

        ``sqlite://`` (in memory) works for single-threaded tests only: there is one connection.
        """
        parsed = sa.make_url(url)
        if parsed.get_backend_name() != "sqlite":
            return cls(sa.create_engine(parsed, echo=echo, pool_pre_ping=True))
        database = parsed.database or ""
        if database in ("", ":memory:"):
            engine = sa.create_engine(
                parsed, echo=echo, poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
        else:
            if not database.startswith("file:"):
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(parsed, echo=echo, connect_args={"check_same_thread": False})
        _configure_sqlite(engine, wal=database not in ("", ":memory:"))
        if database not in ("", ":memory:"):
            _enable_wal(engine)
        return cls(engine)

    def migrate(self) -> None:
        """Bring the schema to the newest revision (``alembic upgrade head``); a no-op when it is."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                # Two services starting at once must not both run the same DDL.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(7165746)"))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def close(self) -> None:
        if self._conn is None:
            self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- repositories (one per aggregate; each runs on this store's connections) ---------------

    @functools.cached_property
    def apps(self) -> AppStore:
        return AppStore(self)

    @functools.cached_property
    def groups(self) -> GroupStore:
        return GroupStore(self)

    @functools.cached_property
    def permissions(self) -> PermissionStore:
        return PermissionStore(self)

    @functools.cached_property
    def inbox_rules(self) -> InboxRuleStore:
        return InboxRuleStore(self)

    @functools.cached_property
    def statistics(self) -> MailboxStatisticsStore:
        return MailboxStatisticsStore(self)

    @functools.cached_property
    def config(self) -> ConfigStore:
        return ConfigStore(self)

    @functools.cached_property
    def message_trace(self) -> MessageTraceStore:
        return MessageTraceStore(self)

    @functools.cached_property
    def gdap(self) -> GdapStore:
        return GdapStore(self)

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """A view of this store whose calls all run in one transaction, committed when the block ends.

        ``with store.transaction() as tx: tx.create_tenant(...); tx.add_mailboxes(...)``. A call that
        fails inside still undoes its own partial work (it runs in a savepoint); an exception leaving
        the block rolls everything back. The view belongs to the calling thread, and iterators it
        returns must be consumed before the block ends.
        """
        if self._conn is not None:
            yield self
            return
        with self._write() as conn:
            bound = Store(self.engine)
            bound._conn = conn
            yield bound

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            if self._conn is not None:
                yield self._conn
                return
            with self.engine.connect() as conn:
                yield conn
        except IntegrityError:
            raise
        except DBAPIError as err:
            raise StoreError(f"Database error: {err.orig}") from err

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        # Integrity errors pass through untranslated: only the caller knows which key clashed.
        try:
            if self._conn is not None:
                with self._conn.begin_nested():
                    yield self._conn
                return
            with self._writer.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except DBAPIError as err:
            raise StoreError(f"Database error: {err.orig}") from err

    # -- tenants -----------------------------------------------------------------------------

    def create_tenant(
        self, name: str, *, guid: uuid.UUID | None = None, accepted_domains: Sequence[str] = ()
    ) -> Tenant:
        """A tenant ``<name>.onmicrosoft.com``; the first extra accepted domain becomes its default."""
        name = name.strip().lower()
        if not _TENANT_NAME.match(name):
            raise ValueError(f"Invalid tenant name {name!r}: use letters, digits and hyphens.")
        initial = f"{name}.onmicrosoft.com"
        extra = [d for d in dict.fromkeys(_domain(d) for d in accepted_domains) if d != initial]
        for domain in extra:
            if not _DOMAIN.match(domain):
                raise ValueError(f"Invalid accepted domain {domain!r}.")
        default = extra[0] if extra else initial
        guid = guid or uuid.uuid4()
        try:
            with self._write() as conn:
                tenant_id = conn.execute(
                    tenants.insert().returning(tenants.c.id),
                    {"guid": str(guid), "name": name, "initial_domain": initial, "created": utcnow()},
                ).scalar_one()
                conn.execute(
                    domains_table.insert(),
                    [
                        {
                            "tenant_id": tenant_id,
                            "domain_name": d,
                            "is_initial": d == initial,
                            "is_default": d == default,
                        }
                        for d in (initial, *extra)
                    ],
                )
        except IntegrityError as err:
            raise AlreadyExists(
                f"A tenant named {name!r} or one of the domains {[initial, *extra]} already exists."
            ) from err
        return Tenant(tenant_id, guid, name, initial, (initial, *extra), default)

    def resolve_tenant(self, ref: str) -> Tenant | None:
        """The tenant with this accepted domain (any case) or tenant GUID, else ``None``."""
        ref = ref.strip()
        guid = _parse_guid(ref)
        if guid is not None:
            where = tenants.c.guid == guid
        else:
            domain_owner = sa.select(domains_table.c.tenant_id).where(domains_table.c.domain_name == _domain(ref))
            where = tenants.c.id.in_(domain_owner.scalar_subquery())
        with self._read() as conn:
            found = _load_tenants(conn, where)
        return found[0] if found else None

    def get_tenant(self, tenant_id: int) -> Tenant:
        with self._read() as conn:
            found = _load_tenants(conn, tenants.c.id == tenant_id)
        if not found:
            raise NotFound(f"No tenant with id {tenant_id}.")
        return found[0]

    def list_tenants(self) -> list[Tenant]:
        """All tenants ordered by initial domain."""
        with self._read() as conn:
            return _load_tenants(conn, sa.true())

    # -- users -------------------------------------------------------------------------------

    def create_user(
        self,
        tenant_id: int,
        upn: str,
        display_name: str,
        password: str | None = None,
        *,
        password_hash: str | None = None,
        role_groups: Iterable[str] = (),
        remote_powershell_enabled: bool = True,
        guid: uuid.UUID | None = None,
    ) -> User:
        """A sign-in account, with ``password``, a ready argon2 ``password_hash``, or neither (no sign-in).

        The UPN must be in one of the tenant's accepted domains.
        """
        if password is not None and password_hash is not None:
            raise ValueError("Give either password or password_hash, not both.")
        upn = upn.strip()
        tenant = self.get_tenant(tenant_id)
        local, _, domain = upn.rpartition("@")
        if not local or domain.lower() not in tenant.domains:
            raise ValueError(f"{upn!r} is not in an accepted domain of {tenant.initial_domain}.")
        if password is not None:
            password_hash = passwords.hash_password(password)  # ~50 ms: outside the transaction
        groups = frozenset(role_groups)
        guid = guid or uuid.uuid4()
        try:
            with self._write() as conn:
                user_id = conn.execute(
                    users.insert().returning(users.c.id),
                    {
                        "tenant_id": tenant_id,
                        "guid": str(guid),
                        "user_principal_name": upn,
                        "upn_lower": upn.lower(),
                        "display_name": display_name,
                        "password_hash": password_hash,
                        "remote_powershell_enabled": remote_powershell_enabled,
                        "failed_logins": 0,
                        "locked_out": False,
                        "created": utcnow(),
                    },
                ).scalar_one()
                if groups:
                    conn.execute(
                        role_group_members.insert(),
                        [{"user_id": user_id, "role_group": g} for g in sorted(groups)],
                    )
        except IntegrityError as err:
            raise AlreadyExists(f"A user with the user principal name {upn!r} already exists.") from err
        return User(user_id, tenant_id, guid, upn, display_name, remote_powershell_enabled, groups, False)

    def find_user(self, upn: str) -> User | None:
        with self._read() as conn:
            row = conn.execute(sa.select(users).where(users.c.upn_lower == upn.strip().lower())).one_or_none()
            return None if row is None else _user(conn, row)

    def authenticate(
        self,
        upn: str,
        password: str,
        *,
        lockout_threshold: int = 10,
        lockout_duration: timedelta = LOCKOUT_DURATION,
    ) -> User:
        """The user whose password this is, or :class:`AuthenticationFailed` (one text for every cause).

        ``lockout_threshold`` consecutive failures lock the account for ``lockout_duration``; 0 or
        less never locks. A lock-out that has run out counts as none.
        """
        with self._read() as conn:
            row = conn.execute(
                sa.select(
                    users.c.id, users.c.password_hash, users.c.locked_out, users.c.locked_until, users.c.failed_logins
                ).where(users.c.upn_lower == upn.strip().lower())
            ).one_or_none()
        if row is None or row.password_hash is None:
            # Spend one verify anyway so the response time does not say whether the account exists.
            passwords.verify_password(passwords.dummy_hash(), password)
            raise AuthenticationFailed(AUTH_FAILED_MESSAGE)
        # The ~50 ms verify runs with no connection held.
        ok = passwords.verify_password(row.password_hash, password)
        now = utcnow()
        expired = row.locked_out and row.locked_until is not None and row.locked_until <= now
        if row.locked_out and not expired:
            raise AuthenticationFailed(AUTH_FAILED_MESSAGE)
        c = users.c
        if not ok:
            # After an expired lock-out the count starts again.
            failures = 1 if expired else c.failed_logins + 1
            locks = (failures >= lockout_threshold) if lockout_threshold > 0 else sa.false()
            with self._write() as conn:
                # One atomic UPDATE, so concurrent failures cannot lose a count.
                conn.execute(
                    users.update()
                    .where(c.id == row.id)
                    .values(
                        failed_logins=failures,
                        locked_out=sa.or_(sa.false() if expired else c.locked_out, locks),
                        locked_until=sa.case((locks, now + lockout_duration), else_=c.locked_until),
                    )
                )
            raise AuthenticationFailed(AUTH_FAILED_MESSAGE)
        rehash = passwords.needs_rehash(row.password_hash)
        if row.failed_logins or rehash or expired:
            values: dict[str, Any] = {"failed_logins": 0, "locked_out": False, "locked_until": None}
            if rehash:
                values["password_hash"] = passwords.hash_password(password)
            with self._write() as conn:
                # A concurrent run of failures may have locked the account since it was read.
                still_open = sa.or_(c.locked_out == sa.false(), c.locked_until <= now)
                updated = conn.execute(users.update().where(c.id == row.id, still_open).values(values)).rowcount
            if not updated:
                raise AuthenticationFailed(AUTH_FAILED_MESSAGE)
        with self._read() as conn:
            return _user(conn, conn.execute(sa.select(users).where(c.id == row.id)).one())

    def set_remote_powershell_enabled(self, user_id: int, enabled: bool) -> None:
        self._update_user(user_id, remote_powershell_enabled=enabled)

    def unlock_user(self, user_id: int) -> None:
        self._update_user(user_id, locked_out=False, locked_until=None, failed_logins=0)

    def _update_user(self, user_id: int, **values: Any) -> None:
        with self._write() as conn:
            if not conn.execute(users.update().where(users.c.id == user_id).values(values)).rowcount:
                raise NotFound(f"No user with id {user_id}.")

    # -- partner relationships ---------------------------------------------------------------

    def create_relationship(self, partner_tenant_id: int, customer_tenant_id: int, kind: str = "DAP") -> Relationship:
        """An active relationship; returns the existing one if active, reactivates a removed one."""
        if kind != "DAP":
            raise ValueError(f"Unsupported relationship kind {kind!r}: only DAP.")
        if partner_tenant_id == customer_tenant_id:
            raise ValueError("A tenant cannot be its own partner.")
        r = partner_relationships.c
        key = (
            r.partner_tenant_id == partner_tenant_id,
            r.customer_tenant_id == customer_tenant_id,
            r.kind == kind,
        )
        try:
            with self._write() as conn:
                row = conn.execute(sa.select(partner_relationships).where(*key)).one_or_none()
                if row is None:
                    stmt = partner_relationships.insert().returning(*partner_relationships.c)
                    values: dict[str, Any] = {
                        "partner_tenant_id": partner_tenant_id,
                        "customer_tenant_id": customer_tenant_id,
                        "kind": kind,
                        "state": "active",
                        "created": utcnow(),
                        "removed": None,
                    }
                    row = conn.execute(stmt, values).one()
                elif row.state != "active":
                    stmt = (
                        partner_relationships.update()
                        .where(r.id == row.id)
                        .values(state="active", created=utcnow(), removed=None)
                        .returning(*partner_relationships.c)
                    )
                    row = conn.execute(stmt).one()
        except IntegrityError as err:
            # The only integrity error left here is a foreign key: one of the tenants is missing.
            raise NotFound(f"No tenant with id {partner_tenant_id} or {customer_tenant_id}.") from err
        return _relationship(row)

    def remove_relationship(self, relationship_id: int) -> None:
        r = partner_relationships.c
        with self._write() as conn:
            found = conn.execute(
                partner_relationships.update()
                .where(r.id == relationship_id)
                .values(
                    state="removed",
                    removed=sa.case((r.state == "removed", r.removed), else_=sa.literal(utcnow(), UTCDateTime())),
                )
            ).rowcount
        if not found:
            raise NotFound(f"No partner relationship with id {relationship_id}.")

    def relationship(self, partner_tenant_id: int, customer_tenant_id: int) -> Relationship | None:
        """The active relationship between the two tenants, else ``None``."""
        r = partner_relationships.c
        with self._read() as conn:
            row = conn.execute(
                sa.select(partner_relationships)
                .where(
                    r.partner_tenant_id == partner_tenant_id,
                    r.customer_tenant_id == customer_tenant_id,
                    r.state == "active",
                )
                .order_by(r.id)
                .limit(1)
            ).one_or_none()
        return None if row is None else _relationship(row)

    def customers_of(self, partner_tenant_id: int) -> list[tuple[Tenant, Relationship]]:
        """Tenants with an active relationship to the partner, ordered by initial domain."""
        r = partner_relationships.c
        with self._read() as conn:
            rels = {
                row.customer_tenant_id: _relationship(row)
                for row in conn.execute(
                    sa.select(partner_relationships).where(
                        r.partner_tenant_id == partner_tenant_id, r.state == "active"
                    )
                )
            }
            customer_ids = (
                sa.select(r.customer_tenant_id)
                .where(r.partner_tenant_id == partner_tenant_id, r.state == "active")
                .scalar_subquery()
            )
            found = _load_tenants(conn, tenants.c.id.in_(customer_ids))
        return [(t, rels[t.id]) for t in found if t.id in rels]

    # -- recipients --------------------------------------------------------------------------

    def add_recipient(self, tenant_id: int, recipient: NewRecipient) -> Row[Any]:
        """Insert one recipient of any kind and return its row (see :meth:`add_mailboxes`)."""
        if recipient.guid is None:
            recipient = dataclasses.replace(recipient, guid=uuid.uuid4())
        with self.transaction() as tx:
            tx.add_mailboxes(tenant_id, [recipient])
            with tx._read() as conn:
                return conn.execute(sa.select(recipients).where(recipients.c.guid == str(recipient.guid))).one()

    def delete_recipient(self, tenant_id: int, recipient_id: int) -> None:
        """Delete a recipient with its addresses, memberships, permissions, rules and statistics."""
        with self._write() as conn:
            deleted = conn.execute(
                recipients.delete().where(recipients.c.tenant_id == tenant_id, recipients.c.id == recipient_id)
            ).rowcount
        if not deleted:
            raise NotFound(f"No recipient with id {recipient_id} in tenant {tenant_id}.")

    def add_mailboxes(self, tenant_id: int, mailboxes: Iterable[NewRecipient]) -> int:
        """Insert recipients (mailboxes or any other kind) in one transaction; returns how many.
        All or nothing.

        Raises :class:`ProxyAddressConflict` when an address is already used in the tenant (or twice
        in the input), :class:`ValueError` for malformed input.
        """
        now = utcnow()
        seen: dict[tuple[str, str], str] = {}  # (prefix, address_lower) -> name of its holder
        count = 0
        try:
            with self._write() as conn:
                found = _load_tenants(conn, tenants.c.id == tenant_id)
                if not found:
                    raise NotFound(f"No tenant with id {tenant_id}.")
                tenant = found[0]
                for chunk in _chunks(mailboxes, _INSERT_CHUNK):
                    built = [_build_mailbox(tenant, mb, now) for mb in chunk]
                    for row, addresses in built:
                        for a in addresses:
                            key = (a["prefix"], a["address_lower"])
                            if key in seen:
                                written = f"{a['prefix']}:{a['address']}"
                                raise ProxyAddressConflict(written, tenant_id, seen[key])
                            seen[key] = row["name"]
                    ids = self._insert_recipients(conn, [row for row, _ in built])
                    conn.execute(
                        recipient_addresses.insert(),
                        [{**a, "recipient_id": rid} for rid, (_, addrs) in zip(ids, built, strict=True) for a in addrs],
                    )
                    count += len(built)
        except IntegrityError as err:
            if not _is_address_clash(err):
                raise StoreError(f"Could not add mailboxes: {err.orig}") from err
            raise self._address_conflict(tenant_id, seen.keys(), exclude_recipient=None) from err
        return count

    def _insert_recipients(self, conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
        """Insert rows, returning their ids in input order."""
        if not self._sqlite:
            # PostgreSQL batches an ordered INSERT ... RETURNING.
            stmt = recipients.insert().returning(recipients.c.id, sort_by_parameter_order=True)
            return list(conn.execute(stmt, rows).scalars())
        # SQLAlchemy sends an ordered RETURNING one row at a time on SQLite. This transaction holds
        # the write lock, so the rowids SQLite picks are simply the next ones, in input order.
        before = conn.execute(sa.select(sa.func.coalesce(sa.func.max(recipients.c.id), 0))).scalar_one()
        conn.execute(recipients.insert(), rows)
        ids = list(
            conn.execute(sa.select(recipients.c.id).where(recipients.c.id > before).order_by(recipients.c.id)).scalars()
        )
        if len(ids) != len(rows):
            raise StoreError("Recipients were inserted concurrently; the transaction was not exclusive.")
        return ids

    def iter_mailboxes(
        self,
        tenant_id: int,
        *,
        recipient_type_details: Sequence[str] | None = None,
        limit: int | None = None,
        batch_size: int = 1000,
        where: Sequence[Any] = (),
    ) -> Iterator[Row[Any]]:
        """Mailbox rows in id order, fetched in short keyset-paginated reads of ``batch_size``.

        No connection is held between batches, so a slow consumer does not pin the pool; rows
        added or changed meanwhile may or may not be seen, as with any paged listing. ``where``
        adds SQL conditions on the recipients table (a compiled -Filter).
        """
        return self.iter_recipients(
            tenant_id,
            recipient_type_details=MAILBOX_TYPES if recipient_type_details is None else recipient_type_details,
            limit=limit,
            batch_size=batch_size,
            where=where,
        )

    def iter_recipients(
        self,
        tenant_id: int,
        *,
        recipient_type_details: Sequence[str] | None = None,
        limit: int | None = None,
        batch_size: int = 1000,
        where: Sequence[Any] = (),
    ) -> Iterator[Row[Any]]:
        """Recipient rows of any kind (all kinds when ``recipient_type_details`` is None), as
        :meth:`iter_mailboxes` reads them."""
        conditions = [recipients.c.tenant_id == tenant_id, *where]
        if recipient_type_details is not None:
            conditions.append(recipients.c.recipient_type_details.in_(list(recipient_type_details)))
        return self._iter_mailboxes(conditions, limit, batch_size)

    def _iter_mailboxes(self, where: list[Any], limit: int | None, batch_size: int) -> Iterator[Row[Any]]:
        def read(after: int, size: int) -> list[Row[Any]]:
            statement = sa.select(recipients).where(*where, recipients.c.id > after)
            with self._read() as conn:
                return list(conn.execute(statement.order_by(recipients.c.id).limit(size)).all())

        return keyset_pages(read, limit=limit, batch_size=batch_size)

    def count_mailboxes(self, tenant_id: int, *, recipient_type_details: Sequence[str] | None = None) -> int:
        with self._read() as conn:
            return conn.execute(
                sa.select(sa.func.count())
                .select_from(recipients)
                .where(*_mailbox_filter(tenant_id, recipient_type_details))
            ).scalar_one()

    def find_recipients(
        self,
        tenant_id: int,
        identity: str,
        *,
        recipient_type_details: Sequence[str] | None = None,
        limit: int = 2,
    ) -> list[Row[Any]]:
        """Recipients of the tenant whose identity is exactly ``identity`` (case-insensitive).

        Matches GUID, ExchangeGuid, ExternalDirectoryObjectId, DN, UPN, primary SMTP address, any proxy
        address (``smtp:x@y`` or bare ``x@y``), alias, name or display name. The default limit of 2
        is what a caller needs to tell "unique" from "ambiguous".
        """
        value = identity.strip()
        if not value or limit < 1:
            return []
        guid = _parse_guid(value)
        proxy = _PROXY.match(value)
        params: dict[str, Any] = {"tenant_id": tenant_id, "low": value.lower(), "limit": limit}
        if guid is not None:
            params["guid"] = guid
        if proxy:
            params["prefix"], params["proxy_low"] = proxy[1].lower(), proxy[2].lower()
        if recipient_type_details is not None:
            params["types"] = list(recipient_type_details)
        statement = _find_recipients_statement(guid is not None, bool(proxy), recipient_type_details is not None)
        with self._read() as conn:
            return list(conn.execute(statement, params).all())

    def recipient_named(self, tenant_id: int, name: str, *, exclude: int | None = None) -> Row[Any] | None:
        """The tenant's recipient whose Name (its CN, unique in Exchange) is ``name``, in any case."""
        r = recipients.c
        statement = sa.select(recipients).where(r.tenant_id == tenant_id, sa.func.lower(r.name) == name.strip().lower())
        if exclude is not None:
            statement = statement.where(r.id != exclude)
        with self._read() as conn:
            return conn.execute(statement.limit(1)).one_or_none()

    def recipient_by_guid(
        self, tenant_id: int, guid: uuid.UUID | str, *, recipient_type_details: Sequence[str] | None = None
    ) -> Row[Any] | None:
        """The tenant's recipient whose Guid is ``guid``: what a piped object names, in one index lookup."""
        with self._read() as conn:
            rows = conn.execute(_BY_GUID, {"guid": str(guid).lower()}).all()
        # Tenant and type are checked here: given them, SQLite's planner prefers the (tenant, type)
        # index over the GUID's and reads every mailbox of the tenant.
        for row in rows:
            if row.tenant_id == tenant_id and (
                recipient_type_details is None or row.recipient_type_details in recipient_type_details
            ):
                return row
        return None

    def get_recipient(self, tenant_id: int, recipient_id: int) -> Row[Any]:
        with self._read() as conn:
            row = conn.execute(
                sa.select(recipients).where(recipients.c.tenant_id == tenant_id, recipients.c.id == recipient_id)
            ).one_or_none()
        if row is None:
            raise NotFound(f"No recipient with id {recipient_id} in tenant {tenant_id}.")
        return row

    def update_recipient(
        self,
        tenant_id: int,
        recipient_id: int,
        changes: Mapping[str, Any] | Callable[[Row[Any]], Mapping[str, Any]],
    ) -> Row[Any]:
        """Apply ``changes`` in one transaction and return the new row.

        ``changes`` may be a function of the current row, called inside the transaction with the
        row as it is now: read-modify-write changes (``@{Add=...}`` to a multi-valued property)
        then cannot lose a concurrent writer's update. An empty mapping writes nothing.

        Keys are recipients column names, or Exchange property names: those in
        :data:`COLUMN_PROPERTIES` go to their column, the rest into the props JSON (a value equal to
        the default is dropped from it). Changing the name rewrites the DN; changing
        ``primary_smtp_address`` demotes the old primary to a secondary ``smtp:`` address, as
        Set-Mailbox does; ``email_addresses`` replaces the whole list.
        """
        attempted: list[tuple[str, str]] = []
        try:
            with self._write() as conn:
                row = conn.execute(
                    _RECIPIENT_BY_ID, {"tenant_id": tenant_id, "recipient_id": recipient_id}
                ).one_or_none()
                if row is None:
                    raise NotFound(f"No recipient with id {recipient_id} in tenant {tenant_id}.")
                if callable(changes):
                    changes = changes(row)
                    if not changes:
                        return row
                values, props = _split_changes(row, changes)
                if "name" in values:
                    initial = conn.execute(
                        sa.select(tenants.c.initial_domain).where(tenants.c.id == tenant_id)
                    ).scalar_one()
                    values["distinguished_name"] = _dn(values["name"], initial)
                if "recipient_type_details" in values:
                    props = _with_type_props(props, values["recipient_type_details"])
                if "email_addresses" in values or "primary_smtp_address" in values:
                    addresses = _readdress(row, values)
                    values["email_addresses"] = _json([_written(a) for a in addresses])
                    values["primary_smtp_address"] = next(
                        a["address"] for a in addresses if a["prefix"] == "smtp" and a["is_primary"]
                    )
                    attempted = [(a["prefix"], a["address_lower"]) for a in addresses]
                    conn.execute(recipient_addresses.delete().where(recipient_addresses.c.recipient_id == recipient_id))
                    conn.execute(
                        recipient_addresses.insert(),
                        [{**a, "tenant_id": tenant_id, "recipient_id": recipient_id} for a in addresses],
                    )
                values["props"] = _json(props)
                values["when_changed"] = utcnow()
                return conn.execute(_UPDATE_RECIPIENT.values(values), {"recipient_id": recipient_id}).one()
        except IntegrityError as err:
            if not _is_address_clash(err):
                raise StoreError(f"Could not update recipient {recipient_id}: {err.orig}") from err
            raise self._address_conflict(tenant_id, attempted, exclude_recipient=recipient_id) from err

    def _address_conflict(
        self, tenant_id: int, keys: Iterable[tuple[str, str]], *, exclude_recipient: int | None
    ) -> ProxyAddressConflict:
        """Name the address that clashed, read after the failed transaction rolled back."""
        a, r = recipient_addresses.c, recipients.c
        wanted = set(keys)
        with self._read() as conn:
            for chunk in _chunks(sorted({low for _, low in wanted}), _LOOKUP_CHUNK):
                stmt = (
                    sa.select(a.prefix, a.address, a.address_lower, r.name)
                    .join(recipients, r.id == a.recipient_id)
                    .where(a.tenant_id == tenant_id, a.address_lower.in_(chunk))
                )
                if exclude_recipient is not None:
                    stmt = stmt.where(a.recipient_id != exclude_recipient)
                for hit in conn.execute(stmt.order_by(a.id)):
                    if (hit.prefix, hit.address_lower) in wanted:
                        return ProxyAddressConflict(f"{hit.prefix}:{hit.address}", tenant_id, hit.name)
        # Taken and freed again by a concurrent writer: report without naming it.
        return ProxyAddressConflict("(unknown)", tenant_id)

    # -- audit -------------------------------------------------------------------------------

    def write_audit(self, entry: AuditEntry) -> None:
        with self._write() as conn:
            conn.execute(
                audit_log.insert(),
                {
                    "run_date": entry.run_date,
                    "caller": entry.caller,
                    "caller_tenant_id": entry.caller_tenant_id,
                    "target_tenant_id": entry.target_tenant_id,
                    "session_id": entry.session_id,
                    "cmdlet": entry.cmdlet,
                    "parameters": _json(redact(entry.parameters)),
                    "succeeded": entry.succeeded,
                    "error": entry.error,
                    "object_id": entry.object_id,
                },
            )

    def audit_entries(
        self,
        *,
        target_tenant_id: int | None = None,
        limit: int = 1000,
        offset: int = 0,
        where: Sequence[Any] = (),
    ) -> list[AuditEntry]:
        """Newest first; ``where`` adds conditions on ``audit_log`` columns (see :meth:`search_audit`)."""
        c = audit_log.c
        stmt = sa.select(audit_log).order_by(c.run_date.desc(), c.id.desc()).limit(limit).offset(offset)
        if target_tenant_id is not None:
            stmt = stmt.where(c.target_tenant_id == target_tenant_id)
        stmt = stmt.where(*where)
        with self._read() as conn:
            rows = conn.execute(stmt).all()
        return [
            AuditEntry(
                caller=row.caller,
                caller_tenant_id=row.caller_tenant_id,
                target_tenant_id=row.target_tenant_id,
                session_id=row.session_id,
                cmdlet=row.cmdlet,
                parameters=json.loads(row.parameters),
                succeeded=row.succeeded,
                error=row.error,
                run_date=row.run_date,
                id=row.id,
                object_id=row.object_id,
            )
            for row in rows
        ]

    def search_audit(
        self,
        target_tenant_id: int,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        cmdlets: Sequence[str] = (),
        callers: Sequence[str] = (),
        object_ids: Sequence[str] = (),
        parameters: Sequence[str] = (),
        succeeded: bool | None = None,
        external: bool | None = None,
        exclude_verbs: Sequence[str] = (),
        offset: int = 0,
        limit: int = 1000,
    ) -> list[AuditEntry]:
        """Search-AdminAuditLog's query: one tenant's entries, newest first. Name lists match without
        regard to case; ``parameters`` keeps entries that used any of them; ``external`` selects
        entries whose caller belongs to another tenant (a partner acting through DAP/GDAP)."""
        c = audit_log.c
        where: list[Any] = []
        if start is not None:
            where.append(c.run_date >= start)
        if end is not None:
            where.append(c.run_date <= end)
        for column, values in ((c.cmdlet, cmdlets), (c.caller, callers), (c.object_id, object_ids)):
            if values:
                where.append(sa.func.lower(column).in_(sorted({v.lower() for v in values})))
        if parameters:
            text = sa.func.lower(c.parameters)
            where.append(
                sa.or_(*(text.like(f"%{_escape_like(json.dumps(p.lower()))}:%", escape="\\") for p in parameters))
            )
        if succeeded is not None:
            where.append(c.succeeded == succeeded)
        if external is not None:
            other = c.caller_tenant_id != c.target_tenant_id
            where.append(other if external else ~other)
        where.extend(~sa.func.lower(c.cmdlet).like(f"{verb.lower()}-%") for verb in exclude_verbs)
        return self.audit_entries(target_tenant_id=target_tenant_id, limit=limit, offset=offset, where=where)


_GUID_COLUMNS = ("guid", "exchange_guid", "external_directory_object_id")
_IDENTITY_COLUMNS = (
    "name",
    "alias",
    "display_name",
    "user_principal_name",
    "primary_smtp_address",
    "distinguished_name",
)


def redact(value: Any) -> Any:
    """A copy of ``value`` with every mapping entry whose key looks secret replaced by ``REDACTED``."""
    if isinstance(value, Mapping):
        return {k: REDACTED if is_secret_name(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


# -- engine set-up -----------------------------------------------------------------------------


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own implicit BEGIN is switched off so that _on_begin decides the mode.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
        if wal:
            # With WAL, NORMAL loses at most the last commits on power loss, never consistency.
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # 32 MiB page cache instead of 2: recipients carry a dozen indexes, and bulk inserts and
        # lookups in large tenants otherwise keep re-reading index pages. Allocated only as used.
        cursor.execute(f"PRAGMA cache_size={-_SQLITE_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("aobo_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _enable_wal(engine: Engine) -> None:
    """Switch the file to WAL journaling (it stays so), waiting out other connections.

    Done once here rather than per connection: the switch needs the file to itself and, unlike
    other statements, fails at once with "database is locked" instead of honouring busy_timeout.
    """
    deadline = time.monotonic() + _SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise StoreError(f"Could not open the SQLite database: {err}") from err
        finally:
            raw.close()
        time.sleep(0.05)


# -- row mapping -------------------------------------------------------------------------------


def _load_tenants(conn: Connection, where: Any) -> list[Tenant]:
    """Tenants matching ``where`` with their domains, in one query, ordered by initial domain."""
    t, d = tenants.c, domains_table.c
    rows = conn.execute(
        sa.select(t.id, t.guid, t.name, t.initial_domain, d.domain_name, d.is_default)
        .join_from(tenants, domains_table, d.tenant_id == t.id, isouter=True)
        .where(where)
        .order_by(t.initial_domain, d.is_initial.desc(), d.id)
    )
    result: list[Tenant] = []
    for tenant_id, group in itertools.groupby(rows, key=lambda row: row.id):
        own = list(group)
        first = own[0]
        domains = tuple(x.domain_name for x in own if x.domain_name is not None)
        default = next((x.domain_name for x in own if x.is_default), first.initial_domain)
        result.append(Tenant(tenant_id, uuid.UUID(first.guid), first.name, first.initial_domain, domains, default))
    return result


def _user(conn: Connection, row: Row[Any]) -> User:
    groups = conn.execute(
        sa.select(role_group_members.c.role_group).where(role_group_members.c.user_id == row.id)
    ).scalars()
    return User(
        id=row.id,
        tenant_id=row.tenant_id,
        guid=uuid.UUID(row.guid),
        user_principal_name=row.user_principal_name,
        display_name=row.display_name,
        remote_powershell_enabled=row.remote_powershell_enabled,
        role_groups=frozenset(groups),
        locked_out=bool(row.locked_out) and (row.locked_until is None or row.locked_until > utcnow()),
    )


def _relationship(row: Row[Any]) -> Relationship:
    return Relationship(
        id=row.id,
        partner_tenant_id=row.partner_tenant_id,
        customer_tenant_id=row.customer_tenant_id,
        kind=row.kind,
        state=row.state,
        created=row.created,
        removed=row.removed,
    )


# -- recipients: building rows -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Address:
    prefix: str  # as written: "SMTP" for a primary, "smtp" for a secondary
    address: str


def _build_mailbox(tenant: Tenant, mb: NewRecipient, now: datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    alias = _alias(mb.alias)
    if not mb.name.strip():
        raise ValueError(f"Recipient {alias!r} needs a name.")
    recipient_type = RECIPIENT_KINDS.get(mb.recipient_type_details)
    if recipient_type is None:
        known = tuple(RECIPIENT_KINDS)
        raise ValueError(f"Unknown recipient type {mb.recipient_type_details!r}; expected one of {known}.")
    contact = recipient_type == "MailContact"
    if contact and not mb.primary_smtp_address:
        raise ValueError(f"Mail contact {alias!r} needs its external address as primary_smtp_address.")
    primary = mb.primary_smtp_address or f"{alias}@{tenant.default_domain}"
    proxies = [_Address("SMTP", _smtp(primary))]
    if not contact:
        proxies.append(_Address("smtp", f"{alias}@{tenant.initial_domain}"))
    for extra in mb.extra_addresses:
        proxy = _parse_proxy(extra)
        if proxy.prefix == "SMTP":
            raise ValueError(f"{extra!r}: give the primary SMTP address as primary_smtp_address.")
        proxies.append(proxy)
    addresses = _address_rows(proxies, tenant.id)
    when = mb.when_created or now
    props = _with_type_props(_non_default(mb.props), mb.recipient_type_details)
    if recipient_type == "UserMailbox":
        props["WhenMailboxCreated"] = when.isoformat()
    has_account = mb.recipient_type_details in USER_TYPES
    row = {
        "tenant_id": tenant.id,
        "guid": str(mb.guid or uuid.uuid4()),
        "exchange_guid": str(mb.exchange_guid or uuid.uuid4()),
        "external_directory_object_id": str(mb.external_directory_object_id or uuid.uuid4()),
        "name": mb.name.strip(),
        "alias": alias,
        "display_name": mb.display_name,
        "first_name": mb.first_name,
        "last_name": mb.last_name,
        "user_principal_name": (mb.user_principal_name or f"{alias}@{tenant.initial_domain}") if has_account else None,
        "primary_smtp_address": addresses[0]["address"],
        "recipient_type": recipient_type,
        "recipient_type_details": mb.recipient_type_details,
        "distinguished_name": _dn(mb.name.strip(), tenant.initial_domain),
        "hidden_from_address_lists_enabled": mb.hidden_from_address_lists_enabled,
        "forwarding_address": None,
        "forwarding_smtp_address": None,
        "deliver_to_mailbox_and_forward": False,
        "email_addresses": _json([_written(a) for a in addresses]),
        "props": _json(props),
        "when_created": when,
        "when_changed": when,
    }
    return row, addresses


def _address_rows(proxies: Iterable[_Address], tenant_id: int | None = None) -> list[dict[str, Any]]:
    """Rows for recipient_addresses in Exchange order, duplicates (ignoring case) dropped."""
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for p in proxies:
        key = (p.prefix.lower(), p.address.lower())
        if key in seen:
            continue
        seen.add(key)
        row = {
            "prefix": key[0],
            "address": p.address,
            "address_lower": key[1],
            "is_primary": p.prefix.isupper(),
        }
        if tenant_id is not None:
            row["tenant_id"] = tenant_id
        rows.append(row)
    return rows


def _written(address: Mapping[str, Any]) -> str:
    prefix = address["prefix"].upper() if address["is_primary"] else address["prefix"]
    return f"{prefix}:{address['address']}"


def _readdress(row: Row[Any], values: dict[str, Any]) -> list[dict[str, Any]]:
    """The new address list after an EmailAddresses and/or PrimarySmtpAddress change."""
    if "email_addresses" in values:
        given = values["email_addresses"]
        if isinstance(given, str) or not isinstance(given, Iterable):
            raise ValueError("email_addresses must be a list of proxy addresses.")
        proxies = [_parse_proxy(p) for p in given]
    else:
        proxies = [_parse_proxy(p) for p in json.loads(row.email_addresses)]
    if "primary_smtp_address" in values:
        new = _smtp(values["primary_smtp_address"])
        demoted = [
            _Address("smtp", p.address) if p.prefix == "SMTP" else p
            for p in proxies
            if not (p.prefix.lower() == "smtp" and p.address.lower() == new.lower())
        ]
        proxies = [_Address("SMTP", new), *demoted]
    if sum(p.prefix == "SMTP" for p in proxies) != 1:
        raise ValueError("A mailbox needs exactly one primary SMTP address (SMTP:...).")
    # Primary SMTP first keeps the order the rest of the code and Exchange clients expect.
    proxies.sort(key=lambda p: p.prefix != "SMTP")
    return _address_rows(proxies)


def _split_changes(row: Row[Any], changes: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    values: dict[str, Any] = {}
    props = json.loads(row.props)
    for key, value in changes.items():
        if key in _READ_ONLY:
            raise ValueError(f"{key} cannot be changed.")
        column = COLUMN_PROPERTIES.get(key, key if key in recipients.c else None)
        if column is None:
            if key in MAILBOX_DEFAULT_PROPS and _same(MAILBOX_DEFAULT_PROPS[key], value):
                props.pop(key, None)
            else:
                props[key] = value
            continue
        if column in _BOOL_COLUMNS and not isinstance(value, bool):
            raise ValueError(f"{key} must be True or False.")
        if column == "alias":
            value = _alias(value)
        elif column == "name":
            value = str(value).strip()
            if not value:
                raise ValueError("Name cannot be empty.")
        elif column == "recipient_type_details" and RECIPIENT_KINDS.get(value) != row.recipient_type:
            raise ValueError(f"A {row.recipient_type_details} cannot become a {value}.")
        values[column] = value
    return values, props


def _with_type_props(props: dict[str, Any], recipient_type_details: str) -> dict[str, Any]:
    props = {k: v for k, v in props.items() if k not in ("IsResource", "ResourceType")}
    if recipient_type_details in ("RoomMailbox", "EquipmentMailbox"):
        props["IsResource"] = True
        props["ResourceType"] = recipient_type_details.removesuffix("Mailbox")
    return props


def _non_default(props: Mapping[str, Any]) -> dict[str, Any]:
    misplaced = [k for k in props if k in COLUMN_PROPERTIES or k in _READ_ONLY]
    if misplaced:
        # In props they would shadow (or contradict) the real column.
        raise ValueError(f"{misplaced} are not props: use the NewMailbox fields.")
    return {k: v for k, v in props.items() if not (k in MAILBOX_DEFAULT_PROPS and _same(MAILBOX_DEFAULT_PROPS[k], v))}


def _same(default: Any, value: Any) -> bool:
    # Defaults hold tuples, JSON and callers give lists: compare them as sequences.
    if isinstance(default, tuple) and isinstance(value, list | tuple):
        return list(default) == list(value)
    return type(default) is type(value) and default == value


def _mailbox_filter(tenant_id: int, recipient_type_details: Sequence[str] | None) -> list[Any]:
    where: list[Any] = [recipients.c.tenant_id == tenant_id, recipients.c.recipient_type == "UserMailbox"]
    if recipient_type_details is not None:
        where.append(recipients.c.recipient_type_details.in_(list(recipient_type_details)))
    return where


def _parse_proxy(text: str) -> _Address:
    text = text.strip()
    match = _PROXY.match(text)
    if match is None:
        return _Address("smtp", _smtp(text))
    prefix, address = match[1], match[2].strip()
    if prefix.lower() == "smtp":
        address = _smtp(address)
    if not (prefix.isupper() or prefix.islower()):
        raise ValueError(f"{text!r}: the prefix must be all upper case (primary) or all lower case.")
    return _Address(prefix, address)


def _smtp(address: str) -> str:
    address = address.strip()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or _WHITESPACE.search(address):
        raise ValueError(f"{address!r} is not a valid SMTP address.")
    return address


def _alias(alias: str) -> str:
    alias = alias.strip()
    if not alias or "@" in alias or _WHITESPACE.search(alias) or len(alias) > 64:
        raise ValueError(f"{alias!r} is not a valid alias.")
    return alias


def _dn(name: str, initial_domain: str) -> str:
    return f"CN={_dn_escape(name)},OU={initial_domain},{DN_SUFFIX}"


def _dn_escape(value: str) -> str:
    # RFC 4514: commas and friends inside a CN would otherwise split the DN.
    escaped = re.sub(r'([,+"\\<>;=])', r"\\\1", value)
    if escaped.startswith(("#", " ")):
        escaped = "\\" + escaped
    if escaped.endswith(" ") and not escaped.endswith("\\ "):
        escaped = escaped[:-1] + "\\ "
    return escaped


def _domain(domain: str) -> str:
    return domain.strip().lower().rstrip(".")


def _parse_guid(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, frozenset | set):
        return sorted(value, key=str)
    return str(value)


def _is_address_clash(err: IntegrityError) -> bool:
    constraint = getattr(getattr(err.orig, "diag", None), "constraint_name", None)  # PostgreSQL
    text = constraint or str(err.orig)
    return "recipient_addresses" in text and ("uq_" in text or "UNIQUE" in text)


def _escape_like(text: str) -> str:
    """``text`` matched literally inside a LIKE pattern (escape character ``\\``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


_RECIPIENT_BY_ID: Final = sa.select(recipients).where(
    recipients.c.tenant_id == sa.bindparam("tenant_id"), recipients.c.id == sa.bindparam("recipient_id")
)


_RECIPIENT_FOR_UPDATE: Final = _RECIPIENT_BY_ID.with_for_update()
# Built once: the WHERE and RETURNING clauses are then not coerced again for every update.
_UPDATE_RECIPIENT: Final = (
    recipients.update().where(recipients.c.id == sa.bindparam("recipient_id")).returning(*recipients.c)
)
_BY_GUID: Final = sa.select(recipients).where(recipients.c.guid == sa.bindparam("guid"))


@functools.cache
def _find_recipients_statement(by_guid: bool, by_proxy: bool, by_type: bool) -> sa.Select[Any]:
    """The identity lookup for one combination of forms, built once: SQLAlchemy then reuses its
    compiled form instead of building and hashing a new UNION for every call."""
    r, a = recipients.c, recipient_addresses.c
    tenant_id, low = sa.bindparam("tenant_id"), sa.bindparam("low")
    # One indexed lookup per identity form, combined with UNION: an OR across the columns
    # makes SQLite scan the whole tenant instead.
    in_tenant = r.tenant_id == tenant_id
    lookups: list[Any] = [sa.select(r.id).where(in_tenant, sa.func.lower(r[c]) == low) for c in _IDENTITY_COLUMNS]
    if by_guid:
        # No tenant condition here: it would tempt SQLite into scanning the tenant instead of
        # using the GUID index. The outer query keeps the result in the tenant.
        lookups += [sa.select(r.id).where(r[c] == sa.bindparam("guid")) for c in _GUID_COLUMNS]
    lookups.append(sa.select(a.recipient_id).where(a.tenant_id == tenant_id, a.address_lower == low))
    if by_proxy:
        lookups.append(
            sa.select(a.recipient_id).where(
                a.tenant_id == tenant_id,
                a.prefix == sa.bindparam("prefix"),
                a.address_lower == sa.bindparam("proxy_low"),
            )
        )
    where = [in_tenant, r.id.in_(sa.union(*lookups))]
    if by_type:
        where.append(r.recipient_type_details.in_(sa.bindparam("types", expanding=True)))
    return sa.select(recipients).where(*where).order_by(r.id).limit(sa.bindparam("limit"))
