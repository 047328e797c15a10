"""dataset preview: the first rows and the columns of the data file, taken at upload

Revision ID: 0015
Revises: 0017
Create Date: 2026-11-29 17:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Files uploaded before this revision keep no preview (NULL): the panel says so.
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("preview", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("preview")
