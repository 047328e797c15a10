"""The data panel's HTML routes (catalogue, buying, purchases, invoices), aimed at account A
or a catalogue dataset; sent with the caller's browser session and CSRF token."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from nubo.kit.types import utcnow
from nubo.marketplace.months import month_of
from tests.authz.cases import Call, case
from tests.fixtures.world import World
from tests.marketplace.factories import (
    make_dataset,
    make_invoice,
    make_purchase,
    make_subscription,
)


@case("GET", "/datasets")
@case("GET", "/purchases")
@case("GET", "/invoices")
async def _no_input(world: World, session: AsyncSession) -> Call:
    return Call()


@case("GET", "/datasets/{id}")
@case("GET", "/datasets/{id}/buy")
async def _a_dataset(world: World, session: AsyncSession) -> Call:
    dataset = await make_dataset(session, world.platform_account)
    await session.commit()
    return Call(path={"id": str(dataset.id)})


@case("POST", "/datasets/{id}/buy")
async def _buy(world: World, session: AsyncSession) -> Call:
    dataset = await make_dataset(session, world.platform_account)
    await session.commit()
    return Call(path={"id": str(dataset.id)}, data={"type": "one_time"})


@case("POST", "/subscriptions/{id}/cancel")
async def _cancel(world: World, session: AsyncSession) -> Call:
    dataset = await make_dataset(session, world.platform_account)
    subscription = await make_subscription(session, world.account_a, dataset)
    await session.commit()
    return Call(path={"id": str(subscription.id)}, data={"when": "period_end"})


@case("GET", "/invoices/{id}")
async def _an_invoice(world: World, session: AsyncSession) -> Call:
    await make_purchase(session, world.account_a,
                        await make_dataset(session, world.platform_account))
    invoice = await make_invoice(session, world.account_a, month_of(utcnow()))
    await session.commit()
    return Call(path={"id": str(invoice.id)})
