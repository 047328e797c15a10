"""Queries of the fleet domain; tenant scoping lives in `readable_aircraft`."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    Select,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from nubo.identity.principal import Actor
from nubo.kit.db import ReadConnection
from nubo.kit.listing import json_text, uuid_text
from nubo.kit.types import utcnow
from nubo.models import (
    Account,
    Aircraft,
    EngineReset,
    Flight,
    ProcessingStatus,
    Reprocessing,
    ReprocessingAircraft,
    Role,
    TrendPoint,
)

BATCH = 500


def readable_aircraft(actor: Actor) -> Select[Aircraft]:
    stmt = select(Aircraft)
    if actor.role is not Role.operator:
        stmt = stmt.where(Aircraft.account_id == actor.account_id)
    return stmt


Rows = Select[*tuple[Any, ...]]  # a select of any columns

# What a list of aircraft reads (the fields of `schemas.AircraftOut`, in its order), for
# `GET /api/aircraft` and the fleet page: columns, not entities, ids as text (kit.listing).
AIRCRAFT_COLUMNS = (
    uuid_text(Aircraft.id), uuid_text(Aircraft.account_id), Aircraft.registration,
    Aircraft.aircraft_type, Aircraft.flights_processed, uuid_text(Aircraft.latest_flight_id),
    Aircraft.latest_flight_at, Aircraft.latest_status, Aircraft.latest_score,
)

# Worst first: alert, watch, normal, then aircraft without a verdict yet.
FLEET_STATUSES = ("alert", "watch", "normal", "none")
STATUS_RANK = case(
    *((Aircraft.latest_status == status, rank) for rank, status in enumerate(FLEET_STATUSES[:3])),
    else_=3,
)


def _scoped(stmt: Rows, operator: bool) -> Rows:
    """The account's aircraft (a bound parameter `actor_account`), or every one (operators)."""
    return stmt if operator else stmt.where(Aircraft.account_id == bindparam("actor_account"))


def _after(columns: list[Any], names: list[str]) -> ColumnElement[bool]:
    """kit.pagination's keyset, ascending, over bound parameters named `names`."""
    clauses = []
    for i, column in enumerate(columns):
        equal = [columns[j] == bindparam(names[j]) for j in range(i)]
        clauses.append(and_(*equal, column > bindparam(names[i])))
    return or_(*clauses)


def _scope_params(actor: Actor, limit: int) -> tuple[bool, dict[str, Any]]:
    operator = actor.role is Role.operator
    params: dict[str, Any] = {"limit": limit}
    if not operator:
        params["actor_account"] = actor.account_id
    return operator, params


@cache
def _aircraft_page(operator: bool, after: bool) -> Rows:
    """One page of the aircraft list by registration; built once, values bound (as
    flights.repository's list)."""
    stmt = _scoped(select(*AIRCRAFT_COLUMNS), operator)
    keys = [Aircraft.registration, Aircraft.id]
    if after:
        stmt = stmt.where(_after(keys, ["after_registration", "after_id"]))
    return stmt.order_by(*keys).limit(bindparam("limit", type_=Integer))


async def aircraft_page(
    read: ReadConnection, actor: Actor, limit: int, after: tuple[str, uuid.UUID] | None
) -> list[Row[Any]]:
    """Up to `limit` AIRCRAFT_COLUMNS rows of the actor's aircraft by registration, after
    the (registration, id) `after`, in one standalone read."""
    operator, params = _scope_params(actor, limit)
    if after is not None:
        params["after_registration"], params["after_id"] = after
    async with read() as conn:
        return list(await conn.execute(_aircraft_page(operator, after is not None), params))


@cache
def _fleet_page(operator: bool, shape: str | None, after: bool) -> Rows:
    """One page of the fleet worst first: AIRCRAFT_COLUMNS, then the status's rank, the
    latest flight's scores per engine as the trend recorded them (JSON text) and its number
    of findings. The page is chosen first and only its rows joined: the order (by rank)
    sorts the whole fleet, and joining every aircraft before it cost more than the sort."""
    page = _scoped(select(*AIRCRAFT_COLUMNS, STATUS_RANK.label("rank")), operator)
    if shape == "none":
        page = page.where(Aircraft.latest_status.is_(None))
    elif shape is not None:
        page = page.where(Aircraft.latest_status == bindparam("status"))
    keys = [STATUS_RANK, Aircraft.registration, Aircraft.id]
    if after:
        page = page.where(_after(keys, ["after_rank", "after_registration", "after_id"]))
    chosen = page.order_by(*keys).limit(bindparam("limit", type_=Integer)).subquery("page")
    return (
        select(*chosen.c, json_text(TrendPoint.engine_scores),
               func.json_array_length(Flight.findings).label("findings"))
        .select_from(chosen)
        .outerjoin(TrendPoint, TrendPoint.flight_id == chosen.c.latest_flight_id)
        .outerjoin(Flight, Flight.id == chosen.c.latest_flight_id)
        .order_by(chosen.c.rank, chosen.c.registration, chosen.c.id)
    )


