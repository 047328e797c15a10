"""processing attempts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 09:32:08.472974
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from nubo.kit.types import UTCDateTime  # noqa: F401  (autogenerate renders it)

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("flights", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("processing_attempts", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("flights", schema=None) as batch_op:
        batch_op.drop_column("processing_attempts")
