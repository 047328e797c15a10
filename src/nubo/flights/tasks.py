"""The processing job of a flight and the sweeper that keeps the outbox honest.

`flights.process(flight_id, run)`:
1. claim: an atomic UPDATE moves the flight of that run from `queued` (or `processing`
   with an expired lease) to `processing` with this job's token and a lease; no claim, no
   work (another job has it, the file was replaced, or it is already done);
2. download the object to a temporary file and run the analysis off the event loop;
3. finish: record `processed` (result fields) or `failed` (code, message), only if the
   claim still holds. Every step is its own unit of work with its flight event.

Running twice is safe: a second job finds no claim to take. A crash between 1 and 3 leaves
`processing` past its lease; the sweeper re-defers it, and the next claim takes it over.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select, update

from nubo.bleed.trend import TrendState
from nubo.fleet import features
from nubo.fleet import trend as fleet_trend
from nubo.flights import grants
from nubo.flights.analysis import Outcome, analyze_file
from nubo.flights.service import add_event
from nubo.kit import jobs
from nubo.kit.jobs import JobContext
from nubo.kit.storage import ObjectNotFound
from nubo.kit.types import utcnow
from nubo.models import BleedStatus, Flight, ProcessingStatus

log = logging.getLogger("nubo.flights.tasks")

PROCESS = "flights.process"
SWEEP = "flights.sweep"
QUEUE = "flights"
SWEEP_BATCH = 500


async def defer_processing(queue: jobs.JobQueue, flight: Flight) -> bool:
    """Hand a queued flight to the job system (after its commit); the sweeper backs it up."""
    return await queue.defer_quietly(PROCESS, flight_id=str(flight.id), run=flight.processing_run)


@jobs.task(PROCESS, queue=QUEUE, lock=lambda kw: f"flight:{kw['flight_id']}:{kw['run']}")
async def process_flight(ctx: JobContext, flight_id: str, run: int) -> None:
    fid = uuid.UUID(flight_id)
    token = uuid.uuid4()
    async with ctx.unit() as session:
        now = utcnow()
        claim = (
            update(Flight)
            .where(
                Flight.id == fid,
                Flight.processing_run == run,
                Flight.deleted_at.is_(None),
                or_(
                    Flight.processing_status == ProcessingStatus.queued,
                    and_(
                        Flight.processing_status == ProcessingStatus.processing,
                        Flight.lease_until < now,
                    ),
                ),
            )
            .values(
                processing_status=ProcessingStatus.processing,
                job_token=token,
                lease_until=now + timedelta(seconds=ctx.settings.jobs_lease_s),
                processing_attempts=Flight.processing_attempts + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if (await session.execute(claim)).rowcount != 1:  # type: ignore[attr-defined]
            log.info("flight %s run %s: nothing to claim", flight_id, run)
            return
        flight = (await session.execute(select(Flight).where(Flight.id == fid))).scalar_one()
        if flight.processing_attempts > ctx.settings.jobs_max_attempts:
            # Every earlier attempt died mid-way (a worker killed, a file that takes the
            # process down): stop retrying and say so, and the queue keeps flowing.
            _apply(session, flight, _gave_up(flight.processing_attempts - 1), run)
            return
        add_event(
            session,
            flight,
            ProcessingStatus.processing,
            "processing started",
            {"run": run, "attempt": flight.processing_attempts},
        )
        key, aircraft_type = flight.file_key, flight.aircraft_type
        trend_state = await fleet_trend.state_before(session, flight)
        feature_key = features.feature_key(
            flight.account_id, flight.registration, fleet_trend.flown_at(flight), flight.id
        )

    outcome = await _analyze(ctx, key, aircraft_type, trend_state)
    if outcome.features is not None:
        # Written before the result is recorded; the key is the flight's own, so a rerun
        # overwrites it and a crash in between leaves nothing that points at it.
        await ctx.store.put_bytes(feature_key, outcome.features)

    async with ctx.unit() as session:
        # Write first (row lock on PostgreSQL, write lock before reading on SQLite), and
        # only while this job's claim still holds.
        still_ours = (
            update(Flight)
            .where(
                Flight.id == fid,
                Flight.processing_run == run,
                Flight.job_token == token,
                Flight.processing_status == ProcessingStatus.processing,
                Flight.deleted_at.is_(None),
            )
            .values(updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if (await session.execute(still_ours)).rowcount != 1:  # type: ignore[attr-defined]
            log.info("flight %s run %s: claim lost, result dropped", flight_id, run)
            return
        flight = (await session.execute(select(Flight).where(Flight.id == fid))).scalar_one()
        _apply(session, flight, outcome, run)
        if outcome.result is not None:
            await fleet_trend.record(session, flight, outcome.result)


def _gave_up(attempts: int) -> Outcome:
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
        # Other storage errors raise: the job is retried, the lease lets a later one resume.
        try:
            return await ctx.run_cpu(analyze_file, path, aircraft_type, trend_state)
        except Exception as exc:  # a bug or a file the analysis chokes on: still terminal
            log.exception("analysis of %s failed", key)
            return Outcome(
                error_code="processing-error",
                error_message=f"the file could not be analysed ({type(exc).__name__})",
            )


def _apply(session: Any, flight: Flight, outcome: Outcome, run: int) -> None:
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
        return
    result = outcome.result or {}
    status = result.get("bleed_status")
    flight.bleed_status = BleedStatus(status) if status else None
    flight.integrity_score = result.get("integrity_score")
    flight.engine_scores = result.get("engine_scores")
    flight.findings = result.get("findings")
    flight.phases = result.get("phases")
    flight.model_version = result.get("model_version")
    stats = result.get("stats") or {}
    flight.rows_read, flight.rows_used = stats.get("rows_read"), stats.get("rows_used")
    flight.error_code = flight.error_message = None
    flight.processing_status = ProcessingStatus.processed
    summary = {
        "run": run,
        "bleed_status": status,
        "rows_read": flight.rows_read,
        "rows_used": flight.rows_used,
        "warnings": result.get("warnings") or [],
    }
    add_event(session, flight, ProcessingStatus.processed, "processing finished", summary)


@jobs.periodic(SWEEP, every_s=None)
async def sweep(ctx: JobContext, *, requeue_after_s: float | None = None) -> int:
    """Re-defer every flight owed a job: `queued` for longer than `requeue_after_s`
    (default `settings.jobs_requeue_after_s`; 0 on an in-process start, when the memory
    queue is known empty), or `processing` past its lease. Duplicates are harmless
    (queueing locks; idempotent claims)."""
    now = utcnow()
    if requeue_after_s is None:
        requeue_after_s = ctx.settings.jobs_requeue_after_s
    stale_queue = now - timedelta(seconds=requeue_after_s)
    async with ctx.unit() as session:
        stmt = (
            select(Flight.id, Flight.processing_run)
            .where(
                Flight.deleted_at.is_(None),
                or_(
                    and_(
                        Flight.processing_status == ProcessingStatus.queued,
                        Flight.queued_at <= stale_queue,
                    ),
                    and_(
                        Flight.processing_status == ProcessingStatus.processing,
                        Flight.lease_until < now,
                    ),
                ),
            )
            .order_by(Flight.queued_at)
            .limit(SWEEP_BATCH)
        )
        owed = (await session.execute(stmt)).all()
    async with ctx.unit() as session:
        await grants.expire_old(session, ctx.store, now)
    deferred = 0
    for flight_id, run in owed:
        deferred += await ctx.queue.defer_quietly(PROCESS, flight_id=str(flight_id), run=run)
    if owed:
        log.info("sweeper re-deferred %d of %d owed flight(s)", deferred, len(owed))
    return deferred
