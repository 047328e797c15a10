"""The panel's HTML routes (sent with the caller's browser session and CSRF token)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from tests.authz.cases import Call, case
from tests.fixtures.world import PASSWORD, World


@case("GET", "/")
@case("GET", "/flights")
@case("GET", "/upload")
@case("GET", "/login")
@case("GET", "/signup")
@case("GET", "/profile")
@case("POST", "/logout")
async def _no_input(world: World, session: AsyncSession) -> Call:
    return Call(data={})


@case("POST", "/login")
async def _login(world: World, session: AsyncSession) -> Call:
    return Call(data={"email": world.member_a.email, "password": PASSWORD})


@case("POST", "/signup")
async def _signup(world: World, session: AsyncSession) -> Call:
    return Call(data={"account_name": "New Co", "name": "New", "password": PASSWORD,
                      "email": f"new-{uuid.uuid4().hex[:8]}@example.com"})


@case("POST", "/profile/{part}")
async def _profile_name(world: World, session: AsyncSession) -> Call:
    return Call(path={"part": "name"}, data={"name": "Renamed"})


@case("POST", "/language")
async def _language(world: World, session: AsyncSession) -> Call:
    return Call(data={"language": "en", "next": "/"})
