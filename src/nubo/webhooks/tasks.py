"""Delivery: one attempt per job, retried on a schedule by the periodic sweep.

`webhooks.deliver(delivery_id)` claims the attempt if it is due (a conditional UPDATE that
pushes the due time past the attempt's lease, so a duplicate job finds nothing), sends the
signed message with no transaction open, then records the answer: a 2xx ends the delivery;
anything else (a timeout, a refused destination, a non-2xx) schedules the next attempt by
`backoff`, or gives up when the schedule is spent. The `webhook-id` is the message's on
every attempt. An endpoint whose attempts have all failed for
`webhooks_disable_after_s` is disabled.

`webhooks.sweep` (at start and every `jobs_sweep_every_s`) defers every pending delivery
that is due: the retries, and the deliveries whose after-commit hand-off was lost.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from nubo.kit import jobs
from nubo.kit.jobs import JobContext
from nubo.kit.types import utcnow
from nubo.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from nubo.webhooks import outbound, repository, signing
from nubo.webhooks.outbox import DELIVER

log = logging.getLogger("nubo.webhooks")

SWEEP = "webhooks.sweep"
QUEUE = "webhooks"
SWEEP_BATCH = 500
# An attempt holds its delivery this long: longer than the slowest possible attempt.
ATTEMPT_LEASE = timedelta(minutes=5)
# The Standard Webhooks schedule after the first attempt: about 27 hours in all.
RETRY_SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)


def backoff(failed_attempts: int) -> timedelta | None:
    """How long after the `failed_attempts`-th failure the next attempt is due; None when
    the schedule is spent (the delivery has failed)."""
    if 1 <= failed_attempts <= len(RETRY_SCHEDULE):
        return RETRY_SCHEDULE[failed_attempts - 1]
    return None


@jobs.task(DELIVER, queue=QUEUE, lock=lambda kw: f"webhook:{kw['delivery_id']}")
async def deliver(ctx: JobContext, delivery_id: str) -> None:
    await attempt(ctx, uuid.UUID(delivery_id))


async def attempt(
    ctx: JobContext, delivery_id: uuid.UUID, *, now: datetime | None = None
) -> DeliveryStatus | None:
    """One attempt of a due delivery; its status after, or None when nothing was due.
    `now` stands for the clock's reading in tests of the schedule."""
    now = now or utcnow()
    async with ctx.unit() as session:
        if not await repository.claim(session, delivery_id, now, now + ATTEMPT_LEASE):
            return None
        parts = await repository.attempt_parts(session, delivery_id)
    assert parts is not None, "a claimed delivery exists"
    _, endpoint, message = parts
    msg_id = signing.webhook_id(message.id)
    body = signing.body_bytes(message.payload)
    headers = signing.headers(endpoint.secret, msg_id, int(time.time()), body)
    answer = await outbound.post(endpoint.url, headers, body, ctx.settings)
    async with ctx.unit() as session:
        return await _record(session, delivery_id, answer, now, ctx.settings)


async def _record(
    session: AsyncSession, delivery_id: uuid.UUID, answer: outbound.Answer, now: datetime,
    settings: Any,
) -> DeliveryStatus | None:
    found = await repository.for_update(session, delivery_id)
    if found is None:  # the endpoint was deleted meanwhile
        return None
    delivery, endpoint = found
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = answer.status_code
    delivery.last_duration_ms = answer.duration_ms
    delivery.last_error = answer.error
    if answer.ok:
        delivery.status = DeliveryStatus.succeeded
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        endpoint.failing_since = None
    else:
        _failed(delivery, endpoint, now, settings.webhooks_disable_after_s)
    await session.flush()
    return delivery.status


def _failed(delivery: WebhookDelivery, endpoint: WebhookEndpoint, now: datetime,
            disable_after_s: int) -> None:
    delay = backoff(delivery.attempts)
    if delay is None:
        delivery.status = DeliveryStatus.failed
        delivery.next_attempt_at = None
    else:
        delivery.next_attempt_at = now + delay
    endpoint.failing_since = endpoint.failing_since or now
    if endpoint.enabled and now - endpoint.failing_since >= timedelta(seconds=disable_after_s):
        log.warning("webhook endpoint %s disabled: failing since %s", endpoint.id,
                    endpoint.failing_since)
        endpoint.enabled = False
        endpoint.disabled_at = now
        endpoint.disabled_reason = "failing"
        endpoint.updated_at = now


@jobs.periodic(SWEEP, every_s=None)
async def sweep(ctx: JobContext, *, now: datetime | None = None) -> int:
    """Defer every pending delivery that is due (duplicates are dropped by the claim)."""
    async with ctx.unit() as session:
        owed = await repository.due(session, now or utcnow(), SWEEP_BATCH)
    deferred = 0
    for delivery_id in owed:
        deferred += await ctx.queue.defer_quietly(DELIVER, delivery_id=str(delivery_id))
    if owed:
        log.info("webhook sweep deferred %d of %d due deliveries", deferred, len(owed))
    return deferred
