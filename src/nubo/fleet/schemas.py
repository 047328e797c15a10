from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import AwareDatetime, Field

from nubo.kit.schemas import RequestModel, ResponseModel

# An aircraft in a URL path, for its API routes and its page.
Registration = Annotated[str, Path(min_length=1, max_length=16)]


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

    @classmethod
    def of(cls, aircraft: Any) -> AircraftOut:
        """From the row, whose columns already have these types (no validation pass)."""
        return cls.model_construct(**{name: getattr(aircraft, name) for name in _AIRCRAFT})


_AIRCRAFT = tuple(AircraftOut.model_fields)


def aircraft_item(row: Sequence[Any]) -> dict[str, Any]:
    """An `AircraftOut` as the dict its JSON is written from, from a row of
    `repository.AIRCRAFT_COLUMNS` (the model's fields, in its order; ids as text)."""
    return dict(zip(_AIRCRAFT, row, strict=True))


# The fleet's status filter, for its page and `GET /api/fleet` ("none": no verdict yet).
FleetStatus = Literal["alert", "watch", "normal", "none"]


class FleetItemOut(ResponseModel):
    """A row of the fleet (the fleet page's row): the latest verdict, the latest flight's
    scores per engine (in engine order) and its number of findings."""

    id: uuid.UUID
    registration: str
    latest_status: str | None
    latest_score: float | None
    latest_flight_id: uuid.UUID | None
    latest_flight_at: datetime | None
    engine_scores: dict[str, Any]
    findings: int


def fleet_item(row: Any) -> dict[str, Any]:
    """A `FleetItemOut` as the dict its JSON is written from, from a `service.FleetRow`
    (the model's fields, in its order; ids already text)."""
    return {
        "id": row.id, "registration": row.registration, "latest_status": row.latest_status,
        "latest_score": row.latest_score, "latest_flight_id": row.latest_flight_id,
        "latest_flight_at": row.latest_flight_at, "engine_scores": row.engine_scores,
        "findings": row.findings,
    }


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


Component = Literal["engine", "bleed-valve", "hp-valve", "precooler", "bleed-sensor"]


class ReplacementIn(RequestModel):
    engine: Literal[1, 2]
    component: Component
    done_at: AwareDatetime | None = Field(
        default=None, description="when the part was replaced; flights from then relearn"
    )


class ReplacementOut(ResponseModel):
    id: uuid.UUID
    aircraft_id: uuid.UUID
    engine: int
    reason: str
    effective_at: datetime


class RefitIn(RequestModel):
    account_id: uuid.UUID | None = Field(default=None, description="operators: which account")
    aircraft_type: str | None = Field(default=None, max_length=40)
    since: AwareDatetime = Field(description="relearn each engine's reference from flights since")


class RefitOut(ResponseModel):
    aircraft: int
    engines: int


class ReprocessIn(RequestModel):
    account_id: uuid.UUID | None = Field(default=None, description="one account (default: all)")
    registration: str | None = Field(
        default=None, min_length=1, max_length=16, description="one aircraft (with account_id)"
    )


class ReprocessingOut(ResponseModel):
    id: uuid.UUID
    account_id: uuid.UUID | None
    registration: str | None
    model_version: str
    aircraft_total: int
    aircraft_done: int
    flights_total: int
    flights_done: int
    resumed: bool = Field(default=False, description="an unfinished one of the same scope")
    created_at: datetime
    finished_at: datetime | None
