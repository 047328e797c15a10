"""Invoices over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from nubo.marketplace import invoicing
from nubo.models import InvoiceCounter, SubscriptionStatus
from tests.fixtures.world import World
from tests.marketplace.factories import make_dataset, make_purchase, make_subscription

MONTH = "2026-03"  # 31 days


def at(day: int, hour: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


async def _setup(world: World, session):
    weather = await make_dataset(session, world.platform_account, name="Weather",
                                 price_minor=4990)
    ocean = await make_dataset(session, world.platform_account, name="Ocean", price_minor=10000)
    maps = await make_dataset(session, world.platform_account, name="Maps", price_minor=2500)
    # All month long; from the 16th; a one-off on the 20th; one-off of February (not billed).
    full = await make_subscription(session, world.account_a, weather, started_at=at(1, month=1))
    half = await make_subscription(session, world.account_a, ocean, started_at=at(16, 12))
    one_off = await make_purchase(session, world.account_a, maps, at=at(20))
    await make_purchase(session, world.account_a,
                        await make_dataset(session, world.platform_account),
                        at=at(27, month=2))
    # Ended in February: not billed in March.
    await make_subscription(session, world.account_a, maps, started_at=at(1, month=1),
                            status=SubscriptionStatus.canceled, ends_at=at(28, month=2))
    await session.commit()
    return full, half, one_off


async def _post(client, world, **body):
    payload = {"account_id": str(world.account_a.id), "month": MONTH, **body}
    return await client.post("/api/invoices", json=payload, headers=world.headers("operator"))


async def test_builds_the_month_from_subscriptions_and_unbilled_one_offs(client, world, session):
    full, _half, one_off = await _setup(world, session)
    response = await _post(client, world)
    assert response.status_code == 201, response.text
    invoice = response.json()
    assert invoice["number"] == "INV-202603-000001" and invoice["status"] == "open"
    lines = invoice["lines"]
    shown = [(ln["description"], ln["quantity"], ln["unit_amount"], ln["amount"]) for ln in lines]
    assert shown == [
        ("Subscription: Weather (2026-03)", "1", "49.90", "49.90"),
        ("Subscription: Ocean (2026-03)", "1", "100.00", "100.00"),
        ("Purchase: Maps", "1", "25.00", "25.00"),
    ]
    assert lines[0]["subscription_id"] == str(full.id)
    assert lines[2]["transaction_id"] == str(one_off.id)
    assert invoice["total"] == "174.90" and invoice["currency"] == "BRL"
    assert lines[1]["period_start"].startswith("2026-03-16T12:00")
    assert lines[1]["period_end"].startswith("2026-04-01T00:00")


async def test_prorate_charges_active_days(client, world, session):
    await _setup(world, session)
    response = await _post(client, world, prorate=True)
    assert response.status_code == 201, response.text
    lines = response.json()["lines"]
    # 16 of 31 days: 100.00 * 16 / 31 = 51.6129 -> 51.61
    assert (lines[1]["quantity"], lines[1]["amount"]) == ("0.516129", "51.61")
    assert lines[0]["amount"] == "49.90"
    assert response.json()["total"] == "126.51" and response.json()["prorated"] is True


async def test_one_invoice_per_account_and_month(client, world, session):
    await _setup(world, session)
    assert (await _post(client, world)).status_code == 201
    second = await _post(client, world)
    assert second.status_code == 409 and second.json()["code"] == "invoice-exists"
    manual = await _post(client, world, lines=[{"description": "x", "unit_amount": "1"}])
    assert manual.status_code == 409
    # The refused attempts gave their numbers back: the next month's sequence is untouched
    # and this month's counter stays at 1.
    counter = (await session.execute(
        select(InvoiceCounter.last_value).where(InvoiceCounter.month == MONTH)
    )).scalar_one()
    assert counter == 1


async def test_one_offs_are_billed_once_and_empty_month_is_422(client, world, session):
    await _setup(world, session)
    assert (await _post(client, world)).status_code == 201
    empty = await client.post("/api/invoices",
                              json={"account_id": str(world.account_a.id), "month": "2025-01"},
                              headers=world.headers("operator"))
    assert empty.status_code == 422 and empty.json()["code"] == "empty-month"
    nothing = await client.post("/api/invoices",
                                json={"account_id": str(world.account_b.id), "month": MONTH},
                                headers=world.headers("operator"))
    assert nothing.status_code == 422


async def test_numbers_are_gapless_per_month(client, world, session):
    await _setup(world, session)
    dataset = await make_dataset(session, world.platform_account)
    await make_subscription(session, world.account_b, dataset, started_at=at(2))
    await session.commit()
    a = await _post(client, world)
    failed = await _post(client, world)  # 409, rolled back with its number
    b = await client.post("/api/invoices", json={"account_id": str(world.account_b.id),
                                                 "month": MONTH},
                          headers=world.headers("operator"))
    assert failed.status_code == 409
    assert [a.json()["number"], b.json()["number"]] == ["INV-202603-000001", "INV-202603-000002"]


async def test_manual_invoice(client, world, session):
    response = await _post(client, world, currency="USD", lines=[
        {"description": "Consulting", "quantity": "2.5", "unit_amount": "100.10"},
        {"description": "Setup", "unit_amount": "50", "period_start": "2026-03-01T00:00:00Z",
         "period_end": "2026-04-01T00:00:00Z"},
    ])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["manual"] is True and body["currency"] == "USD"
    assert [ln["amount"] for ln in body["lines"]] == ["250.25", "50.00"]
    assert body["total"] == "300.25"
    for bad in [
        {"lines": []},
        {"lines": [{"description": "x", "unit_amount": "-1"}]},
        {"lines": [{"description": "x", "unit_amount": 1.5}]},
        {"lines": [{"description": "x", "unit_amount": "1", "quantity": "0"}]},
        {"lines": [{"description": "x", "unit_amount": "1.001"}], "month": "2026-05"},
        {"month": "2026-13"},
        {"month": "3"},
        {"total": "5"},
    ]:
        bad_response = await _post(client, world, **bad)
        assert bad_response.status_code == 422, (bad, bad_response.text)


async def test_reading_invoices(client, world, session):
    await _setup(world, session)
    created = (await _post(client, world)).json()
    own = await client.get(f"/api/invoices/account/{world.account_a.id}",
                           params={"status": "open", "month": MONTH},
                           headers=world.headers("member_a"))
    assert own.status_code == 200 and [i["id"] for i in own.json()["items"]] == [created["id"]]
    assert own.json()["items"][0]["lines"]
    paid = await client.get(f"/api/invoices/account/{world.account_a.id}",
                            params={"status": "paid"}, headers=world.headers("admin_a"))
    assert paid.json()["items"] == []
    one = await client.get(f"/api/invoices/{created['id']}", headers=world.headers("member_a"))
    assert one.status_code == 200 and one.json()["total"] == created["total"]
    assert (await client.get(f"/api/invoices/{created['id']}",
                             headers=world.headers("admin_b"))).status_code == 404
    everything = await client.get("/api/invoices", params={"account_id": str(world.account_a.id)},
                                  headers=world.headers("operator"))
    assert [i["id"] for i in everything.json()["items"]] == [created["id"]]
    assert (await client.get("/api/invoices", params={"month": "2026-3"},
                             headers=world.headers("operator"))).status_code == 422
    assert (await client.get("/api/invoices", headers=world.headers("admin_a"))).status_code == 403


async def test_invoice_idempotency(client, world, session):
    await _setup(world, session)
    headers = {**world.headers("operator"), "Idempotency-Key": "close-2026-03-a"}
    body = {"account_id": str(world.account_a.id), "month": MONTH}
    first = await client.post("/api/invoices", json=body, headers=headers)
    retry = await client.post("/api/invoices", json=body, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert first.json() == retry.json()
    changed = await client.post("/api/invoices", json={**body, "prorate": True}, headers=headers)
    assert changed.status_code == 422


async def test_next_number_sequence(session):
    assert await invoicing.next_number(session, "2031-07") == "INV-203107-000001"
    assert await invoicing.next_number(session, "2031-07") == "INV-203107-000002"
    assert await invoicing.next_number(session, "2031-08") == "INV-203108-000001"


async def test_pay_and_void(client, world, session):
    _, _, one_off = await _setup(world, session)
    first = (await _post(client, world)).json()
    ops = world.headers("operator")
    void = await client.post(f"/api/invoices/{first['id']}/void", headers=ops)
    assert void.status_code == 200 and void.json()["status"] == "void"
    assert (await client.post(f"/api/invoices/{first['id']}/pay", headers=ops)).status_code == 409
    # The month and the one-off purchase are free again; the new invoice takes the next number.
    second = await _post(client, world)
    assert second.status_code == 201, second.text
    assert second.json()["number"] == "INV-202603-000002"
    assert str(one_off.id) in [ln["transaction_id"] for ln in second.json()["lines"]]
    paid = await client.post(f"/api/invoices/{second.json()['id']}/pay", headers=ops)
    assert paid.status_code == 200 and paid.json()["status"] == "paid"
    again = await client.post(f"/api/invoices/{second.json()['id']}/void", headers=ops)
    assert again.status_code == 409 and again.json()["code"] == "invoice-not-open"
    listed = await client.get(f"/api/invoices/account/{world.account_a.id}",
                              params={"status": "paid"}, headers=world.headers("member_a"))
    assert [i["id"] for i in listed.json()["items"]] == [second.json()["id"]]
    assert (await client.post(f"/api/invoices/{first['id']}/pay",
                              headers=world.headers("admin_a"))).status_code == 403
