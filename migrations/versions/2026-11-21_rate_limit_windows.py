"""rate limit windows shared by every API process

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_windows",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("started_s", sa.Float(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limit_windows")),
    )
    op.create_index(
        op.f("ix_rate_limit_windows_started_s"), "rate_limit_windows", ["started_s"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_rate_limit_windows_started_s"), table_name="rate_limit_windows")
    op.drop_table("rate_limit_windows")
