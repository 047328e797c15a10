from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from nubo.kit.schemas import ResponseModel


class AircraftOut(ResponseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    registration: str
    aircraft_type: str | None
    flights_processed: int
    latest_flight_id: uuid.UUID | None
    latest_flight_at: datetime | None
    latest_status: str | None
    latest_score: float | None


class TrendPointOut(ResponseModel):
    flight_id: uuid.UUID
    flown_at: datetime
    bleed_status: str
    flight_status: str
    trend_status: str
    integrity_score: float
    engine_scores: dict[str, Any]
    model_version: str


class AircraftDetail(AircraftOut):
    trend: list[TrendPointOut]
    next_cursor: str | None = None
