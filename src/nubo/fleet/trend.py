"""The aircraft trend as stored: per-flight points, folded in flight order.

The trend state is derived, never edited in place: each processed flight stores its
residuals as a point, and the state is the fold of `bleed.trend.update_trend` over the
points in the order the flights were flown, with each engine reset (a replacement or a
refit) applied before the first flight flown from its `effective_at`. A job that runs twice,
a flight uploaded after later ones, or a replacement recorded late therefore gives the same
trend as a clean in-order run. An incomplete flight (`counts_for_trend` false) gets no point.

The common case, a flight flown after every point the aircraft has and no reset pending
past the last of them, folds that one flight into the stored state instead of replaying the
whole history (the replay cost grows with the aircraft's age); the result is the same, and
anything else (a flight that lands between others, a re-run, a late reset) replays. The
processing job takes that common case with prepared statements on the flight's values
(`state_before_ref`, `record_appended`, see `trend_repository`) and leaves the rest to
`state_before` and `record`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.bleed.model import Artefact, load_artefact
from nubo.bleed.trend import TrendState, new_state, reset_engine, update_trend
from nubo.fleet import repository, trend_repository
from nubo.flights.analysis import FlightResult
from nubo.kit.types import utcnow
from nubo.models import Aircraft, EngineReset, Flight, TrendPoint
from nubo.webhooks import outbox
from nubo.webhooks.outbox import AIRCRAFT_STATUS_CHANGED

_ARTEFACT: Artefact | None = None


def artefact() -> Artefact:
    global _ARTEFACT
    if _ARTEFACT is None:
        _ARTEFACT = load_artefact()
    return _ARTEFACT


@cache
def model_version() -> str:
    return artefact().model_version


def flown_at(flight: Flight) -> datetime:
    return flight.departure_at or flight.file_uploaded_at or flight.created_at


def fold(
    points: list[TrendPoint],
    resets: Sequence[EngineReset] = (),
    until: datetime | None = None,
) -> TrendState | None:
    """The trend after `points` (in flight order), resets applied in time up to `until`."""
    state: TrendState | None = None
    placed, after = place_resets(points, resets)
    for n, point in enumerate(points):
        for reset in placed.get(n, ()):
            state = reset_engine(state or new_state(), reset.engine)
        state, _, _ = update_trend(state, point.residuals, artefact())
    for reset in after:
        if until is not None and reset.effective_at > until:
            break
        state = reset_engine(state or new_state(), reset.engine)
    return state


def place_resets(
    points: Sequence[TrendPoint], resets: Sequence[EngineReset]
) -> tuple[dict[int, list[EngineReset]], list[EngineReset]]:
    """Each reset at the index of the first point flown from its `effective_at`, and those
    after the last point apart (both in time order)."""
    pending = sorted(resets, key=lambda r: r.effective_at)
    placed: dict[int, list[EngineReset]] = {}
    for n, point in enumerate(points):
        while pending and pending[0].effective_at <= point.flown_at:
            placed.setdefault(n, []).append(pending.pop(0))
    return placed, pending


def _before(point: TrendPoint, when: datetime, flight_id: uuid.UUID) -> bool:
    return (point.flown_at, str(point.flight_id)) < (when, str(flight_id))


def appends_to(
    tail: Any, when: datetime, flight_id: uuid.UUID, reset_pending: bool, version: str | None,
    recorded: bool,
) -> bool:
    """Whether the stored state of the aircraft `tail` (its `latest_flight_at`,
    `latest_flight_id`, `flights_processed`) is the state just before this flight: the flight
    comes after every point of the aircraft, no reset is effective after the last of them,
    and that last one was folded by the current model."""
    if tail.latest_flight_at is None or tail.latest_flight_id is None:
        if tail.flights_processed:
            return False  # not expected: a trend without a latest flight; replay
    elif (when, str(flight_id)) <= (tail.latest_flight_at, str(tail.latest_flight_id)):
        return False
    if reset_pending or recorded:  # recorded: a re-run (its departure may have moved)
        return False
    return tail.latest_flight_id is None or version == model_version()


async def _appends(session: AsyncSession, aircraft: Aircraft, flight: Flight) -> bool:
    """`appends_to` for an aircraft and a flight loaded as objects."""
    if aircraft.latest_flight_at is not None and aircraft.latest_flight_id is not None and (
        (flown_at(flight), str(flight.id))
        <= (aircraft.latest_flight_at, str(aircraft.latest_flight_id))
    ):
        return False  # decided without a query
    reset_pending, version, recorded = await repository.trend_tail(session, aircraft, flight.id)
    return appends_to(aircraft, flown_at(flight), flight.id, reset_pending, version, recorded)


async def state_before(session: AsyncSession, flight: Flight) -> TrendState | None:
    """The aircraft's trend as it stood just before this flight."""
    aircraft = await repository.aircraft_for_update(
        session, flight.account_id, flight.registration
    )
    if aircraft is None:
        return None
    if await _appends(session, aircraft, flight):
        return aircraft.trend_state
    return await _replayed(session, aircraft.id, flight.id, flown_at(flight))


