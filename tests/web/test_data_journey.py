"""A data customer's journey in Chromium against a live `nubo serve`, in Portuguese and in
English: find a dataset by searching "sao paulo", read its preview, buy it, download it
byte-exact, subscribe to a second, cancel at period end, open the month's invoice and its PDF.
The operator's side (datasets, files, the invoice) is done through the API here."""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path

import httpx
import pytest
from pypdf import PdfReader

from nubo.kit.types import utcnow
from nubo.marketplace.months import month_of
from tests.web.conftest import check_accessibility, snapshot

DATA = b"station,day,mm\n" + b"".join(b"SP-%03d,2026-11-%02d,%d.5\n" % (i, i % 28 + 1, i)
                                       for i in range(400))
WORDS = {
    "pt_BR": {"catalogue": "Catálogo", "search": "Buscar", "buy": "Comprar por",
              "subscribe": "Assinar por", "confirm": "Confirmar:", "download": "Baixar",
              "purchases": "Minhas compras", "at_end": "Cancelar ao fim do período",
              "ending": "Termina com o período", "invoices": "Faturas",
              "price": "R$\xa01.234,56", "monthly": "R$\xa049,90", "total": "R$\xa01.284,46",
              "pdf": "Baixar o PDF", "invoice": "Fatura"},
    "en": {"catalogue": "Catalogue", "search": "Search", "buy": "Buy for",
           "subscribe": "Subscribe for", "confirm": "Confirm:", "download": "Download",
           "purchases": "My purchases", "at_end": "Cancel at period end",
           "ending": "Ends with its period", "invoices": "Invoices",
           "price": "R$1,234.56", "monthly": "R$49.90", "total": "R$1,284.46",
           "pdf": "Download the PDF", "invoice": "Invoice"},
}


async def _publish(
    base: str, operator: dict[str, str], name: str, price: str, location: str
) -> str:
    async with httpx.AsyncClient(base_url=base, headers=operator, timeout=30) as api:
        created = await api.post("/api/datasets", json={
            "name": name, "description": "Leituras horárias de chuva", "location": location,
            "price": price, "category": "weather", "format": "csv"})
        created.raise_for_status()
        dataset_id = created.json()["id"]
        (await api.post(f"/api/datasets/{dataset_id}/file", content=DATA, params={
            "filename": "chuva.csv"}, headers={"Content-Type": "text/csv"})).raise_for_status()
        return str(dataset_id)


async def _sign_up(page, language: str, email: str) -> None:
    from playwright.async_api import expect

    await page.goto("/signup")
    if language == "en":
        await page.get_by_role("button", name="English").click()
        await page.get_by_label("Organisation").or_(page.get_by_label("Organization")).fill(
            "Rain Buyers")
        await page.get_by_label("Your name").fill("Dora Reis")
        await page.get_by_label("Email").fill(email)
        await page.get_by_label("Password (at least 8 characters)").fill("a-long-password")
        await page.get_by_role("button", name="Create account").click()
    else:
        await page.get_by_label("Organização").fill("Compradores de Chuva")
        await page.get_by_label("Seu nome").fill("Dora Reis")
        await page.get_by_label("E-mail").fill(email)
        await page.get_by_label("Senha (pelo menos 8 caracteres)").fill("a-long-password")
        await page.get_by_role("button", name="Criar conta").click()
    await expect(page.get_by_role("heading", level=1)).to_be_visible()


async def _open_from_search(page, words: dict[str, str], name: str) -> None:
    from playwright.async_api import expect

    await page.get_by_role("navigation").get_by_role("link", name=words["catalogue"]).click()
    await page.get_by_role("searchbox").fill("sao paulo")
    await page.locator("form[role=search]").get_by_role("button", name=words["search"]).click()
    await expect(page.get_by_role("link", name=name)).to_be_visible()
    await check_accessibility(page)
    await snapshot(page, "catalogue") if words is WORDS["en"] else None
    await page.get_by_role("link", name=name).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(name)


async def _buy(page, words: dict[str, str], kind: str, price: str) -> None:
    from playwright.async_api import expect

    await page.get_by_role("link", name=re.compile("^" + words[kind])).click()
    await expect(page.locator("p.confirm")).to_contain_text(price)
    await check_accessibility(page)
    await page.get_by_role("button", name=re.compile("^" + words["confirm"])).click()
    await expect(page.locator(".notice")).to_be_visible()


@pytest.mark.parametrize("language", ["pt_BR", "en"])
async def test_customer_finds_buys_downloads_subscribes_cancels_and_reads_the_invoice(
    page, live_server, live_operator, language, tmp_path: Path
):
    from playwright.async_api import expect

    words, tag = WORDS[language], uuid.uuid4().hex[:6]
    rain = f"Chuva em São Paulo {tag}"
    wind = f"Vento de São Paulo {tag}"
    await _publish(live_server, live_operator, rain, "1234.56", "São Paulo, SP, BR")
    await _publish(live_server, live_operator, wind, "49.90", "São Paulo, BR")
    email = f"dora-{tag}@example.com"
    await _sign_up(page, language, email)

    await _open_from_search(page, words, rain)
    preview = page.locator("table.preview")
    await expect(preview.locator("thead th").first).to_contain_text("station")
    await expect(preview.locator("tbody tr")).to_have_count(10)
    await check_accessibility(page)
    await snapshot(page, "dataset") if language == "en" else None
    await _buy(page, words, "buy", words["price"])
    async with page.expect_download() as info:
        await page.get_by_role("link", name=words["download"], exact=True).click()
    download = await info.value
    saved = tmp_path / "download.csv"
    await download.save_as(saved)
    assert saved.read_bytes() == DATA

    await _open_from_search(page, words, wind)
    await _buy(page, words, "subscribe", words["monthly"])
    await page.get_by_role("navigation").get_by_role("link", name=words["purchases"]).click()
    await expect(page.get_by_role("link", name=rain)).to_be_visible()
    await check_accessibility(page)
    await page.get_by_role("button", name=words["at_end"]).click()
    await expect(page.locator(".notice")).to_be_visible()
    await expect(page.locator(".badge.watch")).to_have_text(words["ending"])
    await check_accessibility(page)

    async with httpx.AsyncClient(base_url=live_server, headers=live_operator) as api:
        account_id = (await api.get(f"/api/users/email/{email}")).json()["account_id"]
        month = month_of(utcnow())
        (await api.post("/api/invoices", json={"account_id": account_id, "month": month})
         ).raise_for_status()
    await page.get_by_role("navigation").get_by_role("link", name=words["invoices"]).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(words["invoices"])
    await check_accessibility(page)
    await page.locator("tbody tr th a").first.click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(words["invoice"])
    await expect(page.locator("dd.total")).to_have_text(words["total"])
    await check_accessibility(page)
    await snapshot(page, "invoice") if language == "en" else None
    number = (await page.get_by_role("heading", level=1).text_content() or "").split()[-1]
    href = await page.get_by_role("link", name=words["pdf"]).get_attribute("href")
    pdf = await page.request.get(href or "")
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(await pdf.body())).pages)
    assert f"{words['invoice']} {number}" in text
    assert words["total"].replace("\xa0", " ") in text.replace("\xa0", " ")
