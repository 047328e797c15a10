"""The data panel's pages: catalogue, dataset, buying, purchases, invoices (status, content,
scoping), through the same services as the API."""

from __future__ import annotations

import re

from nubo.kit.types import utcnow
from nubo.marketplace.months import month_of
from nubo.models import Subscription, Transaction
from tests.marketplace.factories import (
    make_dataset,
    make_invoice,
    make_purchase,
    make_subscription,
)
from tests.web.helpers import browser_session, post_form

PREVIEW = {"format": "csv", "column_count": 2, "rows": [["A", 1.5]],
           "columns": [{"name": "station", "type": "String"}, {"name": "mm", "type": "Float64"}]}


async def _signed_in(client, session, world, who="admin_a"):
    cookie, _ = await browser_session(session, world.platform, getattr(world, who))
    client.cookies.set("nubo_session", cookie)


async def test_catalogue_searches_without_accents_and_shows_reais(client, session, world):
    await make_dataset(session, world.platform_account, name="Chuva horária",
                       location="São Paulo, SP, BR", price_minor=123456)
    await make_dataset(session, world.platform_account, name="Marés", location="Recife, PE, BR")
    await session.commit()
    await _signed_in(client, session, world)
    page = (await client.get("/datasets?q=sao+paulo")).text
    assert "Chuva horária" in page and "Marés" not in page
    assert "R$\xa01.234,56" in page
    client.cookies.set("nubo_lang", "en")
    assert "R$1,234.56" in (await client.get("/datasets?q=SAO PAULO")).text


async def test_catalogue_filters_sorts_and_continues_by_cursor(client, session, world):
    for n, cents in enumerate((500, 1500, 2500, 3500)):
        await make_dataset(session, world.platform_account, name=f"Set {n}", price_minor=cents,
                           category="weather" if n else "maps", location="Rio de Janeiro, BR")
    await session.commit()
    await _signed_in(client, session, world)
    page = (await client.get("/datasets?category=weather&min_price=10&max_price=30,00"
                             "&sort=-price&limit=1")).text
    assert "Set 2" in page and "Set 1" not in page and "Set 0" not in page
    cursor = re.search(r'cursor=([^"&]+)"', page)
    assert cursor and "sort=-price" in page
    more = (await client.get(f"/datasets?category=weather&min_price=10&max_price=30,00"
                             f"&sort=-price&limit=1&cursor={cursor.group(1)}")).text
    assert "Set 1" in more and "Set 2" not in more


async def test_catalogue_with_a_bad_price_says_so_on_the_page(client, session, world):
    await _signed_in(client, session, world)
    response = await client.get("/datasets?min_price=abc")
    assert response.status_code == 422
    assert "<h1>Catálogo</h1>" in response.text and 'role="alert"' in response.text


async def test_dataset_page_shows_the_stored_preview_or_says_there_is_none(
    client, session, world
):
    with_preview = await make_dataset(session, world.platform_account, preview=PREVIEW)
    without = await make_dataset(session, world.platform_account)
    await session.commit()
    await _signed_in(client, session, world, "member_a")
    page = (await client.get(f"/datasets/{with_preview.id}")).text
    assert "station" in page and "Float64" in page and "1.5" in page
    assert "Sem prévia." in (await client.get(f"/datasets/{without.id}")).text


async def test_not_entitled_sees_buy_buttons_members_are_told_to_ask(client, session, world):
    dataset = await make_dataset(session, world.platform_account, price_minor=4990)
    await session.commit()
    await _signed_in(client, session, world, "admin_a")
    page = (await client.get(f"/datasets/{dataset.id}")).text
    assert "Comprar por R$\xa049,90" in page and f"/api/datasets/{dataset.id}/download" not in page
    await _signed_in(client, session, world, "member_a")
    page = (await client.get(f"/datasets/{dataset.id}")).text
    assert "Um administrador da sua conta pode comprá-lo." in page and "Comprar por" not in page


