"""An aircraft's trend as a table, the trend's own pages read in batches."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from nubo.fleet import service
from nubo.kit.db import ReadSessionFactory
from nubo.kit.pagination import all_pages
from nubo.kit.tabular import Column, Row
from nubo.models import Aircraft, TrendPoint

TREND_COLUMNS = (
    Column("registration"),
    Column("flight_id"),
    Column("flown_at", "time"),
    Column("bleed_status"),
    Column("flight_status"),
    Column("trend_status"),
    Column("integrity_score", "float"),
    *(Column(f"engine{e}_score", "float") for e in service.ENGINES),
    Column("model_version"),
)


def trend_row(registration: str, p: TrendPoint) -> Row:
    scores = p.engine_scores or {}
    return (
        registration, str(p.flight_id), p.flown_at, p.bleed_status, p.flight_status,
        p.trend_status, p.integrity_score, *(scores.get(str(e)) for e in service.ENGINES),
        p.model_version,
    )


async def trend_table(
    sessions: ReadSessionFactory, aircraft: Aircraft, size: int = 500
) -> AsyncIterator[list[Row]]:
    """The aircraft's trend points in the order of `GET /api/aircraft/{registration}`."""
    registration = aircraft.registration

    async def fetch(session: Any, params: Any) -> list[TrendPoint]:
        return await service.trend_page(session, aircraft, params)

    async for batch in all_pages(sessions, fetch, lambda p: (p.flown_at, p.flight_id), size):
        yield [trend_row(registration, p) for p in batch]
