"""Queries of the flights domain; tenant scoping lives in `readable_flights`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Row,
    Select,
    and_,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.identity.principal import Actor
from nubo.kit.db import ReadConnection, fetch_rows
from nubo.kit.listing import code_text, instant_text, json_text, uuid_cast_text
from nubo.kit.types import utcnow
from nubo.models import Account, Flight, FlightEvent, ProcessingStatus, Role

Rows = Select[*tuple[Any, ...]]  # a select of any columns


def _readable(stmt: Rows, account_id: Any) -> Rows:
    """Live flights of live accounts; of `account_id` unless it is None (operators)."""
    stmt = stmt.join(Account, Account.id == Flight.account_id).where(
        Flight.deleted_at.is_(None), Account.deleted_at.is_(None)
    )
    if account_id is not None:
        stmt = stmt.where(Flight.account_id == account_id)
    return stmt


def readable_flights(actor: Actor) -> Select[Any]:
    """Live flights the actor may see: their account's, or every account's for operators."""
    return _readable(select(Flight), None if actor.role is Role.operator else actor.account_id)


# The filters of the flights list (`GET /api/flight`, the flights page, the exports): each
# a condition on a value, given as a bound parameter of the filter's name.
LIST_FILTERS: dict[str, Callable[[BindParameter[Any]], ColumnElement[bool]]] = {
    "account_id": lambda value: Flight.account_id == value,
    "registration": lambda value: Flight.registration == value,
    "status": lambda value: Flight.processing_status == value,
    "bleed_status": lambda value: Flight.bleed_status == value,
    "departed_from": lambda value: Flight.departure_at >= value,
    "departed_to": lambda value: Flight.departure_at < value,
}


def filtered(stmt: Rows, values: dict[str, Any]) -> Rows:
    """`stmt` with the LIST_FILTERS named in `values`, on those values."""
    for name, value in values.items():
        stmt = stmt.where(LIST_FILTERS[name](bindparam(name, value)))
    return stmt


# What a list of flights reads: the record of `GET /api/flight` (`schemas.flight_item`, which
# takes them in this order) and what the flights page shows. Columns, not entities: no ORM
# object is built per row; ids, codes, instants and JSON documents as the text the JSON
# writes (kit.listing).
LIST_COLUMNS = (
    uuid_cast_text(Flight.id), uuid_cast_text(Flight.account_id), Flight.registration,
    Flight.aircraft_type, Flight.flight_number, Flight.origin, Flight.destination,
    instant_text(Flight.departure_at), instant_text(Flight.arrival_at),
    code_text(Flight.processing_status),
    Flight.processing_run, code_text(Flight.bleed_status),
    Flight.integrity_score, json_text(Flight.engine_scores), json_text(Flight.findings),
    json_text(Flight.phases), Flight.model_version, Flight.rows_read, Flight.rows_used,
    json_text(Flight.coverage), json_text(Flight.warnings), Flight.error_code,
    Flight.error_message, Flight.file_key, Flight.file_size, Flight.file_sha256,
    Flight.file_format, Flight.file_name, instant_text(Flight.file_uploaded_at),
    instant_text(Flight.processed_at), instant_text(Flight.created_at),
    instant_text(Flight.updated_at),
)


@cache
def _list_page(operator: bool, filters: tuple[str, ...], after: bool) -> Rows:
    """The statement of one page of the list, newest first, every value a bound parameter:
    built once per combination of filters (a few hundred at most), then only executed.
    Built per request, its construction, cache key and result columns cost more than
    reading its rows."""
    stmt: Rows = select(*LIST_COLUMNS)
    stmt = _readable(stmt, None if operator else bindparam("actor_account"))
    for name in filters:
        stmt = stmt.where(LIST_FILTERS[name](bindparam(name)))
    if after:  # kit.pagination's keyset, descending
        at: BindParameter[datetime] = bindparam("after_at")
        stmt = stmt.where(or_(
            Flight.created_at < at,
            and_(Flight.created_at == at, Flight.id < bindparam("after_id")),
        ))
    order = (Flight.created_at.desc(), Flight.id.desc())
    return stmt.order_by(*order).limit(bindparam("limit", type_=Integer))


async def list_page(
    read: ReadConnection,
    actor: Actor,
    values: dict[str, Any],
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Row[Any]]:
    """Up to `limit` LIST_COLUMNS rows of the flights the actor may see, filtered by `values`
    (LIST_FILTERS), newest first, after the (created_at, id) `after`, in one standalone read:
    one statement needs no unit of work around it."""
    operator = actor.role is Role.operator
    params = {**values, "limit": limit}
    if not operator:
        params["actor_account"] = actor.account_id
    if after is not None:
        params["after_at"], params["after_id"] = after
    stmt = _list_page(operator, tuple(sorted(values)), after is not None)
    async with read() as conn:
        return await fetch_rows(conn, stmt, params)


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


async def live_events(session: AsyncSession, ids: list[int]) -> list[tuple[FlightEvent, Any]]:
    """The events `ids` of live flights of live accounts, with their account id (the streams
    they woke check it against their own)."""
    stmt = (
        select(FlightEvent, Flight.account_id)
        .join(Flight, Flight.id == FlightEvent.flight_id)
        .join(Account, Account.id == Flight.account_id)
        .where(FlightEvent.id.in_(ids), Flight.deleted_at.is_(None), Account.deleted_at.is_(None))
    )
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]


def _readable_events(actor: Actor) -> Select[Any]:
    flights = readable_flights(actor).with_only_columns(Flight.id)
    return select(FlightEvent).where(FlightEvent.flight_id.in_(flights.scalar_subquery()))


async def account_events_after(
    session: AsyncSession, actor: Actor, after_id: int, limit: int = 500
) -> list[FlightEvent]:
    """Events of every flight the actor may see, after `after_id`, in id order."""
    stmt = _readable_events(actor).where(FlightEvent.id > after_id).order_by(FlightEvent.id)
    return list((await session.execute(stmt.limit(limit))).scalars().all())


async def newest_event_id(session: AsyncSession) -> int:
    """Where a live-only stream starts: ids are global, so the newest of all will do."""
    found = (await session.execute(select(func.max(FlightEvent.id)))).scalar_one_or_none()
    return int(found or 0)


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


# --------------------------------------------------------------------------- processing


@dataclass(frozen=True, slots=True)
class Claim:
    """One job's hold on one processing run of a flight."""

    flight_id: uuid.UUID
    run: int
    token: uuid.UUID


