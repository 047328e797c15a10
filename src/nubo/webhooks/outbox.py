"""Events, written in the transaction of the change they report.

`emit` adds a message and one delivery per enabled endpoint of the account that listens
to the event type, in the caller's unit of work: rolled back with it, committed with it.
After the commit a hook hands the deliveries to the job queue; if that never happens (the
process dies, the queue is down, a unit without hooks such as the month's close), the
periodic sweep (`webhooks.sweep`) finds them pending and due.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from nubo.kit.db import after_commit
from nubo.kit.jobs import JobQueue
from nubo.kit.types import utcnow
from nubo.models import WebhookDelivery, WebhookMessage
from nubo.webhooks import repository

FLIGHT_PROCESSED = "flight.processed"
FLIGHT_FAILED = "flight.failed"
AIRCRAFT_STATUS_CHANGED = "aircraft.status_changed"
INVOICE_CREATED = "invoice.created"
INVOICE_PAID = "invoice.paid"
SUBSCRIPTION_CANCELED = "subscription.canceled"
EVENT_TYPES = (
    FLIGHT_PROCESSED,
    FLIGHT_FAILED,
    AIRCRAFT_STATUS_CHANGED,
    INVOICE_CREATED,
    INVOICE_PAID,
    SUBSCRIPTION_CANCELED,
)
DELIVER = "webhooks.deliver"


Data = dict[str, Any] | Callable[[], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Event:
    account_id: uuid.UUID
    type: str
    # A function is called only if an endpoint listens (most accounts have none).
    data: Data

    def body(self) -> dict[str, Any]:
        return self.data() if callable(self.data) else self.data


class _Wake:
    """The queue the after-commit hooks defer to: the process's own, set when its queue
    starts (API or worker). None (a CLI command): the sweep delivers."""

    queue: JobQueue | None = None


def use_queue(queue: JobQueue | None) -> None:
    _Wake.queue = queue


async def emit(session: AsyncSession, account_id: uuid.UUID, event_type: str,
               data: Data) -> None:
    await emit_all(session, [Event(account_id, event_type, data)])


async def emit_all(session: AsyncSession, events: list[Event]) -> None:
    """Record these events for every endpoint listening (one query for all accounts)."""
    endpoints = await repository.listening(session, (e.account_id for e in events))
    if not endpoints:
        return
    now = utcnow()
    owed: list[tuple[WebhookMessage, list[uuid.UUID]]] = []
    for event in events:
        targets = [
            e.id for e in endpoints
            if e.account_id == event.account_id and event.type in e.event_types
        ]
        if targets:
            owed.append((_message(event, now), targets))
    if not owed:
        return
    session.add_all([message for message, _ in owed])
    await session.flush()  # messages before the deliveries that refer to them
    deliveries = [
        WebhookDelivery(id=uuid.uuid4(), message_id=message.id, endpoint_id=endpoint_id,
                        event_type=message.event_type, next_attempt_at=now, created_at=now)
        for message, targets in owed
        for endpoint_id in targets
    ]
    session.add_all(deliveries)
    await session.flush()
    after_commit(session, lambda: wake([d.id for d in deliveries]))


def _message(event: Event, now: datetime) -> WebhookMessage:
    payload = {"type": event.type, "timestamp": now.isoformat(), "data": event.body()}
    return WebhookMessage(id=uuid.uuid4(), account_id=event.account_id, event_type=event.type,
                          payload=payload, created_at=now)


async def wake(delivery_ids: list[uuid.UUID]) -> None:
    queue = _Wake.queue
    if queue is None:
        return
    for delivery_id in delivery_ids:
        await queue.defer_quietly(DELIVER, delivery_id=str(delivery_id))
