"""The processing job of a flight and the sweeper that keeps the outbox honest.

`flights.process(flight_id, run)`:
1. claim: an atomic UPDATE moves the flight of that run from `queued` (or `processing`
   with an expired lease) to `processing` with this job's token and a short lease; no
   claim, no work (another job has it, the file was replaced, or it is already done);
2. download the object to a temporary file and run the analysis off the event loop,
   renewing the lease meanwhile (a heartbeat every third of it). A heartbeat that finds
   the claim gone (the flight deleted, its file replaced, the run taken over) abandons
   the work: nothing is written;
3. finish: record `processed` (result fields) or `failed` (code, message), only if the
   claim still holds. Every step is its own unit of work with its flight event, and no
   unit stays open across the download or the analysis.

Running twice is safe: a second job finds no claim to take. A worker that dies between 1
and 3 stops renewing its lease; the sweeper re-defers the flight once it ran out, and the
next claim takes it over. An object store that cannot be reached puts the run back in the
queue with the cause recorded; the last allowed attempt fails with that cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.bleed.trend import TrendState
from nubo.fleet import features
from nubo.fleet import trend as fleet_trend
from nubo.flights import grants, repository
from nubo.flights import series as flight_series
from nubo.flights.analysis import Outcome, analyze_file
from nubo.flights.repository import Claim
from nubo.flights.schemas import FlightOut
from nubo.flights.service import add_event
from nubo.kit import jobs
from nubo.kit.jobs import JobContext
from nubo.kit.storage import ObjectNotFound, StorageError
from nubo.kit.types import utcnow
from nubo.models import BleedStatus, Flight, ProcessingStatus
from nubo.webhooks import outbox
from nubo.webhooks.outbox import FLIGHT_FAILED, FLIGHT_PROCESSED

log = logging.getLogger("nubo.flights.tasks")

PROCESS = "flights.process"
SWEEP = "flights.sweep"
QUEUE = "flights"
SWEEP_BATCH = 500


async def defer_processing(queue: jobs.JobQueue, flight: Flight) -> bool:
    """Hand a queued flight to the job system (after its commit); the sweeper backs it up."""
    return await queue.defer_quietly(PROCESS, flight_id=str(flight.id), run=flight.processing_run)


@dataclass(frozen=True, slots=True)
class Work:
    """What the analysis needs, read while claiming."""

    key: str | None
    aircraft_type: str | None
    trend_state: TrendState | None
    feature_key: str
    series_key: str


@jobs.task(PROCESS, queue=QUEUE, lock=lambda kw: f"flight:{kw['flight_id']}:{kw['run']}")
async def process_flight(ctx: JobContext, flight_id: str, run: int) -> None:
    held = Claim(uuid.UUID(flight_id), run, uuid.uuid4())
    work = await _start(ctx, held)
    if work is None:
        return
    try:
        outcome = await _while_ours(ctx, held, analyze_and_store(ctx, work))
    except StorageError as exc:
        await _retry_later(ctx, held, exc)
        return
    if outcome is None:
        log.info("flight %s run %s: claim gone mid-analysis, work abandoned", flight_id, run)
        return
    await _finish(ctx, held, outcome)


def _lease(ctx: JobContext) -> timedelta:
    return timedelta(seconds=ctx.settings.jobs_lease_s)


async def _start(ctx: JobContext, held: Claim) -> Work | None:
    async with ctx.unit() as session:
        flight = await repository.claim(session, held, _lease(ctx))
        if flight is None:
            log.info("flight %s run %s: nothing to claim", held.flight_id, held.run)
            return None
        if flight.processing_attempts > ctx.settings.jobs_max_attempts:
            # Every earlier attempt died mid-way (a worker killed, a file that takes the
            # process down): stop retrying and say so, and the queue keeps flowing.
            gave_up = _gave_up(flight, flight.processing_attempts - 1)
            await apply_outcome(session, flight, gave_up, held.run)
            return None
        add_event(
            session,
            flight,
            ProcessingStatus.processing,
            "processing started",
            {"run": held.run, "attempt": flight.processing_attempts},
        )
        return Work(
            key=flight.file_key,
            aircraft_type=flight.aircraft_type,
            trend_state=await fleet_trend.state_before(session, flight),
            feature_key=features.feature_key(
                flight.account_id, flight.registration, fleet_trend.flown_at(flight), flight.id
            ),
            series_key=flight_series.series_key(flight.account_id, flight.registration, flight.id),
        )


async def _while_ours(ctx: JobContext, held: Claim, work: Awaitable[Outcome]) -> Outcome | None:
    """Run `work`, renewing the claim's lease every third of it; None (and the work
    cancelled) as soon as a renewal finds the claim gone."""
    running = asyncio.ensure_future(work)
    every_s = ctx.settings.jobs_lease_s / 3
    try:
        while True:
            done, _ = await asyncio.wait({running}, timeout=every_s)
            if done:
                return running.result()
            if not await _renew(ctx, held):
                return None
    finally:
        if not running.done():
            # A running analysis thread cannot be interrupted: it ends on its own and
            # its result is dropped.
            running.cancel()
            with contextlib.suppress(BaseException):
                await running


async def _renew(ctx: JobContext, held: Claim) -> bool:
    try:
        async with ctx.unit() as session:
            return await repository.renew_lease(session, held, _lease(ctx))
    except Exception:
        # The database is out of reach: keep working; the check before recording decides.
        log.warning("flight %s: lease not renewed", held.flight_id, exc_info=True)
        return True


async def analyze_and_store(ctx: JobContext, work: Work) -> Outcome:
    outcome = await _analyze(ctx, work.key, work.aircraft_type, work.trend_state)
    if outcome.features is not None:
        # Written before the result is recorded; the key is the flight's own, so a rerun
        # overwrites it and a crash in between leaves nothing that points at it.
        await ctx.store.put_bytes(work.feature_key, outcome.features)
    if outcome.series is not None:  # the plots' data, beside the features
        await ctx.store.put_bytes(work.series_key, outcome.series)
    return outcome


async def _finish(ctx: JobContext, held: Claim, outcome: Outcome) -> None:
    async with ctx.unit() as session:
        if not await repository.still_ours(session, held):
            log.info("flight %s run %s: claim lost, result dropped", held.flight_id, held.run)
            return
        flight = await repository.flight_by_id(session, held.flight_id)
        await apply_outcome(session, flight, outcome, held.run)
        if outcome.result is not None:
            await fleet_trend.record(session, flight, outcome.result)


async def _retry_later(ctx: JobContext, held: Claim, exc: StorageError) -> None:
    """The object store failed: give the run back to the queue with its cause, or, on the
    last allowed attempt, fail it with that cause."""
    log.warning("flight %s: object storage failed: %s", held.flight_id, exc)
    async with ctx.unit() as session:
        if not await repository.still_ours(session, held):
            return
        flight = await repository.flight_by_id(session, held.flight_id)
        flight.error_code, flight.error_message = exc.code, f"object storage failed: {exc}"
        if flight.processing_attempts >= ctx.settings.jobs_max_attempts:
            gave_up = _gave_up(flight, flight.processing_attempts)
            await apply_outcome(session, flight, gave_up, held.run)
            return
        now = utcnow()
        flight.processing_status = ProcessingStatus.queued
        flight.queued_at = flight.updated_at = now
        flight.job_token = flight.lease_until = None
        info = {"run": held.run, "attempt": flight.processing_attempts, "code": exc.code}
        add_event(session, flight, ProcessingStatus.queued, "retrying: " + flight.error_message,
                  info)


def _gave_up(flight: Flight, attempts: int) -> Outcome:
    """The run's last attempt: fail with the cause earlier attempts recorded, if any."""
    if flight.error_code is not None:
        return Outcome(
            error_code=flight.error_code,
            error_message=f"{flight.error_message} (gave up after {attempts} attempts)",
        )
    return Outcome(
        error_code="too-many-attempts",
        error_message=f"processing was interrupted {attempts} times; giving up on this file",
    )


