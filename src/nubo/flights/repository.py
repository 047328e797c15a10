"""Queries of the flights domain; tenant scoping lives in `readable_flights`."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row, Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.identity.principal import Actor
from nubo.kit.db import ReadConnection
from nubo.kit.types import utcnow
from nubo.models import Account, Flight, FlightEvent, Role


def readable_flights(actor: Actor) -> Select[Any]:
    """Live flights the actor may see: their account's, or every account's for operators."""
    stmt = (
        select(Flight)
        .join(Account, Account.id == Flight.account_id)
        .where(Flight.deleted_at.is_(None), Account.deleted_at.is_(None))
    )
    if actor.role is not Role.operator:
        stmt = stmt.where(Flight.account_id == actor.account_id)
    return stmt


async def get_readable(
    session: AsyncSession, actor: Actor, flight_id: uuid.UUID, *, for_update: bool = False
) -> Flight | None:
    stmt = readable_flights(actor).where(Flight.id == flight_id)
    if for_update:
        # Refreshed even if the session holds the flight already: a decision under the
        # lock must not be made on values read before it (sessions keep them on commit).
        stmt = stmt.with_for_update(of=Flight).execution_options(populate_existing=True)
    flight: Flight | None = (await session.execute(stmt)).scalar_one_or_none()
    return flight


async def lock_readable(session: AsyncSession, actor: Actor, flight_id: uuid.UUID) -> Flight | None:
    """The flight, locked for this unit of work, with its current values (see `touch`)."""
    await touch(session, flight_id)
    return await get_readable(session, actor, flight_id, for_update=True)


Peek = Row[uuid.UUID, uuid.UUID, str | None, str | None, str | None]


async def peek_readable(
    read: ReadConnection, actor: Actor, flight_id: uuid.UUID
) -> Peek | None:
    """The flight's owner and pending grant in one standalone read: what an upload checks
    before a byte is stored, without opening the unit of work that records it."""
    stmt = readable_flights(actor).where(Flight.id == flight_id).with_only_columns(
        Flight.id, Flight.account_id, Flight.pending_key, Flight.pending_name,
        Flight.pending_upload_id,
    )
    async with read() as conn:
        return (await conn.execute(stmt)).first()


async def live_account(read: ReadConnection, account_id: uuid.UUID) -> bool:
    stmt = select(Account.id).where(Account.id == account_id, Account.deleted_at.is_(None))
    async with read() as conn:
        return (await conn.execute(stmt)).first() is not None


async def events_after(
    session: AsyncSession, flight_id: uuid.UUID, after_id: int, limit: int = 500
) -> list[FlightEvent]:
    stmt = (
        select(FlightEvent)
        .where(FlightEvent.flight_id == flight_id, FlightEvent.id > after_id)
        .order_by(FlightEvent.id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars().all())


async def is_live(session: AsyncSession, flight_id: uuid.UUID) -> bool:
    stmt = select(Flight.id).where(Flight.id == flight_id, Flight.deleted_at.is_(None))
    return (await session.execute(stmt)).first() is not None


async def touch(session: AsyncSession, flight_id: uuid.UUID) -> None:
    """Start a writing unit with a write: on PostgreSQL it locks the row (like FOR UPDATE);
    on SQLite it takes the write lock *before* the transaction reads, so a job committing
    in between cannot make the later write fail with a stale snapshot (SQLITE_BUSY).
    Call it as the first statement of a fresh transaction (after a commit)."""
    await session.execute(
        update(Flight)
        .where(Flight.id == flight_id)
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
