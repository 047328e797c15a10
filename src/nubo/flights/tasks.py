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
import threading
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from nubo import live
from nubo.bleed.trend import TrendState
from nubo.fleet import features
from nubo.fleet import trend as fleet_trend
from nubo.flights import grants, job_repository, repository
from nubo.flights import series as flight_series
from nubo.flights.analysis import FlightResult, Outcome, analyze_file
from nubo.flights.repository import Claim
from nubo.flights.schemas import FlightOut
from nubo.flights.service import add_event
from nubo.kit import jobs
from nubo.kit.jobs import JobContext
from nubo.kit.storage import ObjectNotFound, ObjectStore, StorageError
from nubo.kit.types import utcnow
from nubo.models import BleedStatus, Flight, FlightEvent, ProcessingStatus
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
    # The flight's values, for a job that writes its result without loading it.
    flight: fleet_trend.FlightRef | None = None


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
    await _finish(ctx, held, work, outcome)


def _lease(ctx: JobContext) -> timedelta:
    return timedelta(seconds=ctx.settings.jobs_lease_s)


async def _start(ctx: JobContext, held: Claim) -> Work | None:
    if ctx.dialect == "postgresql":
        return await _start_in_one_statement(ctx, held)
    async with ctx.unit() as session:
        now = utcnow()
        row = await job_repository.claim(session, held, _lease(ctx), now)
        if row is None:
            log.info("flight %s run %s: nothing to claim", held.flight_id, held.run)
            return None
        if row.processing_attempts > ctx.settings.jobs_max_attempts:
            # Every earlier attempt died mid-way (a worker killed, a file that takes the
            # process down): stop retrying and say so, and the queue keeps flowing.
            flight = await repository.flight_by_id(session, held.flight_id)
            gave_up = _gave_up(flight, flight.processing_attempts - 1)
            await apply_outcome(session, flight, gave_up, held.run)
            return None
        ref = _ref(row)
        await _add_event(
            session, ref, ProcessingStatus.processing, "processing started",
            {"run": held.run, "attempt": row.processing_attempts}, now,
        )
        return _work(row, ref, await fleet_trend.state_before_ref(session, ref))


async def _start_in_one_statement(ctx: JobContext, held: Claim) -> Work | None:
    """`_start` on PostgreSQL: the claim, its event and the aircraft's trend tail are one
    statement, committed on its own (docs/decisions/processing-job-statements.md)."""
    async with ctx.statement() as conn:
        row = await job_repository.start(conn, held, _lease(ctx), utcnow(),
                                         ctx.settings.jobs_max_attempts)
    if row is None:
        log.info("flight %s run %s: nothing to claim", held.flight_id, held.run)
        return None
    if row.processing_attempts > ctx.settings.jobs_max_attempts:
        await _give_up(ctx, held)  # no event was written: as `_start`
        return None
    ref = _ref(row)
    tail = job_repository.tail(row)
    if tail is None or fleet_trend.tail_appends(tail, ref):
        return _work(row, ref, tail.trend_state if tail is not None else None)
    async with ctx.unit() as session:  # a flight that lands between others: replayed
        return _work(row, ref, await fleet_trend.state_before_ref(session, ref, tail))


async def _give_up(ctx: JobContext, held: Claim) -> None:
    """Every earlier attempt died mid-way (a worker killed, a file that takes the process
    down): stop retrying and say so, and the queue keeps flowing."""
    async with ctx.unit() as session:
        if not await repository.still_ours(session, held):
            return
        flight = await repository.flight_by_id(session, held.flight_id)
        await apply_outcome(session, flight, _gave_up(flight, flight.processing_attempts - 1),
                            held.run)


def _work(row: Any, ref: fleet_trend.FlightRef, state: TrendState | None) -> Work:
    return Work(
        key=row.file_key,
        aircraft_type=row.aircraft_type,
        trend_state=state,
        feature_key=features.feature_key(row.account_id, row.registration, ref.flown_at, row.id),
        series_key=flight_series.series_key(row.account_id, row.registration, row.id),
        flight=ref,
    )


def _ref(row: Any) -> fleet_trend.FlightRef:
    """The flight as the trend knows it, from a row of its columns."""
    return fleet_trend.FlightRef(
        id=row.id, account_id=row.account_id, registration=row.registration,
        aircraft_type=row.aircraft_type,
        flown_at=row.departure_at or row.file_uploaded_at or row.created_at,
    )


async def _add_event(
    session: AsyncSession,
    flight: fleet_trend.FlightRef,
    status: ProcessingStatus,
    message: str,
    data: dict[str, Any],
    now: datetime,
) -> None:
    """`service.add_event` as one statement, written at once (the unit holds no ORM
    objects to flush before it)."""
    event_id = await job_repository.add_event(session, flight.id, status.value, message, data,
                                              now)
    if session.bind is not None and session.bind.dialect.name != "postgresql":
        # PostgreSQL's trigger announces it; elsewhere the process does, after the commit.
        event = FlightEvent(id=event_id, flight_id=flight.id, status=status.value,
                            message=message, data=data, created_at=now)
        live.announce(session, event, flight.account_id)


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
    """The analysis of the flight's file and its two objects stored, in one thread: the
    event loop only waits for the whole (docs/decisions/processing-job-statements.md)."""
    if work.key is None:
        return Outcome(error_code="file-missing", error_message="the flight has no data file")
    if ctx.store.kind == "local" and ctx.store.root is not None:
        # A local folder: read the object where it lies, no copy (and no folder for one).
        path = ctx.store.root / work.key
        if not path.is_file():
            return _missing()
        return await _analyze_path(ctx, work, path)
    with tempfile.TemporaryDirectory(prefix="nubo-flight-") as tmp:
        path = Path(tmp) / "data"
        try:
            await ctx.store.download_to(work.key, path)
        except ObjectNotFound:
            return _missing()
        # Other storage errors raise: the run is queued again (see _retry_later).
        return await _analyze_path(ctx, work, path)


