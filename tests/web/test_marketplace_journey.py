"""The data panel's whole story in Chromium against a live `nubo serve`: an operator
publishes datasets, a customer finds, previews, buys, downloads and subscribes, the operator
closes the month, the customer reads the invoice and its PDF."""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path

from pypdf import PdfReader

from nubo.kit.types import utcnow
from nubo.marketplace.months import month_of
from tests.web.conftest import check_accessibility, snapshot
from tests.web.test_backoffice_journeys import _as_operator, _sign_in, _sign_out, _sign_up

DATA = b"station,city,pm25\n" + b"".join(
    b"S%03d,S\xc3\xa3o Paulo,%d.5\n" % (i, i % 90) for i in range(2_000))


async def _nav(page, name: str) -> None:
    await page.get_by_role("navigation", name="Principal").get_by_role("link", name=name).click()


async def _publish(page, name: str, price: str, data: Path | None) -> None:
    from playwright.async_api import expect

    await page.goto("/backoffice/datasets")
    create = page.locator("form[method='post'][action='/backoffice/datasets']")
    await create.get_by_label("Nome", exact=True).fill(name)
    await create.get_by_label("Descrição").fill("Leituras horárias da qualidade do ar")
    await create.get_by_label("Local (cidade, estado, país)").fill("São Paulo, SP, BR")
    await create.get_by_label("Preço").fill(price)
    await create.get_by_label("Formato").fill("csv")
    await create.get_by_role("button", name="Criar conjunto de dados").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(name)
    if data is not None:
        await page.get_by_label(re.compile("Enviar um novo arquivo")).set_input_files(str(data))
        await page.get_by_role("button", name="Enviar arquivo").click()
        await expect(page.get_by_role("status")).to_have_text("Arquivo enviado.",
                                                              timeout=60_000)


async def test_publish_find_preview_buy_download_subscribe_cancel_close_and_read_the_invoice(
    page, live_server, tmp_path
):
    from playwright.async_api import expect

    tag = uuid.uuid4().hex[:6]
    bought, subscribed = f"Ar SP {tag}", f"Chuva SP {tag}"
    data = tmp_path / "ar.csv"
    data.write_bytes(DATA)

    await _as_operator(page, live_server)
    await _publish(page, bought, "10.00", data)
    await _publish(page, subscribed, "20.00", None)
    await _sign_out(page)

    customer = await _sign_up(page, f"Clima {tag}", "Lia Prado")
    await _nav(page, "Catálogo")
    await page.get_by_role("searchbox").fill("sao paulo")
    await page.get_by_role("button", name="Buscar").click()
    await page.get_by_role("link", name=bought).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(bought)
    preview = page.locator("table.preview")
    await expect(preview.locator("thead")).to_contain_text("pm25")
    await expect(preview.locator("tbody tr").first).to_contain_text("S000")
    await check_accessibility(page)

    await page.get_by_role("link", name="Comprar por R$\xa010,00").click()
    await page.get_by_role("button", name="Confirmar: comprar por R$\xa010,00").click()
    await expect(page.get_by_role("status")).to_have_text("Comprado. Você já pode baixá-lo.")
    async with page.expect_download() as download:
        await page.get_by_role("link", name="Baixar").click()
    saved = tmp_path / "downloaded.csv"
    await (await download.value).save_as(saved)
    assert saved.read_bytes() == DATA

    await _nav(page, "Catálogo")
    await page.get_by_role("searchbox").fill("sao paulo")
    await page.get_by_role("button", name="Buscar").click()
    await page.get_by_role("link", name=subscribed).click()
    await page.get_by_role("link", name="Assinar por R$\xa020,00 por mês").click()
    await page.get_by_role("button", name="Confirmar: assinar por R$\xa020,00 por mês").click()
    await expect(page.get_by_role("status")).to_have_text("Assinado. Você já pode baixá-lo.")
    await _nav(page, "Minhas compras")
    row = page.get_by_role("row", name=re.compile(subscribed))
    await row.get_by_role("button", name="Cancelar ao fim do período").click()
    await expect(page.get_by_role("status")).to_have_text(
        "A assinatura terminará com o período pago.")
    await expect(page.get_by_role("row", name=re.compile(subscribed))).to_contain_text(
        "Termina com o período")
    await _sign_out(page)

    await _as_operator(page, live_server)
    await page.goto("/backoffice/billing")
    await page.get_by_label("Mês (AAAA-MM)").fill(month_of(utcnow()))
    await page.get_by_role("button", name="Fechar o mês").click()
    await expect(page.locator("#run-progress .badge.run")).to_have_text("Concluído",
                                                                       timeout=60_000)
    invoice_row = page.get_by_role("row", name=re.compile(f"Clima {tag}"))
    await expect(invoice_row).to_contain_text("Em aberto")
    number = (await invoice_row.locator("th").inner_text()).strip()
    await _sign_out(page)

    await _sign_in(page, customer)
    await _nav(page, "Faturas")
    await page.get_by_role("link", name=number).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Fatura {number}")
    await expect(page.get_by_role("row", name=re.compile(bought))).to_be_visible()
    await expect(page.get_by_role("row", name=re.compile(subscribed))).to_be_visible()
    total = (await page.locator("dd.total").inner_text()).strip()
    await check_accessibility(page)
    await snapshot(page, "invoice")
    pdf = await page.request.get(await page.get_by_role("link", name="Baixar o PDF")
                                 .get_attribute("href"))
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(await pdf.body())).pages)
    assert number in text
    assert total.replace("\xa0", " ").split()[-1] in text

    await page.get_by_role("button", name="English").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Invoice {number}")
    await check_accessibility(page)