async def _analyze(
    ctx: JobContext, key: str | None, aircraft_type: str | None, trend_state: TrendState | None
) -> Outcome:
    if key is None:
        return Outcome(error_code="file-missing", error_message="the flight has no data file")
    with tempfile.TemporaryDirectory(prefix="nubo-flight-") as tmp:
        path = Path(tmp) / "data"
        try:
            if ctx.store.kind == "local" and ctx.store.root is not None:
                # A local folder: read the object where it lies, no copy.
                if await ctx.store.head(key) is None:
                    raise ObjectNotFound(key)
                path = ctx.store.root / key
            else:
                await ctx.store.download_to(key, path)
        except ObjectNotFound:
            return Outcome(error_code="file-missing", error_message="the data file is missing")
        # Other storage errors raise: the run is queued again (see _retry_later).
        try:
            return await ctx.run_cpu(analyze_file, path, aircraft_type, trend_state)
        except Exception as exc:  # a bug or a file the analysis chokes on: still terminal
            log.exception("analysis of %s failed", key)
            return Outcome(
                error_code="processing-error",
                error_message=f"the file could not be analysed ({type(exc).__name__})",
            )


async def apply_outcome(
    session: AsyncSession,
    flight: Flight,
    outcome: Outcome,
    run: int,
    note: str = "processing finished",
) -> None:
    now = utcnow()
    flight.job_token = None
    flight.lease_until = None
    flight.processed_at = now
    flight.updated_at = now
    if outcome.error_code is not None:
        flight.processing_status = ProcessingStatus.failed
        flight.error_code = outcome.error_code
        flight.error_message = (outcome.error_message or "")[:2000]
        add_event(
            session,
            flight,
            ProcessingStatus.failed,
            flight.error_message,
            {"run": run, "code": outcome.error_code},
        )
        await _tell(session, flight, FLIGHT_FAILED)
        return
    result = outcome.result
    assert result is not None, "an outcome has a result or an error"
    flight.bleed_status = BleedStatus(result.bleed_status)
    flight.integrity_score = result.integrity_score
    flight.engine_scores = result.engine_scores
    flight.findings = result.findings
    flight.phases = result.phases
    flight.model_version = result.model_version
    flight.rows_read, flight.rows_used = result.rows_read, result.rows_used
    flight.coverage = result.coverage
    flight.warnings = result.warnings
    flight.error_code = flight.error_message = None
    flight.processing_status = ProcessingStatus.processed
    summary = {
        "run": run,
        "bleed_status": result.bleed_status,
        "rows_read": result.rows_read,
        "rows_used": result.rows_used,
        "warnings": result.warnings,
    }
    add_event(session, flight, ProcessingStatus.processed, note, summary)
    await _tell(session, flight, FLIGHT_PROCESSED)


