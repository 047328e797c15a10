"""An invoice as a PDF (fpdf2): number, account, month, status, lines and total, in the
reader's language and money format. Pure: rows in, bytes out.

Text is set in DejaVu Sans (shipped in `fonts/`, its license beside it: Latin, Greek,
Cyrillic and many symbols), embedded as a subset, so a name prints as it was written. Chinese,
Japanese and Korean characters come from Noto Sans CJK (the `noto-cjk-sans-jp-regular`
package), a font of 16 MB that is read only for an invoice that needs it. A character neither
font has is written as its compatibility decomposition when that is printable (`ﬁ` → `fi`),
else as `?`.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import noto_cjk_sans_jp_regular
from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from nubo.marketplace import line_words, money
from nubo.web import i18n
from nubo.web.words import INVOICE_STATUS

FONTS = Path(__file__).parent / "fonts"
REGULAR = FONTS / "DejaVuSans.ttf"
BOLD = FONTS / "DejaVuSans-Bold.ttf"
CJK = Path(str(noto_cjk_sans_jp_regular.FONT_PATH))
FAMILY, CJK_FAMILY = "DejaVuSans", "NotoSansCJK"


@cache
def _codepoints(path: Path) -> frozenset[int]:
    """The characters a font draws (read once per process)."""
    return frozenset(TTFont(path, lazy=True).getBestCmap())


@cache
def _main_codepoints() -> frozenset[int]:
    """What DejaVu draws in both weights: the characters that need no fallback."""
    return _codepoints(REGULAR) & _codepoints(BOLD)


def _printable(ch: str, fonts: tuple[frozenset[int], ...]) -> bool:
    return ch == "\n" or any(ord(ch) in cmap for cmap in fonts)


def printable(text: str) -> tuple[str, bool]:
    """`text` with every character some shipped font draws; and whether it needs the CJK font
    (whose character map is read only when DejaVu lacks a character)."""
    main = _main_codepoints()
    out, needs_cjk = [], False
    for ch in text:
        if _printable(ch, (main,)):
            out.append(ch)
        elif _printable(ch, (_codepoints(CJK),)):
            out.append(ch)
            needs_cjk = True
        else:
            folded = unicodedata.normalize("NFKD", ch)
            if folded != ch and all(_printable(c, (main,)) for c in folded):
                out.append(folded)
            elif unicodedata.combining(ch):
                continue  # a mark no font places: the letter it sits on stays
            else:
                out.append("?")
    return "".join(out), needs_cjk


def render(invoice: Any, lines: list[Any], account: Any, language: str) -> bytes:
    _ = i18n.translations(language).ugettext
    fmt = i18n.formats(language)

    def amount(minor: int) -> str:
        return fmt.money(Decimal(money.format_minor(minor, invoice.currency)), invoice.currency)

    ordered = sorted(lines, key=lambda x: x.position)
    title = _("Invoice %(number)s") % {"number": invoice.number}
    facts = [
        (_("Account"), f"{account.name} <{account.email}>"),
        (_("Month"), invoice.month),
        (_("Status"), _(INVOICE_STATUS[invoice.status.value])),
        (_("Issued"), fmt.date(invoice.created_at)),
    ]
    header = ("#", _("Description"), _("Quantity"), _("Unit price"), _("Amount"))
    rows = [
        (
            str(line.position),
            line_words.describe(line, _),
            money.format_fraction(Fraction(line.quantity_num, line.quantity_den))
            .replace(".", fmt.number(0.5, 1)[1]),
            amount(line.unit_amount_minor),
            amount(line.amount_minor),
        )
        for line in ordered
    ]
    total = _("Total") + ": " + amount(invoice.total_minor)
    every = "\n".join([title, total, *header, *(t for fact in facts for t in fact),
                       *(cell for row in rows for cell in row)])
    needs_cjk = printable(every)[1]

    def text(value: str) -> str:
        return printable(value)[0]

    pdf = FPDF(format="A4")
    pdf.set_title(text(title))
    pdf.set_creator("Nubo")
    pdf.add_font(FAMILY, "", REGULAR)
    pdf.add_font(FAMILY, "B", BOLD)
    if needs_cjk:
        pdf.add_font(CJK_FAMILY, "", CJK)
        # Bold text falls back on the regular CJK face: the package has no bold one.
        pdf.set_fallback_fonts([CJK_FAMILY], exact_match=False)
    pdf.add_page()
    pdf.set_font(FAMILY, "B", 16)
    pdf.cell(0, 10, text(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, size=10)
    for label, value in facts:
        pdf.cell(35, 6, text(label))
        pdf.cell(0, 6, text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    with pdf.table(col_widths=(8, 82, 30, 35, 35),
                   text_align=("RIGHT", "LEFT", "RIGHT", "RIGHT", "RIGHT")) as table:
        heading = table.row()
        for cell in header:
            heading.cell(text(cell))
        for values in rows:
            row = table.row()
            for cell in values:
                row.cell(text(cell))
    pdf.ln(4)
    pdf.set_font(FAMILY, "B", 12)
    pdf.cell(0, 8, text(total), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())
