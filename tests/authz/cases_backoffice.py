"""The account's own pages and the back office's (sent with the caller's browser session)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from nubo.kit.types import utcnow
from nubo.marketplace.months import month_of
from nubo.models import BillingRun
from tests.authz.cases import Call, case
from tests.fixtures.world import PASSWORD, World
from tests.marketplace.factories import make_dataset, make_invoice, make_subscription


def _email() -> str:
    return f"new-{uuid.uuid4().hex[:8]}@example.com"


@case("GET", "/account")
@case("GET", "/backoffice/accounts")
@case("GET", "/backoffice/datasets")
@case("GET", "/backoffice/billing")
async def _pages(world: World, session: AsyncSession) -> Call:
    return Call()


@case("POST", "/account")
async def _edit_own_account(world: World, session: AsyncSession) -> Call:
    return Call(data={"name": "Renamed"})


@case("POST", "/account/users")
async def _add_own_user(world: World, session: AsyncSession) -> Call:
    return Call(data={"name": "New", "email": _email(), "password": PASSWORD, "role": "member"})


@case("POST", "/account/users/{userId}/delete")
async def _remove_own_user(world: World, session: AsyncSession) -> Call:
    return Call(path={"userId": str(world.member_a.id)})


@case("POST", "/backoffice/accounts")
async def _create_account(world: World, session: AsyncSession) -> Call:
    return Call(data={"name": "New Co", "email": _email()})


@case("GET", "/backoffice/accounts/{accountId}")
@case("POST", "/backoffice/accounts/{accountId}/delete")
async def _account(world: World, session: AsyncSession) -> Call:
    return Call(path={"accountId": str(world.account_a.id)})


@case("POST", "/backoffice/accounts/{accountId}")
async def _edit_account(world: World, session: AsyncSession) -> Call:
    return Call(path={"accountId": str(world.account_a.id)}, data={"name": "Renamed"})


@case("POST", "/backoffice/accounts/{accountId}/users")
async def _add_user(world: World, session: AsyncSession) -> Call:
    return Call(path={"accountId": str(world.account_a.id)},
                data={"name": "New", "email": _email(), "password": PASSWORD, "role": "admin"})


@case("POST", "/backoffice/accounts/{accountId}/users/{userId}/delete")
async def _remove_user(world: World, session: AsyncSession) -> Call:
    return Call(path={"accountId": str(world.account_a.id), "userId": str(world.member_a.id)})


DATASET = {"name": "Rain", "description": "Daily rain", "location": "Recife, PE, BR",
           "price": "19.90", "currency": "BRL", "category": "weather", "format": "csv"}


@case("POST", "/backoffice/datasets")
async def _create_dataset(world: World, session: AsyncSession) -> Call:
    return Call(data=DATASET)


@case("GET", "/backoffice/datasets/{datasetId}")
@case("POST", "/backoffice/datasets/{datasetId}/delete")
async def _dataset(world: World, session: AsyncSession) -> Call:
    dataset = await make_dataset(session, world.platform_account)
    await session.commit()
    return Call(path={"datasetId": str(dataset.id)})


@case("POST", "/backoffice/datasets/{datasetId}")
async def _edit_dataset(world: World, session: AsyncSession) -> Call:
    dataset = await make_dataset(session, world.platform_account)
    await session.commit()
    return Call(path={"datasetId": str(dataset.id)}, data={**DATASET, "price": "29.90"})


@case("POST", "/backoffice/billing/close")
async def _close(world: World, session: AsyncSession) -> Call:
    return Call(data={"month": month_of(utcnow())})


@case("GET", "/backoffice/billing/runs/{runId}")
@case("GET", "/backoffice/billing/runs/{runId}/progress")
async def _run(world: World, session: AsyncSession) -> Call:
    run = BillingRun(month=month_of(utcnow()), failed={}, totals_minor={})
    session.add(run)
    await session.commit()
    return Call(path={"runId": str(run.id)})


@case("POST", "/backoffice/invoices/{invoiceId}/pay")
@case("POST", "/backoffice/invoices/{invoiceId}/void")
async def _invoice(world: World, session: AsyncSession) -> Call:
    dataset = await make_dataset(session, world.platform_account)
    await make_subscription(session, world.account_a, dataset)
    invoice = await make_invoice(session, world.account_a, month_of(utcnow()))
    await session.commit()
    return Call(path={"invoiceId": str(invoice.id)})
