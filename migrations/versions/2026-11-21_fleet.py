"""fleet

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 08:46:41.787689
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from nubo.kit.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aircraft",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("registration", sa.String(length=16), nullable=False),
        sa.Column("aircraft_type", sa.String(length=40), nullable=True),
        sa.Column("flights_processed", sa.Integer(), nullable=False),
        sa.Column("latest_flight_id", sa.Uuid(), nullable=True),
        sa.Column("latest_flight_at", UTCDateTime(), nullable=True),
        sa.Column("latest_status", sa.String(length=16), nullable=True),
        sa.Column("latest_score", sa.Float(), nullable=True),
        sa.Column("trend_state", sa.JSON(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_aircraft_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aircraft")),
        sa.UniqueConstraint(
            "account_id", "registration", name=op.f("uq_aircraft_account_id_registration")
        ),
    )
    with op.batch_alter_table("aircraft", schema=None) as batch_op:
        batch_op.create_index(
            "ix_aircraft_account_registration_id",
            ["account_id", "registration", "id"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_aircraft_created_at"), ["created_at"], unique=False)

    op.create_table(
        "aircraft_trend_points",
        sa.Column("flight_id", sa.Uuid(), nullable=False),
        sa.Column("aircraft_id", sa.Uuid(), nullable=False),
        sa.Column("flown_at", UTCDateTime(), nullable=False),
        sa.Column("residuals", sa.JSON(), nullable=False),
        sa.Column("flight_status", sa.String(length=16), nullable=False),
        sa.Column("trend_status", sa.String(length=16), nullable=False),
        sa.Column("bleed_status", sa.String(length=16), nullable=False),
        sa.Column("integrity_score", sa.Float(), nullable=False),
        sa.Column("engine_scores", sa.JSON(), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["aircraft_id"],
            ["aircraft.id"],
            name=op.f("fk_aircraft_trend_points_aircraft_id_aircraft"),
        ),
        sa.ForeignKeyConstraint(
            ["flight_id"], ["flights.id"], name=op.f("fk_aircraft_trend_points_flight_id_flights")
        ),
        sa.PrimaryKeyConstraint("flight_id", name=op.f("pk_aircraft_trend_points")),
    )
    with op.batch_alter_table("aircraft_trend_points", schema=None) as batch_op:
        batch_op.create_index(
            "ix_trend_points_aircraft_order", ["aircraft_id", "flown_at", "flight_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("aircraft_trend_points", schema=None) as batch_op:
        batch_op.drop_index("ix_trend_points_aircraft_order")

    op.drop_table("aircraft_trend_points")
    with op.batch_alter_table("aircraft", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_aircraft_created_at"))
        batch_op.drop_index("ix_aircraft_account_registration_id")

    op.drop_table("aircraft")