async def test_buy_confirms_the_price_then_the_page_offers_the_download(client, session, world):
    dataset = await make_dataset(session, world.platform_account, price_minor=4990,
                                 file_key="datasets/x", file_name="x.csv", file_size=3)
    await session.commit()
    await _signed_in(client, session, world)
    confirm = await client.get(f"/datasets/{dataset.id}/buy?type=one_time")
    assert "Sua conta pagará R$\xa049,90 uma única vez" in confirm.text
    response = await post_form(client, f"/datasets/{dataset.id}/buy?type=one_time",
                               f"/datasets/{dataset.id}/buy", {"type": "one_time"})
    assert response.status_code == 303
    page = (await client.get(response.headers["location"])).text
    assert "Comprado." in page and f"/api/datasets/{dataset.id}/download" in page
    again = await post_form(client, f"/datasets/{dataset.id}/buy?type=one_time",
                            f"/datasets/{dataset.id}/buy", {"type": "one_time"})
    assert again.status_code == 409 and 'role="alert"' in again.text


async def test_a_member_cannot_buy(client, session, world):
    dataset = await make_dataset(session, world.platform_account)
    await session.commit()
    await _signed_in(client, session, world, "member_a")
    response = await post_form(client, f"/datasets/{dataset.id}/buy?type=subscription",
                               f"/datasets/{dataset.id}/buy", {"type": "subscription"})
    assert response.status_code == 403
    assert (await session.execute(Transaction.__table__.select())).first() is None


async def test_purchases_list_owned_and_subscriptions_and_cancel_at_period_end(
    client, session, world
):
    owned = await make_dataset(session, world.platform_account, name="Owned set")
    watched = await make_dataset(session, world.platform_account, name="Watched set")
    await make_purchase(session, world.account_a, owned)
    sub = await make_subscription(session, world.account_a, watched)
    other = await make_dataset(session, world.platform_account, name="Beta's set")
    await make_purchase(session, world.account_b, other)
    await session.commit()
    await _signed_in(client, session, world)
    page = (await client.get("/purchases")).text
    assert "Owned set" in page and "Watched set" in page and "Beta's set" not in page
    assert "Cancelar ao fim do período" in page and "o mês já iniciado" in page
    response = await post_form(client, "/purchases", f"/subscriptions/{sub.id}/cancel",
                               {"when": "period_end"})
    assert response.status_code == 303
    page = (await client.get(response.headers["location"])).text
    assert "A assinatura terminará com o período pago." in page and "Termina com o período" in page
    stored = await session.get(Subscription, sub.id, populate_existing=True)
    assert stored is not None and stored.cancel_at_period_end and stored.ends_at is not None


async def test_another_accounts_subscription_cannot_be_canceled(client, session, world):
    sub = await make_subscription(session, world.account_a,
                                  await make_dataset(session, world.platform_account))
    await session.commit()
    await _signed_in(client, session, world, "admin_b")
    response = await post_form(client, "/purchases", f"/subscriptions/{sub.id}/cancel",
                               {"when": "now"})
    assert response.status_code == 404 and "Página não encontrada" in response.text


async def test_invoices_list_and_page_with_lines_total_and_pdf_link(client, session, world):
    dataset = await make_dataset(session, world.platform_account, name="Rain", price_minor=123456)
    await make_purchase(session, world.account_a, dataset)
    invoice = await make_invoice(session, world.account_a, month_of(utcnow()))
    await session.commit()
    await _signed_in(client, session, world, "member_a")
    listing = (await client.get("/invoices")).text
    assert invoice.number in listing and "Em aberto" in listing and "R$\xa01.234,56" in listing
    page = (await client.get(f"/invoices/{invoice.id}")).text
    assert f"Fatura {invoice.number}" in page and "Compra: Rain" in page
    assert f'href="/api/invoices/{invoice.id}/pdf"' in page
    pdf = await client.get(f"/api/invoices/{invoice.id}/pdf")  # the session cookie suffices
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


async def test_another_accounts_invoice_is_the_404_page(client, session, world):
    dataset = await make_dataset(session, world.platform_account)
    await make_purchase(session, world.account_a, dataset)
    invoice = await make_invoice(session, world.account_a, month_of(utcnow()))
    await session.commit()
    await _signed_in(client, session, world, "admin_b")
    response = await client.get(f"/invoices/{invoice.id}")
    assert response.status_code == 404 and "Página não encontrada" in response.text
    assert invoice.number not in (await client.get("/invoices")).text
