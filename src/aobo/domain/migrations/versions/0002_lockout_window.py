"""Lock-outs end: users.locked_until.

A lock-out after repeated wrong passwords used to be permanent, so anyone who knew a sign-in
name could lock its owner out for good. ``locked_until`` bounds it; NULL with ``locked_out`` set
means locked by an administrator, until unlocked.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("locked_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("locked_until")
