"""Dates and times of `i18n.Formats` for pages of hundreds of rows: the same text, faster.

`Formats.datetime` applies Babel's parsed pattern, which computes every field through
Babel's generic field code (tens of microseconds a value). Here the pattern's fields are
mapped once, per language, to plain functions of the local time; a pattern with a field not
listed falls back to `Formats.datetime` itself, so the text is always Babel's
(tests/web/test_quickfmt.py compares both over many instants, in every language).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime as DateTime
from functools import cache

from nubo.web.i18n import Formats

Field = Callable[[DateTime], str]


_FIELD = re.compile(r"%\((\w+)\)s")


def _fields(formats: Formats) -> tuple[Field, ...] | None:
    periods = formats.locale.day_periods["format"]["abbreviated"]
    am, pm = str(periods["am"]), str(periods["pm"])
    known: dict[str, Field] = {
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
    names = _FIELD.findall(str(formats._datetime.format))
    if any(name not in known for name in names):
        return None
    return tuple(known[name] for name in names)


class QuickFormats:
    """`datetime` as `Formats.datetime` gives it; everything else is the `Formats`'."""

    def __init__(self, formats: Formats) -> None:
        self.formats = formats
        self.number = formats.number
        self._fields = _fields(formats)
        # Babel's %-format of the pattern, its named fields made positional, in order.
        self._format = _FIELD.sub("%s", str(formats._datetime.format))
        self._suffix = f" {formats.zone_name}"
        self._zone = formats.zone

    def datetime(self, value: DateTime | None) -> str:
        if value is None:
            return "—"
        fields = self._fields
        if fields is None:
            return self.formats.datetime(value)
        local = value.astimezone(self._zone)
        return self._format % tuple([field(local) for field in fields]) + self._suffix


@cache
def quick_formats(language: str) -> QuickFormats:
    return QuickFormats(Formats(language))
