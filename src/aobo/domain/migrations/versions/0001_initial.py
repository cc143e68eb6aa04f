"""Initial schema: tenants, accepted domains, users, role groups, partner relationships, recipients, audit.

Written out in full rather than from ``metadata.create_all`` so that it stays what it was when
later revisions change schema.py.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUID = sa.String(36)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), primary_key=True)


def _tenant_fk(name: str = "tenant_id", table: str = "") -> sa.Column[int]:
    return sa.Column(
        name,
        sa.Integer(),
        sa.ForeignKey("tenants.id", name=f"fk_{table}_{name}_tenants", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "tenants",
        _id(),
        sa.Column("guid", GUID, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("initial_domain", sa.String(255), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
        sa.UniqueConstraint("guid", name="uq_tenants_guid"),
        sa.UniqueConstraint("name", name="uq_tenants_name"),
        sa.UniqueConstraint("initial_domain", name="uq_tenants_initial_domain"),
    )

    op.create_table(
        "accepted_domains",
        _id(),
        _tenant_fk(table="accepted_domains"),
        sa.Column("domain_name", sa.String(255), nullable=False),
        sa.Column("is_initial", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("is_default", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("id", name="pk_accepted_domains"),
        sa.UniqueConstraint("domain_name", name="uq_accepted_domains_domain_name"),
    )
    op.create_index("ix_accepted_domains_tenant_id", "accepted_domains", ["tenant_id"])

    op.create_table(
        "users",
        _id(),
        _tenant_fk(table="users"),
        sa.Column("guid", GUID, nullable=False),
        sa.Column("user_principal_name", sa.String(320), nullable=False),
        sa.Column("upn_lower", sa.String(320), nullable=False),
        sa.Column("display_name", sa.String(256), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("remote_powershell_enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_out", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("guid", name="uq_users_guid"),
        sa.UniqueConstraint("user_principal_name", name="uq_users_user_principal_name"),
        sa.UniqueConstraint("upn_lower", name="uq_users_upn_lower"),
    )
    op.create_index("ix_users_tenant_id", "users", ["tenant_id"])

    op.create_table(
        "role_group_members",
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", name="fk_role_group_members_user_id_users", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("role_group", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "role_group", name="pk_role_group_members"),
    )

    op.create_table(
        "partner_relationships",
        _id(),
        _tenant_fk("partner_tenant_id", "partner_relationships"),
        _tenant_fk("customer_tenant_id", "partner_relationships"),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("removed", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_partner_relationships"),
        sa.UniqueConstraint(
            "partner_tenant_id", "customer_tenant_id", "kind", name="uq_partner_relationships_pair_kind"
        ),
        sa.CheckConstraint("state IN ('active', 'removed')", name="ck_partner_relationships_state"),
    )
    op.create_index("ix_partner_relationships_customer_tenant_id", "partner_relationships", ["customer_tenant_id"])

    op.create_table(
        "recipients",
        _id(),
        _tenant_fk(table="recipients"),
        sa.Column("guid", GUID, nullable=False),
        sa.Column("exchange_guid", GUID, nullable=False),
        sa.Column("external_directory_object_id", GUID, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(256), nullable=False),
        sa.Column("first_name", sa.String(64), nullable=False, server_default=""),
        sa.Column("last_name", sa.String(64), nullable=False, server_default=""),
        sa.Column("user_principal_name", sa.String(1024), nullable=True),
        sa.Column("primary_smtp_address", sa.String(320), nullable=False),
        sa.Column("recipient_type", sa.String(64), nullable=False),
        sa.Column("recipient_type_details", sa.String(64), nullable=False),
        sa.Column("distinguished_name", sa.String(1024), nullable=False),
        sa.Column("hidden_from_address_lists_enabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("forwarding_address", sa.String(1024), nullable=True),
        sa.Column("forwarding_smtp_address", sa.String(320), nullable=True),
        sa.Column("deliver_to_mailbox_and_forward", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("email_addresses", sa.Text(), nullable=False),
        sa.Column("props", sa.Text(), nullable=False),
        sa.Column("when_created", sa.DateTime(), nullable=False),
        sa.Column("when_changed", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recipients"),
    )
    op.create_index("ix_recipients_tenant_id_id", "recipients", ["tenant_id", "id"])
    op.create_index("ix_recipients_tenant_id_rtd_id", "recipients", ["tenant_id", "recipient_type_details", "id"])
    op.create_index("ix_recipients_guid", "recipients", ["guid"])
    op.create_index("ix_recipients_exchange_guid", "recipients", ["exchange_guid"])
    op.create_index("ix_recipients_external_directory_object_id", "recipients", ["external_directory_object_id"])
    for column in (
        "name",
        "alias",
        "display_name",
        "user_principal_name",
        "primary_smtp_address",
        "distinguished_name",
    ):
        op.create_index(
            f"ix_recipients_tenant_id_lower_{column}",
            "recipients",
            [sa.column("tenant_id"), sa.func.lower(sa.column(column))],
        )

    op.create_table(
        "recipient_addresses",
        _id(),
        _tenant_fk(table="recipient_addresses"),
        sa.Column(
            "recipient_id",
            sa.Integer(),
            sa.ForeignKey("recipients.id", name="fk_recipient_addresses_recipient_id_recipients", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("address", sa.String(1024), nullable=False),
        sa.Column("address_lower", sa.String(1024), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("id", name="pk_recipient_addresses"),
        sa.UniqueConstraint(
            "tenant_id",
            "prefix",
            "address_lower",
            name="uq_recipient_addresses_tenant_id_prefix_address_lower",
        ),
    )
    op.create_index("ix_recipient_addresses_recipient_id", "recipient_addresses", ["recipient_id"])
    op.create_index(
        "ix_recipient_addresses_tenant_id_address_lower",
        "recipient_addresses",
        ["tenant_id", "address_lower"],
    )

    op.create_table(
        "audit_log",
        _id(),
        sa.Column("run_date", sa.DateTime(), nullable=False),
        sa.Column("caller", sa.String(320), nullable=False),
        sa.Column("caller_tenant_id", sa.Integer(), nullable=True),
        sa.Column("target_tenant_id", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("cmdlet", sa.String(128), nullable=False),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_target_tenant_id_run_date", "audit_log", ["target_tenant_id", "run_date"])


def downgrade() -> None:
    for table in (
        "audit_log",
        "recipient_addresses",
        "recipients",
        "partner_relationships",
        "role_group_members",
        "users",
        "accepted_domains",
        "tenants",
    ):
        op.drop_table(table)
