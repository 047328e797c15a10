"""Fleet views: each aircraft's latest verdict, and its trend flight by flight."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.bleed.trend import channel_history
from nubo.fleet import features, repository, trend
from nubo.fleet import trend as fleet_trend
from nubo.fleet.repository import live_flight_ids, readable_aircraft
from nubo.identity.auth import ensure_can_manage
from nubo.identity.principal import Actor
from nubo.kit.db import ReadConnection
from nubo.kit.errors import Conflict, Forbidden, NotFound
from nubo.kit.listing import stored_json
from nubo.kit.pagination import Key, PageParams, decode_cursor, keyset
from nubo.kit.storage import ObjectStore
from nubo.kit.types import utcnow
from nubo.models import Aircraft, EngineReset, Role, TrendPoint

ENGINES = (1, 2)


def normalise_registration(registration: str) -> str:
    return registration.strip().upper()


async def list_aircraft(
    read: ReadConnection, actor: Actor, params: PageParams
) -> list[Row[Any]]:
    """One page of the actor's aircraft by registration, as `repository.AIRCRAFT_COLUMNS`
    rows (one more than the page when another follows, for `build_page`)."""
    after = None
    if params.cursor:
        registration, aircraft_id = decode_cursor(params.cursor, [Key.text, Key.uuid])
        after = (registration, aircraft_id)
    return await repository.aircraft_page(read, actor, params.limit + 1, after)


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


async def record_replacement(
    session: AsyncSession,
    actor: Actor,
    aircraft: Aircraft,
    engine: int,
    component: str,
    done_at: datetime | None,
) -> EngineReset:
    """An engine or one of its bleed components was replaced: from `done_at` (default now)
    the engine learns a fresh reference. Account admins and operators only."""
    ensure_can_manage(actor, aircraft.account_id, "aircraft")
    return await restart_engine(
        session, aircraft.account_id, aircraft.registration, engine, component, done_at, actor.id
    )


async def restart_engine(
    session: AsyncSession,
    account_id: uuid.UUID,
    registration: str,
    engine: int,
    reason: str,
    at: datetime | None,
    created_by: uuid.UUID | None = None,
) -> EngineReset:
    """Restart one engine's reference from `at` and re-derive the aircraft's trend."""
    locked = await repository.aircraft_for_update(
        session, account_id, normalise_registration(registration)
    )
    if locked is None:
        raise NotFound("aircraft not found")
    reset = EngineReset(
        aircraft_id=locked.id,
        engine=engine,
        reason=reason,
        effective_at=at or utcnow(),
        created_by=created_by,
    )
    session.add(reset)
    await session.flush()
    await fleet_trend.refresh(session, locked)
    return reset


async def refit_references(
    session: AsyncSession,
    actor: Actor,
    account_id: uuid.UUID | None,
    aircraft_type: str | None,
    since: datetime,
) -> list[Aircraft]:
    """Relearn every engine's reference of an account's fleet (of one type) from its own
    healthy flights flown since `since` (e.g. after a fleet-wide recalibration)."""
    if account_id is None:
        if actor.role is Role.operator:
            raise Forbidden("operators must name the account_id", code="account-required")
        account_id = actor.account_id
    ensure_can_manage(actor, account_id, "account")
    return await refit_fleet(session, account_id, aircraft_type, since, actor.id)


async def refit_fleet(
    session: AsyncSession,
    account_id: uuid.UUID,
    aircraft_type: str | None,
    since: datetime,
    created_by: uuid.UUID | None = None,
) -> list[Aircraft]:
    fleet = await repository.aircraft_of_account(session, account_id, aircraft_type)
    for aircraft in fleet:
        for engine in ENGINES:
            session.add(
                EngineReset(
                    aircraft_id=aircraft.id,
                    engine=engine,
                    reason="refit",
                    effective_at=since,
                    created_by=created_by,
                )
            )
    await session.flush()
    for aircraft in fleet:
        await fleet_trend.refresh(session, aircraft)
    return fleet


FLEET_STATUSES = repository.FLEET_STATUSES


@dataclass(frozen=True, slots=True)
class FleetRow:
    """An aircraft's latest verdict with what its latest flight said: scores per engine (in
    engine order), number of findings."""

    id: str
    registration: str
    latest_status: str | None
    latest_score: float | None
    latest_flight_id: str | None
    latest_flight_at: datetime | None
    rank: int
    engine_scores: dict[str, Any]
    findings: int


async def fleet_overview(
    read: ReadConnection, actor: Actor, params: PageParams, status: str | None = None
) -> list[FleetRow]:
    """The fleet worst first (then by registration), optionally one status only."""
    after = None
    if params.cursor:
        rank, registration, aircraft_id = decode_cursor(
            params.cursor, [Key.bigint, Key.text, Key.uuid]
        )
        after = (rank, registration, aircraft_id)
    rows = await repository.fleet_page(read, actor, status, params.limit + 1, after)
    # Scores as the trend recorded them (like latest_score), engines in order here, so the
    # page sorts nothing; findings from the flight itself.
    return [
        FleetRow(r.id, r.registration, r.latest_status, r.latest_score, r.latest_flight_id,
                 r.latest_flight_at, r.rank,
                 dict(sorted((stored_json(r.engine_scores) or {}).items())), r.findings or 0)
        for r in rows
    ]


def fleet_key(row: FleetRow) -> tuple[int, str, str]:
    """A fleet row's place in the order, its cursor (`fleet_overview`'s `after`)."""
    return row.rank, row.registration, row.id


@dataclass(frozen=True, slots=True)
class TrendHistory:
    """An aircraft's whole trend: the flights in flown order and, per engine and channel,
    value, EWMA, control limits and CUSUM at each of them (bleed.trend.channel_history),
    with the engine resets by the index of the first flight flown after each (`resets`) and
    those recorded after the last flight (`later_resets`)."""

    points: list[TrendPoint]
    channels: dict[str, dict[str, dict[str, list[float | None]]]]
    resets: dict[int, list[EngineReset]]
    later_resets: list[EngineReset]


async def trend_history(session: AsyncSession, aircraft: Aircraft) -> TrendHistory:
    points = await repository.trend_points(session, aircraft.id)
    resets, later = fleet_trend.place_resets(
        points, await repository.engine_resets(session, aircraft.id)
    )
    engines = {n: [r.engine for r in placed] for n, placed in resets.items()}
    channels = channel_history([p.residuals for p in points], trend.artefact(), engines)
    return TrendHistory(points, channels, resets, later)
