from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nubo.kit.types import utcnow
from nubo.models.base import Base, IdMixin, TimestampMixin


class Aircraft(IdMixin, TimestampMixin, Base):
    """One aircraft of an account: its latest bleed-health verdict and residual trend."""

    __tablename__ = "aircraft"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    registration: Mapped[str] = mapped_column(String(16))
    aircraft_type: Mapped[str | None] = mapped_column(String(40), default=None)
    flights_processed: Mapped[int] = mapped_column(default=0)
    latest_flight_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    latest_flight_at: Mapped[datetime | None] = mapped_column(default=None)
    latest_status: Mapped[str | None] = mapped_column(String(16), default=None)
    latest_score: Mapped[float | None] = mapped_column(Float, default=None)
    # The trend state after the last flight (bleed.trend), derived from the points below.
    trend_state: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)

    __table_args__ = (
        UniqueConstraint("account_id", "registration"),
        Index("ix_aircraft_account_registration_id", "account_id", "registration", "id"),
    )


class TrendPoint(Base):
    """One processed flight's place in its aircraft's trend (one row per flight)."""

    __tablename__ = "aircraft_trend_points"

    flight_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("flights.id"), primary_key=True)
    aircraft_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("aircraft.id"))
    # Flights are folded into the trend in this order (departure, else upload time).
    flown_at: Mapped[datetime]
    residuals: Mapped[dict[str, Any]] = mapped_column(JSON)
    flight_status: Mapped[str] = mapped_column(String(16))
    trend_status: Mapped[str] = mapped_column(String(16))
    bleed_status: Mapped[str] = mapped_column(String(16))
    integrity_score: Mapped[float] = mapped_column(Float)
    engine_scores: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_version: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_trend_points_aircraft_order", "aircraft_id", "flown_at",
                            "flight_id"),)


class EngineReset(IdMixin, Base):
    """An engine's trend reference restarted from `effective_at`: a replacement of the
    engine or of a bleed component, or a refit of the account's references. Flights flown
    from then on teach the engine a fresh reference (`bleed.trend.reset_engine`)."""

    __tablename__ = "aircraft_engine_resets"

    aircraft_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("aircraft.id"))
    engine: Mapped[int]
    reason: Mapped[str] = mapped_column(String(24))
    effective_at: Mapped[datetime]
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_engine_resets_aircraft_effective", "aircraft_id", "effective_at"),)
