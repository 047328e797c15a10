"""Login, refresh-token rotation and logout."""

from __future__ import annotations

import asyncio
import uuid
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from nubo.identity import repository
from nubo.identity.schemas import TokenPair
from nubo.kit.db import Standalone
from nubo.kit.errors import TooManyRequests, Unauthorized
from nubo.kit.platform import Platform
from nubo.kit.security import InvalidToken
from nubo.kit.types import utcnow
from nubo.models import RefreshToken


class RefreshReuse(Unauthorized):
    code = "refresh-token-reused"
    commit_changes = True  # the family revocation must survive the 401


class TokenSubject(Protocol):
    """What tokens are issued for: a `User` row or a `Principal` both fit."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def token_version(self) -> int: ...


async def issue_tokens(
    session: AsyncSession,
    platform: Platform,
    user: TokenSubject,
    family: uuid.UUID | None = None,
) -> TokenPair:
    family = family or uuid.uuid4()
    access, _ = platform.tokens.encode(
        sub=user.id,
        typ="access",
        ttl=platform.access_ttl,
        family=family,
        version=user.token_version,
    )
    refresh, claims = platform.tokens.encode(
        sub=user.id, typ="refresh", ttl=platform.refresh_ttl, family=family
    )
    session.add(
        RefreshToken(id=claims.jti, user_id=user.id, family_id=family, expires_at=claims.exp)
    )
    await session.flush()
    return TokenPair(
        access_token=access, refresh_token=refresh, expires_in=platform.settings.access_token_ttl_s
    )


async def login(
    session: AsyncSession,
    db: Standalone,
    platform: Platform,
    email: str,
    password: str,
    address: str,
) -> TokenPair:
    """Check the password, counting attempts per email and per client address.

    The counters live in the database and are written on standalone connections, so that a
    failed attempt stays counted although its request rolls back, and every API process sees
    it. No connection is held while the (deliberately slow) hash is checked: the session's
    first statement comes after it.
    """
    by_email, by_address = platform.login_by_email, platform.login_by_address
    async with db.write() as conn:
        wait = await by_email.retry_after(conn, email)
        if wait is None:  # an attempt refused for its email does not count for its address
            wait = await by_address.hit(conn, address)
    if wait is not None:
        raise TooManyRequests(wait, "too many login attempts; try again later")
    async with db.read() as conn:
        candidate = await repository.login_candidate(conn, email)
    user, password_hash = candidate if candidate else (None, None)
    # Argon2 is deliberately slow: keep it off the event loop.
    ok = await asyncio.to_thread(platform.hasher.verify, password, password_hash)
    async with db.write() as conn:
        if ok and user:
            await by_email.reset(conn, email)
        else:
            await by_email.hit(conn, email)
    if not ok or user is None:
        raise Unauthorized("email or password is wrong", code="invalid-credentials")
    return await issue_tokens(session, platform, user)


async def refresh(session: AsyncSession, platform: Platform, token: str) -> TokenPair:
    try:
        claims = platform.tokens.decode(token, "refresh")
    except InvalidToken as exc:
        raise Unauthorized("the refresh token is not valid", code="invalid-token") from exc
    stored = await repository.refresh_token(session, claims.jti)
    if stored is None or stored.revoked_at is not None:
        raise Unauthorized("the refresh token has been revoked", code="invalid-token")
    if stored.used_at is not None:
        await repository.revoke_family(session, stored.family_id)
        raise RefreshReuse("the refresh token was already used; every session of it is revoked")
    user = await repository.active_user(session, stored.user_id)
    if user is None:
        raise Unauthorized("the user can no longer sign in", code="invalid-token")
    stored.used_at = utcnow()
    return await issue_tokens(session, platform, user, family=stored.family_id)


async def logout(session: AsyncSession, platform: Platform, token: str) -> None:
    try:
        claims = platform.tokens.decode(token, "refresh")
    except InvalidToken as exc:
        raise Unauthorized("the refresh token is not valid", code="invalid-token") from exc
    stored = await repository.refresh_token(session, claims.jti)
    if stored is not None:
        await repository.revoke_family(session, stored.family_id)
