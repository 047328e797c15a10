"""flight rows read and used

Revision ID: 0013
Revises: 0007
Create Date: 2026-11-29 14:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("flights", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rows_read", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("rows_used", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("flights", schema=None) as batch_op:
        batch_op.drop_column("rows_used")
        batch_op.drop_column("rows_read")
