"""Granular delegated admin (GDAP): relationships and their access assignments.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gdap_relationships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guid", sa.String(length=36), nullable=False),
        sa.Column("partner_tenant_id", sa.Integer(), nullable=False),
        sa.Column("customer_tenant_id", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.String(length=50), nullable=False),
        sa.Column("display_name_lower", sa.String(length=50), nullable=False),
        sa.Column("roles", sa.Text(), nullable=False),
        sa.Column("duration_days", sa.Integer(), nullable=False),
        sa.Column("auto_extend_days", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("last_modified", sa.DateTime(), nullable=False),
        sa.Column("request_expires", sa.DateTime(), nullable=True),
        sa.Column("activated", sa.DateTime(), nullable=True),
        sa.Column("end_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('created', 'approvalPending', 'active', 'terminated')", name="ck_gdap_relationships_status"
        ),
        sa.ForeignKeyConstraint(
            ["partner_tenant_id"],
            ["tenants.id"],
            name=op.f("fk_gdap_relationships_partner_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_tenant_id"],
            ["tenants.id"],
            name=op.f("fk_gdap_relationships_customer_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gdap_relationships")),
        sa.UniqueConstraint("guid", name=op.f("uq_gdap_relationships_guid")),
        sa.UniqueConstraint("partner_tenant_id", "display_name_lower", name="uq_gdap_relationships_name"),
    )
    op.create_index(
        "ix_gdap_relationships_customer_tenant_id", "gdap_relationships", ["customer_tenant_id"], unique=False
    )
    op.create_index(
        "ix_gdap_relationships_partner_customer",
        "gdap_relationships",
        ["partner_tenant_id", "customer_tenant_id"],
        unique=False,
    )
    op.create_table(
        "gdap_access_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guid", sa.String(length=36), nullable=False),
        sa.Column("relationship_id", sa.Integer(), nullable=False),
        sa.Column("group_name", sa.String(length=128), nullable=False),
        sa.Column("group_name_lower", sa.String(length=128), nullable=False),
        sa.Column("roles", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("last_modified", sa.DateTime(), nullable=False),
        sa.CheckConstraint("status IN ('active', 'deleted')", name="ck_gdap_access_assignments_status"),
        sa.ForeignKeyConstraint(
            ["relationship_id"],
            ["gdap_relationships.id"],
            name=op.f("fk_gdap_access_assignments_relationship_id_gdap_relationships"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gdap_access_assignments")),
        sa.UniqueConstraint("guid", name=op.f("uq_gdap_access_assignments_guid")),
    )
    op.create_index(
        "ix_gdap_access_assignments_relationship_id", "gdap_access_assignments", ["relationship_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_gdap_access_assignments_relationship_id", table_name="gdap_access_assignments")
    op.drop_table("gdap_access_assignments")
    op.drop_index("ix_gdap_relationships_partner_customer", table_name="gdap_relationships")
    op.drop_index("ix_gdap_relationships_customer_tenant_id", table_name="gdap_relationships")
    op.drop_table("gdap_relationships")