async def _tell(session: AsyncSession, flight: Flight, event_type: str) -> None:
    """The account's webhooks hear of the result in the unit that records it."""
    await outbox.emit(session, flight.account_id, event_type, lambda: _flight_data(flight))


def _flight_data(flight: Flight) -> dict[str, Any]:
    """The flight as the API shows it; a record the API could not show (incomplete file
    fields) still reports its result rather than losing it."""
    try:
        return FlightOut.of(flight).model_dump(mode="json")
    except ValidationError:
        log.warning("flight %s: event sent without its full record", flight.id, exc_info=True)
        return {
            "id": str(flight.id),
            "account_id": str(flight.account_id),
            "registration": flight.registration,
            "processing_status": flight.processing_status.value,
            "bleed_status": flight.bleed_status.value if flight.bleed_status else None,
            "integrity_score": flight.integrity_score,
            "findings": flight.findings,
            "error": {"code": flight.error_code, "message": flight.error_message}
            if flight.error_code else None,
        }


@jobs.periodic(SWEEP, every_s=None)
async def sweep(ctx: JobContext, *, requeue_after_s: float | None = None) -> int:
    """Re-defer every flight owed a job: `queued` for longer than `requeue_after_s`
    (default `settings.jobs_requeue_after_s`; 0 on an in-process start, when the memory
    queue is known empty), or `processing` past its lease. Duplicates are harmless
    (queueing locks; idempotent claims)."""
    now = utcnow()
    if requeue_after_s is None:
        requeue_after_s = ctx.settings.jobs_requeue_after_s
    async with ctx.unit() as session:
        owed = await repository.owed_runs(
            session, now, now - timedelta(seconds=requeue_after_s), SWEEP_BATCH
        )
    async with ctx.unit() as session:
        await grants.expire_old(session, ctx.store, now)
    deferred = 0
    for flight_id, run in owed:
        deferred += await ctx.queue.defer_quietly(PROCESS, flight_id=str(flight_id), run=run)
    if owed:
        log.info("sweeper re-deferred %d of %d owed flight(s)", deferred, len(owed))
    return deferred
