"""The database schema as SQLAlchemy Core tables (no ORM).

Types are chosen to behave the same on SQLite and PostgreSQL: GUIDs are 36-character lower-case
strings, JSON is kept as text (the wire layers stream it out mostly unparsed), and datetimes are
stored as naive UTC and handed back timezone-aware. Migrations under ``migrations/versions`` must
produce exactly these tables; ``tests/domain/test_migrations.py`` checks that they do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
    true,
)
from sqlalchemy.types import TypeDecorator

__all__ = [
    "accepted_domains",
    "app_certificates",
    "app_registrations",
    "app_role_assignments",
    "app_secrets",
    "audit_log",
    "config_objects",
    "folder_permissions",
    "gdap_access_assignments",
    "gdap_relationships",
    "group_members",
    "inbox_rules",
    "mailbox_statistics",
    "message_trace",
    "metadata",
    "partner_relationships",
    "permissions",
    "recipient_addresses",
    "recipients",
    "role_group_members",
    "tenants",
    "users",
]

# Deterministic constraint names: alembic can then drop or alter them later, and the store can
# tell which unique constraint a PostgreSQL IntegrityError is about.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

GUID_LEN = 36
SMTP_LEN = 320  # 64 local part + @ + 255 domain


class UTCDateTime(TypeDecorator[datetime]):
    """Naive UTC in the database, aware UTC in Python.

    SQLite has no time zones and PostgreSQL's ``timestamp`` without one is the type both share;
    converting at this one boundary keeps every caller on aware datetimes.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


