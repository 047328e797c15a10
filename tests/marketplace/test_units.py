"""Pure helpers: money, months, normalised text."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

import pytest

from nubo.marketplace import money
from nubo.marketplace.months import (
    MonthError,
    active_days,
    add_months,
    bounds,
    parse_month,
    period_end_after,
)
from nubo.marketplace.text import like_pattern, normalise


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("10", "BRL", 1000), ("10.0", "BRL", 1000), ("10.00", "BRL", 1000), ("0.05", "USD", 5),
     ("1500", "JPY", 1500), ("1.234", "KWD", 1234)],
)
def test_to_minor(text, currency, minor):
    assert money.to_minor(text, currency) == minor


@pytest.mark.parametrize("bad", ["-1", "1e3", "abc", "", "1.", ".5", "1,5", "NaN", "Infinity"])
def test_bad_amounts_are_refused(bad):
    with pytest.raises(money.MoneyError):
        money.to_minor(bad, "BRL")


def test_floats_are_refused_and_extra_decimals_are_not_rounded():
    with pytest.raises(money.MoneyError):
        money.parse_decimal(10.5)  # type: ignore[arg-type]
    with pytest.raises(money.MoneyError):
        money.to_minor("10.001", "BRL")
    assert money.to_minor_or_none(money.parse_decimal("10.001"), "BRL") is None


def test_format_and_rounding():
    assert money.format_minor(1050, "BRL") == "10.50"
    assert money.format_minor(7, "JPY") == "7"
    assert money.format_minor(1, "KWD") == "0.001"
    assert money.round_fraction(Fraction(4990 * 16, 31)) == 2575  # 2575.48 -> 2575
    assert money.round_fraction(Fraction(5, 2)) == 3  # half up
    assert money.format_fraction(Fraction(16, 31)) == "0.516129"
    assert money.format_fraction(Fraction(1)) == "1"


def test_currency_codes():
    assert money.check_currency(" brl ") == "BRL"
    with pytest.raises(money.MoneyError):
        money.check_currency("XYZ")


def test_normalise():
    assert normalise("  São   Paulo, BR ") == "sao paulo, br"
    assert normalise("SAO PAULO, br") == normalise("São Paulo, BR")
    assert normalise("Straße") == "strasse"
    assert like_pattern("50%_off") == "%50\\%\\_off%"


def test_months(monkeypatch):
    assert parse_month("2026-02") == "2026-02"
    assert parse_month("3", allow_number=True).endswith("-03")
    assert parse_month("12", allow_number=True).endswith("-12")
    for bad in ["2026-13", "2026-1", "13", "0", "march", "2026/02", ""]:
        with pytest.raises(MonthError):
            parse_month(bad, allow_number=True)
    with pytest.raises(MonthError):
        parse_month("3")
    start, end = bounds("2026-12")
    assert (start, end) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def test_periods_and_active_days():
    jan31 = datetime(2026, 1, 31, 10, tzinfo=UTC)
    assert add_months(jan31, 1) == datetime(2026, 2, 28, 10, tzinfo=UTC)
    assert period_end_after(jan31, datetime(2026, 2, 1, tzinfo=UTC)) == datetime(
        2026, 2, 28, 10, tzinfo=UTC
    )
    assert period_end_after(jan31, datetime(2026, 3, 30, tzinfo=UTC)) == datetime(
        2026, 3, 31, 10, tzinfo=UTC
    )
    start = datetime(2026, 3, 16, 12, tzinfo=UTC)
    assert active_days(start, None, "2026-03") == 16
    assert active_days(start, datetime(2026, 3, 17, 0, tzinfo=UTC), "2026-03") == 1
    assert active_days(start, None, "2026-02") == 0
    assert active_days(datetime(2026, 1, 5, tzinfo=UTC), None, "2026-03") == 31
