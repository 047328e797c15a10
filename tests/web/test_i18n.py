"""Every string of every page is translated; numbers, money and dates follow the language."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from markupsafe import escape
from starlette.requests import Request

from nubo.web import i18n

ROOT = Path(__file__).resolve().parents[2]
METHODS = [("src/nubo/**.py", "python"), ("src/nubo/web/templates/**.html", "jinja2")]


def source_messages() -> set[str]:
    """What the code and templates ask to translate, found the way `make messages` finds it."""
    found = extract_from_dir(
        str(ROOT), METHODS, keywords={"_": None, "gettext": None, "N_": None},
        options_map={"src/nubo/web/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
    )
    return {message for _, _, message, _, _ in found if isinstance(message, str)}


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_message_is_translated(language):
    with i18n.catalog_path(language).open("rb") as po:
        catalog = {m.id: m.string for m in read_po(po) if m.id}
    missing = sorted(m for m in source_messages() if not catalog.get(m))
    assert not missing, f"untranslated in {language} (run `make messages`): {missing}"


def test_source_messages_are_found():
    assert "Sign in" in source_messages()
    assert "Email or password is wrong." in source_messages()


def _request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "headers": raw, "method": "GET", "path": "/"})


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, "pt_BR"),
    ({"Accept-Language": "en-US,en;q=0.8"}, "en"),
    ({"Accept-Language": "fr-FR, en;q=0.5, pt;q=0.9"}, "pt_BR"),
    ({"Accept-Language": "de"}, "pt_BR"),
    ({"Accept-Language": "en", "Cookie": "nubo_lang=pt_BR"}, "pt_BR"),
    ({"Cookie": "nubo_lang=xx"}, "pt_BR"),
])
def test_language_is_the_cookie_else_accept_language_else_portuguese(headers, expected):
    assert i18n.negotiate(_request(headers)) == expected


def test_numbers_money_and_dates_follow_the_language():
    moment = datetime(2026, 11, 29, 15, 30, tzinfo=UTC)
    pt, en = i18n.Formats("pt_BR"), i18n.Formats("en")
    assert pt.number(1234.5, 2) == "1.234,50"
    assert en.number(1234.5, 2) == "1,234.50"
    assert pt.money(Decimal("1234.56"), "BRL").replace("\xa0", " ") == "R$ 1.234,56"
    assert en.money("1234.56", "USD") == "$1,234.56"
    assert pt.date(moment) == "29/11/2026"
    assert pt.datetime(moment) == "29/11/2026 12:30 BRT"
    assert en.datetime(moment).replace("\u202f", " ") == "11/29/26, 3:30 PM UTC"


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_money_is_written_as_babel_writes_it_in_every_accepted_currency(language):
    """The formats keep each currency's layout after its first use; the text stays Babel's."""
    from babel import numbers

    from nubo.marketplace.money import CURRENCIES

    formats = i18n.Formats(language)
    amounts = ["0", "0.5", "1", "9.99", "10.50", "999.999", "1000", "1234.5678", "-12.34",
               "-0", "1E+3", "1234567890.12", "0.001", "12.3456"]
    for currency in sorted(CURRENCIES):
        for amount in amounts:
            expected = numbers.format_currency(Decimal(amount), currency, locale=formats.locale)
            assert formats.money(amount, currency) == expected, (currency, amount)
            assert formats.money(amount, currency) == expected, (currency, amount)  # cached
        assert formats.minor(123456, currency) == numbers.format_currency(
            Decimal(123456).scaleb(-numbers.get_currency_precision(currency)), currency,
            locale=formats.locale,
        )


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_fixed_words_are_compiled_into_the_template_as_the_same_escaped_text(language):
    from nubo.web.static import static_url
    from nubo.web.templating import environment

    env = environment(language)
    word = i18n.translations(language).ugettext
    last_admin = "This is the account's last administrator: add another one first."
    source = ('{{ _("Sign out") }}|{{ _("Engine %(n)s", n=2) }}|{{ static_url("app.css") }}|'
              '{{ _(name) }}|<a title="{{ gettext(\'' + last_admin.replace("'", "\\'") + '\') }}">|'
              '{{ _("Fleet") | lower }}|{{ {"a": _("Fleet")} | tojson }}|'
              '{{ _("Engine %(n)s", n="{n}") }}')
    expected = (f'{word("Sign out")}|{word("Engine %(n)s") % {"n": 2}}|{static_url("app.css")}|'
                f'{word("Flights")}|<a title="{escape(word(last_admin))}">|'
                f'{word("Fleet").lower()}|{{"a": "{word("Fleet")}"}}|'
                f'{word("Engine %(n)s") % {"n": "{n}"}}')
    assert env.from_string(source).render(name="Flights") == expected
    compiled = env.compile(source, raw=True)
    # Only the call with a number's value and the one with a variable are left to the render.
    assert compiled.count("context.call(") == 2
