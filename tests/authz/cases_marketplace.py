"""Calls of the marketplace routes, each aimed at account A or a catalogue dataset."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from nubo.kit.storage import ObjectStore, new_key
from nubo.kit.types import utcnow
from nubo.marketplace.files import dataset_prefix
from nubo.marketplace.months import month_of
from nubo.models import BillingRun
from tests.authz.cases import Call, case
from tests.fixtures.world import World
from tests.marketplace.factories import (
    make_dataset,
    make_invoice,
    make_purchase,
    make_subscription,
)

DATASET = {"name": "Rain gauges", "description": "Daily rain", "location": "Recife, BR",
           "price": "19.90", "currency": "BRL", "category": "weather", "format": "csv"}


async def _dataset(world: World, session: AsyncSession):  # type: ignore[no-untyped-def]
    return await make_dataset(session, world.platform_account)


async def _attach_file(world: World, session: AsyncSession, dataset) -> None:  # type: ignore[no-untyped-def]
    """Put a data file in the app's store (same settings) and point the dataset at it."""
    store = ObjectStore.from_url(world.platform.settings.resolved_storage_url)
    stored = await store.put_bytes(new_key(dataset_prefix(dataset.id)), b"station,mm\nA,1\n")
    dataset.file_key, dataset.file_size, dataset.file_name = stored.key, stored.size, "rain.csv"
    await session.commit()


@case("POST", "/api/datasets")
async def _create_dataset(world: World, session: AsyncSession) -> Call:
    return Call(json=DATASET)


@case("GET", "/api/datasets")
async def _list_datasets(world: World, session: AsyncSession) -> Call:
    await _dataset(world, session)
    await session.commit()
    return Call(params={"location": "sao paulo, br", "min_price": "1", "sort": "price"})


@case("GET", "/api/datasets/{datasetId}")
@case("DELETE", "/api/datasets/{datasetId}")
async def _a_dataset(world: World, session: AsyncSession) -> Call:
    dataset = await _dataset(world, session)
    await session.commit()
    return Call(path={"datasetId": str(dataset.id)})


@case("PUT", "/api/datasets/{datasetId}")
async def _update_dataset(world: World, session: AsyncSession) -> Call:
    dataset = await _dataset(world, session)
    await session.commit()
    return Call(path={"datasetId": str(dataset.id)}, json={"price": "59.90"})


@case("GET", "/api/datasets/location/{location}")
async def _by_location(world: World, session: AsyncSession) -> Call:
    await _dataset(world, session)
    await session.commit()
    return Call(path={"location": "sao paulo, br"})


@case("GET", "/api/datasets/price/{price}")
async def _by_price(world: World, session: AsyncSession) -> Call:
    await _dataset(world, session)
    await session.commit()
    return Call(path={"price": "49.9"})


@case("POST", "/api/transactions")
async def _purchase(world: World, session: AsyncSession) -> Call:
    dataset = await _dataset(world, session)
    await session.commit()
    return Call(json={"type": "one_time", "account_id": str(world.account_a.id),
                      "dataset_id": str(dataset.id)})


@case("POST", "/api/subscriptions")
async def _subscribe(world: World, session: AsyncSession) -> Call:
    dataset = await _dataset(world, session)
    await session.commit()
    return Call(json={"account_id": str(world.account_a.id), "dataset_id": str(dataset.id)})


@case("DELETE", "/api/subscriptions/{subscriptionId}")
async def _cancel(world: World, session: AsyncSession) -> Call:
    subscription = await make_subscription(session, world.account_a, await _dataset(world, session))
    await session.commit()
    return Call(path={"subscriptionId": str(subscription.id)})


@case("GET", "/api/subscriptions/account/{accountId}")
@case("GET", "/api/invoices/account/{accountId}")
@case("GET", "/api/invoices/account/{accountId}/export")
@case("GET", "/api/transactions/account/{accountId}/export")
async def _of_account_a(world: World, session: AsyncSession) -> Call:
    return Call(path={"accountId": str(world.account_a.id)})


@case("GET", "/api/subscriptions/account/{accountId}/month/{month}")
async def _month_of_account_a(world: World, session: AsyncSession) -> Call:
    return Call(path={"accountId": str(world.account_a.id), "month": month_of(utcnow())})


@case("POST", "/api/invoices")
async def _invoice(world: World, session: AsyncSession) -> Call:
    await make_subscription(session, world.account_a, await _dataset(world, session))
    await session.commit()
    return Call(json={"account_id": str(world.account_a.id), "month": month_of(utcnow())})


@case("GET", "/api/invoices")
async def _invoices(world: World, session: AsyncSession) -> Call:
    return Call(params={"month": month_of(utcnow())})


@case("GET", "/api/invoices/{invoiceId}")
@case("GET", "/api/invoices/{invoiceId}/pdf")
@case("POST", "/api/invoices/{invoiceId}/pay")
@case("POST", "/api/invoices/{invoiceId}/void")
async def _an_invoice(world: World, session: AsyncSession) -> Call:
    await make_subscription(session, world.account_a, await _dataset(world, session))
    invoice = await make_invoice(session, world.account_a, month_of(utcnow()))
    await session.commit()
    return Call(path={"invoiceId": str(invoice.id)})


@case("GET", "/api/datasets/{datasetId}/download")
async def _download(world: World, session: AsyncSession) -> Call:
    dataset = await _dataset(world, session)
    await make_purchase(session, world.account_a, dataset)
    await _attach_file(world, session, dataset)
    return Call(path={"datasetId": str(dataset.id)})


@case("POST", "/api/datasets/{datasetId}/file")
async def _upload(world: World, session: AsyncSession) -> Call:
    dataset = await _dataset(world, session)
    await session.commit()
    return Call(path={"datasetId": str(dataset.id)}, content=b"station,mm\nA,1\n",
                params={"filename": "rain.csv"}, headers={"Content-Type": "text/csv"})


@case("POST", "/api/billing-runs")
async def _start_billing_run(world: World, session: AsyncSession) -> Call:
    return Call(json={"month": month_of(utcnow())})


@case("GET", "/api/billing-runs")
async def _billing_runs(world: World, session: AsyncSession) -> Call:
    return Call(params={"month": month_of(utcnow())})


@case("GET", "/api/billing-runs/{runId}")
async def _billing_run(world: World, session: AsyncSession) -> Call:
    run = BillingRun(month=month_of(utcnow()), failed={}, totals_minor={})
    session.add(run)
    await session.commit()
    return Call(path={"runId": str(run.id)})
