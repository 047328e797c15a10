"""A flight's presigned-upload grant, its whole life in one place: granted (`grant`),
cleared when a file is recorded or a new grant replaces it (`clear`), removed once expired
(`expire_old`). Whatever a grant leaves in the store (its object, an S3 multipart upload)
is removed after the unit of work that ends the grant has committed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.kit.db import after_commit
from nubo.kit.s3_multipart import S3Multipart
from nubo.kit.storage import ObjectStore
from nubo.models import Flight

log = logging.getLogger("nubo.flights.grants")

# After a grant's URLs expired, a late `upload-complete` may still be on its way.
EXPIRY_GRACE = timedelta(hours=1)
EXPIRE_BATCH = 500


@dataclass(frozen=True, slots=True)
class Pending:
    key: str
    name: str | None
    upload_id: str | None  # a multipart grant's S3 upload


def pending(flight: Flight) -> Pending | None:
    if flight.pending_key is None:
        return None
    return Pending(flight.pending_key, flight.pending_name, flight.pending_upload_id)


def grant(
    session: AsyncSession,
    store: ObjectStore,
    flight: Flight,
    new: Pending,
    expires_at: datetime,
) -> None:
    """Keep `new` as the flight's pending upload; the grant it replaces is removed."""
    clear(session, store, flight)
    flight.pending_key = new.key
    flight.pending_name = new.name
    flight.pending_upload_id = new.upload_id
    flight.pending_expires_at = expires_at


def clear(
    session: AsyncSession, store: ObjectStore, flight: Flight, *, keep: str | None = None
) -> Pending | None:
    """End the flight's grant; what it left in the store is removed after commit, except
    the object at `keep` (the grant's own object, when that is the file being recorded)."""
    ended = pending(flight)
    flight.pending_key = flight.pending_name = None
    flight.pending_upload_id = flight.pending_expires_at = None
    if ended is not None and ended.key != keep:
        after_commit(session, lambda: drop(store, ended))
    return ended


async def drop(store: ObjectStore, ended: Pending) -> None:
    """Remove what an ended grant may have left (best effort, logged): abort its multipart
    upload (its parts cost storage until then), delete its object."""
    if ended.upload_id is not None:
        try:
            mp = await S3Multipart.for_store(store)
            await mp.abort(ended.key, ended.upload_id)
        except Exception:
            log.warning("could not abort the multipart upload of %s", ended.key, exc_info=True)
    try:
        await store.delete(ended.key)
    except Exception:
        log.warning("could not delete %s of an ended grant", ended.key, exc_info=True)


async def expire_old(session: AsyncSession, store: ObjectStore, now: datetime) -> int:
    """Clear grants whose URLs expired more than `EXPIRY_GRACE` ago (one batch)."""
    stmt = (
        select(Flight)
        .where(Flight.pending_key.is_not(None), Flight.pending_expires_at < now - EXPIRY_GRACE)
        .limit(EXPIRE_BATCH)
        .with_for_update(skip_locked=True)
    )
    expired = list((await session.execute(stmt)).scalars())
    for flight in expired:
        clear(session, store, flight)
    return len(expired)
