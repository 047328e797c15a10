"""Signing in and posting forms the way a browser does, for the fast page tests."""

from __future__ import annotations

import re
import uuid

from httpx import AsyncClient, Response
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.identity import sessions
from nubo.models import User
from nubo.platform import Platform
from nubo.web.session import CSRF_FIELD, csrf_for

ORIGIN = {"Origin": "http://nubo.test"}
_CSRF = re.compile(rf'name="{CSRF_FIELD}" value="([^"]+)"')


def csrf_in(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


async def post_form(
    client: AsyncClient, page: str, action: str, data: dict[str, str]
) -> Response:
    """Open `page`, then post its form to `action` with the page's CSRF token."""
    shown = await client.get(page)
    return await client.post(
        action, data={CSRF_FIELD: csrf_in(shown.text), **data}, headers=ORIGIN
    )


async def browser_session(
    session: AsyncSession, platform: Platform, user: User
) -> tuple[str, str]:
    """A signed-in browser's session cookie and CSRF token for `user`."""
    family = uuid.uuid4()
    tokens = await sessions.issue_tokens(session, platform, user, family=family)
    await session.commit()
    return tokens.refresh_token, csrf_for(platform, str(family))