async def fleet_page(
    read: ReadConnection,
    actor: Actor,
    status: str | None,
    limit: int,
    after: tuple[int, str, uuid.UUID] | None,
) -> list[Row[Any]]:
    """Up to `limit` rows of the actor's fleet, worst first (`_fleet_page`), one status only
    if named ("none": no verdict yet), after the (rank, registration, id) `after`."""
    operator, params = _scope_params(actor, limit)
    if status not in (None, "none"):
        params["status"] = status
    if after is not None:
        params["after_rank"], params["after_registration"], params["after_id"] = after
    # One statement for "none", one for the verdicts (the status bound), one for all.
    shape = None if status is None else "none" if status == "none" else "verdict"
    async with read() as conn:
        return list(await conn.execute(_fleet_page(operator, shape, after is not None), params))


async def aircraft_for_update(
    session: AsyncSession, account_id: uuid.UUID, registration: str
) -> Aircraft | None:
    stmt = (
        select(Aircraft)
        .where(Aircraft.account_id == account_id, Aircraft.registration == registration)
        .with_for_update()
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def ensure_aircraft(
    session: AsyncSession, account_id: uuid.UUID, registration: str, aircraft_type: str | None
) -> Aircraft:
    """The aircraft row, created if missing and locked; two jobs racing create it once."""
    found = await aircraft_for_update(session, account_id, registration)
    if found is not None:  # nearly always: one statement instead of two
        return found
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    await session.execute(
        insert(Aircraft)
        .values(id=uuid.uuid4(), account_id=account_id, registration=registration,
                aircraft_type=aircraft_type, flights_processed=0, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["account_id", "registration"])
    )
    aircraft = await aircraft_for_update(session, account_id, registration)
    assert aircraft is not None
    return aircraft


async def trend_points(session: AsyncSession, aircraft_id: uuid.UUID) -> list[TrendPoint]:
    stmt = (
        select(TrendPoint)
        .where(TrendPoint.aircraft_id == aircraft_id)
        .order_by(TrendPoint.flown_at, TrendPoint.flight_id)
    )
    return list((await session.execute(stmt)).scalars().all())


async def live_flight_ids(session: AsyncSession, ids: Collection[str]) -> set[str]:
    """Which of `ids` (as strings, e.g. taken from object keys) are flights neither deleted
    nor of a deleted account."""
    parsed = []
    for raw in ids:
        try:
            parsed.append(uuid.UUID(raw))
        except ValueError:
            continue
    live: set[str] = set()
    for start in range(0, len(parsed), BATCH):
        stmt = (
            select(Flight.id)
            .join(Account, Account.id == Flight.account_id)
            .where(Flight.id.in_(parsed[start : start + BATCH]), Flight.deleted_at.is_(None),
                   Account.deleted_at.is_(None))
        )
        live.update(str(i) for i in (await session.execute(stmt)).scalars())
    return live


async def engine_resets(session: AsyncSession, aircraft_id: uuid.UUID) -> list[EngineReset]:
    stmt = (
        select(EngineReset)
        .where(EngineReset.aircraft_id == aircraft_id)
        .order_by(EngineReset.effective_at, EngineReset.id)
    )
    return list((await session.execute(stmt)).scalars().all())


async def trend_tail(
    session: AsyncSession, aircraft: Aircraft, flight_id: uuid.UUID
) -> tuple[bool, str | None, bool]:
    """In one statement: whether the aircraft has an engine reset effective after its latest
    flight (any at all while it has none), the model version of that flight's point, and
    whether `flight_id` has a point already."""
    resets = select(EngineReset.id).where(EngineReset.aircraft_id == aircraft.id)
    if aircraft.latest_flight_at is not None:
        resets = resets.where(EngineReset.effective_at > aircraft.latest_flight_at)
    version = select(TrendPoint.model_version).where(
        TrendPoint.flight_id == aircraft.latest_flight_id
    )
    point = select(TrendPoint.flight_id).where(TrendPoint.flight_id == flight_id)
    stmt = select(resets.exists(), version.scalar_subquery(), point.exists())
    row = (await session.execute(stmt)).one()
    return bool(row[0]), row[1], bool(row[2])


async def aircraft_of_account(
    session: AsyncSession, account_id: uuid.UUID, aircraft_type: str | None
) -> list[Aircraft]:
    """The account's aircraft (of one type if named), locked, in a stable order."""
    stmt = select(Aircraft).where(Aircraft.account_id == account_id)
    if aircraft_type is not None:
        stmt = stmt.where(Aircraft.aircraft_type == aircraft_type)
    stmt = stmt.order_by(Aircraft.registration, Aircraft.id).with_for_update()
    return list((await session.execute(stmt)).scalars().all())


async def aircraft_in_scope(
    session: AsyncSession, account_id: uuid.UUID | None, registration: str | None
) -> list[Aircraft]:
    """The aircraft of live accounts (of one account, with one registration, if named)."""
    stmt = (
        select(Aircraft)
        .options(defer(Aircraft.trend_state, raiseload=True))
        .join(Account, Account.id == Aircraft.account_id)
        .where(Account.deleted_at.is_(None))
    )
    if account_id is not None:
        stmt = stmt.where(Aircraft.account_id == account_id)
    if registration is not None:
        stmt = stmt.where(Aircraft.registration == registration)
    stmt = stmt.order_by(Aircraft.account_id, Aircraft.registration)
    return list((await session.execute(stmt)).scalars().all())


async def processed_flights(
    session: AsyncSession, account_id: uuid.UUID, registration: str
) -> list[Flight]:
    """The aircraft's processed, live flights with their file (what a reprocessing re-runs);
    the caller puts them in flight order."""
    stmt = select(Flight).where(
        Flight.account_id == account_id,
        Flight.registration == registration,
        Flight.deleted_at.is_(None),
        Flight.processing_status == ProcessingStatus.processed,
        Flight.file_key.is_not(None),
    )
    return list((await session.execute(stmt)).scalars().all())


async def unfinished_reprocessing(
    session: AsyncSession, account_id: uuid.UUID | None, registration: str | None, version: str
) -> Reprocessing | None:
    stmt = select(Reprocessing).where(
        Reprocessing.finished_at.is_(None),
        Reprocessing.model_version == version,
        Reprocessing.account_id.is_(None)
        if account_id is None
        else Reprocessing.account_id == account_id,
        Reprocessing.registration.is_(None)
        if registration is None
        else Reprocessing.registration == registration,
    )
    return (await session.execute(stmt.order_by(Reprocessing.created_at).limit(1))).scalar()


async def unfinished_rows(
    session: AsyncSession, reprocessing_id: uuid.UUID | None = None
) -> list[ReprocessingAircraft]:
    stmt = select(ReprocessingAircraft).where(ReprocessingAircraft.finished_at.is_(None))
    if reprocessing_id is not None:
        stmt = stmt.where(ReprocessingAircraft.reprocessing_id == reprocessing_id)
    return list((await session.execute(stmt)).scalars().all())


async def reprocessing_progress(
    session: AsyncSession, reprocessing_id: uuid.UUID
) -> tuple[int, int]:
    """Flights done and aircraft finished so far."""
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(ReprocessingAircraft.flights_done), 0),
                func.count(ReprocessingAircraft.finished_at),
            ).where(ReprocessingAircraft.reprocessing_id == reprocessing_id)
        )
    ).one()
    return int(row[0]), int(row[1])


