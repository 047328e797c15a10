"""reprocessings: re-running a fleet's flights with the current model, resumable per aircraft

Revision ID: 0018
Revises: 0019
Create Date: 2026-11-29 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from nubo.kit.types import UTCDateTime

revision = "0018"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reprocessings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("registration", sa.String(length=16), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("aircraft_total", sa.Integer(), nullable=False),
        sa.Column("flights_total", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_reprocessings_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reprocessings")),
    )
    op.create_table(
        "reprocessing_aircraft",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reprocessing_id", sa.Uuid(), nullable=False),
        sa.Column("aircraft_id", sa.Uuid(), nullable=False),
        sa.Column("flights_total", sa.Integer(), nullable=False),
        sa.Column("flights_done", sa.Integer(), nullable=False),
        sa.Column("after_flown_at", UTCDateTime(), nullable=True),
        sa.Column("after_flight_id", sa.Uuid(), nullable=True),
        sa.Column("job_token", sa.Uuid(), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["aircraft_id"], ["aircraft.id"],
            name=op.f("fk_reprocessing_aircraft_aircraft_id_aircraft"),
        ),
        sa.ForeignKeyConstraint(
            ["reprocessing_id"], ["reprocessings.id"],
            name=op.f("fk_reprocessing_aircraft_reprocessing_id_reprocessings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reprocessing_aircraft")),
    )
    op.create_index(
        "ix_reprocessing_aircraft_run",
        "reprocessing_aircraft",
        ["reprocessing_id", "finished_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_reprocessing_aircraft_run", table_name="reprocessing_aircraft")
    op.drop_table("reprocessing_aircraft")
    op.drop_table("reprocessings")
