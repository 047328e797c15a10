"""Signed deliveries to a real receiver on loopback, retried on the schedule."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import standardwebhooks
from sqlalchemy import func, select

from nubo.kit.db import rollback_unit
from nubo.kit.jobs import InProcessQueue
from nubo.models import DeliveryStatus, WebhookDelivery, WebhookMessage
from nubo.webhooks import outbox, tasks
from nubo.webhooks.tasks import RETRY_SCHEDULE, attempt, backoff, sweep
from tests.fixtures.webhooks import make_delivery, make_endpoint
from tests.webhooks.helpers import deliveries, issue_invoice, job_context, register
from tests.webhooks.receiver import receiver


async def test_a_receiver_failing_once_gets_the_event_again_signed_with_the_same_id(
    app, client, world, session, sessionmaker
):
    ctx = job_context(app, sessionmaker)
    with receiver(500, 204) as hook:
        endpoint = await register(client, world, hook.url, "invoice.created")
        invoice = await issue_invoice(client, world)
        [delivery] = await deliveries(session)
        assert delivery.status is DeliveryStatus.pending

        assert await attempt(ctx, delivery.id) is DeliveryStatus.pending
        [delivery] = await deliveries(session)
        assert (delivery.attempts, delivery.last_status_code) == (1, 500)
        assert delivery.next_attempt_at == delivery.last_attempt_at + RETRY_SCHEDULE[0]
        # Not due yet: a duplicate job sends nothing.
        assert await attempt(ctx, delivery.id) is None

        later = delivery.next_attempt_at + timedelta(seconds=1)
        assert await attempt(ctx, delivery.id, now=later) is DeliveryStatus.succeeded

    first, second = hook.received
    verifier = standardwebhooks.Webhook(endpoint["secret"])
    for request in hook.received:
        body = verifier.verify(request.body, request.headers)
        assert body["type"] == "invoice.created"
        assert body["data"]["id"] == invoice["id"] and body["data"]["total"] == "19.90"
        assert set(body) == {"type", "timestamp", "data"}
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.headers["webhook-id"] == f"msg_{delivery.message_id.hex}"
    [delivery] = await deliveries(session)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        DeliveryStatus.succeeded, 2, 204)
    assert delivery.last_duration_ms is not None and delivery.delivered_at is not None


async def test_a_tampered_body_fails_verification(app, client, world, session, sessionmaker):
    with receiver(200) as hook:
        endpoint = await register(client, world, hook.url, "invoice.created")
        await issue_invoice(client, world)
        [delivery] = await deliveries(session)
        await attempt(job_context(app, sessionmaker), delivery.id)
    [request] = hook.received
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(endpoint["secret"]).verify(request.body + b" ", request.headers)


async def test_only_endpoints_listening_to_the_event_type_get_it(client, world, session):
    await register(client, world, "https://a.example.com/h", "invoice.paid")
    wants = await register(client, world, "https://b.example.com/h", "invoice.created")
    await issue_invoice(client, world)
    [delivery] = await deliveries(session)
    assert str(delivery.endpoint_id) == wants["id"]


async def test_no_listener_writes_no_message(client, world, session):
    await issue_invoice(client, world)
    assert await session.scalar(select(func.count()).select_from(WebhookMessage)) == 0


async def test_an_event_of_a_rolled_back_unit_is_never_recorded_nor_handed_off(
    world, session, sessionmaker
):
    await make_endpoint(session, world.account_a)
    await session.commit()
    woken: list[object] = []
    async with sessionmaker() as unit:
        await outbox.emit(unit, world.account_a.id, outbox.INVOICE_PAID, {"id": "x"})
        assert await unit.scalar(select(func.count()).select_from(WebhookDelivery)) == 1
        unit.info["nubo.after_commit"].append(lambda: woken.append(True))
        await rollback_unit(unit)
    assert await session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
    assert woken == []


async def test_the_sweep_defers_every_due_delivery_whose_hand_off_was_lost(
    app, world, session, sessionmaker
):
    endpoint = await make_endpoint(session, world.account_a)
    due = await make_delivery(session, endpoint)
    later = await make_delivery(session, endpoint)
    later.next_attempt_at = due.next_attempt_at + timedelta(hours=1)
    disabled = await make_endpoint(session, world.account_a, enabled=False)
    await make_delivery(session, disabled)
    await session.commit()
    queue = InProcessQueue()
    ctx = job_context(app, sessionmaker)
    ctx.queue = queue
    assert await sweep(ctx) == 1
    assert queue._queue.get_nowait()[:2] == ("webhooks.deliver", {"delivery_id": str(due.id)})


def test_the_retry_schedule_is_exponential_and_ends_after_about_a_day():
    delays = [backoff(n) for n in range(1, len(RETRY_SCHEDULE) + 1)]
    assert all(d is not None for d in delays)
    assert delays == sorted(delays)  # type: ignore[type-var]
    total = sum((d for d in delays if d is not None), timedelta())
    assert timedelta(hours=24) <= total <= timedelta(hours=30)
    assert backoff(len(RETRY_SCHEDULE) + 1) is None


async def test_a_delivery_whose_schedule_is_spent_fails(app, world, session, sessionmaker):
    with receiver(503) as hook:
        endpoint = await make_endpoint(session, world.account_a, url=hook.url)
        delivery = await make_delivery(session, endpoint, attempts=len(RETRY_SCHEDULE))
        await session.commit()
        status = await attempt(job_context(app, sessionmaker), delivery.id)
    assert status is DeliveryStatus.failed
    [delivery] = await deliveries(session)
    assert delivery.next_attempt_at is None and delivery.attempts == len(RETRY_SCHEDULE) + 1


async def test_redirects_are_not_followed_and_count_as_failures(
    app, world, session, sessionmaker
):
    with receiver(302) as hook:
        endpoint = await make_endpoint(session, world.account_a, url=hook.url)
        delivery = await make_delivery(session, endpoint)
        await session.commit()
        await attempt(job_context(app, sessionmaker), delivery.id)
    assert len(hook.received) == 1
    [delivery] = await deliveries(session)
    assert (delivery.status, delivery.last_status_code) == (DeliveryStatus.pending, 302)


async def test_a_receiver_slower_than_the_read_timeout_is_a_failed_attempt(
    app, world, session, sessionmaker
):
    ctx = job_context(app, sessionmaker)
    ctx.settings = app.state.settings.model_copy(update={"webhooks_read_timeout_s": 0.2})
    with receiver(200, delay_s=1.0) as hook:
        endpoint = await make_endpoint(session, world.account_a, url=hook.url)
        delivery = await make_delivery(session, endpoint)
        await session.commit()
        assert await attempt(ctx, delivery.id) is DeliveryStatus.pending
    [delivery] = await deliveries(session)
    assert delivery.last_status_code is None and "timed out" in (delivery.last_error or "")


async def test_the_body_is_the_stored_message_on_every_attempt(app, world, session, sessionmaker):
    with receiver(500, 200) as hook:
        endpoint = await make_endpoint(session, world.account_a, url=hook.url)
        delivery = await make_delivery(session, endpoint)
        await session.commit()
        ctx = job_context(app, sessionmaker)
        await attempt(ctx, delivery.id)
        await attempt(ctx, delivery.id, now=tasks.utcnow() + timedelta(minutes=1))
    bodies = [json.loads(r.body) for r in hook.received]
    assert bodies[0] == bodies[1] and bodies[0]["data"] == {"id": "x"}
