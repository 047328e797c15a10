"""Closing a month over the JSON API: the same service and job as the back office's page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from nubo.kit import jobs
from nubo.kit.types import utcnow
from nubo.marketplace.months import month_of
from nubo.marketplace.tasks import close_month
from nubo.models import BillingRun, BillingRunStatus, Invoice
from tests.marketplace.factories import make_dataset, make_purchase, make_subscription


async def _billable(world, session) -> None:
    dataset = await make_dataset(session, world.platform_account, price_minor=4990)
    await make_subscription(session, world.account_a, dataset)
    await make_purchase(session, world.account_b, dataset)
    await session.commit()


async def _start(client, world, month, headers=None, **body):
    return await client.post("/api/billing-runs", json={"month": month, **body},
                             headers={**world.headers("operator"), **(headers or {})})


async def _work(app, sessionmaker, run_id: str) -> None:
    """What a worker does with the deferred job."""
    ctx = jobs.JobContext(settings=app.state.settings, sessionmaker=sessionmaker,
                          store=app.state.store, queue=app.state.jobs)
    await close_month(ctx, run_id=run_id, concurrency=1)


async def test_an_operator_closes_a_month_and_follows_the_run_to_its_invoices(
    app, client, session, sessionmaker, world
):
    await _billable(world, session)
    month = month_of(utcnow())
    started = await _start(client, world, month)
    assert started.status_code == 202
    run = started.json()
    assert run["status"] == "queued" and run["month"] == month and run["prorate"] is False
    assert run["accounts"] is None and run["done"] == 0 and run["totals"] == {}
    assert started.headers["location"] == f"/api/billing-runs/{run['id']}"

    await _work(app, sessionmaker, run["id"])
    followed = await client.get(started.headers["location"], headers=world.headers("operator"))
    assert followed.status_code == 200
    body = followed.json()
    assert body["status"] == "done" and body["finished_at"] is not None
    assert (body["accounts"], body["done"], body["created"], body["skipped"]) == (2, 2, 2, 0)
    assert body["totals"] == {"BRL": "99.80"} and body["failed"] == {} and body["error"] is None
    invoices = (await session.execute(select(Invoice).where(Invoice.month == month))).scalars()
    assert sorted(i.account_id for i in invoices) == sorted([world.account_a.id,
                                                             world.account_b.id])


async def test_a_month_being_closed_is_refused_with_the_run_to_follow(client, session, world):
    month = month_of(utcnow())
    first = (await _start(client, world, month)).json()
    again = await _start(client, world, month, prorate=True)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    problem = again.json()
    assert problem["code"] == "billing-run-in-progress" and problem["run_id"] == first["id"]
    other_month = await _start(client, world, "2026-01")
    assert other_month.status_code == 202


async def test_a_closed_month_may_be_closed_again_and_skips_what_is_invoiced(
    app, client, session, sessionmaker, world
):
    await _billable(world, session)
    month = month_of(utcnow())
    first = (await _start(client, world, month)).json()
    await _work(app, sessionmaker, first["id"])
    second = await _start(client, world, month)
    assert second.status_code == 202
    await _work(app, sessionmaker, second.json()["id"])
    body = (await client.get(f"/api/billing-runs/{second.json()['id']}",
                             headers=world.headers("operator"))).json()
    assert body["status"] == "done" and body["created"] == 0 and body["accounts"] == 0


async def test_a_run_abandoned_by_its_worker_no_longer_holds_the_month(client, session, world):
    month = month_of(utcnow())
    stale = BillingRun(month=month, status=BillingRunStatus.running, failed={},
                       totals_minor={}, updated_at=utcnow() - timedelta(minutes=5))
    session.add(stale)
    await session.commit()
    started = await _start(client, world, month)
    assert started.status_code == 202
    await session.refresh(stale)
    assert stale.status is BillingRunStatus.failed and "abandoned" in (stale.error or "")


async def test_runs_are_listed_newest_first_and_filtered(client, session, world):
    ids = [(await _start(client, world, month)).json()["id"]
           for month in ("2026-01", "2026-02", "2026-03")]
    headers = world.headers("operator")
    listed = (await client.get("/api/billing-runs", headers=headers,
                               params={"limit": 2})).json()
    assert [r["id"] for r in listed["items"]] == [ids[2], ids[1]]
    rest = (await client.get("/api/billing-runs", headers=headers,
                             params={"limit": 2, "cursor": listed["next_cursor"]})).json()
    assert [r["id"] for r in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    one_month = (await client.get("/api/billing-runs", headers=headers,
                                  params={"month": "2026-02", "status": "queued"})).json()
    assert [r["id"] for r in one_month["items"]] == [ids[1]]
    bad = await client.get("/api/billing-runs", headers=headers, params={"month": "2026-13"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid-month"


async def test_an_unknown_run_is_404_and_a_bad_month_422(client, world):
    headers = world.headers("operator")
    missing = await client.get("/api/billing-runs/6f1c1c36-3f4e-4a57-9a53-1f7b5d0e8d11",
                               headers=headers)
    assert missing.status_code == 404 and missing.json()["code"] == "not-found"
    bad = await client.post("/api/billing-runs", json={"month": "11/2026"}, headers=headers)
    assert bad.status_code == 422


async def test_a_retry_with_the_same_idempotency_key_gets_the_same_run(client, world):
    headers = {"Idempotency-Key": "close-2026-04"}
    first = await _start(client, world, "2026-04", headers=headers)
    retry = await _start(client, world, "2026-04", headers=headers)
    assert retry.status_code == 202 and retry.json()["id"] == first.json()["id"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.headers["location"] == first.headers["location"]


async def test_a_cancelled_run_leaves_no_reporter_writing(
    app, client, session, sessionmaker, world, monkeypatch
):
    import asyncio

    from nubo.marketplace import closing_runs

    async def stuck(*_args, **_kwargs):
        await asyncio.Event().wait()

    monkeypatch.setattr(closing_runs, "close_month", stuck)
    started = await _start(client, world, month_of(utcnow()))
    worker = asyncio.create_task(_work(app, sessionmaker, started.json()["id"]))

    def reporters() -> list[asyncio.Task]:
        return [t for t in asyncio.all_tasks() if t.get_name() == closing_runs.REPORTER]

    for _ in range(1000):  # until the run is claimed and reporting
        if reporters():
            break
        await asyncio.sleep(0.01)
    assert reporters(), "the run never started reporting"
    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await worker
    await asyncio.sleep(0)
    assert [t for t in reporters() if not t.done()] == []
