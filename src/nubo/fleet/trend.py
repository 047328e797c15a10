"""The aircraft trend as stored: per-flight points, folded in flight order.

The trend state is derived, never edited in place: each processed flight stores its
residuals as a point, and the state is the fold of `bleed.trend.update_trend` over the
points in the order the flights were flown. A job that runs twice, or a flight uploaded
after later ones, therefore gives the same trend as a clean in-order run.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from nubo.bleed.model import Artefact, load_artefact
from nubo.bleed.trend import TrendState, update_trend
from nubo.fleet import repository
from nubo.flights.analysis import FlightResult
from nubo.kit.types import utcnow
from nubo.models import Aircraft, Flight, TrendPoint

_ARTEFACT: Artefact | None = None


def artefact() -> Artefact:
    global _ARTEFACT
    if _ARTEFACT is None:
        _ARTEFACT = load_artefact()
    return _ARTEFACT


def flown_at(flight: Flight) -> datetime:
    return flight.departure_at or flight.file_uploaded_at or flight.created_at


def fold(points: list[TrendPoint]) -> TrendState | None:
    state: TrendState | None = None
    for point in points:
        state, _, _ = update_trend(state, point.residuals, artefact())
    return state


def _before(point: TrendPoint, when: datetime, flight_id: uuid.UUID) -> bool:
    return (point.flown_at, str(point.flight_id)) < (when, str(flight_id))


async def state_before(session: AsyncSession, flight: Flight) -> TrendState | None:
    """The aircraft's trend as it stood just before this flight."""
    aircraft = await repository.aircraft_for_update(
        session, flight.account_id, flight.registration
    )
    if aircraft is None:
        return None
    points = await repository.trend_points(session, aircraft.id)
    when = flown_at(flight)
    return fold([p for p in points if p.flight_id != flight.id and _before(p, when, flight.id)])


async def record(session: AsyncSession, flight: Flight, result: FlightResult) -> Aircraft:
    """Store this flight's point and bring the aircraft's summary and trend up to date."""
    aircraft = await repository.ensure_aircraft(
        session, flight.account_id, flight.registration, flight.aircraft_type
    )
    point = await session.get(TrendPoint, flight.id)
    if point is None:
        point = TrendPoint(flight_id=flight.id, aircraft_id=aircraft.id)
        session.add(point)
    point.flown_at = flown_at(flight)
    point.residuals = result.residuals
    point.flight_status = result.flight_status
    point.trend_status = result.trend_status
    point.bleed_status = result.bleed_status
    point.integrity_score = result.integrity_score
    point.engine_scores = result.engine_scores
    point.model_version = result.model_version
    await session.flush()
    points = await repository.trend_points(session, aircraft.id)
    latest = points[-1]
    aircraft.trend_state = fold(points)
    aircraft.flights_processed = len(points)
    aircraft.latest_flight_id = latest.flight_id
    aircraft.latest_flight_at = latest.flown_at
    aircraft.latest_status = latest.bleed_status
    aircraft.latest_score = latest.integrity_score
    aircraft.aircraft_type = aircraft.aircraft_type or flight.aircraft_type
    aircraft.updated_at = utcnow()
    await session.flush()
    return aircraft