async def _replayed(
    session: AsyncSession, aircraft_id: uuid.UUID, flight_id: uuid.UUID, when: datetime
) -> TrendState | None:
    points = await repository.trend_points(session, aircraft_id)
    resets = await repository.engine_resets(session, aircraft_id)
    before = [p for p in points if p.flight_id != flight_id and _before(p, when, flight_id)]
    return fold(before, resets, until=when)


@dataclass(frozen=True, slots=True)
class FlightRef:
    """What the trend needs of a flight, for a job that holds its values, not its object."""

    id: uuid.UUID
    account_id: uuid.UUID
    registration: str
    aircraft_type: str | None
    flown_at: datetime


# A tail not read yet (None is an aircraft without a row).
_UNREAD: Any = object()


def tail_appends(tail: Any, flight: FlightRef) -> bool:
    """Whether the flight comes after every point of the aircraft `tail` (a row of
    `trend_repository.tail`): its stored state is the state just before the flight."""
    return appends_to(tail, flight.flown_at, flight.id, bool(tail.reset_pending),
                      tail.latest_version, bool(tail.recorded))


async def state_before_ref(
    session: AsyncSession, flight: FlightRef, tail: Any = _UNREAD
) -> TrendState | None:
    """`state_before` in one statement in the common case; `tail`: the aircraft's tail
    already read (None: it has no row yet) by the statement that claimed the flight."""
    if tail is _UNREAD:
        tail = await trend_repository.tail(session, flight.account_id, flight.registration,
                                           flight.id)
    if tail is None:
        return None
    if tail_appends(tail, flight):
        return cast(TrendState | None, tail.trend_state)
    return await _replayed(session, tail.id, flight.id, flight.flown_at)


async def record_appended(
    session: AsyncSession, flight: FlightRef, result: FlightResult, *, webhooks: bool = True,
    tail: Any = _UNREAD,
) -> bool:
    """`record` in the common case (the flight counts, its aircraft exists and the flight
    comes after every point of it): one locked read, then the point added and folded into
    the stored state. False, with nothing written, otherwise: then `record` does it.
    `webhooks` false: the account has no endpoint enabled (the caller knows), so a status
    change has no one to tell. `tail`: the aircraft's tail already read under lock in this
    unit (None: it has no row)."""
    if not counts(result):
        return False
    if tail is _UNREAD:
        tail = await trend_repository.tail(session, flight.account_id, flight.registration,
                                           flight.id)
    if tail is None or not tail_appends(tail, flight):
        return False
    now = utcnow()
    state, _, _ = update_trend(tail.trend_state, result.residuals, artefact())
    aircraft_type = tail.aircraft_type or flight.aircraft_type
    await trend_repository.add_point_and_fold_in(
        session, tail.id,
        point={"residuals": result.residuals, "flight_status": result.flight_status,
               "trend_status": result.trend_status, "engine_scores": result.engine_scores,
               "model_version": result.model_version},
        aircraft_type=flight.aircraft_type, trend_state=state, flight_id=flight.id,
        flown_at=flight.flown_at, status=result.bleed_status, score=result.integrity_score,
        now=now,
    )
    if webhooks and result.bleed_status != tail.latest_status:  # as `_fold_in` does
        await outbox.emit(session, flight.account_id, AIRCRAFT_STATUS_CHANGED, {
            "aircraft_id": str(tail.id),
            "registration": tail.registration,
            "aircraft_type": aircraft_type,
            "previous_status": tail.latest_status,
            "status": result.bleed_status,
            "score": result.integrity_score,
            "flight_id": str(flight.id),
            "flown_at": flight.flown_at.isoformat(),
            "findings": result.findings or [],
        })
    return True


class Refold:
    """The trend carried forward flight by flight, resets applied in time: after `add` of
    each point in flight order, `at(when)` is what `fold(points, resets, until=when)` gives
    (a reprocessing folds an aircraft's history once instead of once per flight)."""

    def __init__(self, points_before: list[TrendPoint], resets: Sequence[EngineReset]) -> None:
        self.state: TrendState | None = None
        self._pending = sorted(resets, key=lambda r: r.effective_at)
        for point in points_before:
            self.add(point.flown_at, point.residuals)

    def at(self, when: datetime) -> TrendState | None:
        while self._pending and self._pending[0].effective_at <= when:
            self.state = reset_engine(self.state or new_state(), self._pending.pop(0).engine)
        return self.state

    def add(self, when: datetime, residuals: dict[str, Any]) -> None:
        self.state, _, _ = update_trend(self.at(when), residuals, artefact())


async def refold_before(session: AsyncSession, aircraft_id: uuid.UUID, flight: Flight) -> Refold:
    """A `Refold` standing just before this flight."""
    points = await repository.trend_points(session, aircraft_id)
    resets = await repository.engine_resets(session, aircraft_id)
    when = flown_at(flight)
    before = [p for p in points if p.flight_id != flight.id and _before(p, when, flight.id)]
    return Refold(before, resets)


