from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from nubo.fleet import reprocess
from tests.authz.cases import Call, case
from tests.fixtures.fleet import processed_flight
from tests.fixtures.world import World


@case("GET", "/api/aircraft")
@case("GET", "/api/fleet")
async def _list(world: World, session: AsyncSession) -> Call:
    await processed_flight(session, world.account_a)
    await session.commit()
    return Call()


@case("GET", "/api/aircraft/{registration}")
@case("GET", "/api/aircraft/{registration}/export")
@case("GET", "/aircraft/{registration}")
async def _one(world: World, session: AsyncSession) -> Call:
    await processed_flight(session, world.account_a, "PR-XBA")
    await session.commit()
    return Call(path={"registration": "pr-xba"})


@case("POST", "/api/aircraft/{registration}/replacements")
async def _replacement(world: World, session: AsyncSession) -> Call:
    await processed_flight(session, world.account_a, "PR-XBA")
    await session.commit()
    return Call(path={"registration": "PR-XBA"}, json={"engine": 1, "component": "bleed-valve"})


@case("POST", "/api/aircraft/refit")
async def _refit(world: World, session: AsyncSession) -> Call:
    await processed_flight(session, world.account_a, "PR-XBA")
    await session.commit()
    return Call(
        json={"account_id": str(world.account_a.id), "since": "2026-01-01T00:00:00Z"}
    )


@case("POST", "/api/reprocessings")
async def _reprocess(world: World, session: AsyncSession) -> Call:
    await processed_flight(session, world.account_a, "PR-XBA")
    await session.commit()
    return Call(json={"account_id": str(world.account_a.id)})


@case("GET", "/api/reprocessings/{id}")
async def _reprocessing(world: World, session: AsyncSession) -> Call:
    started = await reprocess.start(session, world.account_a.id, None)
    await session.commit()
    return Call(path={"id": str(started.reprocessing.id)})