async def _finish(ctx: JobContext, held: Claim, work: Work, outcome: Outcome) -> None:
    async with ctx.unit() as session:
        if outcome.result is not None and work.flight is not None:
            await _record_processed(session, held, work.flight, outcome.result)
            return
        if not await repository.still_ours(session, held):
            log.info("flight %s run %s: claim lost, result dropped", held.flight_id, held.run)
            return
        flight = await repository.flight_by_id(session, held.flight_id)
        await apply_outcome(session, flight, outcome, held.run)
        if outcome.result is not None:
            await fleet_trend.record(session, flight, outcome.result)


async def _record_processed(
    session: AsyncSession, held: Claim, ref: fleet_trend.FlightRef, result: FlightResult
) -> None:
    """`apply_outcome` and `fleet_trend.record` of a processed result, in the fewest
    statements: the row written while the claim holds (one UPDATE, which also takes its
    lock), the event, the webhooks' outbox, the trend point folded in."""
    now = utcnow()
    values = _result_values(result)
    summary = {
        "run": held.run,
        "bleed_status": result.bleed_status,
        "rows_read": result.rows_read,
        "rows_used": result.rows_used,
        "warnings": result.warnings,
    }
    postgresql = session.bind is not None and session.bind.dialect.name == "postgresql"
    if postgresql:
        # The row, its event and the aircraft's tail (locked) in one statement.
        row = await job_repository.record_processed_with_event(session, held, now, values,
                                                               summary)
    else:
        row = await job_repository.record_processed(session, held, now, values)
    if row is None:
        log.info("flight %s run %s: claim lost, result dropped", held.flight_id, held.run)
        return
    if not postgresql:
        await _add_event(session, ref, ProcessingStatus.processed, "processing finished",
                         summary, now)
    if row.webhooks:
        # The flight as the API shows it, from the row and the result just written.
        written = {name: values[name] for name in job_repository.RESULT_JSON}
        columns = {k: v for k, v in row._asdict().items() if k in job_repository.FLIGHT_COLUMNS}
        record = SimpleNamespace(**columns, **written)
        await outbox.emit(session, ref.account_id, FLIGHT_PROCESSED,
                          lambda: _flight_data(record))  # type: ignore[arg-type]
    tail = {"tail": job_repository.tail(row)} if postgresql else {}
    if not await fleet_trend.record_appended(session, ref, result, webhooks=row.webhooks, **tail):
        flight = await repository.flight_by_id(session, held.flight_id)
        await fleet_trend.record(session, flight, result)


def _result_values(result: FlightResult) -> dict[str, Any]:
    """The flight's columns of a processed result (`apply_outcome`'s)."""
    return {
        "bleed_status": BleedStatus(result.bleed_status),
        "integrity_score": result.integrity_score,
        "engine_scores": result.engine_scores,
        "findings": result.findings,
        "phases": result.phases,
        "model_version": result.model_version,
        "rows_read": result.rows_read,
        "rows_used": result.rows_used,
        "coverage": result.coverage,
        "warnings": result.warnings,
    }


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


def _missing() -> Outcome:
    return Outcome(error_code="file-missing", error_message="the data file is missing")


async def _analyze_path(ctx: JobContext, work: Work, path: Path) -> Outcome:
    dropped = threading.Event()
    try:
        return await ctx.run_cpu(_analyzed_and_stored, ctx.store, work, path, dropped)
    except asyncio.CancelledError:
        dropped.set()  # the claim is gone: the thread stores nothing after its analysis
        raise


def _analyzed_and_stored(
    store: ObjectStore, work: Work, path: Path, dropped: threading.Event
) -> Outcome:
    """In a worker thread: the analysis, then its objects written (before the result is
    recorded; the keys are the flight's own, so a rerun overwrites them and a crash in
    between leaves nothing that points at them)."""
    try:
        outcome = analyze_file(path, work.aircraft_type, work.trend_state)
    except Exception as exc:  # a bug or a file the analysis chokes on: still terminal
        log.exception("analysis of %s failed", work.key)
        return Outcome(
            error_code="processing-error",
            error_message=f"the file could not be analysed ({type(exc).__name__})",
        )
    if dropped.is_set():
        return outcome
    if outcome.features is not None:
        store.put_bytes_blocking(work.feature_key, outcome.features)
    if outcome.series is not None:  # the plots' data, beside the features
        store.put_bytes_blocking(work.series_key, outcome.series)
    return outcome


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
