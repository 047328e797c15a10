"""Business rules of accounts and users. Services flush; the caller owns the transaction."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.identity import repository
from nubo.identity.auth import ensure_can_manage
from nubo.identity.principal import Actor
from nubo.identity.schemas import (
    AccountCreate,
    AccountUpdate,
    ProfileEdit,
    SignupIn,
    UserCreate,
)
from nubo.kit.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable
from nubo.kit.pagination import PageParams, page_by_creation
from nubo.kit.types import utcnow
from nubo.models import Account, Role, User
from nubo.platform import Platform

PLATFORM_ACCOUNT_EMAIL = "operators@nubo.invalid"
T = TypeVar("T")


async def _flush_unique(session: AsyncSession, what: str) -> None:
    # Two racing requests both pass the pre-check; the live-email index settles it.
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"{what} is already in use", code="email-taken") from exc


async def _ensure_free(
    session: AsyncSession, model: type[User] | type[Account], email: str
) -> None:
    if await repository.email_taken(session, model, email):
        raise Conflict(f"{email} is already in use", code="email-taken")


async def _hash(platform: Platform, password: str) -> str:
    return await asyncio.to_thread(platform.hasher.hash, password)


async def signup(session: AsyncSession, platform: Platform, data: SignupIn) -> tuple[Account, User]:
    await _ensure_free(session, Account, data.email)
    await _ensure_free(session, User, data.email)
    account = Account(name=data.account_name, email=data.email)
    session.add(account)
    await _flush_unique(session, data.email)
    user = User(
        account_id=account.id,
        name=data.name,
        email=data.email,
        password_hash=await _hash(platform, data.password),
        role=Role.admin,
    )
    session.add(user)
    await _flush_unique(session, data.email)
    return account, user


async def get_account(session: AsyncSession, actor: Actor, account_id: uuid.UUID) -> Account:
    stmt = repository.readable_accounts(actor).where(Account.id == account_id)
    return await _one_or_404(session, stmt, "account")


async def create_user(
    session: AsyncSession, platform: Platform, actor: Actor, data: UserCreate
) -> User:
    account_id = data.account_id or actor.account_id
    account = await get_account(session, actor, account_id)
    ensure_can_manage(actor, account.id)
    if data.role is Role.operator and actor.role is not Role.operator:
        raise Forbidden("only operators create operators", code="operator-required")
    if data.role is Role.operator and not account.is_platform:
        # An operator reads every account: inside a customer account it would be a breach.
        raise Conflict("operators belong to the platform account only; create an admin or "
                       "member here", code="operator-outside-platform")
    await _ensure_free(session, User, data.email)
    user = User(
        account_id=account.id,
        name=data.name,
        email=data.email,
        password_hash=await _hash(platform, data.password),
        role=data.role,
    )
    session.add(user)
    await _flush_unique(session, data.email)
    return user


async def _one_or_404(session: AsyncSession, stmt: Select[T], what: str) -> T:
    found = (await session.execute(stmt)).scalar_one_or_none()
    if found is None:
        raise NotFound(f"{what} not found")
    return found


async def user_by_email(session: AsyncSession, actor: Actor, email: str) -> User:
    stmt = repository.readable_users(actor).where(User.email == email.strip().lower())
    return await _one_or_404(session, stmt, "user")


async def users_of_account(
    session: AsyncSession, actor: Actor, account_id: uuid.UUID, params: PageParams
) -> list[User]:
    await get_account(session, actor, account_id)
    stmt = repository.readable_users(actor).where(User.account_id == account_id)
    return await page_by_creation(session, stmt, params, User)


async def delete_user(
    session: AsyncSession, actor: Actor, user_id: uuid.UUID, account_id: uuid.UUID | None = None
) -> None:
    """Soft delete; with `account_id`, a user of another account is not found."""
    stmt = repository.readable_users(actor).where(User.id == user_id)
    if account_id is not None:
        stmt = stmt.where(User.account_id == account_id)
    user = await _one_or_404(session, stmt, "user")
    ensure_can_manage(actor, user.account_id, "user")
    if user.role is Role.admin:
        await repository.lock_account(session, user.account_id)
        if await repository.count_admins(session, user.account_id) <= 1:
            raise Conflict("the last admin of an account cannot be deleted", code="last-admin")
    user.deleted_at = utcnow()
    await repository.revoke_user_tokens(session, [user.id])
    await session.flush()


async def edit_profile(
    session: AsyncSession, platform: Platform, caller: Actor, data: ProfileEdit
) -> tuple[User, bool]:
    """Apply the changes; True when the password changed (every earlier session ended).

    Changing the email or the password takes the current password, so that a stolen access
    token alone cannot take the account over. Fields equal to what is stored change nothing.
    """
    user = await repository.active_user(session, caller.id)
    if user is None:  # deleted between the token check and this transaction
        raise Unauthorized("the access token is no longer valid", code="invalid-token")
    new_email = data.email if data.email is not None and data.email != user.email else None
    new_name = data.name if data.name is not None and data.name != user.name else None
    if new_email is not None or data.password is not None:
        await _check_current_password(platform, user, data.current_password,
                                      "email" if data.password is None else "password")
    if new_email is not None:
        await _ensure_free(session, User, new_email)
        user.email = new_email
    if new_name is not None:
        user.name = new_name
    if data.password is not None:
        user.password_hash = await _hash(platform, data.password)
        # Every access token minted before now dies, and every refresh token with it.
        user.token_version += 1
        await repository.revoke_user_tokens(session, [user.id])
    if new_email is None and new_name is None and data.password is None:
        return user, False  # nothing to change: not even updated_at moves
    user.updated_at = utcnow()
    await _flush_unique(session, user.email)
    return user, data.password is not None


async def _check_current_password(
    platform: Platform, user: User, current_password: str | None, what: str
) -> None:
    if current_password is None:
        raise Unprocessable(
            f"current_password is required to change the {what}",
            code="current-password-required",
        )
    ok = await asyncio.to_thread(platform.hasher.verify, current_password, user.password_hash)
    if not ok:
        raise Forbidden("the current password is wrong", code="wrong-password")


async def create_account(session: AsyncSession, data: AccountCreate) -> Account:
    await _ensure_free(session, Account, data.email)
    account = Account(name=data.name, email=data.email)
    session.add(account)
    await _flush_unique(session, data.email)
    return account


async def update_account(
    session: AsyncSession, actor: Actor, account_id: uuid.UUID, data: AccountUpdate
) -> Account:
    account = await get_account(session, actor, account_id)
    ensure_can_manage(actor, account.id)
    if data.status is not None and actor.role is not Role.operator:
        raise Forbidden("only operators change an account's status", code="operator-required")
    changed = False
    if data.email is not None and data.email != account.email:
        await _ensure_free(session, Account, data.email)
        account.email, changed = data.email, True
    if data.name is not None and data.name != account.name:
        account.name, changed = data.name, True
    if data.status is not None and data.status != account.status:
        account.status, changed = data.status, True
    if changed:  # a body that changes nothing leaves updated_at alone
        account.updated_at = utcnow()
        await _flush_unique(session, account.email)
    return account


async def account_names(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Names of accounts, deleted ones too (their invoices are kept): for operators' lists."""
    if not ids:
        return {}
    rows = await session.execute(select(Account.id, Account.name).where(Account.id.in_(ids)))
    return {row.id: row.name for row in rows}


