from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from nubo.kit.types import utcnow
from nubo.models.base import Base


class FlightEvent(Base):
    """One status change of a flight; the SSE stream replays these by id (`Last-Event-ID`)."""

    __tablename__ = "flight_events"

    # Global and increasing, so "everything after id N" is one indexed range scan.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    flight_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("flights.id"))
    status: Mapped[str] = mapped_column(String(20))
    message: Mapped[str | None] = mapped_column(String(2000), default=None)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_flight_events_flight_id", "flight_id", "id"),)
