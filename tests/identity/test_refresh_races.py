"""Refresh-token rotation under truly concurrent requests, on both databases.

These cannot run inside the rolled-back test transaction: each request needs its own
connection and commit. They use an app on the real engine, a user of their own, and delete
what they committed at the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import delete, update

from nubo.app import create_app
from nubo.identity.sessions import issue_tokens
from nubo.kit.types import utcnow
from nubo.models import Account, RefreshToken, Role, User
from tests.conftest import make_settings
from tests.fixtures.world import make_account, make_user

TABS = 4


@dataclass
class Live:
    app: Any
    client: AsyncClient
    user: User

    async def refresh_token(self) -> str:
        async with self.app.state.sessionmaker() as s:
            pair = await issue_tokens(s, self.app.state.platform, self.user)
            await s.commit()
        return pair.refresh_token

    async def refresh(self, token: str) -> Any:
        return await self.client.post("/api/auth/refresh", json={"refresh_token": token})


@pytest.fixture
async def live(database_url: str, data_dir, engine) -> AsyncIterator[Live]:
    app = create_app(make_settings(database_url, data_dir, db_pool_size=TABS))
    platform = app.state.platform
    async with app.state.sessionmaker() as s:
        account = await make_account(s)
        user = await make_user(s, platform, account, Role.member)
        await s.commit()
    transport = ASGITransport(app=app, client=("203.0.113.9", 40000))
    async with AsyncClient(transport=transport, base_url="http://nubo.test") as client:
        try:
            yield Live(app, client, user)
        finally:
            async with app.state.sessionmaker() as s, s.begin():
                await s.execute(delete(RefreshToken).where(RefreshToken.user_id == user.id))
                await s.execute(delete(User).where(User.id == user.id))
                await s.execute(delete(Account).where(Account.id == account.id))
            await app.state.engine.dispose()


async def test_tabs_refreshing_at_once_all_get_the_same_valid_pair(live: Live):
    token = await live.refresh_token()
    responses = await asyncio.gather(*[live.refresh(token) for _ in range(TABS)])
    assert [r.status_code for r in responses] == [200] * TABS, [r.text for r in responses]
    assert len({r.text for r in responses}) == 1  # one rotation, the same pair for every tab
    pair = responses[0].json()
    profile = await live.client.get(
        "/api/users/profile", headers={"Authorization": f"Bearer {pair['access_token']}"}
    )
    assert profile.status_code == 200
    onward = await live.refresh(pair["refresh_token"])
    assert onward.status_code == 200, onward.text


async def test_reuse_after_the_grace_window_still_revokes_the_family(live: Live):
    token = await live.refresh_token()
    pair = (await live.refresh(token)).json()
    jti = live.app.state.platform.tokens.decode(token, "refresh").jti
    grace = live.app.state.settings.refresh_grace_s
    async with live.app.state.sessionmaker() as s, s.begin():
        await s.execute(update(RefreshToken).where(RefreshToken.id == jti)
                        .values(used_at=utcnow() - timedelta(seconds=grace + 1)))
    late = await asyncio.gather(*[live.refresh(token) for _ in range(TABS)])
    assert {r.status_code for r in late} == {401}
    assert {r.json()["code"] for r in late} <= {"refresh-token-reused", "invalid-token"}
    assert "refresh-token-reused" in {r.json()["code"] for r in late}
    after = await live.refresh(pair["refresh_token"])
    assert after.status_code == 401
    assert after.json()["code"] == "invalid-token"
