"""Business rules of flight records. Services flush; the caller owns the transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from nubo import live
from nubo.fleet import features
from nubo.flights import grants, repository, series
from nubo.flights.schemas import FlightCreate
from nubo.identity.auth import ensure_can_manage, ensure_same_account
from nubo.identity.principal import Actor
from nubo.kit.db import ReadConnection, after_commit
from nubo.kit.errors import Forbidden, NotFound
from nubo.kit.pagination import Key, PageParams, decode_cursor, page_by_creation
from nubo.kit.storage import ObjectStore, StoredObject
from nubo.kit.types import utcnow
from nubo.models import BleedStatus, Flight, FlightEvent, ProcessingStatus, Role


async def target_account(
    read: ReadConnection, actor: Actor, account_id: uuid.UUID | None
) -> uuid.UUID:
    """The account a new flight belongs to: the caller's, or (operators) the one named.
    Read on its own connection: no unit of work is open while an upload streams."""
    if account_id is None:
        if actor.role is Role.operator:
            raise Forbidden(
                "operators must name the account_id the flight belongs to",
                code="account-required",
            )
        return actor.account_id
    ensure_same_account(actor, account_id)
    if not await repository.live_account(read, account_id):
        raise NotFound("account not found")
    return account_id


def new_flight(
    account_id: uuid.UUID, data: FlightCreate, flight_id: uuid.UUID | None = None
) -> Flight:
    return Flight(
        id=flight_id or uuid.uuid4(),
        account_id=account_id,
        registration=data.registration,
        aircraft_type=data.aircraft_type,
        flight_number=data.flight_number,
        origin=data.origin,
        destination=data.destination,
        departure_at=data.departure_at,
        arrival_at=data.arrival_at,
        processing_status=ProcessingStatus.created,
    )


def add_event(
    session: AsyncSession,
    flight: Flight,
    status: ProcessingStatus | str,
    message: str | None = None,
    data: dict[str, Any] | None = None,
) -> FlightEvent:
    event = FlightEvent(flight_id=flight.id, status=str(status), message=message, data=data)
    session.add(event)
    live.announce(session, event, flight.account_id)
    return event


async def create_flight(
    session: AsyncSession,
    account_id: uuid.UUID,
    data: FlightCreate,
    flight_id: uuid.UUID | None = None,
) -> Flight:
    """Insert the flight of `account_id`, as resolved by `target_account`."""
    flight = new_flight(account_id, data, flight_id)
    session.add(flight)
    await session.flush()
    add_event(session, flight, ProcessingStatus.created, "flight recorded")
    await session.flush()
    return flight


async def get_flight(
    session: AsyncSession, actor: Actor, flight_id: uuid.UUID, *, for_update: bool = False
) -> Flight:
    flight = await repository.get_readable(session, actor, flight_id, for_update=for_update)
    if flight is None:
        raise NotFound("flight not found")
    return flight


def list_filters(
    *,
    registration: str | None = None,
    status: ProcessingStatus | None = None,
    bleed_status: BleedStatus | None = None,
    departed_from: datetime | None = None,
    departed_to: datetime | None = None,
    account_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The list's filters that are set, by name (`repository.LIST_FILTERS`)."""
    values: dict[str, Any] = {
        "account_id": account_id,
        "registration": registration.strip().upper() if registration else None,
        "status": status,
        "bleed_status": bleed_status,
        "departed_from": departed_from,
        "departed_to": departed_to,
    }
    return {name: value for name, value in values.items() if value is not None}


async def list_flights(
    session: AsyncSession, actor: Actor, params: PageParams, **filters: Any
) -> list[Flight]:
    """One page of the list as flight records (the exports, which read every column).
    Filters: those of `list_filters`."""
    stmt = repository.filtered(repository.readable_flights(actor), list_filters(**filters))
    return await page_by_creation(session, stmt, params, Flight, newest_first=True)


async def flight_rows(
    read: ReadConnection, actor: Actor, params: PageParams, **filters: Any
) -> list[Row[Any]]:
    """One page of the list, newest first, as `repository.LIST_COLUMNS` rows: what
    `GET /api/flight` answers and the flights page shows (one row more than the page when
    another follows, for `build_page`). Filters: those of `list_filters`."""
    after = None
    if params.cursor:
        at, flight_id = decode_cursor(params.cursor, [Key.instant, Key.uuid])
        after = (at, flight_id)
    return await repository.list_page(
        read, actor, list_filters(**filters), params.limit + 1, after
    )


async def delete_flight(
    session: AsyncSession, store: ObjectStore, actor: Actor, flight_id: uuid.UUID
) -> Flight:
    """Soft-delete the flight; once committed, its features leave the fleet lake (a
    failed removal is retried by the orphan sweep, and fleet queries skip it meanwhile)."""
    flight = await get_flight(session, actor, flight_id, for_update=True)
    ensure_can_manage(actor, flight.account_id, "flight")
    now = utcnow()
    flight.deleted_at = now
    flight.updated_at = now
    grants.clear(session, store, flight)
    account_id, registration = flight.account_id, flight.registration
    after_commit(
        session, lambda: features.remove_flight(store, account_id, registration, flight_id)
    )
    after_commit(session, lambda: series.remove(store, account_id, registration, flight_id))
    await live.reread(session, flight_id, account_id)  # its open streams end
    await session.flush()
    return flight


def record_file(
    session: AsyncSession,
    flight: Flight,
    stored: StoredObject,
    file_format: str,
    file_name: str | None,
) -> str | None:
    """Point the flight at a completely written object and owe it a processing run.

    Returns the key of the file it replaced (to delete after commit), if any. The flight
    moves to `queued` in the same transaction: the row is the job's outbox. The caller
    ends a pending grant (`grants.clear`).
    """
    now = utcnow()
    replaced = flight.file_key if flight.file_key != stored.key else None
    flight.file_key = stored.key
    flight.file_size = stored.size
    flight.file_sha256 = stored.sha256
    flight.file_format = file_format
    flight.file_name = file_name
    flight.file_uploaded_at = now
    flight.processing_run += 1
    flight.processing_attempts = 0
    flight.processing_status = ProcessingStatus.queued
    flight.queued_at = now
    flight.job_token = None
    flight.lease_until = None
    _clear_result(flight)
    flight.updated_at = now
    info = {"run": flight.processing_run, "size": stored.size, "format": file_format}
    add_event(session, flight, ProcessingStatus.uploaded, "data file stored", info)
    add_event(
        session,
        flight,
        ProcessingStatus.queued,
        "processing queued",
        {"run": flight.processing_run},
    )
    return replaced


def _clear_result(flight: Flight) -> None:
    flight.bleed_status = None
    flight.integrity_score = None
    flight.engine_scores = None
    flight.findings = None
    flight.phases = None
    flight.model_version = None
    flight.rows_read = flight.rows_used = None
    flight.error_code = None
    flight.error_message = None
    flight.processed_at = None
