"""An invoice as a PDF (fpdf2): number, account, month, status, lines and total, in the
reader's language and money format. Pure: rows in, bytes out.

The PDF's built-in fonts cover Latin-1 (Portuguese and English included); a character
outside it is written as its closest Latin-1 form, else `?` (no font file to ship).
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from fractions import Fraction
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from nubo.marketplace import money
from nubo.web import i18n
from nubo.web.words import INVOICE_STATUS


def latin1(text: str) -> str:
    out = []
    for ch in text:
        if ord(ch) < 256:
            out.append(ch)
            continue
        folded = unicodedata.normalize("NFKD", ch).encode("latin-1", "ignore").decode("latin-1")
        out.append(folded or ("-" if unicodedata.category(ch) == "Pd" else "?"))
    return "".join(out)


def render(invoice: Any, lines: list[Any], account: Any, language: str) -> bytes:
    _ = i18n.translations(language).ugettext
    fmt = i18n.Formats(language)

    def amount(minor: int) -> str:
        return latin1(fmt.money(Decimal(money.format_minor(minor, invoice.currency)),
                                invoice.currency))

    title = latin1(_("Invoice %(number)s") % {"number": invoice.number})
    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_creator("Nubo")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=10)
    facts = [
        (_("Account"), f"{account.name} <{account.email}>"),
        (_("Month"), invoice.month),
        (_("Status"), _(INVOICE_STATUS[invoice.status.value])),
        (_("Issued"), fmt.date(invoice.created_at)),
    ]
    for label, value in facts:
        pdf.cell(35, 6, latin1(label))
        pdf.cell(0, 6, latin1(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    with pdf.table(col_widths=(8, 90, 22, 35, 35), text_align=("RIGHT", "LEFT", "RIGHT",
                                                                 "RIGHT", "RIGHT")) as table:
        header = table.row()
        for title in ("#", _("Description"), _("Quantity"), _("Unit price"), _("Amount")):
            header.cell(latin1(title))
        for line in sorted(lines, key=lambda x: x.position):
            row = table.row()
            quantity = Fraction(line.quantity_num, line.quantity_den)
            row.cell(str(line.position))
            row.cell(latin1(line.description))
            row.cell(money.format_fraction(quantity).replace(".", fmt.number(0.5, 1)[1]))
            row.cell(amount(line.unit_amount_minor))
            row.cell(amount(line.amount_minor))
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 12)
    total = _("Total") + ": " + amount(invoice.total_minor)
    pdf.cell(0, 8, latin1(total), align="R",
             new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())
