"""Queries of the fleet domain; tenant scoping lives in `readable_aircraft`."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.identity.principal import Actor
from nubo.kit.types import utcnow
from nubo.models import Account, Aircraft, EngineReset, Flight, Role, TrendPoint

BATCH = 500


def readable_aircraft(actor: Actor) -> Select[Aircraft]:
    stmt = select(Aircraft)
    if actor.role is not Role.operator:
        stmt = stmt.where(Aircraft.account_id == actor.account_id)
    return stmt


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
    session: AsyncSession, aircraft: Aircraft
) -> tuple[bool, str | None]:
    """In one statement: whether the aircraft has an engine reset effective after its latest
    flight (any at all while it has none), and the model version of that flight's point."""
    resets = select(EngineReset.id).where(EngineReset.aircraft_id == aircraft.id)
    if aircraft.latest_flight_at is not None:
        resets = resets.where(EngineReset.effective_at > aircraft.latest_flight_at)
    version = select(TrendPoint.model_version).where(
        TrendPoint.flight_id == aircraft.latest_flight_id
    )
    row = (await session.execute(select(resets.exists(), version.scalar_subquery()))).one()
    return bool(row[0]), row[1]


async def aircraft_of_account(
    session: AsyncSession, account_id: uuid.UUID, aircraft_type: str | None
) -> list[Aircraft]:
    """The account's aircraft (of one type if named), locked, in a stable order."""
    stmt = select(Aircraft).where(Aircraft.account_id == account_id)
    if aircraft_type is not None:
        stmt = stmt.where(Aircraft.aircraft_type == aircraft_type)
    stmt = stmt.order_by(Aircraft.registration, Aircraft.id).with_for_update()
    return list((await session.execute(stmt)).scalars().all())
