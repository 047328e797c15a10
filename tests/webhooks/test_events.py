"""Each event is recorded by the service that makes the change, in the same unit of work."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from nubo.fleet import trend
from nubo.flights.analysis import Outcome
from nubo.flights.tasks import apply_outcome
from nubo.marketplace.closing import close_month
from nubo.models import Flight, ProcessingStatus, WebhookMessage
from tests.fixtures.fleet import flight_result, processed_flight
from tests.fixtures.webhooks import make_endpoint
from tests.marketplace.factories import make_dataset, make_subscription
from tests.webhooks.helpers import issue_invoice


async def _messages(session) -> list[dict[str, Any]]:
    stmt = select(WebhookMessage).order_by(WebhookMessage.created_at, WebhookMessage.event_type)
    return [m.payload for m in (await session.execute(stmt)).scalars().all()]


async def test_aircraft_status_changes_carry_the_deciding_flights_findings(world, session):
    await make_endpoint(session, world.account_a, event_types=["aircraft.status_changed"])
    await processed_flight(session, world.account_a, "PR-XBA", result=flight_result("normal"))
    await processed_flight(session, world.account_a, "PR-XBA", result=flight_result("normal"))
    findings = [{"code": "hp-valve-sticking", "engine": 1}]
    flight = Flight(account_id=world.account_a.id, registration="PR-XBA", findings=findings,
                    processing_status=ProcessingStatus.processed)
    session.add(flight)
    await session.flush()
    await trend.record(session, flight, flight_result("alert", 40.0))
    changes = [m["data"] for m in await _messages(session)]
    assert [(c["previous_status"], c["status"]) for c in changes] == [
        (None, "normal"), ("normal", "alert")]
    assert changes[1]["findings"] == findings and changes[1]["flight_id"] == str(flight.id)
    assert changes[1]["registration"] == "PR-XBA" and changes[1]["score"] == 40.0


async def test_a_processed_and_a_failed_flight_are_told(world, session):
    await make_endpoint(session, world.account_a, event_types=["flight.processed",
                                                               "flight.failed"])
    ok = Flight(account_id=world.account_a.id, registration="PR-XBA")
    bad = Flight(account_id=world.account_a.id, registration="PR-XBB")
    session.add_all([ok, bad])
    await session.flush()
    await apply_outcome(session, ok, Outcome(result=flight_result("watch", 70.0)), 1)
    await apply_outcome(session, bad, Outcome(error_code="bad-file", error_message="not a CSV"), 1)
    by_type = {m["type"]: m["data"] for m in await _messages(session)}
    assert by_type["flight.processed"]["id"] == str(ok.id)
    assert by_type["flight.processed"]["bleed_status"] == "watch"
    assert by_type["flight.failed"]["error"]["code"] == "bad-file"


async def test_a_canceled_subscription_is_told(client, world, session):
    await make_endpoint(session, world.account_a, event_types=["subscription.canceled"])
    subscription = await make_subscription(
        session, world.account_a, await make_dataset(session, world.platform_account))
    await session.commit()
    response = await client.delete(f"/api/subscriptions/{subscription.id}",
                                   params={"at_period_end": "true"},
                                   headers=world.headers("admin_a"))
    assert response.status_code == 200, response.text
    [message] = await _messages(session)
    assert message["type"] == "subscription.canceled"
    assert message["data"] == response.json()


async def test_an_issued_then_paid_invoice_is_told_twice(client, world, session):
    await make_endpoint(session, world.account_a, event_types=["invoice.created",
                                                               "invoice.paid"])
    await session.commit()
    invoice = await issue_invoice(client, world)
    paid = await client.post(f"/api/invoices/{invoice['id']}/pay",
                             headers=world.headers("operator"))
    assert paid.status_code == 200, paid.text
    messages = await _messages(session)
    assert [m["type"] for m in messages] == ["invoice.created", "invoice.paid"]
    assert messages[0]["data"] == invoice and messages[1]["data"] == paid.json()


async def test_the_months_close_tells_each_invoice_with_its_number(world, session, sessionmaker):
    await make_endpoint(session, world.account_a, event_types=["invoice.created"])
    dataset = await make_dataset(session, world.platform_account, price_minor=1000)
    await make_subscription(session, world.account_a, dataset,
                            started_at=datetime(2026, 5, 3, tzinfo=UTC))
    await session.commit()
    result = await close_month(sessionmaker, "2026-05", concurrency=1)
    assert result.created == 1
    [message] = await _messages(session)
    assert message["data"]["number"] == "INV-202605-000001"
    assert message["data"]["account_id"] == str(world.account_a.id)


async def test_a_deleted_accounts_endpoints_are_disabled(client, world, session):
    endpoint = await make_endpoint(session, world.account_a)
    await session.commit()
    response = await client.delete(f"/api/accounts/{world.account_a.id}",
                                   headers=world.headers("operator"))
    assert response.status_code == 204
    await session.refresh(endpoint)
    assert not endpoint.enabled


async def test_other_accounts_hear_nothing(client, world, session):
    await make_endpoint(session, world.account_b)
    await session.commit()
    await issue_invoice(client, world)
    assert await _messages(session) == []
