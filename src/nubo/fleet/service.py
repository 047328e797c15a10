"""Fleet views: each aircraft's latest verdict, and its trend flight by flight."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.fleet import features
from nubo.fleet.repository import live_flight_ids, readable_aircraft
from nubo.identity.principal import Actor
from nubo.kit.errors import Conflict, NotFound
from nubo.kit.pagination import Key, PageParams, keyset
from nubo.kit.storage import ObjectStore
from nubo.models import Aircraft, TrendPoint


def normalise_registration(registration: str) -> str:
    return registration.strip().upper()


async def list_aircraft(session: AsyncSession, actor: Actor, params: PageParams) -> list[Aircraft]:
    stmt = keyset(readable_aircraft(actor), params, [Aircraft.registration, Aircraft.id],
                  [Key.text, Key.uuid])
    return list((await session.execute(stmt)).scalars().all())


async def get_aircraft(
    session: AsyncSession, actor: Actor, registration: str, account_id: uuid.UUID | None
) -> Aircraft:
    stmt = readable_aircraft(actor).where(
        Aircraft.registration == normalise_registration(registration)
    )
    if account_id is not None:
        stmt = stmt.where(Aircraft.account_id == account_id)
    found = list((await session.execute(stmt.limit(2))).scalars().all())
    if not found:
        raise NotFound("aircraft not found")
    if len(found) > 1:  # only operators see several accounts
        raise Conflict("several accounts fly this registration; pass account_id",
                       code="ambiguous-registration")
    return found[0]


async def trend_page(
    session: AsyncSession, aircraft: Aircraft, params: PageParams
) -> list[TrendPoint]:
    stmt = select(TrendPoint).where(TrendPoint.aircraft_id == aircraft.id)
    stmt = keyset(stmt, params, [TrendPoint.flown_at, TrendPoint.flight_id],
                  [Key.instant, Key.uuid])
    return list((await session.execute(stmt)).scalars().all())


async def query_lake(
    session: AsyncSession, store: ObjectStore, sql: str
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """SQL over the fleet's feature files, counting only live flights: a deleted flight's
    files are removed after its deletion commits, but a failed removal must not count."""
    in_lake = {features.flight_of(key) async for key in store.list_keys(features.PREFIX)}
    ids = {i for i in in_lake if i is not None}
    hidden = ids - await live_flight_ids(session, ids)
    return await features.fleet_query(store, sql, hidden)
