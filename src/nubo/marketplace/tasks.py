"""Background work of the marketplace: forgetting idempotency keys past their retention."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from nubo.kit import jobs
from nubo.kit.jobs import JobContext
from nubo.kit.types import utcnow
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
