"""Queries of the identity domain; tenant scoping lives in the `readable_*` statements."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, bindparam, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from nubo.identity.principal import PRINCIPAL_FIELDS, Actor, Principal
from nubo.kit.types import utcnow
from nubo.models import Account, AccountStatus, ApiKey, RefreshToken, Role, User


def readable_accounts(actor: Actor) -> Select[Account]:
    stmt = select(Account).where(Account.deleted_at.is_(None))
    if actor.role is not Role.operator:
        stmt = stmt.where(Account.id == actor.account_id)
    return stmt


def account_matches(text: str) -> ColumnElement[bool]:
    """Name or email containing `text`, case-insensitively (LIKE's wildcards are literal)."""
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    return func.lower(Account.name).like(pattern, escape="\\") | Account.email.like(
        pattern, escape="\\"
    )


def readable_api_keys(actor: Actor) -> Select[ApiKey]:
    """Unrevoked keys of the caller's account (operators: of every account)."""
    stmt = select(ApiKey).where(ApiKey.revoked_at.is_(None))
    if actor.role is not Role.operator:
        stmt = stmt.where(ApiKey.account_id == actor.account_id)
    return stmt


def readable_users(actor: Actor) -> Select[User]:
    stmt = select(User).where(User.deleted_at.is_(None))
    if actor.role is not Role.operator:
        stmt = stmt.where(User.account_id == actor.account_id)
    return stmt


# Built once: this runs on every authenticated request, and building a statement costs
# more than executing the cached compiled form.
_ACTIVE_USER = (
    select(User)
    .join(Account, Account.id == User.account_id)
    .where(
        User.id == bindparam("user_id"),
        User.deleted_at.is_(None),
        Account.deleted_at.is_(None),
        Account.status == AccountStatus.active,
    )
)


_users, _accounts = User.__table__.c, Account.__table__.c
_PRINCIPAL_COLUMNS = tuple(_users[name] for name in PRINCIPAL_FIELDS)


def _live_users(*columns: ColumnElement[Any]) -> Select[Any]:
    """Table columns of users who may act: live, in a live and active account."""
    return (
        select(*columns)
        .join_from(User.__table__, Account.__table__, _accounts.id == _users.account_id)
        .where(
            _users.deleted_at.is_(None),
            _accounts.deleted_at.is_(None),
            _accounts.status == AccountStatus.active,
        )
    )


_tokens = RefreshToken.__table__.c
# The session (refresh-token family) an access token belongs to must not have been ended:
# logout, reuse detection and a password change revoke its refresh tokens, and from then on
# its access tokens stop too, in the same statement as the caller read.
_SESSION_ENDED = (
    select(_tokens.id)
    .where(_tokens.family_id == bindparam("family_id"), _tokens.revoked_at.is_not(None))
    .exists()
)
_ACTIVE_PRINCIPAL = _live_users(*_PRINCIPAL_COLUMNS).where(
    _users.id == bindparam("user_id"), ~_SESSION_ENDED
)
_LOGIN_CANDIDATE = _live_users(*_PRINCIPAL_COLUMNS, _users.password_hash).where(
    _users.email == bindparam("email")
)


async def active_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The user behind a token, only while both user and account are live and enabled."""
    result = await session.execute(_ACTIVE_USER, {"user_id": user_id})
    return result.scalar_one_or_none()


_SESSION_PRINCIPAL = _live_users(*_PRINCIPAL_COLUMNS).join(
    RefreshToken.__table__, RefreshToken.__table__.c.user_id == _users.id
).where(
    RefreshToken.__table__.c.id == bindparam("jti"),
    RefreshToken.__table__.c.revoked_at.is_(None),
    RefreshToken.__table__.c.expires_at > bindparam("now"),
)


async def session_principal(conn: AsyncConnection, jti: uuid.UUID) -> Principal | None:
    """The live user whose browser session is the refresh token `jti`, while it is unrevoked."""
    row = (await conn.execute(_SESSION_PRINCIPAL, {"jti": jti, "now": utcnow()})).first()
    return None if row is None else Principal(*row)


async def active_principal(
    conn: AsyncConnection, user_id: uuid.UUID, family_id: uuid.UUID | None
) -> Principal | None:
    """`active_user` as a plain value (table rows, no ORM identity map or session), while the
    token's session `family_id` has not been ended."""
    params = {"user_id": user_id, "family_id": family_id}
    row = (await conn.execute(_ACTIVE_PRINCIPAL, params)).first()
    return None if row is None else Principal(*row)


async def login_candidate(conn: AsyncConnection, email: str) -> tuple[Principal, str] | None:
    """The live user with this email and their password hash, read outside any session."""
    row = (await conn.execute(_LOGIN_CANDIDATE, {"email": email})).first()
    return None if row is None else (Principal(*row[:-1]), row[-1])


async def email_taken(session: AsyncSession, model: type[User] | type[Account], email: str) -> bool:
    stmt = select(model.id).where(model.email == email, model.deleted_at.is_(None)).limit(1)
    return (await session.execute(stmt)).first() is not None


async def count_admins(session: AsyncSession, account_id: uuid.UUID) -> int:
    stmt = select(func.count()).where(
        User.account_id == account_id, User.role == Role.admin, User.deleted_at.is_(None)
    )
    return int((await session.execute(stmt)).scalar_one())


async def lock_account(session: AsyncSession, account_id: uuid.UUID) -> None:
    """Serialise admin-count checks per account (a no-op lock on SQLite, which has one writer)."""
    stmt = select(Account.id).where(Account.id == account_id).with_for_update()
    await session.execute(stmt)


async def refresh_token(session: AsyncSession, jti: uuid.UUID) -> RefreshToken | None:
    stmt = select(RefreshToken).where(RefreshToken.id == jti).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def claim_refresh_token(
    session: AsyncSession, jti: uuid.UUID, successor: uuid.UUID, now: datetime
) -> bool:
    """Mark a live, unused refresh token used and name its successor; False when it is not
    (used by a concurrent request, revoked or unknown).

    One conditional UPDATE, as the unit's first statement: on PostgreSQL a concurrent claim
    waits on the row and then finds it used; on SQLite it takes the write lock before reading
    anything, so concurrent refreshes queue instead of failing on a stale snapshot.
    """
    stmt = (
        update(RefreshToken)
        .where(
            RefreshToken.id == jti,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(used_at=now, replaced_by=successor)
        .execution_options(synchronize_session=False)
    )
    result = cast(CursorResult[Any], await session.execute(stmt))
    return result.rowcount == 1


async def revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def revoke_user_tokens(
    session: AsyncSession, user_ids: Any, *, keep_family: uuid.UUID | None = None
) -> None:
    stmt = update(RefreshToken).where(
        RefreshToken.user_id.in_(user_ids), RefreshToken.revoked_at.is_(None)
    )
    if keep_family is not None:
        stmt = stmt.where(RefreshToken.family_id != keep_family)
    await session.execute(stmt.values(revoked_at=utcnow()))


_keys = ApiKey.__table__.c
# Built once, like the user's: read on every request made with a key. A revoked key, or one
# of a deleted or disabled account, is simply not found.
_LIVE_KEY = (
    select(
        _keys.id, _keys.account_id, _keys.name, _keys.secret_hash, _keys.scopes,
        _keys.created_at, _keys.expires_at, _keys.last_used_at,
    )
    .join_from(ApiKey.__table__, Account.__table__, _accounts.id == _keys.account_id)
    .where(
        _keys.prefix == bindparam("prefix"),
        _keys.revoked_at.is_(None),
        _accounts.deleted_at.is_(None),
        _accounts.status == AccountStatus.active,
    )
)
_TOUCH_KEY = (
    update(ApiKey)
    .where(
        _keys.id == bindparam("key_id"),
        (_keys.last_used_at.is_(None)) | (_keys.last_used_at < bindparam("stale")),
    )
    .values(last_used_at=bindparam("now"))
)


async def live_key(conn: AsyncConnection, prefix: str) -> Any:
    """The unrevoked key with this prefix, in a live and active account, as a plain row."""
    return (await conn.execute(_LIVE_KEY, {"prefix": prefix})).first()


async def touch_key(
    conn: AsyncConnection, key_id: uuid.UUID, now: datetime, stale: datetime
) -> None:
    """Record a use, unless one after `stale` is recorded already (another process did)."""
    await conn.execute(_TOUCH_KEY, {"key_id": key_id, "now": now, "stale": stale})
