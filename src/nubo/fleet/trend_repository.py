"""The processing job's statements on its aircraft's trend: Core, built once (see
flights/job_repository.py for why). The common case, a flight flown after every point of
its aircraft, reads the aircraft and what decides that case in one locked statement, then
adds the point and folds it in with one statement each."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.models import Aircraft, EngineReset, TrendPoint

_AIRCRAFT = cast(Table, Aircraft.__table__)
_POINTS = cast(Table, TrendPoint.__table__)
_RESETS = cast(Table, EngineReset.__table__)
_A = _AIRCRAFT.c

_TAIL = (
    select(
        _A.id,
        _A.aircraft_type,
        _A.registration,
        _A.flights_processed,
        _A.latest_flight_id,
        _A.latest_flight_at,
        _A.latest_status,
        _A.trend_state,
        # `repository.trend_tail`, correlated with the row: a reset effective after the
        # latest flight (any while there is none), that flight's model version, and
        # whether this flight has a point already.
        exists()
        .where(
            _RESETS.c.aircraft_id == _A.id,
            or_(_A.latest_flight_at.is_(None), _RESETS.c.effective_at > _A.latest_flight_at),
        )
        .label("reset_pending"),
        select(_POINTS.c.model_version)
        .where(_POINTS.c.flight_id == _A.latest_flight_id)
        .scalar_subquery()
        .label("latest_version"),
        exists().where(_POINTS.c.flight_id == bindparam("p_flight_id")).label("recorded"),
    )
    .where(
        _A.account_id == bindparam("p_account_id"),
        _A.registration == bindparam("p_registration"),
    )
    .with_for_update(of=_AIRCRAFT)
)

_ADD_POINT = insert(_POINTS)

_FOLD_IN = (
    update(_AIRCRAFT)
    .where(_A.id == bindparam("p_id"))
    .values(
        aircraft_type=func.coalesce(
            _A.aircraft_type, bindparam("p_aircraft_type", type_=_A.aircraft_type.type)
        ),
        trend_state=bindparam("p_trend_state"),
        flights_processed=_A.flights_processed + 1,
        latest_flight_id=bindparam("p_flight_id"),
        latest_flight_at=bindparam("p_flown_at"),
        latest_status=bindparam("p_status"),
        latest_score=bindparam("p_score"),
        updated_at=bindparam("p_now"),
    )
)


async def tail(
    session: AsyncSession, account_id: uuid.UUID, registration: str, flight_id: uuid.UUID
) -> Row[Any] | None:
    """The aircraft (locked) with `reset_pending`, `latest_version` and `recorded` for this
    flight; None when the aircraft has no row yet."""
    conn = await session.connection()
    params = {"p_account_id": account_id, "p_registration": registration,
              "p_flight_id": flight_id}
    return (await conn.execute(_TAIL, params)).first()


async def add_point(session: AsyncSession, values: dict[str, Any]) -> None:
    conn = await session.connection()
    await conn.execute(_ADD_POINT, values)


async def fold_in(
    session: AsyncSession,
    aircraft_id: uuid.UUID,
    *,
    aircraft_type: str | None,
    trend_state: dict[str, Any] | None,
    flight_id: uuid.UUID,
    flown_at: datetime,
    status: str,
    score: float | None,
    now: datetime,
) -> None:
    """The aircraft after one more point at the end of its trend."""
    conn = await session.connection()
    await conn.execute(_FOLD_IN, {
        "p_id": aircraft_id, "p_aircraft_type": aircraft_type, "p_trend_state": trend_state,
        "p_flight_id": flight_id, "p_flown_at": flown_at, "p_status": status, "p_score": score,
        "p_now": now,
    })
