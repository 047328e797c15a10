"""API keys: machines' credentials for one account (docs/decisions/identity-api-keys.md).

A key is `nubo_<prefix>_<secret>`: the prefix finds its row, a SHA-256 of the whole key
checks it. The secret is 238 random bits, so a fast hash is as strong as a slow one here and
keeps the check off the request's critical path (no Argon2 per call).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from nubo.identity import repository
from nubo.identity.principal import Actor, Principal
from nubo.identity.schemas import ApiKeyCreate
from nubo.kit.db import ReadConnection, WriteConnection
from nubo.kit.errors import Forbidden, NotFound, TooManyRequests, Unauthorized
from nubo.kit.pagination import PageParams, page_by_creation
from nubo.kit.ratelimit import AttemptLimiter
from nubo.kit.types import utcnow
from nubo.models import ApiKey, Role, Scope

KEY_START = "nubo_"
_ALPHABET = string.ascii_letters + string.digits
_SECRET_CHARS = 40  # log2(62) * 40 = 238 bits
_PREFIX_BYTES = 6  # 12 hex characters: shown in lists to tell keys apart
# A use is recorded at most this often per key: a write per request would double the load
# of a busy ground station for a figure people read to the day.
LAST_USE_RESOLUTION = timedelta(minutes=1)


def is_key(token: str) -> bool:
    return token.startswith(KEY_START)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _prefix_of(token: str) -> str | None:
    """The prefix of a well-formed key, else None (checked before any query)."""
    parts = token.split("_")
    if len(parts) != 3 or parts[0] != "nubo":
        return None
    prefix, secret = parts[1], parts[2]
    well_formed = (
        len(prefix) == 2 * _PREFIX_BYTES
        and all(c in string.hexdigits for c in prefix)
        and len(secret) == _SECRET_CHARS
        and all(c in _ALPHABET for c in secret)
    )
    return prefix.lower() if well_formed else None


def new_key() -> tuple[str, str]:
    """(the whole key, its prefix)."""
    prefix = secrets.token_hex(_PREFIX_BYTES)
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(_SECRET_CHARS))
    return f"{KEY_START}{prefix}_{secret}", prefix


def make_key_row(
    account_id: uuid.UUID, name: str, scopes: Iterable[Scope]
) -> tuple[ApiKey, str]:
    """A new key's row (not added to any session) and the whole key."""
    token, prefix = new_key()
    key = ApiKey(
        account_id=account_id,
        name=name,
        prefix=prefix,
        secret_hash=_hash(token),
        scopes=" ".join(sorted({s.value for s in scopes})),
    )
    return key, token


# ------------------------------------------------------------------ management


async def create_key(
    session: AsyncSession, actor: Actor, data: ApiKeyCreate
) -> tuple[ApiKey, str]:
    """A new key for the caller's account, and its secret (never stored, never shown again)."""
    if actor.role is not Role.admin:
        # A key acts as an admin of one account; an operator's account is the platform's.
        raise Forbidden("only account admins create API keys", code="admin-required")
    key, token = make_key_row(actor.account_id, data.name, data.scopes)
    key.created_by = actor.id
    key.expires_at = data.expires_at
    session.add(key)
    await session.flush()
    return key, token


async def list_keys(session: AsyncSession, actor: Actor, params: PageParams) -> list[ApiKey]:
    return await page_by_creation(session, repository.readable_api_keys(actor), params, ApiKey)


async def revoke_key(session: AsyncSession, actor: Actor, key_id: uuid.UUID) -> ApiKey:
    """Revoke a key: its next request is a 401."""
    stmt = repository.readable_api_keys(actor).where(ApiKey.id == key_id).with_for_update()
    key = (await session.execute(stmt)).scalar_one_or_none()
    if key is None:
        raise NotFound("API key not found")
    if actor.role is Role.member:
        raise Forbidden("account admins only", code="admin-required")
    key.revoked_at = utcnow()
    await session.flush()
    return key


# ------------------------------------------------------------------ authentication


async def key_principal(
    token: str,
    needed: list[str],
    read: ReadConnection,
    write: WriteConnection,
    limiter: AttemptLimiter,
) -> Principal:
    """The principal of a live key that holds every scope in `needed`.

    A route that names no scope is closed to keys (403): people's routes (profile, users,
    accounts, key management) and operators' stay theirs.
    """
    prefix = _prefix_of(token)
    row = None
    if prefix is not None:
        async with read() as conn:
            row = await repository.live_key(conn, prefix)
    now = utcnow()
    if (
        row is None
        or not hmac.compare_digest(row.secret_hash, _hash(token))
        or (row.expires_at is not None and row.expires_at <= now)
    ):
        raise Unauthorized("the API key is not valid, revoked or expired", code="invalid-key")
    await _count_use(row.id, row.last_used_at, now, write, limiter)
    scopes = frozenset(row.scopes.split())
    _check_scopes(needed, scopes)
    return Principal(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        email="",
        role=Role.admin,  # never more than an admin of its account
        token_version=0,
        created_at=row.created_at,
        updated_at=row.created_at,
        scopes=scopes,
    )


def _check_scopes(needed: list[str], held: frozenset[str]) -> None:
    if not needed:
        raise Forbidden("API keys cannot call this route", code="key-not-allowed")
    missing = sorted(set(needed) - held)
    if missing:
        raise Forbidden(
            f"the API key lacks the scope {', '.join(missing)}", code="key-scope-missing"
        )


async def _count_use(
    key_id: uuid.UUID,
    last_used: datetime | None,
    now: datetime,
    write: WriteConnection,
    limiter: AttemptLimiter,
) -> None:
    stale = now - LAST_USE_RESOLUTION
    async with write() as conn:
        wait = await limiter.hit(conn, str(key_id))
        if last_used is None or last_used < stale:
            await repository.touch_key(conn, key_id, now, stale)
    if wait is not None:
        raise TooManyRequests(wait, "this API key made too many requests; slow down")