def counts(result: FlightResult | None) -> bool:
    """Whether the result has a place in the trend."""
    return result is not None and result.counts_for_trend and result.integrity_score is not None


async def put_point(
    session: AsyncSession, aircraft_id: uuid.UUID, flight: Flight, result: FlightResult | None
) -> TrendPoint | None:
    """Write (or remove) this flight's point only; the aircraft's summary is the caller's
    (`refresh` once after many, or `record`)."""
    point = await session.get(TrendPoint, flight.id)
    if result is None or not counts(result):
        if point is not None:
            await session.delete(point)
        return None
    if point is None:
        point = TrendPoint(flight_id=flight.id, aircraft_id=aircraft_id)
        session.add(point)
    _fill(point, flight, result)
    return point


def _fill(point: TrendPoint, flight: Flight, result: FlightResult) -> None:
    point.flown_at = flown_at(flight)
    point.residuals = result.residuals
    point.flight_status = result.flight_status
    point.trend_status = result.trend_status
    point.bleed_status = result.bleed_status
    point.integrity_score = result.integrity_score  # type: ignore[assignment]  # counts()
    point.engine_scores = result.engine_scores
    point.model_version = result.model_version


async def record(session: AsyncSession, flight: Flight, result: FlightResult) -> Aircraft:
    """Store this flight's point and bring the aircraft's summary and trend up to date."""
    aircraft = await repository.ensure_aircraft(
        session, flight.account_id, flight.registration, flight.aircraft_type
    )
    aircraft.aircraft_type = aircraft.aircraft_type or flight.aircraft_type
    if counts(result) and await _appends(session, aircraft, flight):
        new = TrendPoint(flight_id=flight.id, aircraft_id=aircraft.id)
        _fill(new, flight, result)
        session.add(new)
        return await _fold_in(session, aircraft, new)
    point = await session.get(TrendPoint, flight.id)
    if not counts(result):
        if point is None:  # nothing of this flight in the trend: nothing changes
            return aircraft
        await session.delete(point)  # a re-run found the file incomplete after all
        await session.flush()
        return await refresh(session, aircraft)
    if point is None:
        point = TrendPoint(flight_id=flight.id, aircraft_id=aircraft.id)
        session.add(point)
    _fill(point, flight, result)
    await session.flush()
    return await refresh(session, aircraft)


async def _fold_in(session: AsyncSession, aircraft: Aircraft, point: TrendPoint) -> Aircraft:
    """The aircraft after one more point at the end of its trend (see `_appends`)."""
    aircraft.trend_state, _, _ = update_trend(aircraft.trend_state, point.residuals, artefact())
    aircraft.flights_processed += 1
    before = aircraft.latest_status
    _latest(aircraft, point)
    await session.flush()
    if aircraft.latest_status != before:  # as `refresh` does
        await _tell_status_change(session, aircraft, before)
    return aircraft


def _latest(aircraft: Aircraft, point: TrendPoint) -> None:
    aircraft.latest_flight_id = point.flight_id
    aircraft.latest_flight_at = point.flown_at
    aircraft.latest_status = point.bleed_status
    aircraft.latest_score = point.integrity_score
    aircraft.updated_at = utcnow()


async def refresh(session: AsyncSession, aircraft: Aircraft) -> Aircraft:
    """Re-derive the aircraft's trend state and latest verdict from its points and resets."""
    points = await repository.trend_points(session, aircraft.id)
    resets = await repository.engine_resets(session, aircraft.id)
    aircraft.trend_state = fold(points, resets)
    aircraft.flights_processed = len(points)
    before = aircraft.latest_status
    if points:
        _latest(aircraft, points[-1])
    aircraft.updated_at = utcnow()
    await session.flush()
    if aircraft.latest_status != before and aircraft.latest_status is not None:
        await _tell_status_change(session, aircraft, before)
    return aircraft


async def _tell_status_change(
    session: AsyncSession, aircraft: Aircraft, before: str | None
) -> None:
    """`aircraft.status_changed` to the account's webhooks, with the deciding flight's
    findings, in the unit that changed the status."""
    findings = None
    if aircraft.latest_flight_id is not None:
        stmt = select(Flight.findings).where(Flight.id == aircraft.latest_flight_id)
        findings = (await session.execute(stmt)).scalar_one_or_none()
    data = {
        "aircraft_id": str(aircraft.id),
        "registration": aircraft.registration,
        "aircraft_type": aircraft.aircraft_type,
        "previous_status": before,
        "status": aircraft.latest_status,
        "score": aircraft.latest_score,
        "flight_id": str(aircraft.latest_flight_id) if aircraft.latest_flight_id else None,
        "flown_at": aircraft.latest_flight_at.isoformat() if aircraft.latest_flight_at else None,
        "findings": findings or [],
    }
    await outbox.emit(session, aircraft.account_id, AIRCRAFT_STATUS_CHANGED, data)
