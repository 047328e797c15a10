"""A month's closing as a job the back office can follow: the same work as
`nubo billing close-month` (`closing.close_month`), with its progress kept in a row."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nubo.identity.principal import Actor
from nubo.kit.db import after_commit
from nubo.kit.errors import Conflict, NotFound
from nubo.kit.jobs import JobQueue
from nubo.kit.pagination import PageParams, page_by_creation
from nubo.kit.types import utcnow
from nubo.marketplace.closing import CloseResult, close_month
from nubo.models import BillingRun, BillingRunStatus

CLOSE_MONTH = "marketplace.close-month"
PROGRESS_EVERY_S = 0.5
BEAT_EVERY = 20  # progress ticks: a live run's row moves at least every 10 s
REPORTER = "nubo-billing-run-progress"
# A run whose row has not moved for this long lost its worker (a restart of an in-process
# queue forgets its jobs): it no longer keeps the month from being closed again.
ABANDONED_AFTER = timedelta(minutes=2)
RECENT = 10
UNFINISHED = (BillingRunStatus.queued, BillingRunStatus.running)


class RunInProgress(Conflict):
    code = "billing-run-in-progress"


async def _retire_abandoned(session: AsyncSession, month: str) -> None:
    """A queued or running closing of the month whose row has not moved for ABANDONED_AFTER
    lost its worker: it is marked failed, and no longer holds the month."""
    now = utcnow()
    await session.execute(
        update(BillingRun)
        .where(BillingRun.month == month, BillingRun.status.in_(UNFINISHED),
               BillingRun.updated_at <= now - ABANDONED_AFTER)
        .values(status=BillingRunStatus.failed, finished_at=now, updated_at=now,
                error="abandoned: no progress for "
                      f"{int(ABANDONED_AFTER.total_seconds())} s (its worker was lost)")
    )


async def _unfinished(session: AsyncSession, month: str) -> BillingRun | None:
    stmt = select(BillingRun).where(BillingRun.month == month,
                                    BillingRun.status.in_(UNFINISHED))
    return (await session.execute(stmt.limit(1))).scalar_one_or_none()


def _in_progress(month: str, running: BillingRun | None) -> RunInProgress:
    detail = f"{month} is being closed already"
    if running is None:
        return RunInProgress(detail)
    return RunInProgress(detail, run_id=str(running.id))


async def start(
    session: AsyncSession, queue: JobQueue, actor: Actor, month: str, *, prorate: bool = False
) -> BillingRun:
    """Record the run and hand it to the job system once it is committed. A month being
    closed already is not closed twice at once (409 `billing-run-in-progress`, naming the
    run in `run_id`); the partial unique index `uq_billing_runs_month_unfinished` settles
    two starts racing each other. A closed month may be closed again: that invoices what is
    new (a voided invoice, a late purchase) and skips the accounts invoiced already."""
    await _retire_abandoned(session, month)
    running = await _unfinished(session, month)
    if running is not None:
        raise _in_progress(month, running)
    run = BillingRun(month=month, prorate=prorate, requested_by=actor.id,
                     failed={}, totals_minor={})
    try:
        async with session.begin_nested():
            session.add(run)
            await session.flush()
    except IntegrityError:
        raise _in_progress(month, await _unfinished(session, month)) from None
    run_id = str(run.id)
    after_commit(session, lambda: queue.defer_quietly(CLOSE_MONTH, run_id=run_id))
    return run


async def get(session: AsyncSession, run_id: uuid.UUID) -> BillingRun:
    run = await session.get(BillingRun, run_id)
    if run is None:
        raise NotFound("billing run not found")
    return run


async def recent(session: AsyncSession) -> list[BillingRun]:
    stmt = select(BillingRun).order_by(BillingRun.created_at.desc(), BillingRun.id).limit(RECENT)
    return list((await session.execute(stmt)).scalars().all())


async def search(
    session: AsyncSession, params: PageParams, *, month: str | None = None,
    status: BillingRunStatus | None = None,
) -> list[BillingRun]:
    """Runs newest first (one more row than the page, for its cursor)."""
    stmt = select(BillingRun)
    if month is not None:
        stmt = stmt.where(BillingRun.month == month)
    if status is not None:
        stmt = stmt.where(BillingRun.status == status)
    return await page_by_creation(session, stmt, params, BillingRun, newest_first=True)


async def _claim(maker: async_sessionmaker[AsyncSession], run_id: uuid.UUID) -> BillingRun | None:
    async with maker() as session, session.begin():
        run = await session.get(BillingRun, run_id, with_for_update=True)
        if run is None or run.status not in UNFINISHED:
            return None  # unknown, or finished by an earlier delivery of the job
        run.status, run.updated_at = BillingRunStatus.running, utcnow()
        return run


async def _write(
    maker: async_sessionmaker[AsyncSession], run_id: uuid.UUID, **values: object
) -> None:
    async with maker() as session, session.begin():
        await session.execute(
            update(BillingRun).where(BillingRun.id == run_id).values(updated_at=utcnow(), **values)
        )


async def run(
    maker: async_sessionmaker[AsyncSession], run_id: uuid.UUID, *, concurrency: int
) -> BillingRun | None:
    """Close the run's month; the counts reach the row every PROGRESS_EVERY_S while it works
    (a writer of its own: the batches' transactions must not wait for the page)."""
    claimed = await _claim(maker, run_id)
    if claimed is None:
        return None
    seen = {"accounts": None, "done": 0}
    written = dict(seen)

    def started(total: int) -> None:
        seen["accounts"] = total

    def advanced(count: int) -> None:
        seen["done"] = int(seen["done"] or 0) + count

    async def report() -> None:
        ticks = 0
        while True:
            await asyncio.sleep(PROGRESS_EVERY_S)
            ticks += 1
            if seen != written or ticks % BEAT_EVERY == 0:
                written.update(seen)
                await _write(maker, run_id, **written)

    reporter = asyncio.create_task(report(), name=REPORTER)
    try:
        result = await close_month(maker, claimed.month, prorate=claimed.prorate,
                                   concurrency=concurrency, on_start=started,
                                   on_progress=advanced)
    except Exception as exc:
        await _finish(maker, run_id, reporter, status=BillingRunStatus.failed,
                      error=f"{type(exc).__name__}: {exc}"[:2000], **seen)
        raise
    finally:
        # A cancelled run (the worker stopping) must not leave its reporter writing forever;
        # the row, untouched, goes stale and the run is taken up again.
        reporter.cancel()
    await _finish(maker, run_id, reporter, **_outcome(result))
    async with maker() as session:
        return await session.get(BillingRun, run_id)


def _outcome(result: CloseResult) -> dict[str, object]:
    return {
        "status": BillingRunStatus.done, "accounts": result.accounts,
        "done": result.accounts, "created": result.created, "skipped": result.skipped,
        "failed": dict(result.failed), "totals_minor": dict(result.totals_minor),
    }


async def _finish(
    maker: async_sessionmaker[AsyncSession], run_id: uuid.UUID, reporter: asyncio.Task[None],
    **values: object,
) -> None:
    reporter.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reporter
    await _write(maker, run_id, finished_at=utcnow(), **values)
