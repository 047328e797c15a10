from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from nubo.kit.types import utcnow
from nubo.models.base import Base, IdMixin


class Reprocessing(IdMixin, Base):
    """A re-run of every processed flight of a scope (every account, one account, or one
    aircraft) with the model of `model_version`; its progress lives in its aircraft rows."""

    __tablename__ = "reprocessings"

    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"), default=None)
    registration: Mapped[str | None] = mapped_column(String(16), default=None)
    model_version: Mapped[str] = mapped_column(String(64))
    aircraft_total: Mapped[int] = mapped_column(default=0)
    flights_total: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class ReprocessingAircraft(IdMixin, Base):
    """One aircraft of a reprocessing: its flights are re-run in flight order by one job at a
    time (the claim: `job_token` until `lease_until`), each one recorded past `after_*`, so a
    job that dies is resumed by the next from the flight after the last one done."""

    __tablename__ = "reprocessing_aircraft"

    reprocessing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reprocessings.id"))
    aircraft_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("aircraft.id"))
    flights_total: Mapped[int] = mapped_column(default=0)
    flights_done: Mapped[int] = mapped_column(default=0)
    after_flown_at: Mapped[datetime | None] = mapped_column(default=None)
    after_flight_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    job_token: Mapped[uuid.UUID | None] = mapped_column(default=None)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        Index("ix_reprocessing_aircraft_run", "reprocessing_id", "finished_at"),
    )
