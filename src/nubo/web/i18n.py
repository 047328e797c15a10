"""Languages of the panel: pt_BR (default) and en, from gettext catalogs, and locale formats.

The catalogs are kept as `.po` text only and compiled in memory when the process starts
(a few milliseconds): no build step, no binary files in the repository.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import datetime as DateTime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale, dates, numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from starlette.requests import Request

TRANSLATIONS = Path(__file__).parent / "translations"
LANGUAGES = ("pt_BR", "en")
DEFAULT_LANGUAGE = "pt_BR"
LANGUAGE_COOKIE = "nubo_lang"
LANGUAGE_NAMES = {"pt_BR": "Português (Brasil)", "en": "English"}
# Times are shown in the zone the users fly from; the zone is printed beside them.
DISPLAY_ZONE = {"pt_BR": "America/Sao_Paulo", "en": "UTC"}


def catalog_path(language: str) -> Path:
    return TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"


@cache
def translations(language: str) -> Translations:
    with catalog_path(language).open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def _match(tag: str) -> str | None:
    tag = tag.strip().replace("-", "_")
    for language in LANGUAGES:
        if tag.lower() == language.lower():
            return language
    primary = tag.split("_")[0].lower()
    return next((lang for lang in LANGUAGES if lang.split("_")[0] == primary), None)


def negotiate(request: Request) -> str:
    """The language cookie, else the best of Accept-Language, else pt_BR."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(request.headers.get("accept-language", "").split(",")):
        tag, _, params = part.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        language = _match(tag) if tag.strip() else None
        if language and quality > 0:
            weighted.append((-quality, position, language))
    return min(weighted)[2] if weighted else DEFAULT_LANGUAGE


def html_lang(language: str) -> str:
    return language.replace("_", "-")


DateField = Callable[[DateTime], str]
_PATTERN_FIELD = re.compile(r"%\((\w+)\)s")


def _date_fields(pattern: dates.DateTimePattern, locale: Locale) -> tuple[DateField, ...] | None:
    """The pattern's fields as plain functions of the local time, in order; None when it has
    a field not listed here (Babel then applies the pattern itself). Babel computes every
    field through its generic field code, tens of microseconds a value, and a list page shows
    hundreds (tests/web/test_i18n_dates.py compares both over many instants)."""
    periods = locale.day_periods["format"]["abbreviated"]
    am, pm = str(periods["am"]), str(periods["pm"])
    known: dict[str, DateField] = {
        "d": lambda t: str(t.day),
        "dd": lambda t: f"{t.day:02d}",
        "M": lambda t: str(t.month),
        "MM": lambda t: f"{t.month:02d}",
        "y": lambda t: str(t.year),
        "yy": lambda t: f"{t.year % 100:02d}",
        "yyyy": lambda t: f"{t.year:04d}",
        "H": lambda t: str(t.hour),
        "HH": lambda t: f"{t.hour:02d}",
        "h": lambda t: str(t.hour % 12 or 12),
        "hh": lambda t: f"{t.hour % 12 or 12:02d}",
        "m": lambda t: str(t.minute),
        "mm": lambda t: f"{t.minute:02d}",
        "s": lambda t: str(t.second),
        "ss": lambda t: f"{t.second:02d}",
        "a": lambda t: pm if t.hour >= 12 else am,
    }
    names = _PATTERN_FIELD.findall(str(pattern.format))
    if any(name not in known for name in names):
        return None
    return tuple(known[name] for name in names)


@cache
def _currency_digits(currency: str) -> int:
    return int(numbers.get_currency_precision(currency))


