"""Login, refresh-token rotation and logout."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from nubo.identity import repository
from nubo.identity.principal import Principal
from nubo.identity.schemas import LoginIn, TokenPair
from nubo.kit.db import ReadConnection, Standalone
from nubo.kit.errors import TooManyRequests, Unauthorized
from nubo.kit.security import InvalidToken
from nubo.kit.types import utcnow
from nubo.models import RefreshToken
from nubo.platform import Platform


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
    *,
    jti: uuid.UUID | None = None,
) -> TokenPair:
    family = family or uuid.uuid4()
    jti = jti or uuid.uuid4()
    now = utcnow()
    session.add(
        RefreshToken(
            id=jti,
            user_id=user.id,
            family_id=family,
            issued_at=now,
            expires_at=now + platform.refresh_ttl,
        )
    )
    await session.flush()
    return _pair(platform, user, family, jti, now)


def _pair(
    platform: Platform, user: TokenSubject, family: uuid.UUID, jti: uuid.UUID, now: datetime
) -> TokenPair:
    """The pair of refresh token `jti` issued at `now`: minting it again gives the same
    tokens (the access token's id derives from the refresh token's)."""
    access, _ = platform.tokens.encode(
        sub=user.id,
        typ="access",
        ttl=platform.access_ttl,
        jti=uuid.uuid5(jti, "access"),
        family=family,
        version=user.token_version,
        now=now,
    )
    refresh, _ = platform.tokens.encode(
        sub=user.id, typ="refresh", ttl=platform.refresh_ttl, jti=jti, family=family, now=now
    )
    return TokenPair(
        access_token=access, refresh_token=refresh, expires_in=platform.settings.access_token_ttl_s
    )


async def login(
    session: AsyncSession,
    db: Standalone,
    platform: Platform,
    credentials: LoginIn,
    address: str,
    device_token: str | None = None,
) -> tuple[TokenPair, str]:
    """Check the password, counting attempts per client address and per email, or per device.

    Failures are counted per email for unknown clients, and per device for a client that
    presents the device token of an earlier successful login of this user (OWASP's device
    cookies): a stranger guessing at an email locks out only unknown clients, never the
    user's own devices. Returns the token pair and a fresh device token.

    The counters live in the database and are written on standalone connections, so that a
    failed attempt stays counted although its request rolls back, and every API process sees
    it. No connection is held while the (deliberately slow) hash is checked: the session's
    first statement comes after it.
    """
    email = credentials.email
    async with db.read() as conn:
        candidate = await repository.login_candidate(conn, email)
    user, password_hash = candidate if candidate else (None, None)
    device = _known_device(platform, device_token, user)
    limiter, subject = (
        (platform.login_by_device, device) if device else (platform.login_by_email, email)
    )
    async with db.write() as conn:
        wait = await limiter.retry_after(conn, subject)
        if wait is None:  # an attempt refused for its email does not count for its address
            wait = await platform.login_by_address.hit(conn, address)
    if wait is not None:
        raise TooManyRequests(wait, "too many login attempts; try again later")
    # Argon2 is deliberately slow: keep it off the event loop.
    ok = await asyncio.to_thread(platform.hasher.verify, credentials.password, password_hash)
    async with db.write() as conn:
        if ok and user:
            await limiter.reset(conn, subject)
        else:
            await limiter.hit(conn, subject)
    if not ok or user is None:
        raise Unauthorized("email or password is wrong", code="invalid-credentials")
    new_device, _ = platform.tokens.encode(sub=user.id, typ="device", ttl=platform.device_ttl)
    return await issue_tokens(session, platform, user), new_device


def _known_device(platform: Platform, token: str | None, user: TokenSubject | None) -> str | None:
    """The device's id if `token` is a valid device token of this very user, else None."""
    if token is None or user is None:
        return None
    try:
        claims = platform.tokens.decode(token, "device")
    except InvalidToken:
        return None
    return str(claims.jti) if claims.sub == user.id else None


async def count_signup(db: Standalone, platform: Platform, address: str) -> None:
    """Count a signup attempt of this client address; 429 once it is over its allowance."""
    async with db.write() as conn:
        wait = await platform.signup_by_address.hit(conn, address)
    if wait is not None:
        raise TooManyRequests(wait, "too many signups from this address; try again later")


async def refresh(session: AsyncSession, platform: Platform, token: str) -> TokenPair:
    """Rotate: the token is used once and its successor issued. Presented again within the
    grace window (two tabs refreshing at once, a retried request), it gets that same
    successor; later, it is a stolen token and its whole family is revoked."""
    try:
        claims = platform.tokens.decode(token, "refresh")
    except InvalidToken as exc:
        raise Unauthorized("the refresh token is not valid", code="invalid-token") from exc
    now, successor = utcnow(), uuid.uuid4()
    claimed = await repository.claim_refresh_token(session, claims.jti, successor, now)
    stored = await repository.refresh_token(session, claims.jti)
    if stored is None or stored.revoked_at is not None:
        raise Unauthorized("the refresh token has been revoked", code="invalid-token")
    user = await repository.active_user(session, stored.user_id)
    if user is None:
        raise Unauthorized("the user can no longer sign in", code="invalid-token")
    if claimed:
        return await issue_tokens(session, platform, user, stored.family_id, jti=successor)
    return await _replay(session, platform, user, stored, now)


async def _replay(
    session: AsyncSession, platform: Platform, user: TokenSubject, used: RefreshToken,
    now: datetime,
) -> TokenPair:
    grace = timedelta(seconds=platform.settings.refresh_grace_s)
    if used.used_at is not None and used.replaced_by is not None and now - used.used_at <= grace:
        issued = await repository.refresh_token(session, used.replaced_by)
        if issued is not None and issued.revoked_at is None:
            return _pair(platform, user, used.family_id, issued.id, issued.issued_at)
    await repository.revoke_family(session, used.family_id)
    raise RefreshReuse("the refresh token was already used; every session of it is revoked")


async def browser_session(
    read: ReadConnection, platform: Platform, token: str
) -> tuple[Principal, uuid.UUID] | None:
    """The user and token family of a browser session cookie (a refresh token of a login that
    is never rotated), or None once it is revoked: logout, a password change elsewhere, a
    deleted user or account end it at once."""
    try:
        claims = platform.tokens.decode(token, "refresh")
    except InvalidToken:
        return None
    if claims.fam is None:
        return None
    async with read() as conn:
        user = await repository.session_principal(conn, claims.jti)
    return None if user is None else (user, claims.fam)


async def logout(session: AsyncSession, platform: Platform, token: str) -> None:
    try:
        claims = platform.tokens.decode(token, "refresh")
    except InvalidToken as exc:
        raise Unauthorized("the refresh token is not valid", code="invalid-token") from exc
    stored = await repository.refresh_token(session, claims.jti)
    if stored is not None:
        await repository.revoke_family(session, stored.family_id)
