"""App registrations: applications with client secrets and certificates, and their directory roles
per tenant (client credentials for app-only access).

Revision ID: 0005
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.String(length=36), nullable=False),
        sa.Column("object_id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_app_registrations_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_registrations")),
        sa.UniqueConstraint("app_id", name=op.f("uq_app_registrations_app_id")),
        sa.UniqueConstraint("object_id", name=op.f("uq_app_registrations_object_id")),
    )
    op.create_index(op.f("ix_app_registrations_tenant_id"), "app_registrations", ["tenant_id"], unique=False)
    op.create_table(
        "app_secrets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=36), nullable=False),
        sa.Column("hint", sa.String(length=8), nullable=False),
        sa.Column("secret_hash", sa.String(length=255), nullable=False),
        sa.Column("end_date_time", sa.DateTime(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"],
            ["app_registrations.id"],
            name=op.f("fk_app_secrets_app_id_app_registrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_secrets")),
        sa.UniqueConstraint("key_id", name=op.f("uq_app_secrets_key_id")),
    )
    op.create_index(op.f("ix_app_secrets_app_id"), "app_secrets", ["app_id"], unique=False)
    op.create_table(
        "app_certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=36), nullable=False),
        sa.Column("sha1_thumbprint", sa.String(length=40), nullable=False),
        sa.Column("sha256_thumbprint", sa.String(length=64), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("end_date_time", sa.DateTime(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"],
            ["app_registrations.id"],
            name=op.f("fk_app_certificates_app_id_app_registrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_certificates")),
        sa.UniqueConstraint("key_id", name=op.f("uq_app_certificates_key_id")),
        sa.UniqueConstraint("app_id", "sha1_thumbprint", name="uq_app_certificates_thumbprint"),
    )
    op.create_index(op.f("ix_app_certificates_app_id"), "app_certificates", ["app_id"], unique=False)
    op.create_table(
        "app_role_assignments",
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("role_template_id", sa.String(length=36), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"],
            ["app_registrations.id"],
            name=op.f("fk_app_role_assignments_app_id_app_registrations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_app_role_assignments_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("app_id", "tenant_id", "role_template_id", name=op.f("pk_app_role_assignments")),
    )
    op.create_index(op.f("ix_app_role_assignments_tenant_id"), "app_role_assignments", ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_table("app_role_assignments")
    op.drop_table("app_certificates")
    op.drop_table("app_secrets")
    op.drop_table("app_registrations")