def _changed_one(result: Any) -> bool:
    return bool(result.rowcount == 1)


def _held(held: Claim) -> Any:
    return and_(
        Flight.id == held.flight_id,
        Flight.processing_run == held.run,
        Flight.job_token == held.token,
        Flight.processing_status == ProcessingStatus.processing,
        Flight.deleted_at.is_(None),
    )


async def still_ours(session: AsyncSession, held: Claim) -> bool:
    """Start the unit that records a result with a write (row lock on PostgreSQL), and only
    while the claim holds: not deleted, not replaced, not taken over."""
    stmt = (
        update(Flight)
        .where(_held(held))
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return _changed_one(await session.execute(stmt))


async def renew_lease(session: AsyncSession, held: Claim, lease: timedelta) -> bool:
    """The job's heartbeat: push its lease on; False once the claim is gone."""
    stmt = (
        update(Flight)
        .where(_held(held))
        .values(lease_until=utcnow() + lease)
        .execution_options(synchronize_session=False)
    )
    return _changed_one(await session.execute(stmt))


async def flight_by_id(session: AsyncSession, flight_id: uuid.UUID) -> Flight:
    return (await session.execute(select(Flight).where(Flight.id == flight_id))).scalar_one()


async def owed_runs(
    session: AsyncSession, now: datetime, queued_before: datetime, limit: int
) -> list[tuple[uuid.UUID, int]]:
    """Runs owed a job: `queued` since before `queued_before`, or `processing` whose lease
    ran out (the job holding it died)."""
    stmt = (
        select(Flight.id, Flight.processing_run)
        .where(
            Flight.deleted_at.is_(None),
            or_(
                and_(
                    Flight.processing_status == ProcessingStatus.queued,
                    Flight.queued_at <= queued_before,
                ),
                and_(
                    Flight.processing_status == ProcessingStatus.processing,
                    Flight.lease_until < now,
                ),
            ),
        )
        .order_by(Flight.queued_at)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]
