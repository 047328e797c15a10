"""An invoice as a PDF, read back: its number, lines and total, in the reader's language."""

from __future__ import annotations

import io

from pypdf import PdfReader
from sqlalchemy import select

from nubo.kit.types import utcnow
from nubo.marketplace import invoice_pdf
from nubo.marketplace.months import month_of
from nubo.models import InvoiceLine
from tests.marketplace.factories import (
    make_dataset,
    make_invoice,
    make_purchase,
    make_subscription,
)

UNICODE_NAME = "Łódź Ωmega 東京"


def text_of(pdf: bytes) -> str:
    # The CJK font is CID-keyed CFF, which fpdf2 encodes with an embedded two-byte CMap;
    # pypdf reads such an encoding one byte per code, so each of its characters comes out
    # after a NUL (poppler's pdftotext reads the same file without them). No invoice text
    # holds a NUL: dropping them leaves exactly the text printed.
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return text.replace("\x00", "")


def fonts_of(pdf: bytes) -> set[str]:
    """The base names of the fonts the PDF's pages use (subset tags stripped)."""
    names = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            names.add(str(font.get_object()["/BaseFont"]).split("+")[-1])
    return names


async def _invoice(world, session):
    dataset = await make_dataset(session, world.platform_account, name="Chuva São Paulo",
                                 price_minor=123456)
    await make_purchase(session, world.account_a, dataset)
    invoice = await make_invoice(session, world.account_a, month_of(utcnow()))
    await session.commit()
    return invoice


async def test_the_pdf_states_number_line_and_total_in_portuguese(client, world, session):
    invoice = await _invoice(world, session)
    response = await client.get(f"/api/invoices/{invoice.id}/pdf",
                                headers=world.headers("member_a"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert f'filename="{invoice.number}.pdf"' in response.headers["content-disposition"]
    text = text_of(response.content)
    assert f"Fatura {invoice.number}" in text
    assert "Compra: Chuva São Paulo" in text
    assert "Total: R$\xa01.234,56" in text or "Total: R$ 1.234,56" in text


async def test_the_pdf_follows_accept_language(client, world, session):
    invoice = await _invoice(world, session)
    response = await client.get(f"/api/invoices/{invoice.id}/pdf",
                                headers={**world.headers("admin_a"), "Accept-Language": "en"})
    text = text_of(response.content)
    assert f"Invoice {invoice.number}" in text and "Total: R$1,234.56" in text
    assert "Purchase: Chuva São Paulo" in text


async def test_another_accounts_invoice_pdf_is_404(client, world, session):
    invoice = await _invoice(world, session)
    response = await client.get(f"/api/invoices/{invoice.id}/pdf",
                                headers=world.headers("admin_b"))
    assert response.status_code == 404


async def test_any_name_prints_as_written_with_embedded_fonts(client, world, session):
    world.account_a.name = UNICODE_NAME
    dataset = await make_dataset(session, world.platform_account, name=f"Chuva {UNICODE_NAME}",
                                 price_minor=990)
    await make_purchase(session, world.account_a, dataset)
    invoice = await make_invoice(session, world.account_a, month_of(utcnow()))
    await session.commit()
    response = await client.get(f"/api/invoices/{invoice.id}/pdf",
                                headers={**world.headers("member_a"), "Accept-Language": "en"})
    text = text_of(response.content)
    assert f"{UNICODE_NAME} <{world.account_a.email}>" in text
    assert f"Purchase: Chuva {UNICODE_NAME}" in text
    assert fonts_of(response.content) == {"DejaVuSansBook", "DejaVuSansBold", "NotoSansCJKJP"}


async def test_a_latin_invoice_does_not_embed_the_cjk_font(client, world, session):
    invoice = await _invoice(world, session)
    response = await client.get(f"/api/invoices/{invoice.id}/pdf",
                                headers=world.headers("member_a"))
    assert fonts_of(response.content) == {"DejaVuSansBook", "DejaVuSansBold"}


def test_a_character_no_shipped_font_draws_becomes_its_decomposition_or_a_question_mark():
    assert invoice_pdf.printable("Łódź") == ("Łódź", False)
    assert invoice_pdf.printable("東京") == ("東京", True)
    assert invoice_pdf.printable("\U00013000 x")[0] == "? x"  # an Egyptian hieroglyph


async def test_a_subscription_line_is_worded_in_the_readers_language(client, world, session):
    dataset = await make_dataset(session, world.platform_account, name="Marés")
    await make_subscription(session, world.account_a, dataset)
    month = month_of(utcnow())
    invoice = await make_invoice(session, world.account_a, month)
    await session.commit()
    line = await session.scalar(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id))
    assert line is not None and line.kind == "subscription"
    assert line.params == {"dataset": "Marés", "month": month}
    assert line.description == f"Subscription: Marés ({month})"  # the API's words
    pt = text_of((await client.get(f"/api/invoices/{invoice.id}/pdf",
                                   headers=world.headers("member_a"))).content)
    assert f"Assinatura: Marés ({month})" in pt
    api = (await client.get(f"/api/invoices/{invoice.id}",
                            headers=world.headers("member_a"))).json()
    assert api["lines"][0]["description"] == f"Subscription: Marés ({month})"


async def test_a_line_without_a_kind_is_shown_as_it_was_written(client, world, session):
    invoice = await _invoice(world, session)
    line = await session.scalar(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id))
    assert line is not None
    line.kind, line.params, line.description = None, None, "Consultoria de março"
    await session.commit()
    for language in ("en", "pt-BR"):
        response = await client.get(f"/api/invoices/{invoice.id}/pdf",
                                    headers={**world.headers("member_a"),
                                             "Accept-Language": language})
        assert "Consultoria de março" in text_of(response.content)
