"""The reprocessing job of one aircraft and the sweeper that keeps its rows moving
(see fleet.reprocess)."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from nubo.fleet import features, repository, reprocess
from nubo.fleet import trend as fleet_trend
from nubo.flights import repository as flight_repository
from nubo.flights import series as flight_series
from nubo.flights.analysis import Outcome
from nubo.flights.tasks import QUEUE, Work, analyze_and_store, apply_outcome
from nubo.kit import jobs
from nubo.kit.jobs import JobContext
from nubo.kit.types import utcnow
from nubo.models import Aircraft, Flight, ProcessingStatus, ReprocessingAircraft

log = logging.getLogger("nubo.fleet.tasks")

SWEEP = "fleet.reprocess-sweep"


def _lease(ctx: JobContext) -> timedelta:
    return timedelta(seconds=ctx.settings.jobs_lease_s)


@jobs.task(reprocess.REPROCESS, queue=QUEUE, lock=lambda kw: f"reprocess:{kw['row_id']}")
async def reprocess_aircraft(ctx: JobContext, row_id: str) -> None:
    row_uuid, token = uuid.UUID(row_id), uuid.uuid4()
    async with ctx.unit() as session:
        if not await repository.claim_row(session, row_uuid, token, _lease(ctx)):
            return  # finished, or another job is on it
        row = await session.get(ReprocessingAircraft, row_uuid)
        aircraft = await session.get(Aircraft, row.aircraft_id) if row else None
        if row is None or aircraft is None:
            return
        run_id, aircraft_id = row.reprocessing_id, aircraft.id
        flights = reprocess.in_flight_order(
            await repository.processed_flights(session, aircraft.account_id, aircraft.registration)
        )
        if row.after_flown_at is not None:
            cursor = (row.after_flown_at, str(row.after_flight_id))
            flights = [f for f in flights if (fleet_trend.flown_at(f), str(f.id)) > cursor]
    refold: fleet_trend.Refold | None = None
    for flight in flights:
        if refold is None:
            async with ctx.unit() as session:
                refold = await fleet_trend.refold_before(session, aircraft_id, flight)
        when = fleet_trend.flown_at(flight)
        outcome = await analyze_and_store(ctx, _work(flight, refold.at(when)))
        async with ctx.unit() as session:
            if not await repository.advance_row(session, row_uuid, token, _lease(ctx), when,
                                                flight.id):
                log.info("reprocessing row %s: claim lost, stopping", row_id)
                return
            recorded = await _record(session, aircraft_id, flight, outcome)
        if not recorded:
            refold = None  # the flight changed meanwhile: read the trend afresh
        elif outcome.result is not None and fleet_trend.counts(outcome.result):
            refold.add(when, outcome.result.residuals)
    async with ctx.unit() as session:
        if not await repository.finish_row(session, row_uuid, token):
            return
        locked = await session.get(Aircraft, aircraft_id, with_for_update=True)
        if locked is not None:
            await fleet_trend.refresh(session, locked)
        await reprocess.close_if_done(session, run_id)


def _work(flight: Flight, state: fleet_trend.TrendState | None) -> Work:
    return Work(
        key=flight.file_key,
        aircraft_type=flight.aircraft_type,
        trend_state=state,
        feature_key=features.feature_key(
            flight.account_id, flight.registration, fleet_trend.flown_at(flight), flight.id
        ),
        series_key=flight_series.series_key(flight.account_id, flight.registration, flight.id),
    )


async def _record(
    session: AsyncSession, aircraft_id: uuid.UUID, flight: Flight, outcome: Outcome
) -> bool:
    """Write the re-run's result, unless the flight changed since it was read (deleted, a
    new file, being processed): then its own job has the last word."""
    current = await flight_repository.flight_by_id(session, flight.id)
    if (
        current.deleted_at is not None
        or current.processing_status is not ProcessingStatus.processed
        or current.processing_run != flight.processing_run
    ):
        return False
    note = f"reprocessed with {fleet_trend.model_version()}"
    await apply_outcome(session, current, outcome, current.processing_run, note=note)
    await fleet_trend.put_point(session, aircraft_id, current, outcome.result)
    await session.flush()
    return True


@jobs.periodic(SWEEP, every_s=None)
async def sweep(ctx: JobContext) -> int:
    """Re-defer every aircraft row of an unfinished reprocessing that no job is working on."""
    now = utcnow()
    async with ctx.unit() as session:
        owed = await repository.owed_rows(
            session, now, now - timedelta(seconds=ctx.settings.jobs_requeue_after_s)
        )
    if owed:
        log.info("re-deferring %d reprocessing row(s)", len(owed))
    return await reprocess.defer_rows(ctx.queue, owed)