class Formats:
    """Numbers, money and times for one language; used as filters by the templates.

    Patterns and symbols are read from the locale once: a page shows hundreds of values,
    and Babel's per-call pattern handling costs tens of microseconds each (its money
    formatting, which also looks up the currency's name and plural rules, about a hundred).
    """

    def __init__(self, language: str) -> None:
        self.language = language
        self.locale = Locale.parse(language)
        symbols = self.locale.number_symbols.get("latn", self.locale.number_symbols)
        self._separators = {ord(","): "\0", ord("."): symbols["decimal"]}
        self._group = symbols["group"]
        self.zone = dates.get_timezone(DISPLAY_ZONE[language])
        self.zone_name = "UTC" if DISPLAY_ZONE[language] == "UTC" else dates.get_timezone_name(
            self.zone, width="short", locale=self.locale
        )
        both = str(self.locale.datetime_formats["short"])
        self._datetime = dates.parse_pattern(
            both.replace("{1}", str(self.locale.date_formats["short"]))
            .replace("{0}", str(self.locale.time_formats["short"]))
        )
        self._date = dates.parse_pattern(str(self.locale.date_formats["short"]))
        self._datetime_fields = _date_fields(self._datetime, self.locale)
        # Babel's %-format of the pattern, its named fields made positional, in order.
        self._datetime_format = _PATTERN_FIELD.sub("%s", str(self._datetime.format))
        self._money_shapes: dict[str, tuple[int, str, str] | None] = {}
        self.chart_dates = {**chart_dates(self.locale), "zone": DISPLAY_ZONE[language]}

    def number(self, value: float | int | None, digits: int = 0) -> str:
        if value is None:
            return "—"
        return self._digits(value, digits)

    def money(self, amount: Decimal | str | None, currency: str) -> str:
        if amount is None:
            return "—"
        value = Decimal(amount)
        shape = self._money_shape(currency)
        # The common case (a non-negative amount with no more decimals than its currency
        # has) is laid out here as Babel lays it out; anything else is Babel's own.
        if shape is None or not value.is_finite() or value.is_signed() or (
            value.as_tuple().exponent < -shape[0]  # type: ignore[operator]
        ):
            return numbers.format_currency(value, currency, locale=self.locale)
        digits, prefix, suffix = shape
        return f"{prefix}{self._digits(value, digits)}{suffix}"

    def minor(self, amount_minor: int | None, currency: str) -> str:
        """Money stored in minor units (1050 BRL -> R$ 10,50)."""
        if amount_minor is None:
            return "—"
        digits = _currency_digits(currency)
        return self.money(Decimal(amount_minor).scaleb(-digits), currency)

    def _digits(self, value: float | Decimal, digits: int) -> str:
        text = f"{value:,.{digits}f}"  # both languages group by thousands
        return text.translate(self._separators).replace("\0", self._group)

    def _money_shape(self, currency: str) -> tuple[int, str, str] | None:
        """The currency's decimals and the text Babel puts before and after the number, read
        once per currency from Babel's own rendering of a probe amount; None when the
        number is not found there as `_digits` writes it (Babel then formats each value)."""
        if currency in self._money_shapes:
            return self._money_shapes[currency]
        digits = _currency_digits(currency)
        probe = Decimal("1234567.123456789").quantize(Decimal(1).scaleb(-digits))
        sample = numbers.format_currency(probe, currency, locale=self.locale)
        number = self._digits(probe, digits)
        shape = None
        if sample.count(number) == 1:
            prefix, suffix = sample.split(number)
            shape = (digits, prefix, suffix)
        self._money_shapes[currency] = shape
        return shape

    def datetime(self, value: DateTime | None) -> str:
        if value is None:
            return "—"
        local = value.astimezone(self.zone)
        fields = self._datetime_fields
        if fields is None:
            text = str(self._datetime.apply(local, self.locale))
        else:
            text = self._datetime_format % tuple([field(local) for field in fields])
        return f"{text} {self.zone_name}"

    def date(self, value: DateTime | None) -> str:
        if value is None:
            return "—"
        return str(self._date.apply(value.astimezone(self.zone), self.locale))

    def bytes(self, size: int | None) -> str:
        if size is None:
            return "—"
        for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("kB", 1024)):
            if size >= scale:
                return f"{self.number(size / scale, 1)} {unit}"
        return f"{self.number(size)} B"

    def duration(self, seconds: float | None) -> str:
        """Time into the flight, h:mm:ss."""
        if seconds is None:
            return "—"
        whole = int(seconds)
        return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def chart_dates(locale: Locale) -> dict[str, Any]:
    """What the charts' time axes need of the locale: uPlot writes English month and day
    names, month before day and a 12-hour clock unless told otherwise."""
    def names(kind: Any) -> list[str]:
        return [kind[i] for i in sorted(kind)]

    short = str(locale.date_formats["short"].pattern)
    return {
        "MMMM": names(locale.months["format"]["wide"]),
        "MMM": names(locale.months["format"]["abbreviated"]),
        # uPlot counts the week from Sunday, Babel from Monday.
        "WWWW": _sunday_first(names(locale.days["format"]["wide"])),
        "WWW": _sunday_first(names(locale.days["format"]["abbreviated"])),
        "day_first": short.lower().index("d") < short.index("M"),
        "hour24": "H" in str(locale.time_formats["short"].pattern),
    }


def _sunday_first(monday_first: list[str]) -> list[str]:
    return monday_first[-1:] + monday_first[:-1]


@cache
def formats(language: str) -> Formats:
    """The language's formats, built once per process (their money shapes are read once)."""
    return Formats(language)
