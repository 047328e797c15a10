"""An account's invoices and transactions as CSV: its own only, money as decimal strings,
times in UTC."""

from __future__ import annotations

import csv
import io

from nubo.kit.types import utcnow
from nubo.marketplace.months import month_of
from nubo.models import Scope
from tests.fixtures.world import World, make_api_key
from tests.marketplace.factories import (
    make_dataset,
    make_invoice,
    make_purchase,
    make_subscription,
)
from tests.web.helpers import browser_session


def _rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


async def test_an_account_exports_its_transactions(client, world: World, session):
    dataset = await make_dataset(session, world.platform_account, price_minor=1050)
    await make_purchase(session, world.account_a, dataset)
    await make_purchase(session, world.account_b, dataset)
    await session.commit()
    url = f"/api/transactions/account/{world.account_a.id}/export"
    r = await client.get(url, headers=world.headers("member_a"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    [row] = _rows(r.content)
    assert row["amount"] == "10.50" and row["currency"] == "BRL"
    assert row["account_id"] == str(world.account_a.id) and row["created_at"].endswith("Z")
    assert (await client.get(url, headers=world.headers("admin_b"))).status_code == 404


async def test_a_key_with_billing_read_exports_the_invoices(client, world: World, session):
    dataset = await make_dataset(session, world.platform_account)
    await make_subscription(session, world.account_a, dataset)
    invoice = await make_invoice(session, world.account_a, month_of(utcnow()))
    _, token = await make_api_key(session, world.account_a, [Scope.billing_read])
    await session.commit()
    r = await client.get(f"/api/invoices/account/{world.account_a.id}/export",
                         headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    [row] = _rows(r.content)
    assert row["number"] == invoice.number and row["status"] == str(invoice.status)


async def test_the_invoices_page_links_the_export(client, world: World, session):
    dataset = await make_dataset(session, world.platform_account)
    await make_subscription(session, world.account_a, dataset)
    await make_invoice(session, world.account_a, month_of(utcnow()))
    await session.commit()
    cookie, _ = await browser_session(session, world.platform, world.member_a)
    client.cookies.set("nubo_session", cookie)
    page = (await client.get("/invoices")).text
    href = f"/api/invoices/account/{world.account_a.id}/export"
    assert f'class="export" href="{href}"' in page and "Exportar CSV" in page
    r = await client.get(href)  # the session cookie is enough for this download
    assert r.status_code == 200 and len(_rows(r.content)) == 1