def _row(row_id: uuid.UUID, token: uuid.UUID) -> Any:
    return and_(
        ReprocessingAircraft.id == row_id,
        ReprocessingAircraft.job_token == token,
        ReprocessingAircraft.finished_at.is_(None),
    )


async def claim_row(
    session: AsyncSession, row_id: uuid.UUID, token: uuid.UUID, lease: timedelta
) -> bool:
    """Take the aircraft's reprocessing unless another job holds it (its lease running)."""
    now = utcnow()
    stmt = (
        update(ReprocessingAircraft)
        .where(
            ReprocessingAircraft.id == row_id,
            ReprocessingAircraft.finished_at.is_(None),
            or_(ReprocessingAircraft.job_token.is_(None), ReprocessingAircraft.lease_until < now),
        )
        .values(job_token=token, lease_until=now + lease, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return _one(await session.execute(stmt))


async def advance_row(
    session: AsyncSession,
    row_id: uuid.UUID,
    token: uuid.UUID,
    lease: timedelta,
    flown_at: datetime,
    flight_id: uuid.UUID,
) -> bool:
    """Record one more flight done (and renew the lease), only while the claim holds."""
    now = utcnow()
    stmt = (
        update(ReprocessingAircraft)
        .where(_row(row_id, token))
        .values(
            flights_done=ReprocessingAircraft.flights_done + 1,
            after_flown_at=flown_at,
            after_flight_id=flight_id,
            lease_until=now + lease,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return _one(await session.execute(stmt))


async def finish_row(session: AsyncSession, row_id: uuid.UUID, token: uuid.UUID) -> bool:
    now = utcnow()
    stmt = (
        update(ReprocessingAircraft)
        .where(_row(row_id, token))
        .values(finished_at=now, job_token=None, lease_until=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return _one(await session.execute(stmt))


async def owed_rows(session: AsyncSession, now: datetime, idle_before: datetime) -> list[uuid.UUID]:
    """Unfinished aircraft no job is working on: never claimed for a while, or whose
    holder stopped renewing its lease."""
    stmt = select(ReprocessingAircraft.id).where(
        ReprocessingAircraft.finished_at.is_(None),
        or_(
            and_(
                ReprocessingAircraft.job_token.is_(None),
                ReprocessingAircraft.updated_at < idle_before,
            ),
            ReprocessingAircraft.lease_until < now,
        ),
    )
    return list((await session.execute(stmt.limit(BATCH))).scalars().all())


def _one(result: Any) -> bool:
    return bool(result.rowcount == 1)
