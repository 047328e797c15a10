"""Purchases, subscriptions and idempotency over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from nubo.kit.types import utcnow
from nubo.marketplace.months import month_of
from nubo.models import Subscription, SubscriptionStatus, Transaction
from tests.fixtures.world import World
from tests.marketplace.factories import make_dataset, make_purchase, make_subscription


def _buy(world: World, dataset, kind="one_time"):
    return {"type": kind, "account_id": str(world.account_a.id), "dataset_id": str(dataset.id)}


async def test_one_time_purchase_records_the_price_of_the_moment(client, world, session):
    dataset = await make_dataset(session, world.platform_account, price_minor=4990)
    await session.commit()
    response = await client.post("/api/transactions", json=_buy(world, dataset),
                                 headers=world.headers("admin_a"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["type"], body["amount"], body["currency"]) == ("one_time", "49.90", "BRL")
    assert body["subscription"] is None
    await client.put(f"/api/datasets/{dataset.id}", json={"price": "99"},
                     headers=world.headers("operator"))
    stored = (await session.execute(select(Transaction.amount_minor))).scalars().all()
    assert stored == [4990]
    again = await client.post("/api/transactions", json=_buy(world, dataset),
                              headers=world.headers("operator"))
    assert again.status_code == 409 and again.json()["code"] == "already-purchased"


async def test_subscription_purchase_creates_subscription_and_first_charge(client, world, session):
    dataset = await make_dataset(session, world.platform_account, price_minor=1000)
    await session.commit()
    response = await client.post("/api/transactions", json=_buy(world, dataset, "subscription"),
                                 headers=world.headers("admin_a"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["amount"] == "10.00" and body["subscription"]["status"] == "active"
    start = datetime.fromisoformat(body["period_start"])
    end = datetime.fromisoformat(body["period_end"])
    assert 28 <= (end - start).days <= 31
    assert body["subscription"]["current_period_end"] == body["period_end"]
    second = await client.post("/api/subscriptions", json={"account_id": str(world.account_a.id),
                                                          "dataset_id": str(dataset.id)},
                               headers=world.headers("admin_a"))
    assert second.status_code == 409 and second.json()["code"] == "subscription-exists"
    # The failed purchase left nothing behind.
    third = await client.post("/api/transactions", json=_buy(world, dataset, "subscription"),
                              headers=world.headers("admin_a"))
    assert third.status_code == 409
    count = (await session.execute(select(func.count()).select_from(Transaction))).scalar_one()
    assert count == 1


async def test_one_active_subscription_is_enforced_by_the_database(world, session):
    import pytest
    from sqlalchemy.exc import IntegrityError

    dataset = await make_dataset(session, world.platform_account)
    await make_subscription(session, world.account_a, dataset)
    with pytest.raises(IntegrityError):
        async with session.begin_nested():
            await make_subscription(session, world.account_a, dataset)
    # A canceled one does not count.
    await make_subscription(session, world.account_b, dataset,
                            status=SubscriptionStatus.canceled, ends_at=utcnow())
    await make_subscription(session, world.account_b, dataset)


async def test_cancel_now_and_at_period_end(client, world, session):
    dataset = await make_dataset(session, world.platform_account)
    started = utcnow() - timedelta(days=40)
    sub = await make_subscription(session, world.account_a, dataset, started_at=started)
    await session.commit()
    url = f"/api/subscriptions/{sub.id}"
    scheduled = await client.delete(url, params={"at_period_end": "true"},
                                    headers=world.headers("admin_a"))
    assert scheduled.status_code == 200, scheduled.text
    body = scheduled.json()
    assert body["status"] == "active" and body["cancel_at_period_end"] is True
    assert datetime.fromisoformat(body["ends_at"]) > utcnow()
    assert (await client.delete(url, params={"at_period_end": "true"},
                                headers=world.headers("admin_a"))).status_code == 409
    now = await client.delete(url, headers=world.headers("operator"))
    assert now.status_code == 200 and now.json()["status"] == "canceled"
    again = await client.delete(url, headers=world.headers("admin_a"))
    assert again.status_code == 409 and again.json()["code"] == "subscription-canceled"
    row = (await session.execute(
        select(Subscription).where(Subscription.id == sub.id)
        .execution_options(populate_existing=True)
    )).scalar_one()
    assert row.status is SubscriptionStatus.canceled  # the row is kept
    assert (await client.delete(url, headers=world.headers("member_a"))).status_code == 403
    assert (await client.delete(url, headers=world.headers("admin_b"))).status_code == 404


async def test_a_subscription_ended_at_period_end_frees_the_slot(client, world, session):
    dataset = await make_dataset(session, world.platform_account)
    await make_subscription(session, world.account_a, dataset,
                            started_at=utcnow() - timedelta(days=40),
                            ends_at=utcnow() - timedelta(days=9), cancel_at_period_end=True)
    await session.commit()
    response = await client.post("/api/subscriptions",
                                 json={"account_id": str(world.account_a.id),
                                       "dataset_id": str(dataset.id)},
                                 headers=world.headers("admin_a"))
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "active"
    # POST /subscriptions charges nothing.
    count = (await session.execute(select(func.count()).select_from(Transaction))).scalar_one()
    assert count == 0


async def test_listing_and_month_view(client, world, session):
    d1 = await make_dataset(session, world.platform_account)
    d2 = await make_dataset(session, world.platform_account)
    d3 = await make_dataset(session, world.platform_account)
    feb = datetime(2026, 2, 10, tzinfo=UTC)
    old = await make_subscription(session, world.account_a, d1, started_at=feb,
                                  status=SubscriptionStatus.canceled,
                                  ends_at=datetime(2026, 3, 1, tzinfo=UTC))
    running = await make_subscription(session, world.account_a, d2,
                                      started_at=datetime(2026, 2, 28, 23, tzinfo=UTC))
    later = await make_subscription(session, world.account_a, d3,
                                    started_at=datetime(2026, 4, 1, tzinfo=UTC))
    await make_subscription(session, world.account_b, d1)
    await session.commit()
    base = f"/api/subscriptions/account/{world.account_a.id}"
    headers = world.headers("member_a")
    listed = await client.get(base, headers=headers)
    assert [s["id"] for s in listed.json()["items"]] == [str(later.id), str(running.id),
                                                         str(old.id)]
    active = await client.get(base, params={"status": "active"}, headers=headers)
    assert {s["id"] for s in active.json()["items"]} == {str(later.id), str(running.id)}
    canceled = await client.get(base, params={"status": "canceled"}, headers=headers)
    assert [s["id"] for s in canceled.json()["items"]] == [str(old.id)]

    async def month(value):
        response = await client.get(f"{base}/month/{value}", headers=headers)
        assert response.status_code == 200, response.text
        return {s["id"] for s in response.json()["items"]}

    assert await month("2026-02") == {str(old.id), str(running.id)}
    assert await month("2026-03") == {str(running.id)}
    assert await month("2026-04") == {str(running.id), str(later.id)}
    assert await month("2026-01") == set()
    this_year = utcnow().year
    if this_year == 2026:
        assert await month("3") == {str(running.id)}
    for bad in ["2026-13", "13", "0", "2026-3", "march", "2026-03-01"]:
        assert (await client.get(f"{base}/month/{bad}", headers=headers)).status_code == 422
    other = await client.get(f"/api/subscriptions/account/{world.account_a.id}",
                             headers=world.headers("admin_b"))
    assert other.status_code == 404


async def test_download_entitlement(client, world, session):
    """Entitled accounts (purchase, or a subscription active now) pass the check; others 404."""
    from nubo.marketplace import repository

    now = utcnow()
    bought = await make_dataset(session, world.platform_account)
    subscribed = await make_dataset(session, world.platform_account)
    lapsed = await make_dataset(session, world.platform_account)
    await make_purchase(session, world.account_a, bought)
    await make_subscription(session, world.account_a, subscribed)
    await make_subscription(session, world.account_a, lapsed, started_at=now - timedelta(days=60),
                            status=SubscriptionStatus.canceled, ends_at=now - timedelta(days=1))
    a, b = world.account_a.id, world.account_b.id
    assert await repository.is_entitled(session, a, bought.id, now)
    assert await repository.is_entitled(session, a, subscribed.id, now)
    assert not await repository.is_entitled(session, a, lapsed.id, now)
    assert not await repository.is_entitled(session, b, bought.id, now)


async def test_deleting_an_account_cancels_its_subscriptions(client, world, session):
    dataset = await make_dataset(session, world.platform_account)
    sub = await make_subscription(session, world.account_a, dataset)
    other = await make_subscription(session, world.account_b, dataset)
    await session.commit()
    response = await client.delete(f"/api/accounts/{world.account_a.id}",
                                   headers=world.headers("operator"))
    assert response.status_code == 204
    stmt = select(Subscription).execution_options(populate_existing=True)
    rows = {s.id: s for s in (await session.execute(stmt)).scalars()}
    assert rows[sub.id].status is SubscriptionStatus.canceled
    assert rows[sub.id].ends_at is not None and rows[sub.id].canceled_at is not None
    assert rows[other.id].status is SubscriptionStatus.active


async def test_deleting_a_dataset_stops_purchases_but_access_runs_to_period_end(
    client, world, session
):
    dataset = await make_dataset(session, world.platform_account)
    sub = await make_subscription(session, world.account_a, dataset,
                                  started_at=utcnow() - timedelta(days=3))
    await session.commit()
    assert (await client.delete(f"/api/datasets/{dataset.id}",
                                headers=world.headers("operator"))).status_code == 204
    for kind in ["one_time", "subscription"]:
        response = await client.post("/api/transactions", json=_buy(world, dataset, kind),
                                     headers=world.headers("admin_a"))
        assert response.status_code == 404
    listed = await client.get(f"/api/subscriptions/account/{world.account_a.id}",
                              headers=world.headers("admin_a"))
    item = listed.json()["items"][0]
    assert item["id"] == str(sub.id) and item["status"] == "active"
    assert item["cancel_at_period_end"] is True
    ends = datetime.fromisoformat(item["ends_at"])
    assert utcnow() + timedelta(days=20) < ends < utcnow() + timedelta(days=32)
    from nubo.marketplace import repository

    assert await repository.is_entitled(session, world.account_a.id, dataset.id, utcnow())
    assert not await repository.is_entitled(session, world.account_a.id, dataset.id,
                                             ends + timedelta(seconds=1))


async def test_idempotency_key_replays_and_refuses_a_different_body(client, world, session):
    d1 = await make_dataset(session, world.platform_account)
    d2 = await make_dataset(session, world.platform_account)
    await session.commit()
    headers = {**world.headers("admin_a"), "Idempotency-Key": "order-1"}
    first = await client.post("/api/transactions", json=_buy(world, d1, "subscription"),
                              headers=headers)
    assert first.status_code == 201
    retry = await client.post("/api/transactions", json=_buy(world, d1, "subscription"),
                              headers=headers)
    assert retry.status_code == 201 and retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    different = await client.post("/api/transactions", json=_buy(world, d2), headers=headers)
    assert different.status_code == 422 and different.json()["code"] == "idempotency-key-reused"
    count = (await session.execute(select(func.count()).select_from(Transaction))).scalar_one()
    assert count == 1
    # Keys belong to the caller: another user's same key is a new request.
    other = await client.post("/api/transactions", json=_buy(world, d2),
                              headers={**world.headers("operator"), "Idempotency-Key": "order-1"})
    assert other.status_code == 201
    # A failed request stores nothing: the retry runs again (and fails the same way).
    dup = {**world.headers("admin_a"), "Idempotency-Key": "order-2"}
    for _ in range(2):
        failed = await client.post("/api/transactions", json=_buy(world, d2), headers=dup)
        assert failed.status_code == 409
    assert (await client.post("/api/transactions", json=_buy(world, d1),
                              headers={**world.headers("admin_a"), "Idempotency-Key": ""})
            ).status_code == 422


async def test_month_helper_is_utc(world):
    assert month_of(datetime(2026, 3, 31, 23, 30, tzinfo=UTC)) == "2026-03"
