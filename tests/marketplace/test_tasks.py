"""Idempotency keys are forgotten after their retention, not before."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from nubo.kit import jobs
from nubo.kit.types import utcnow
from nubo.marketplace.tasks import PURGE_KEYS, purge_idempotency_keys
from nubo.models import IdempotencyKey


async def test_keys_older_than_the_retention_are_purged_and_recent_ones_kept(
    app, session, sessionmaker
):
    now = utcnow()
    ttl = app.state.settings.idempotency_key_ttl_s
    session.add_all([
        IdempotencyKey(scope="u1", key="old", request_hash="h",
                       created_at=now - timedelta(seconds=ttl + 60)),
        IdempotencyKey(scope="u1", key="fresh", request_hash="h", created_at=now),
    ])
    await session.commit()
    ctx = jobs.JobContext(settings=app.state.settings, sessionmaker=sessionmaker,
                          store=app.state.store, queue=app.state.jobs)
    assert await purge_idempotency_keys(ctx) == 1
    left = (await session.execute(select(IdempotencyKey.key))).scalars().all()
    assert list(left) == ["fresh"]


def test_the_purge_is_registered_as_periodic_work():
    import nubo.tasks  # noqa: F401

    assert jobs.PERIODIC[PURGE_KEYS].every_s == 3600