tenants = Table(
    "tenants",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("guid", String(GUID_LEN), nullable=False, unique=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("initial_domain", String(255), nullable=False, unique=True),
    Column("created", UTCDateTime, nullable=False),
)

accepted_domains = Table(
    "accepted_domains",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("domain_name", String(255), nullable=False, unique=True),
    Column("is_initial", Boolean, nullable=False, server_default=false()),
    Column("is_default", Boolean, nullable=False, server_default=false()),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("guid", String(GUID_LEN), nullable=False, unique=True),
    Column("user_principal_name", String(SMTP_LEN), nullable=False, unique=True),
    Column("upn_lower", String(SMTP_LEN), nullable=False, unique=True),
    Column("display_name", String(256), nullable=False),
    # NULL: the account has no password and cannot sign in with one.
    Column("password_hash", String(255), nullable=True),
    Column("remote_powershell_enabled", Boolean, nullable=False, server_default=true()),
    Column("failed_logins", Integer, nullable=False, server_default="0"),
    Column("locked_out", Boolean, nullable=False, server_default=false()),
    # When a lock-out after wrong passwords ends; NULL with locked_out: locked by an administrator.
    Column("locked_until", UTCDateTime, nullable=True),
    Column("created", UTCDateTime, nullable=False),
)

role_group_members = Table(
    "role_group_members",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("role_group", String(128), nullable=False),
    PrimaryKeyConstraint("user_id", "role_group"),
)

partner_relationships = Table(
    "partner_relationships",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("partner_tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column(
        "customer_tenant_id",
        Integer,
        ForeignKey("tenants.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("kind", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("created", UTCDateTime, nullable=False),
    Column("removed", UTCDateTime, nullable=True),
    # Named by hand: the conventional name would pass PostgreSQL's 63-character limit.
    UniqueConstraint("partner_tenant_id", "customer_tenant_id", "kind", name="uq_partner_relationships_pair_kind"),
    CheckConstraint("state IN ('active', 'removed')", name="state"),
)

recipients = Table(
    "recipients",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("guid", String(GUID_LEN), nullable=False),
    Column("exchange_guid", String(GUID_LEN), nullable=False),
    Column("external_directory_object_id", String(GUID_LEN), nullable=False),
    Column("name", String(64), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("display_name", String(256), nullable=False),
    Column("first_name", String(64), nullable=False, server_default=""),
    Column("last_name", String(64), nullable=False, server_default=""),
    Column("user_principal_name", String(1024), nullable=True),
    Column("primary_smtp_address", String(SMTP_LEN), nullable=False),
    Column("recipient_type", String(64), nullable=False),
    Column("recipient_type_details", String(64), nullable=False),
    Column("distinguished_name", String(1024), nullable=False),
    Column("hidden_from_address_lists_enabled", Boolean, nullable=False, server_default=false()),
    Column("forwarding_address", String(1024), nullable=True),
    Column("forwarding_smtp_address", String(SMTP_LEN), nullable=True),
    Column("deliver_to_mailbox_and_forward", Boolean, nullable=False, server_default=false()),
    # JSON list in Exchange order, e.g. ["SMTP:a@contoso.com", "smtp:a@contoso.onmicrosoft.com"].
    # A denormalised copy of recipient_addresses so listing never joins.
    Column("email_addresses", Text, nullable=False),
    # JSON object: every other Exchange property, only where it differs from MAILBOX_DEFAULT_PROPS.
    Column("props", Text, nullable=False),
    Column("when_created", UTCDateTime, nullable=False),
    Column("when_changed", UTCDateTime, nullable=False),
    Index("ix_recipients_tenant_id_id", "tenant_id", "id"),
    Index("ix_recipients_tenant_id_rtd_id", "tenant_id", "recipient_type_details", "id"),
    Index("ix_recipients_guid", "guid"),
    Index("ix_recipients_exchange_guid", "exchange_guid"),
    Index("ix_recipients_external_directory_object_id", "external_directory_object_id"),
)

# Identity lookups compare lower(column) = lower(value); these expression indexes serve them.
RECIPIENT_LOWER_INDEXED = (
    "name",
    "alias",
    "display_name",
    "user_principal_name",
    "primary_smtp_address",
    "distinguished_name",
)
for _column in RECIPIENT_LOWER_INDEXED:
    Index(f"ix_recipients_tenant_id_lower_{_column}", recipients.c.tenant_id, func.lower(recipients.c[_column]))

recipient_addresses = Table(
    "recipient_addresses",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("recipient_id", Integer, ForeignKey("recipients.id", ondelete="CASCADE"), nullable=False, index=True),
    # Lower case, without the colon: "smtp", "sip", "x500", "eum"...
    Column("prefix", String(16), nullable=False),
    Column("address", String(1024), nullable=False),
    Column("address_lower", String(1024), nullable=False),
    # True for the one upper-case-prefixed address of its kind (SMTP: is the primary SMTP address).
    Column("is_primary", Boolean, nullable=False, server_default=false()),
    # Proxy addresses are unique within a tenant, whichever recipient holds them.
    UniqueConstraint("tenant_id", "prefix", "address_lower"),
    Index("ix_recipient_addresses_tenant_id_address_lower", "tenant_id", "address_lower"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_date", UTCDateTime, nullable=False),
    Column("caller", String(SMTP_LEN), nullable=False),
    # No foreign keys: the audit trail must outlive the tenants it mentions.
    Column("caller_tenant_id", Integer, nullable=True),
    Column("target_tenant_id", Integer, nullable=True),
    Column("session_id", String(64), nullable=False, server_default=""),
    Column("cmdlet", String(128), nullable=False),
    Column("parameters", Text, nullable=False),
    Column("succeeded", Boolean, nullable=False),
    Column("error", Text, nullable=True),
    # What the cmdlet acted on (its -Identity), as given: Search-AdminAuditLog -ObjectIds.
    Column("object_id", String(1024), nullable=True),
    Index("ix_audit_log_target_tenant_id_run_date", "target_tenant_id", "run_date"),
)

# --- what hangs off recipients -------------------------------------------------------------------

group_members = Table(
    "group_members",
    metadata,
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("group_id", Integer, ForeignKey("recipients.id", ondelete="CASCADE"), nullable=False),
    Column("member_id", Integer, ForeignKey("recipients.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("group_id", "member_id"),
    Index("ix_group_members_member_id", "member_id"),
)

# Mailbox permissions (Add-MailboxPermission: FullAccess, ...) and recipient permissions
# (Add-RecipientPermission: SendAs), one row per access right.
permissions = Table(
    "permissions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("recipient_id", Integer, ForeignKey("recipients.id", ondelete="CASCADE"), nullable=False),
    # "mailbox" or "recipient": which cmdlet family owns the entry.
    Column("scope", String(16), nullable=False),
    # The trustee when it is a recipient of the tenant; NULL for well-known principals.
    Column("trustee_id", Integer, ForeignKey("recipients.id", ondelete="CASCADE"), nullable=True),
    # How the trustee is shown: a recipient's name is read through trustee_id, this holds
    # principals such as "NT AUTHORITY\SELF" (and is the key that keeps entries unique).
    Column("trustee", String(1024), nullable=False),
    Column("access_right", String(64), nullable=False),
    Column("deny", Boolean, nullable=False, server_default=false()),
    Column("inherited", Boolean, nullable=False, server_default=false()),
    Column("automapping", Boolean, nullable=False, server_default=false()),
    Column("created", UTCDateTime, nullable=False),
    UniqueConstraint("recipient_id", "scope", "trustee", "access_right", "deny", name="uq_permissions_entry"),
    Index("ix_permissions_recipient_id_scope", "recipient_id", "scope"),
    Index("ix_permissions_trustee_id", "trustee_id"),
)

folder_permissions = Table(
    "folder_permissions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("mailbox_id", Integer, ForeignKey("recipients.id", ondelete="CASCADE"), nullable=False),
    # The folder path below the mailbox root, as Exchange names it ("Calendar", "Inbox\\Projects").
    Column("folder", String(1024), nullable=False),
    Column("folder_lower", String(1024), nullable=False),
    Column("trustee_id", Integer, ForeignKey("recipients.id", ondelete="CASCADE"), nullable=True),
    # "Default", "Anonymous", or the trustee's name when trustee_id is set.
    Column("trustee", String(1024), nullable=False),
    # Comma-separated rights in Exchange order ("Reviewer" or "ReadItems, CreateItems").
    Column("access_rights", String(512), nullable=False),
    Column("sharing_permission_flags", String(128), nullable=True),
    UniqueConstraint("mailbox_id", "folder_lower", "trustee", name="uq_folder_permissions_entry"),
)

inbox_rules = Table(
    "inbox_rules",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("mailbox_id", Integer, ForeignKey("recipients.id", ondelete="CASCADE"), nullable=False, index=True),
    # Exchange's RuleIdentity: a 64-bit number, unique within the mailbox.
    Column("rule_identity", BigInteger, nullable=False),
    Column("name", String(512), nullable=False),
    Column("enabled", Boolean, nullable=False, server_default=true()),
    Column("priority", Integer, nullable=False),
    # JSON object: conditions, exceptions and actions by their cmdlet parameter names.
    Column("props", Text, nullable=False),
    Column("created", UTCDateTime, nullable=False),
    UniqueConstraint("mailbox_id", "rule_identity", name="uq_inbox_rules_mailbox_rule"),
)

mailbox_statistics = Table(
    "mailbox_statistics",
    metadata,
    Column("recipient_id", Integer, ForeignKey("recipients.id", ondelete="CASCADE"), primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("item_count", Integer, nullable=False, server_default="0"),
    Column("total_item_size", BigInteger, nullable=False, server_default="0"),
    Column("deleted_item_count", Integer, nullable=False, server_default="0"),
    Column("total_deleted_item_size", BigInteger, nullable=False, server_default="0"),
    Column("last_logon_time", UTCDateTime, nullable=True),
    Column("last_user_action_time", UTCDateTime, nullable=True),
    Column("last_interaction_time", UTCDateTime, nullable=True),
)

# --- tenant configuration --------------------------------------------------------------------------

# Tenant-wide objects of one kind each: singletons (OrganizationConfig, TransportConfig) and named
# ones (RemoteDomain, TransportRule, HostedContentFilterPolicy, ...). Their Exchange properties
# live in props, only where they differ from the kind's defaults.
config_objects = Table(
    "config_objects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("guid", String(GUID_LEN), nullable=False),
    Column("name", String(256), nullable=False),
    Column("name_lower", String(256), nullable=False),
    # Order among objects of the kind where Exchange has one (transport rules, policies).
    Column("priority", Integer, nullable=True),
    Column("props", Text, nullable=False),
    Column("when_created", UTCDateTime, nullable=False),
    Column("when_changed", UTCDateTime, nullable=False),
    UniqueConstraint("tenant_id", "kind", "name_lower", name="uq_config_objects_name"),
    Index("ix_config_objects_guid", "guid"),
)

# --- message trace ---------------------------------------------------------------------------------

# One row per (message, recipient), as Get-MessageTrace reports it. Addresses are stored in lower
# case so the per-address indexes serve case-insensitive lookups.
message_trace = Table(
    "message_trace",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("message_trace_id", String(GUID_LEN), nullable=False),
    Column("message_id", String(512), nullable=False),
    Column("received", UTCDateTime, nullable=False),
    Column("sender_address", String(SMTP_LEN), nullable=False),
    Column("recipient_address", String(SMTP_LEN), nullable=False),
    Column("subject", String(1024), nullable=False),
    Column("status", String(32), nullable=False),
    Column("size", Integer, nullable=False),
    Column("from_ip", String(64), nullable=True),
    Column("to_ip", String(64), nullable=True),
    Index("ix_message_trace_tenant_id_received", "tenant_id", "received"),
    Index("ix_message_trace_tenant_id_recipient_address_received", "tenant_id", "recipient_address", "received"),
    Index("ix_message_trace_tenant_id_sender_address_received", "tenant_id", "sender_address", "received"),
    Index("ix_message_trace_message_trace_id", "message_trace_id"),
)

# --- granular delegated admin (GDAP) -------------------------------------------------------------

# Graph's delegatedAdminRelationship. The stored status is the last one a person set; expiry is
# read from the clock (end_at, auto_extend_days) so it takes effect without a background job.
gdap_relationships = Table(
    "gdap_relationships",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("guid", String(GUID_LEN), nullable=False, unique=True),
    Column("partner_tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("customer_tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("display_name", String(50), nullable=False),
    Column("display_name_lower", String(50), nullable=False),
    # Entra role template ids, comma-separated, sorted.
    Column("roles", Text, nullable=False),
    Column("duration_days", Integer, nullable=False),
    Column("auto_extend_days", Integer, nullable=False, server_default="0"),
    Column("status", String(16), nullable=False),
    Column("created", UTCDateTime, nullable=False),
    Column("last_modified", UTCDateTime, nullable=False),
    Column("request_expires", UTCDateTime, nullable=True),
    Column("activated", UTCDateTime, nullable=True),
    # The end before any auto-extension (activated + duration), or when it was terminated.
    Column("end_at", UTCDateTime, nullable=True),
    UniqueConstraint("partner_tenant_id", "display_name_lower", name="uq_gdap_relationships_name"),
    CheckConstraint("status IN ('created', 'approvalPending', 'active', 'terminated')", name="status"),
    Index("ix_gdap_relationships_partner_customer", "partner_tenant_id", "customer_tenant_id"),
)

gdap_access_assignments = Table(
    "gdap_access_assignments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("guid", String(GUID_LEN), nullable=False, unique=True),
    Column(
        "relationship_id",
        Integer,
        ForeignKey("gdap_relationships.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    # The partner security group's name (a role group of the partner tenant's users).
    Column("group_name", String(128), nullable=False),
    Column("group_name_lower", String(128), nullable=False),
    Column("roles", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created", UTCDateTime, nullable=False),
    Column("last_modified", UTCDateTime, nullable=False),
    CheckConstraint("status IN ('active', 'deleted')", name="status"),
)

# --- app registrations -----------------------------------------------------------------------------

# Applications that sign in as themselves (client credentials): registered in a home tenant, with
# secrets (argon2 hashes only; the value is shown once) and certificates (public part only).
app_registrations = Table(
    "app_registrations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("app_id", String(GUID_LEN), nullable=False, unique=True),
    Column("object_id", String(GUID_LEN), nullable=False, unique=True),
    Column("display_name", String(256), nullable=False),
    Column("created", UTCDateTime, nullable=False),
)

app_secrets = Table(
    "app_secrets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("app_id", Integer, ForeignKey("app_registrations.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("key_id", String(GUID_LEN), nullable=False, unique=True),
    Column("hint", String(8), nullable=False),
    Column("secret_hash", String(255), nullable=False),
    Column("end_date_time", UTCDateTime, nullable=False),
    Column("created", UTCDateTime, nullable=False),
)

app_certificates = Table(
    "app_certificates",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("app_id", Integer, ForeignKey("app_registrations.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("key_id", String(GUID_LEN), nullable=False, unique=True),
    # Lower-case hex; the SHA-1 one is what a client assertion's x5t names.
    Column("sha1_thumbprint", String(40), nullable=False),
    Column("sha256_thumbprint", String(64), nullable=False),
    Column("certificate_pem", Text, nullable=False),
    Column("end_date_time", UTCDateTime, nullable=False),
    Column("created", UTCDateTime, nullable=False),
    UniqueConstraint("app_id", "sha1_thumbprint", name="uq_app_certificates_thumbprint"),
)

# The Entra directory roles an app holds in a tenant: its home tenant, or one it was consented into.
app_role_assignments = Table(
    "app_role_assignments",
    metadata,
    Column("app_id", Integer, ForeignKey("app_registrations.id", ondelete="CASCADE"), nullable=False),
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("role_template_id", String(GUID_LEN), nullable=False),
    Column("created", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("app_id", "tenant_id", "role_template_id"),
)
