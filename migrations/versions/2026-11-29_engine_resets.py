"""engine reference resets (replacements and refits restart an engine's trend reference);
a flight's coverage and warnings

Revision ID: 0012
Revises: 0010
Create Date: 2026-11-29 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from nubo.kit.types import UTCDateTime

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("flights", schema=None) as batch_op:
        batch_op.add_column(sa.Column("coverage", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("warnings", sa.JSON(), nullable=True))
    op.create_table(
        "aircraft_engine_resets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("aircraft_id", sa.Uuid(), nullable=False),
        sa.Column("engine", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column("effective_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["aircraft_id"],
            ["aircraft.id"],
            name=op.f("fk_aircraft_engine_resets_aircraft_id_aircraft"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aircraft_engine_resets")),
    )
    op.create_index(
        "ix_engine_resets_aircraft_effective",
        "aircraft_engine_resets",
        ["aircraft_id", "effective_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_engine_resets_aircraft_effective", table_name="aircraft_engine_resets")
    op.drop_table("aircraft_engine_resets")
    with op.batch_alter_table("flights", schema=None) as batch_op:
        batch_op.drop_column("warnings")
        batch_op.drop_column("coverage")
