"""Background work of the marketplace: forgetting idempotency keys past their retention,
closing a month started from the back office."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import delete

from nubo.kit import jobs
from nubo.kit.jobs import JobContext
from nubo.kit.types import utcnow
from nubo.marketplace import closing_runs
from nubo.models import IdempotencyKey

PURGE_KEYS = "marketplace.purge-idempotency-keys"


@jobs.periodic(PURGE_KEYS, every_s=3600)
async def purge_idempotency_keys(ctx: JobContext) -> int:
    """Delete keys older than `settings.idempotency_key_ttl_s`: a retry after that is a new
    request (the same contract as the payment APIs clients know)."""
    cutoff = utcnow() - timedelta(seconds=ctx.settings.idempotency_key_ttl_s)
    async with ctx.unit() as session:
        result = await session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff)
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@jobs.task(closing_runs.CLOSE_MONTH, lock=lambda kw: f"billing-run:{kw['run_id']}",
           max_attempts=3)
async def close_month(ctx: JobContext, run_id: str, concurrency: int | None = None) -> None:
    """A month's closing started from the back office; a second delivery of a finished run
    does nothing, of an interrupted one closes what is left (invoiced accounts are skipped)."""
    # SQLite has one writer: parallel transactions would only queue behind each other.
    workers = concurrency or (1 if ctx.settings.embedded else 4)
    await closing_runs.run(ctx.sessionmaker, uuid.UUID(run_id), concurrency=workers)
