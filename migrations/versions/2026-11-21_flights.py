"""flights

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-21 08:35:04.395292
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from nubo.kit.types import UTCDateTime

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flights",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("registration", sa.String(length=16), nullable=False),
        sa.Column("aircraft_type", sa.String(length=40), nullable=True),
        sa.Column("flight_number", sa.String(length=16), nullable=True),
        sa.Column("origin", sa.String(length=4), nullable=True),
        sa.Column("destination", sa.String(length=4), nullable=True),
        sa.Column("departure_at", UTCDateTime(), nullable=True),
        sa.Column("arrival_at", UTCDateTime(), nullable=True),
        sa.Column(
            "processing_status",
            sa.Enum(
                "created",
                "uploaded",
                "queued",
                "processing",
                "processed",
                "failed",
                name="processingstatus",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("processing_run", sa.Integer(), nullable=False),
        sa.Column("queued_at", UTCDateTime(), nullable=True),
        sa.Column("job_token", sa.Uuid(), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("processed_at", UTCDateTime(), nullable=True),
        sa.Column(
            "bleed_status",
            sa.Enum("normal", "watch", "alert", name="bleedstatus", native_enum=False, length=20),
            nullable=True,
        ),
        sa.Column("integrity_score", sa.Float(), nullable=True),
        sa.Column("engine_scores", sa.JSON(), nullable=True),
        sa.Column("findings", sa.JSON(), nullable=True),
        sa.Column("phases", sa.JSON(), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.String(length=2000), nullable=True),
        sa.Column("file_key", sa.String(length=1024), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("file_sha256", sa.String(length=64), nullable=True),
        sa.Column("file_format", sa.String(length=16), nullable=True),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("file_uploaded_at", UTCDateTime(), nullable=True),
        sa.Column("pending_key", sa.String(length=1024), nullable=True),
        sa.Column("pending_name", sa.String(length=255), nullable=True),
        sa.Column("pending_expires_at", UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_flights_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flights")),
    )
    with op.batch_alter_table("flights", schema=None) as batch_op:
        batch_op.create_index(
            "ix_flights_account_created", ["account_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_flights_account_departure", ["account_id", "departure_at"], unique=False
        )
        batch_op.create_index(
            "ix_flights_account_registration", ["account_id", "registration"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_flights_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            "ix_flights_outbox",
            ["processing_status", "queued_at"],
            unique=False,
            sqlite_where=sa.text("processing_status IN ('queued', 'processing')"),
            postgresql_where=sa.text("processing_status IN ('queued', 'processing')"),
        )

    op.create_table(
        "flight_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("flight_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("message", sa.String(length=2000), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["flight_id"], ["flights.id"], name=op.f("fk_flight_events_flight_id_flights")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flight_events")),
    )
    with op.batch_alter_table("flight_events", schema=None) as batch_op:
        batch_op.create_index("ix_flight_events_flight_id", ["flight_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("flight_events", schema=None) as batch_op:
        batch_op.drop_index("ix_flight_events_flight_id")

    op.drop_table("flight_events")
    with op.batch_alter_table("flights", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_flights_outbox",
            sqlite_where=sa.text("processing_status IN ('queued', 'processing')"),
            postgresql_where=sa.text("processing_status IN ('queued', 'processing')"),
        )
        batch_op.drop_index(batch_op.f("ix_flights_created_at"))
        batch_op.drop_index("ix_flights_account_registration")
        batch_op.drop_index("ix_flights_account_departure")
        batch_op.drop_index("ix_flights_account_created")

    op.drop_table("flights")
