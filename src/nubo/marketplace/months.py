"""Calendar months `YYYY-MM` in UTC, and monthly billing periods."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta

from nubo.kit.types import utcnow

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_MONTH_NUMBER = re.compile(r"^(0?[1-9]|1[0-2])$")


class MonthError(ValueError):
    pass


def parse_month(value: str, *, allow_number: bool = False) -> str:
    """`2026-03` -> `2026-03`; with `allow_number`, `3` or `03` -> that month of this UTC year."""
    text = value.strip()
    match = _MONTH.match(text)
    if match:
        if int(match.group(1)) < 1970:
            raise MonthError(f"{value!r} is not a month YYYY-MM")
        return text
    if allow_number and _MONTH_NUMBER.match(text):
        return f"{utcnow().year:04d}-{int(text):02d}"
    raise MonthError(f"{value!r} is not a month YYYY-MM" + (" or 1-12" if allow_number else ""))


def bounds(month: str) -> tuple[datetime, datetime]:
    """[start, end) of the month in UTC."""
    year, mon = int(month[:4]), int(month[5:7])
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
    return start, end


def days_in(month: str) -> int:
    return calendar.monthrange(int(month[:4]), int(month[5:7]))[1]


def month_of(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment.year:04d}-{moment.month:02d}"


def add_months(moment: datetime, months: int) -> datetime:
    """Same day and time `months` later, clamped to the month's last day (Jan 31 -> Feb 28)."""
    index = moment.month - 1 + months
    year, mon = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, mon)[1])
    return moment.replace(year=year, month=mon, day=day)


def period_end_after(started_at: datetime, now: datetime) -> datetime:
    """The end of the monthly period (anniversaries of `started_at`) that contains `now`."""
    months = max(1, (now.year - started_at.year) * 12 + now.month - started_at.month)
    end = add_months(started_at, months)
    while end <= now:
        months += 1
        end = add_months(started_at, months)
    while months > 1 and add_months(started_at, months - 1) > now:
        months -= 1
        end = add_months(started_at, months)
    return end


def active_days(start: datetime, end: datetime | None, month: str) -> int:
    """Calendar days of `month` on which [start, end) is active at some moment."""
    m_start, m_end = bounds(month)
    lo = max(start, m_start)
    hi = min(end, m_end) if end is not None else m_end
    if hi <= lo:
        return 0
    last_day = (hi - timedelta(microseconds=1)).date()
    return (last_day - lo.date()).days + 1
