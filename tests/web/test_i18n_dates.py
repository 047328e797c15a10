"""Dates and times of i18n.Formats: laid out from the pattern's fields, the text Babel gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from babel import dates

from nubo.web.i18n import LANGUAGES, Formats, _date_fields, formats


def _babel(fmt: Formats, value: datetime) -> str:
    return f"{fmt._datetime.apply(value.astimezone(fmt.zone), fmt.locale)} {fmt.zone_name}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_quick_dates_are_the_dates_of_the_locale_formats(language: str) -> None:
    fmt = formats(language)
    assert fmt._datetime_fields is not None  # the fast path, not the fallback
    start = datetime(2017, 1, 1, tzinfo=UTC)  # Brazil still had summer time then
    for step in range(0, 4 * 365 * 24, 7):  # every 7 hours over four years, odd minutes
        value = start + timedelta(hours=step, minutes=step % 60, seconds=step % 13)
        assert fmt.datetime(value) == _babel(fmt, value)
    assert fmt.datetime(datetime(1, 1, 1, 12, tzinfo=UTC)) == _babel(
        fmt, datetime(1, 1, 1, 12, tzinfo=UTC))
    assert fmt.datetime(None) == "—"


def test_a_pattern_with_a_field_it_does_not_know_falls_back_to_babel() -> None:
    fmt = Formats("en")
    fmt._datetime = dates.parse_pattern("EEEE d MMMM y, HH:mm")
    fmt._datetime_fields = _date_fields(fmt._datetime, fmt.locale)
    assert fmt._datetime_fields is None
    value = datetime(2026, 3, 4, 5, 6, tzinfo=UTC)
    assert fmt.datetime(value) == _babel(fmt, value) == "Wednesday 4 March 2026, 05:06 UTC"


def test_the_charts_time_axis_speaks_the_pages_language():
    pt, en = formats("pt_BR").chart_dates, formats("en").chart_dates
    def shape(d):
        return d["MMM"][0], d["WWW"][0], d["day_first"], d["hour24"]

    assert shape(pt) == ("jan.", "dom.", True, True)
    assert shape(en) == ("Jan", "Sun", False, False)
    assert pt["zone"] == "America/Sao_Paulo" and en["zone"] == "UTC"
