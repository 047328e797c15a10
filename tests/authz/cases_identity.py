from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from nubo.identity.sessions import issue_tokens
from tests.authz.cases import Call, case
from tests.fixtures.world import PASSWORD, World, make_api_key


def _new_email() -> str:
    return f"new-{uuid.uuid4().hex[:8]}@example.com"


@case("GET", "/api/health")
@case("GET", "/api/ready")
@case("GET", "/api/metrics")
@case("GET", "/docs")
@case("GET", "/docs/oauth2-redirect")
@case("GET", "/redoc")
@case("GET", "/api/users/profile")
@case("GET", "/api/accounts")
async def _no_input(world: World, session: AsyncSession) -> Call:
    return Call()


@case("POST", "/api/auth/signup")
async def _signup(world: World, session: AsyncSession) -> Call:
    return Call(json={"account_name": "New Co", "name": "New", "email": _new_email(),
                      "password": PASSWORD})


@case("POST", "/api/auth/login")
@case("POST", "/api/users/authenticate")
async def _login(world: World, session: AsyncSession) -> Call:
    return Call(json={"email": world.member_a.email, "password": PASSWORD})


@case("POST", "/api/auth/refresh")
@case("POST", "/api/auth/logout")
async def _refresh(world: World, session: AsyncSession) -> Call:
    tokens = await issue_tokens(session, world.platform, world.member_a)
    await session.commit()
    return Call(json={"refresh_token": tokens.refresh_token})


@case("PATCH", "/api/users/edit")
async def _edit(world: World, session: AsyncSession) -> Call:
    return Call(json={"name": "Renamed"})


@case("POST", "/api/users")
async def _create_user(world: World, session: AsyncSession) -> Call:
    return Call(json={"account_id": str(world.account_a.id), "name": "New", "email": _new_email(),
                      "password": PASSWORD, "role": "member"})


@case("GET", "/api/users/email/{email}")
async def _user_by_email(world: World, session: AsyncSession) -> Call:
    return Call(path={"email": world.member_a.email})


@case("GET", "/api/users/account/{accountId}")
@case("DELETE", "/api/accounts/{accountId}")
async def _account_a(world: World, session: AsyncSession) -> Call:
    return Call(path={"accountId": str(world.account_a.id)})


@case("DELETE", "/api/users/{userId}")
async def _delete_user(world: World, session: AsyncSession) -> Call:
    return Call(path={"userId": str(world.member_a.id)})


@case("POST", "/api/accounts")
async def _create_account(world: World, session: AsyncSession) -> Call:
    return Call(json={"name": "Gamma", "email": _new_email()})


@case("PUT", "/api/accounts/{accountId}")
async def _update_account(world: World, session: AsyncSession) -> Call:
    return Call(path={"accountId": str(world.account_a.id)}, json={"name": "Alpha Airlines"})


@case("GET", "/api/accounts/email/{email}")
async def _account_by_email(world: World, session: AsyncSession) -> Call:
    return Call(path={"email": world.account_a.email})


@case("POST", "/api/api-keys")
async def _create_key(world: World, session: AsyncSession) -> Call:
    return Call(json={"name": "ground station", "scopes": ["flights:read", "flights:write"]})


@case("GET", "/api/api-keys")
async def _list_keys(world: World, session: AsyncSession) -> Call:
    await make_api_key(session, world.account_a)
    await session.commit()
    return Call()


@case("DELETE", "/api/api-keys/{keyId}")
async def _revoke_key(world: World, session: AsyncSession) -> Call:
    key, _ = await make_api_key(session, world.account_a)
    await session.commit()
    return Call(path={"keyId": str(key.id)})
