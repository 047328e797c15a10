"""Invoice lines in the reader's language on the page, and migration 0024 reading the lines
built before it (and the billing runs it must leave one unfinished per month)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from alembic import command
from sqlalchemy import Uuid, column, select, table
from sqlalchemy.ext.asyncio import async_sessionmaker

from nubo.kit.db import create_engine
from nubo.kit.migrate import alembic_config, upgrade
from nubo.kit.types import utcnow
from nubo.marketplace.months import month_of
from nubo.models import BillingRun, BillingRunStatus, InvoiceLine, InvoiceLineKind
from tests.fixtures.world import make_account
from tests.marketplace.factories import (
    make_dataset,
    make_invoice,
    make_purchase,
    make_subscription,
)
from tests.web.helpers import browser_session


async def test_the_invoice_page_words_its_lines_in_the_readers_language(
    client, session, world
):
    dataset = await make_dataset(session, world.platform_account, name="Marés")
    await make_subscription(session, world.account_a, dataset)
    await make_purchase(session, world.account_a,
                        await make_dataset(session, world.platform_account, name="Chuva"))
    month = month_of(utcnow())
    invoice = await make_invoice(session, world.account_a, month)
    await session.commit()
    cookie, _ = await browser_session(session, world.platform, world.member_a)
    client.cookies.set("nubo_session", cookie)
    page = (await client.get(f"/invoices/{invoice.id}")).text
    assert f"Assinatura: Marés ({month})" in page and "Compra: Chuva" in page
    client.cookies.set("nubo_lang", "en")
    page = (await client.get(f"/invoices/{invoice.id}")).text
    assert f"Subscription: Marés ({month})" in page and "Purchase: Chuva" in page


async def test_a_dataset_name_is_escaped_in_the_page(client, session, world):
    dataset = await make_dataset(session, world.platform_account, name="<b>Rain</b>")
    await make_purchase(session, world.account_a, dataset)
    invoice = await make_invoice(session, world.account_a, month_of(utcnow()))
    await session.commit()
    cookie, _ = await browser_session(session, world.platform, world.member_a)
    client.cookies.set("nubo_session", cookie)
    page = (await client.get(f"/invoices/{invoice.id}")).text
    assert "Compra: &lt;b&gt;Rain&lt;/b&gt;" in page and "<b>Rain</b>" not in page


def _downgrade(connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


async def test_migration_0024_gives_older_lines_their_kind_and_keeps_one_unfinished_run(
    fresh_url,
):
    engine = create_engine(fresh_url)
    try:
        await upgrade(engine)
        maker = async_sessionmaker(engine, expire_on_commit=False)
        month = month_of(utcnow())
        async with maker() as session:
            provider = await make_account(session, is_platform=True)
            customer = await make_account(session)
            weather = await make_dataset(session, provider, name="Weather (hourly): São Paulo")
            await make_subscription(session, customer, weather)
            await make_purchase(session, customer, await make_dataset(session, provider,
                                                                      name="Maps"))
            invoice = await make_invoice(session, customer, month)
            await session.commit()
        async with engine.begin() as conn:  # as the lines were before 0024
            await conn.run_sync(_downgrade, "0018")
        async with maker() as session:
            old = BillingRun(month=month, status=BillingRunStatus.running, failed={},
                             totals_minor={}, created_at=utcnow() - timedelta(hours=1))
            new = BillingRun(month=month, status=BillingRunStatus.queued, failed={},
                             totals_minor={})
            other = BillingRun(month="2026-01", status=BillingRunStatus.running, failed={},
                               totals_minor={})
            session.add_all([old, new, other])
            await session.commit()
            before = table("invoice_lines", *(column(n) for n in (
                "position", "description", "quantity_num", "quantity_den",
                "unit_amount_minor", "amount_minor", "voided")),
                column("id", Uuid()), column("invoice_id", Uuid()))
            await session.execute(before.insert().values(
                id=uuid.uuid4(), invoice_id=invoice.id, position=9, description="Consulting",
                quantity_num=1, quantity_den=1, unit_amount_minor=100, amount_minor=100,
                voided=False,
            ))
            await session.commit()
        await upgrade(engine)
        async with maker() as session:
            lines = (await session.execute(
                select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)
                .order_by(InvoiceLine.position)
            )).scalars().all()
            assert [(ln.kind, ln.params) for ln in lines] == [
                (InvoiceLineKind.subscription,
                 {"dataset": "Weather (hourly): São Paulo", "month": month}),
                (InvoiceLineKind.purchase, {"dataset": "Maps"}),
                (None, None),  # a manual line keeps its own words
            ]
            runs = {r.id: r for r in (await session.execute(select(BillingRun))).scalars()}
            assert runs[old.id].status is BillingRunStatus.failed
            assert "abandoned" in (runs[old.id].error or "")
            assert runs[new.id].status is BillingRunStatus.queued
            assert runs[other.id].status is BillingRunStatus.running
    finally:
        await engine.dispose()
