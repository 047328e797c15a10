"""The orphan sweep: objects under the flights' own prefixes that no row refers to.

Every path that writes an object and then records it removes the object if the record
fails, but a process can die in between, a superseded presigned PUT URL can still be used,
and a best-effort delete can fail. This periodic job removes, once they are older than a
grace period, raw files that no flight points at (neither its file nor its pending grant)
and feature and series files of flights that are gone or deleted. It lists only `raw/`,
`features/` and `series/`: the same store holds other domains' objects (the marketplace's
`datasets/`), which it never touches.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.fleet import features
from nubo.fleet.repository import live_flight_ids
from nubo.flights import grants, series
from nubo.kit import jobs
from nubo.kit.jobs import JobContext
from nubo.kit.storage import ObjectStore, check_key
from nubo.kit.types import utcnow
from nubo.models import Flight

log = logging.getLogger("nubo.flights.orphans")

SWEEP_ORPHANS: Final = "flights.sweep-orphans"
RAW_PREFIX: Final = "raw"
BATCH: Final = 500
MIN_GRACE: Final = timedelta(hours=24)


def grace(presigned_ttl_s: int) -> timedelta:
    """Old enough that no upload can still be on its way to record the object: past the
    longest presigned URL and the grant's own expiry grace, and never under a day."""
    return max(MIN_GRACE, timedelta(seconds=presigned_ttl_s) + 2 * grants.EXPIRY_GRACE)


@jobs.periodic(SWEEP_ORPHANS, every_s=3600)
async def sweep_orphans(ctx: JobContext, *, now: datetime | None = None) -> int:
    """Remove unreferenced objects older than the grace period; returns how many."""
    cutoff = (now or utcnow()) - grace(ctx.settings.presigned_upload_ttl_s)
    removed = 0
    async for batch in _old_keys(ctx.store, RAW_PREFIX, cutoff):
        async with ctx.unit() as session:
            unused = batch - await _referenced_raw(session, batch)
        removed += await _remove(ctx.store, unused)
    for prefix in (features.PREFIX, series.PREFIX):
        # Both name their flight the same way: `…/flight=<id>.parquet`.
        async for batch in _old_keys(ctx.store, prefix, cutoff):
            by_flight = {key: features.flight_of(key) for key in batch}
            async with ctx.unit() as session:
                live = await live_flight_ids(session, {f for f in by_flight.values() if f})
            removed += await _remove(ctx.store, {k for k, f in by_flight.items() if f not in live})
    if removed:
        log.info("orphan sweep removed %d object(s)", removed)
    return removed


async def _old_keys(
    store: ObjectStore, prefix: str, cutoff: datetime
) -> AsyncIterator[set[str]]:
    batch: set[str] = set()
    async for key, modified in store.list_objects(prefix):
        try:
            check_key(key)  # never a store's own staging files
        except ValueError:
            continue
        if modified < cutoff:
            batch.add(key)
        if len(batch) >= BATCH:
            yield batch
            batch = set()
    if batch:
        yield batch


async def _referenced_raw(session: AsyncSession, keys: set[str]) -> set[str]:
    stmt = select(Flight.file_key, Flight.pending_key).where(
        or_(Flight.file_key.in_(keys), Flight.pending_key.in_(keys))
    )
    return {k for row in (await session.execute(stmt)).all() for k in row if k is not None}


async def _remove(store: ObjectStore, keys: set[str]) -> int:
    removed = 0
    for key in sorted(keys):
        try:
            await store.delete(key)
            removed += 1
        except Exception:
            log.warning("could not remove orphan object %s", key, exc_info=True)
    return removed
