"""Exchange's command surface: groups, permissions, folder permissions, inbox rules, mailbox
statistics, tenant configuration objects, message trace, and the audit log's object column.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "config_objects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("guid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("name_lower", sa.String(length=256), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("props", sa.Text(), nullable=False),
        sa.Column("when_created", sa.DateTime(), nullable=False),
        sa.Column("when_changed", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_config_objects_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_objects")),
        sa.UniqueConstraint("tenant_id", "kind", "name_lower", name="uq_config_objects_name"),
    )
    op.create_index("ix_config_objects_guid", "config_objects", ["guid"], unique=False)
    op.create_table(
        "message_trace",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("message_trace_id", sa.String(length=36), nullable=False),
        sa.Column("message_id", sa.String(length=512), nullable=False),
        sa.Column("received", sa.DateTime(), nullable=False),
        sa.Column("sender_address", sa.String(length=320), nullable=False),
        sa.Column("recipient_address", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=1024), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("from_ip", sa.String(length=64), nullable=True),
        sa.Column("to_ip", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_message_trace_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_trace")),
    )
    op.create_index("ix_message_trace_message_trace_id", "message_trace", ["message_trace_id"], unique=False)
    op.create_index("ix_message_trace_tenant_id_received", "message_trace", ["tenant_id", "received"], unique=False)
    op.create_index(
        "ix_message_trace_tenant_id_recipient_address_received",
        "message_trace",
        ["tenant_id", "recipient_address", "received"],
        unique=False,
    )
    op.create_index(
        "ix_message_trace_tenant_id_sender_address_received",
        "message_trace",
        ["tenant_id", "sender_address", "received"],
        unique=False,
    )
    op.create_table(
        "folder_permissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("folder", sa.String(length=1024), nullable=False),
        sa.Column("folder_lower", sa.String(length=1024), nullable=False),
        sa.Column("trustee_id", sa.Integer(), nullable=True),
        sa.Column("trustee", sa.String(length=1024), nullable=False),
        sa.Column("access_rights", sa.String(length=512), nullable=False),
        sa.Column("sharing_permission_flags", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["recipients.id"],
            name=op.f("fk_folder_permissions_mailbox_id_recipients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_folder_permissions_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["trustee_id"],
            ["recipients.id"],
            name=op.f("fk_folder_permissions_trustee_id_recipients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_folder_permissions")),
        sa.UniqueConstraint("mailbox_id", "folder_lower", "trustee", name="uq_folder_permissions_entry"),
    )
    op.create_table(
        "group_members",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["recipients.id"], name=op.f("fk_group_members_group_id_recipients"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["recipients.id"], name=op.f("fk_group_members_member_id_recipients"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_group_members_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("group_id", "member_id", name=op.f("pk_group_members")),
    )
    op.create_index("ix_group_members_member_id", "group_members", ["member_id"], unique=False)
    op.create_table(
        "inbox_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("rule_identity", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("props", sa.Text(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"], ["recipients.id"], name=op.f("fk_inbox_rules_mailbox_id_recipients"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_inbox_rules_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_rules")),
        sa.UniqueConstraint("mailbox_id", "rule_identity", name="uq_inbox_rules_mailbox_rule"),
    )
    op.create_index(op.f("ix_inbox_rules_mailbox_id"), "inbox_rules", ["mailbox_id"], unique=False)
    op.create_table(
        "mailbox_statistics",
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("item_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("total_item_size", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("deleted_item_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("total_deleted_item_size", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_logon_time", sa.DateTime(), nullable=True),
        sa.Column("last_user_action_time", sa.DateTime(), nullable=True),
        sa.Column("last_interaction_time", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["recipients.id"],
            name=op.f("fk_mailbox_statistics_recipient_id_recipients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_mailbox_statistics_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("recipient_id", name=op.f("pk_mailbox_statistics")),
    )
    op.create_table(
        "permissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("trustee_id", sa.Integer(), nullable=True),
        sa.Column("trustee", sa.String(length=1024), nullable=False),
        sa.Column("access_right", sa.String(length=64), nullable=False),
        sa.Column("deny", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("inherited", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("automapping", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["recipients.id"], name=op.f("fk_permissions_recipient_id_recipients"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_permissions_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["trustee_id"], ["recipients.id"], name=op.f("fk_permissions_trustee_id_recipients"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permissions")),
        sa.UniqueConstraint("recipient_id", "scope", "trustee", "access_right", "deny", name="uq_permissions_entry"),
    )
    op.create_index("ix_permissions_recipient_id_scope", "permissions", ["recipient_id", "scope"], unique=False)
    op.create_index("ix_permissions_trustee_id", "permissions", ["trustee_id"], unique=False)
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("object_id", sa.String(length=1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("object_id")
    op.drop_table("permissions")
    op.drop_table("mailbox_statistics")
    op.drop_table("inbox_rules")
    op.drop_table("group_members")
    op.drop_table("folder_permissions")
    op.drop_table("message_trace")
    op.drop_table("config_objects")
