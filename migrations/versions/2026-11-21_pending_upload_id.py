"""pending upload id

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 09:37:02.921555
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from nubo.kit.types import UTCDateTime  # noqa: F401  (autogenerate renders it)

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("flights", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending_upload_id", sa.String(length=1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("flights", schema=None) as batch_op:
        batch_op.drop_column("pending_upload_id")
