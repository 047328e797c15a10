"""The concurrency rules with truly concurrent requests on PostgreSQL.

These cannot run inside the rolled-back test transaction: each request must have its own
connection and commit. They use a separate app on the real engine, unique data, and delete
what they committed at the end. SQLite (one writer) is skipped.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import delete, func, select

from nubo.app import create_app
from nubo.models import (
    Account,
    BillingRun,
    Dataset,
    IdempotencyKey,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
    RefreshToken,
    Subscription,
    Transaction,
    User,
)
from tests.conftest import make_settings
from tests.fixtures.world import World, build_world
from tests.marketplace.factories import make_dataset, make_subscription

pytestmark = pytest.mark.postgres
N = 12
MONTH = "2031-01"  # no other test touches these months' invoice counters
CLOSE = "2031-02"
RUN = "2031-03"  # billing runs of this month are this file's


@dataclass
class Live:
    app: Any
    client: AsyncClient
    world: World

    def session(self):  # type: ignore[no-untyped-def]
        return self.app.state.sessionmaker()


@pytest.fixture
async def live(database_url: str, data_dir, engine) -> AsyncIterator[Live]:
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrent writers need PostgreSQL (SQLite has a single writer)")
    app = create_app(make_settings(database_url, data_dir, db_pool_size=N))
    async with app.state.sessionmaker() as session:
        world = await build_world(session, app.state.platform)
    transport = ASGITransport(app=app, client=("203.0.113.9", 40000))
    async with AsyncClient(transport=transport, base_url="http://nubo.test") as client:
        try:
            yield Live(app, client, world)
        finally:
            await _clean(app, world)
            await app.state.engine.dispose()


async def _clean(app: Any, world: World) -> None:
    accounts = [world.platform_account.id, world.account_a.id, world.account_b.id]
    users = [world.operator.id, world.admin_a.id, world.member_a.id, world.admin_b.id]
    async with app.state.sessionmaker() as s, s.begin():
        invoices = select(Invoice.id).where(Invoice.account_id.in_(accounts))
        await s.execute(delete(InvoiceLine).where(InvoiceLine.invoice_id.in_(invoices)))
        await s.execute(delete(Invoice).where(Invoice.account_id.in_(accounts)))
        await s.execute(delete(InvoiceCounter).where(InvoiceCounter.month.in_([MONTH, CLOSE])))
        await s.execute(delete(BillingRun).where(BillingRun.month == RUN))
        await s.execute(delete(Transaction).where(Transaction.account_id.in_(accounts)))
        await s.execute(delete(Subscription).where(Subscription.account_id.in_(accounts)))
        await s.execute(delete(Dataset).where(Dataset.provider_account_id.in_(accounts)))
        await s.execute(delete(IdempotencyKey).where(
            IdempotencyKey.scope.in_([f"user:{u}" for u in users])))
        await s.execute(delete(RefreshToken).where(RefreshToken.user_id.in_(users)))
        await s.execute(delete(User).where(User.account_id.in_(accounts)))
        await s.execute(delete(Account).where(Account.id.in_(accounts)))


async def _dataset(live: Live) -> Dataset:
    async with live.session() as s, s.begin():
        return await make_dataset(s, live.world.platform_account)


async def _count(live: Live, model: Any, *where: Any) -> int:
    async with live.session() as s:
        return int((await s.execute(select(func.count()).select_from(model).where(*where))
                    ).scalar_one())


async def test_same_idempotency_key_makes_one_transaction(live: Live):
    dataset = await _dataset(live)
    world = live.world
    body = {"type": "subscription", "account_id": str(world.account_a.id),
            "dataset_id": str(dataset.id)}
    headers = {**world.headers("admin_a"), "Idempotency-Key": f"k-{uuid.uuid4()}"}
    responses = await asyncio.gather(*[
        live.client.post("/api/transactions", json=body, headers=headers) for _ in range(N)
    ])
    statuses = [r.status_code for r in responses]
    assert statuses == [201] * N, [r.text for r in responses]
    assert len({r.text for r in responses}) == 1  # the very same response every time
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == N - 1
    assert await _count(live, Transaction, Transaction.dataset_id == dataset.id) == 1
    assert await _count(live, Subscription, Subscription.dataset_id == dataset.id) == 1


async def test_second_active_subscription_loses_the_race(live: Live):
    dataset = await _dataset(live)
    world = live.world
    body = {"account_id": str(world.account_a.id), "dataset_id": str(dataset.id)}
    responses = await asyncio.gather(*[
        live.client.post("/api/subscriptions", json=body,
                         headers=world.headers("admin_a" if i % 2 else "operator"))
        for i in range(N)
    ])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (N - 1), [r.text for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {
        "subscription-exists"}
    assert await _count(live, Subscription, Subscription.dataset_id == dataset.id) == 1


async def test_second_invoice_of_a_month_loses_the_race_and_numbers_stay_gapless(live: Live):
    world = live.world
    from datetime import UTC, datetime

    async with live.session() as s, s.begin():
        dataset = await make_dataset(s, world.platform_account)
        for account in (world.account_a, world.account_b):
            await make_subscription(s, account, dataset,
                                    started_at=datetime(2030, 12, 5, tzinfo=UTC))
    headers = world.headers("operator")
    races = [
        live.client.post("/api/invoices", json={"account_id": str(account.id), "month": MONTH},
                         headers=headers)
        for account in (world.account_a, world.account_b)
        for _ in range(N // 2)
    ]
    responses = await asyncio.gather(*races)
    created = [r.json() for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code != 201]
    assert len(created) == 2, [r.text for r in responses]
    assert {r.status_code for r in refused} == {409}
    assert sorted(i["number"] for i in created) == ["INV-203101-000001", "INV-203101-000002"]
    assert await _count(live, Invoice, Invoice.month == MONTH) == 2
    async with live.session() as s:
        counter = (await s.execute(select(InvoiceCounter.last_value)
                                   .where(InvoiceCounter.month == MONTH))).scalar_one()
    assert counter == 2


async def test_same_key_on_invoices_returns_the_original(live: Live):
    world = live.world
    from datetime import UTC, datetime

    async with live.session() as s, s.begin():
        dataset = await make_dataset(s, world.platform_account)
        await make_subscription(s, world.account_a, dataset,
                                started_at=datetime(2030, 12, 5, tzinfo=UTC))
    headers = {**world.headers("operator"), "Idempotency-Key": f"inv-{uuid.uuid4()}"}
    body = {"account_id": str(world.account_a.id), "month": MONTH}
    responses = await asyncio.gather(*[
        live.client.post("/api/invoices", json=body, headers=headers) for _ in range(N)
    ])
    assert [r.status_code for r in responses] == [201] * N
    assert len({r.json()["id"] for r in responses}) == 1


async def test_close_month_in_parallel_batches_races_the_api(live: Live):
    from datetime import UTC, datetime

    from nubo.marketplace.closing import close_month

    world = live.world
    async with live.session() as s, s.begin():
        dataset = await make_dataset(s, world.platform_account)
        for account in (world.account_a, world.account_b):
            await make_subscription(s, account, dataset,
                                    started_at=datetime(2031, 1, 20, tzinfo=UTC))
    body = {"account_id": str(world.account_a.id), "month": CLOSE}
    api, closed = await asyncio.gather(
        live.client.post("/api/invoices", json=body, headers=world.headers("operator")),
        close_month(live.app.state.sessionmaker, CLOSE, concurrency=2, batch_size=1),
    )
    assert api.status_code in (201, 409)
    assert closed.created + (api.status_code == 201) == 2 and not closed.failed
    async with live.session() as s:
        numbers = sorted((await s.execute(select(Invoice.number)
                                          .where(Invoice.month == CLOSE))).scalars())
    assert numbers == ["INV-203102-000001", "INV-203102-000002"]


async def test_concurrent_starts_of_a_months_closing_make_one_run(live: Live):
    headers = live.world.headers("operator")
    responses = await asyncio.gather(*[
        live.client.post("/api/billing-runs", json={"month": RUN}, headers=headers)
        for _ in range(N)
    ])
    started = [r.json() for r in responses if r.status_code == 202]
    refused = [r.json() for r in responses if r.status_code != 202]
    assert len(started) == 1, [r.text for r in responses]
    assert {p["code"] for p in refused} == {"billing-run-in-progress"}
    assert {p.get("run_id") for p in refused} == {started[0]["id"]}
    assert await _count(live, BillingRun, BillingRun.month == RUN) == 1