async def account_by_email(session: AsyncSession, actor: Actor, email: str) -> Account:
    stmt = repository.readable_accounts(actor).where(Account.email == email.strip().lower())
    return await _one_or_404(session, stmt, "account")


async def list_accounts(
    session: AsyncSession, actor: Actor, params: PageParams, q: str | None = None
) -> list[Account]:
    """Oldest first; `q` keeps the accounts whose name or email contains it."""
    stmt = repository.readable_accounts(actor)
    if q is not None and q.strip():
        stmt = stmt.where(repository.account_matches(q))
    return await page_by_creation(session, stmt, params, Account)


async def delete_account(session: AsyncSession, actor: Actor, account_id: uuid.UUID) -> Account:
    account = await get_account(session, actor, account_id)
    if account.is_platform:
        raise Conflict("the platform account cannot be deleted", code="platform-account")
    now = utcnow()
    account.deleted_at = now
    user_ids = select(User.id).where(User.account_id == account.id)
    await repository.revoke_user_tokens(session, user_ids)
    for hook in ACCOUNT_DELETED_HOOKS:
        await hook(session, account.id)
    await session.flush()
    return account


async def create_operator(
    session: AsyncSession, platform: Platform, name: str, email: str, password: str
) -> User:
    """Bootstrap: the first operator, in the platform account (made on first use)."""
    stmt = select(Account).where(Account.is_platform.is_(True), Account.deleted_at.is_(None))
    account = (await session.execute(stmt)).scalar_one_or_none()
    if account is None:
        account = Account(name="Nubo operators", email=PLATFORM_ACCOUNT_EMAIL, is_platform=True)
        session.add(account)
        await session.flush()
    await _ensure_free(session, User, email)
    user = User(
        account_id=account.id,
        name=name,
        email=email,
        password_hash=await _hash(platform, password),
        role=Role.operator,
    )
    session.add(user)
    await _flush_unique(session, email)
    return user


# Other domains register what must happen when an account goes (cancel subscriptions, ...).
AccountDeletedHook = Callable[[AsyncSession, uuid.UUID], Awaitable[None]]
ACCOUNT_DELETED_HOOKS: list[AccountDeletedHook] = []
