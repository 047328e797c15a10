"""The list pages format their dates with web.quickfmt: the text of i18n.Formats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nubo.web.i18n import LANGUAGES, Formats
from nubo.web.quickfmt import QuickFormats, quick_formats


@pytest.mark.parametrize("language", LANGUAGES)
def test_quick_dates_are_the_dates_of_the_locale_formats(language: str) -> None:
    quick, babel = quick_formats(language), Formats(language)
    assert quick._fields is not None  # the fast path, not the fallback
    start = datetime(2017, 1, 1, tzinfo=UTC)  # Brazil still had summer time then
    for step in range(0, 4 * 365 * 24, 7):  # every 7 hours over four years, odd minutes
        value = start + timedelta(hours=step, minutes=step % 60, seconds=step % 13)
        assert quick.datetime(value) == babel.datetime(value)
    assert quick.datetime(datetime(1, 1, 1, 12, tzinfo=UTC)) == babel.datetime(
        datetime(1, 1, 1, 12, tzinfo=UTC))
    assert quick.datetime(None) == babel.datetime(None) == "—"
    assert quick.number(1234.5, 1) == babel.number(1234.5, 1)


def test_a_pattern_with_a_field_it_does_not_know_falls_back_to_babel() -> None:
    formats = Formats("en")
    from babel import dates

    formats._datetime = dates.parse_pattern("EEEE d MMMM y, HH:mm")
    quick = QuickFormats(formats)
    assert quick._fields is None
    value = datetime(2026, 3, 4, 5, 6, tzinfo=UTC)
    assert quick.datetime(value) == formats.datetime(value) == "Wednesday 4 March 2026, 05:06 UTC"
