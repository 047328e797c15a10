"""An invoice as a PDF, read back: its number, lines and total, in the reader's language."""

from __future__ import annotations

import io

from pypdf import PdfReader

from nubo.kit.types import utcnow
from nubo.marketplace.months import month_of
from tests.marketplace.factories import make_dataset, make_invoice, make_purchase


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


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
    assert "Purchase: Chuva São Paulo" in text
    assert "Total: R$\xa01.234,56" in text or "Total: R$ 1.234,56" in text


async def test_the_pdf_follows_accept_language(client, world, session):
    invoice = await _invoice(world, session)
    response = await client.get(f"/api/invoices/{invoice.id}/pdf",
                                headers={**world.headers("admin_a"), "Accept-Language": "en"})
    text = text_of(response.content)
    assert f"Invoice {invoice.number}" in text and "Total: R$1,234.56" in text


async def test_another_accounts_invoice_pdf_is_404(client, world, session):
    invoice = await _invoice(world, session)
    response = await client.get(f"/api/invoices/{invoice.id}/pdf",
                                headers=world.headers("admin_b"))
    assert response.status_code == 404
