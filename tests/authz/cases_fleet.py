from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tests.authz.cases import Call, case
from tests.fixtures.fleet import processed_flight
from tests.fixtures.world import World


@case("GET", "/api/aircraft")
async def _list(world: World, session: AsyncSession) -> Call:
    await processed_flight(session, world.account_a)
    await session.commit()
    return Call()


@case("GET", "/api/aircraft/{registration}")
async def _one(world: World, session: AsyncSession) -> Call:
    await processed_flight(session, world.account_a, "PR-XBA")
    await session.commit()
    return Call(path={"registration": "pr-xba"})
