"""The processing job's statements on its aircraft's trend: Core, built once (see
flights/job_repository.py for why). The common case, a flight flown after every point of
its aircraft, reads the aircraft and what decides that case in one locked statement, then
adds the point and folds it in with one statement each."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Select, Table, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.kit.db import write_rows
from nubo.models import Aircraft, EngineReset, TrendPoint

_AIRCRAFT = cast(Table, Aircraft.__table__)
_POINTS = cast(Table, TrendPoint.__table__)
_RESETS = cast(Table, EngineReset.__table__)
_A = _AIRCRAFT.c

# The aircraft's columns a job's trend reads, by name.
TAIL_COLUMNS = ("id", "aircraft_type", "registration", "flights_processed", "latest_flight_id",
                "latest_flight_at", "latest_status", "trend_state")


def tail_of(account_id: Any, registration: Any, flight_id: Any) -> Select[Any]:
    """The aircraft of (`account_id`, `registration`) with what decides whether the flight
    `flight_id` appends to its trend: bound parameters, or the columns of a flight row the
    statement around it holds (`flights/job_repository.py`)."""
    return select(
        *(_A[name] for name in TAIL_COLUMNS),
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
        exists().where(_POINTS.c.flight_id == flight_id).correlate_except(_POINTS)
        .label("recorded"),
    ).where(_A.account_id == account_id, _A.registration == registration)


_TAIL = tail_of(
    bindparam("p_account_id"), bindparam("p_registration"), bindparam("p_flight_id")
).with_for_update(of=_AIRCRAFT)

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


# PostgreSQL: the point added in the statement that folds it in (a data-modifying WITH
# clause), one round trip instead of two; SQLite runs the two.
_POINT_NAMES = ("residuals", "flight_status", "trend_status", "engine_scores", "model_version")
_FOLD_IN_WITH_POINT = _FOLD_IN.add_cte(
    insert(_POINTS)
    .values(
        flight_id=bindparam("p_flight_id"), aircraft_id=bindparam("p_id"),
        flown_at=bindparam("p_flown_at"), bleed_status=bindparam("p_status"),
        integrity_score=bindparam("p_score"),
        **{name: bindparam(f"p_point_{name}") for name in _POINT_NAMES},
    )
    .cte("point")
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


async def add_point_and_fold_in(
    session: AsyncSession,
    aircraft_id: uuid.UUID,
    *,
    point: dict[str, Any],
    aircraft_type: str | None,
    trend_state: dict[str, Any] | None,
    flight_id: uuid.UUID,
    flown_at: datetime,
    status: str,
    score: float | None,
    now: datetime,
) -> None:
    """The flight's point (`point`: its `_POINT_NAMES` values; its flight, aircraft, time,
    status and score are the fold's) and the aircraft after it, at the end of its trend."""
    conn = await session.connection()
    params = {
        "p_id": aircraft_id, "p_aircraft_type": aircraft_type, "p_trend_state": trend_state,
        "p_flight_id": flight_id, "p_flown_at": flown_at, "p_status": status, "p_score": score,
        "p_now": now,
    }
    if conn.dialect.name == "postgresql":
        params.update({f"p_point_{name}": point[name] for name in _POINT_NAMES})
        await write_rows(conn, _FOLD_IN_WITH_POINT, params)
        return
    await conn.execute(_ADD_POINT, {
        "flight_id": flight_id, "aircraft_id": aircraft_id, "flown_at": flown_at,
        "bleed_status": status, "integrity_score": score,
        **{name: point[name] for name in _POINT_NAMES},
    })
    await conn.execute(_FOLD_IN, params)
