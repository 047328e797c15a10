"""The flights list and its findings as tables (CSV, Parquet): the list's own query, read
in batches (docs/decisions/exports.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from nubo.flights import service
from nubo.identity.principal import Actor
from nubo.kit.db import ReadSessionFactory
from nubo.kit.pagination import all_pages
from nubo.kit.tabular import Column, Row
from nubo.models import Flight

FLIGHT_COLUMNS = (
    Column("id"),
    Column("account_id"),
    Column("registration"),
    Column("aircraft_type"),
    Column("flight_number"),
    Column("origin"),
    Column("destination"),
    Column("departure_at", "time"),
    Column("arrival_at", "time"),
    Column("processing_status"),
    Column("bleed_status"),
    Column("integrity_score", "float"),
    Column("findings_count", "int"),
    Column("model_version"),
    Column("processed_at", "time"),
    Column("created_at", "time"),
)

FINDING_COLUMNS = (
    Column("flight_id"),
    Column("registration"),
    Column("departure_at", "time"),
    Column("processed_at", "time"),
    Column("engine", "int"),
    Column("code"),
    Column("severity"),
    Column("message"),
    Column("channel"),
    Column("deviation", "float"),
    Column("z", "float"),
    Column("integrity_score", "float"),
)


BATCH = 500


def _flights(
    sessions: ReadSessionFactory, actor: Actor, filters: dict[str, Any], size: int
) -> AsyncIterator[list[Flight]]:
    async def fetch(session: Any, params: Any) -> list[Flight]:
        return await service.list_flights(session, actor, params, **filters)

    return all_pages(sessions, fetch, lambda f: (f.created_at, f.id), size)


def _value(enum_or_none: Any) -> Any:
    return None if enum_or_none is None else str(enum_or_none)


def flight_row(f: Flight) -> Row:
    return (
        str(f.id), str(f.account_id), f.registration, f.aircraft_type, f.flight_number,
        f.origin, f.destination, f.departure_at, f.arrival_at, _value(f.processing_status),
        _value(f.bleed_status), f.integrity_score, len(f.findings or ()), f.model_version,
        f.processed_at, f.created_at,
    )


def finding_rows(f: Flight) -> Iterable[Row]:
    for finding in f.findings or ():
        evidence = finding.get("evidence") or {}
        yield (
            str(f.id), f.registration, f.departure_at, f.processed_at, finding.get("engine"),
            finding.get("code"), finding.get("severity"), finding.get("message"),
            evidence.get("channel"), evidence.get("deviation"), evidence.get("z"),
            evidence.get("integrity_score"),
        )


async def flights_table(
    sessions: ReadSessionFactory, actor: Actor, filters: dict[str, Any], size: int = BATCH
) -> AsyncIterator[list[Row]]:
    """The rows of `GET /api/flight` with the same filters, newest first, batch by batch."""
    async for batch in _flights(sessions, actor, filters, size):
        yield [flight_row(f) for f in batch]


async def findings_table(
    sessions: ReadSessionFactory, actor: Actor, filters: dict[str, Any]
) -> AsyncIterator[list[Row]]:
    """One row per finding of the flights `GET /api/flight` lists with these filters."""
    async for batch in _flights(sessions, actor, filters, BATCH):
        yield [row for f in batch for row in finding_rows(f)]
