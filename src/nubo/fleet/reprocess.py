"""Reprocessing: every processed flight of a scope re-run with the current model, in flight
order per aircraft, so each flight sees the trend of the re-run flights before it.

`start` records a `Reprocessing` and one row per aircraft (the unit of work handed to the
job system: one job per aircraft, the aircraft spread over the workers); the job
(`fleet.tasks.reprocess_aircraft`) claims its row with a lease, re-runs the flights after
the row's cursor one by one, each committed with the cursor's advance, and refolds the
aircraft's trend once at the end. A job that dies leaves the cursor at the last flight
done; the sweeper (or the queue's retry) hands the row to another job, which goes on from
there. A run that was interrupted is resumed by starting the same scope again. Re-running a
flight with the same model and the same trend before it gives the same result, so running
a reprocessing twice leaves the same trend.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from nubo.fleet import repository
from nubo.fleet import trend as fleet_trend
from nubo.kit.db import after_commit
from nubo.kit.errors import NotFound
from nubo.kit.jobs import JobQueue
from nubo.kit.types import utcnow
from nubo.models import Account, Flight, Reprocessing, ReprocessingAircraft


@dataclass(frozen=True, slots=True)
class Started:
    reprocessing: Reprocessing
    owed: list[uuid.UUID]  # the aircraft rows a job must be deferred for
    resumed: bool


@dataclass(frozen=True, slots=True)
class Progress:
    reprocessing: Reprocessing
    flights_done: int
    aircraft_done: int


def in_flight_order(flights: list[Flight]) -> list[Flight]:
    return sorted(flights, key=lambda f: (fleet_trend.flown_at(f), str(f.id)))


REPROCESS = "fleet.reprocess"


async def defer_rows(queue: JobQueue, row_ids: list[uuid.UUID]) -> int:
    """One job per aircraft row; the sweeper backs each up."""
    deferred = 0
    for row_id in row_ids:
        deferred += await queue.defer_quietly(REPROCESS, row_id=str(row_id))
    return deferred


async def start(
    session: AsyncSession,
    account_id: uuid.UUID | None,
    registration: str | None,
    created_by: uuid.UUID | None = None,
    queue: JobQueue | None = None,
) -> Started:
    """A reprocessing of the scope with the current model: the unfinished one of the same
    scope and model if there is one (resumed), else a new one. With a queue, its aircraft
    are handed to the job system once the unit commits."""
    started = await _start(session, account_id, registration, created_by)
    if queue is not None and started.owed:
        owed = started.owed
        after_commit(session, lambda: defer_rows(queue, owed))
    return started


async def _start(
    session: AsyncSession,
    account_id: uuid.UUID | None,
    registration: str | None,
    created_by: uuid.UUID | None,
) -> Started:
    registration = registration.strip().upper() if registration else None
    if account_id is not None:
        account = await session.get(Account, account_id)
        if account is None or account.deleted_at is not None:
            raise NotFound("account not found")
    version = fleet_trend.model_version()
    found = await repository.unfinished_reprocessing(session, account_id, registration, version)
    if found is not None:
        rows = await repository.unfinished_rows(session, found.id)
        return Started(found, [r.id for r in rows], resumed=True)
    run = Reprocessing(account_id=account_id, registration=registration, model_version=version,
                       created_by=created_by)
    session.add(run)
    await session.flush()
    rows = []
    for aircraft in await repository.aircraft_in_scope(session, account_id, registration):
        flights = await repository.processed_flights(
            session, aircraft.account_id, aircraft.registration
        )
        row = ReprocessingAircraft(
            reprocessing_id=run.id, aircraft_id=aircraft.id, flights_total=len(flights)
        )
        session.add(row)
        rows.append(row)
        run.flights_total += len(flights)
    run.aircraft_total = len(rows)
    if not rows:
        run.finished_at = utcnow()
    await session.flush()
    return Started(run, [r.id for r in rows], resumed=False)


async def progress(session: AsyncSession, reprocessing_id: uuid.UUID) -> Progress:
    run = await session.get(Reprocessing, reprocessing_id)
    if run is None:
        raise NotFound("reprocessing not found")
    await session.refresh(run)  # a poller re-reads what the jobs wrote
    flights, aircraft = await repository.reprocessing_progress(session, reprocessing_id)
    return Progress(run, flights, aircraft)


async def close_if_done(session: AsyncSession, reprocessing_id: uuid.UUID) -> None:
    """Mark the reprocessing finished once no aircraft of it is left."""
    if await repository.unfinished_rows(session, reprocessing_id):
        return
    run = await session.get(Reprocessing, reprocessing_id, with_for_update=True)
    if run is not None and run.finished_at is None:
        run.finished_at = utcnow()
        await session.flush()
