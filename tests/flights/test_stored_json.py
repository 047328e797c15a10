"""A flight's JSON columns are stored as the flights list writes them, so the list copies
their text into its page (kit.listing.Stored); migration 0025 brings older rows to that form."""

from __future__ import annotations

import json
import uuid
from typing import Any

from alembic import command
from sqlalchemy import JSON, Text, Uuid, cast, column, literal, select, table
from sqlalchemy.ext.asyncio import async_sessionmaker

from nubo.kit.db import create_engine
from nubo.kit.listing import stored_text
from nubo.kit.migrate import alembic_config, upgrade
from nubo.models import Flight, ProcessingStatus
from tests.fixtures.world import make_account

COLUMNS = ("engine_scores", "findings", "phases", "coverage", "warnings")
VALUES: dict[str, Any] = {
    "engine_scores": {"1": 1e-7, "2": None, "3": 1.5e300},
    "findings": [{"engine": 2, "message_pt": "vazamento ção", "evidence":
                  {"z": -3.25, "n": [1, 2.0, None], "deep": {"a": [{"b": True}]}}}],
    "phases": [{"phase": "cruise", "start_s": 0.1, "end_s": 4200.0}],
    "coverage": {"ratio": 0.3333333333333333, "big": 2**70},
    "warnings": ["incomplete-flight"],
}


async def _texts(conn, flight_id: uuid.UUID) -> dict[str, str | None]:
    stmt = select(*(cast(getattr(Flight, name), Text).label(name) for name in COLUMNS)).where(
        Flight.id == flight_id)
    return dict((await conn.execute(stmt)).one()._mapping)


async def test_a_flights_json_columns_are_stored_as_the_list_writes_them(session, world):
    flight = Flight(account_id=world.account_a.id, registration="PR-XBA",
                    processing_status=ProcessingStatus.processed, **VALUES)
    session.add(flight)
    await session.flush()
    texts = await _texts(session, flight.id)
    assert texts == {name: stored_text(value) for name, value in VALUES.items()}
    assert texts["findings"] != json.dumps(VALUES["findings"])  # not json.dumps's form


def _json_of(dialect: str):
    if dialect == "postgresql":
        return lambda text: cast(literal(text, Text), JSON)
    return lambda text: text


def _downgrade(connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


async def test_migration_0025_rewrites_older_json_texts_as_the_list_writes_them(fresh_url):
    engine = create_engine(fresh_url)
    try:
        await upgrade(engine)
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            account = await make_account(session)
            older = Flight(account_id=account.id, registration="PR-OLD")
            unprocessed = Flight(account_id=account.id, registration="PR-NEW")
            session.add_all([older, unprocessed])
            await session.commit()
            older_id, unprocessed_id = older.id, unprocessed.id
        async with engine.begin() as conn:  # as SQLAlchemy's default writer stored them
            await conn.run_sync(_downgrade, "0024")
            flights = table("flights", column("id", Uuid()),
                            *(column(name, Text()) for name in COLUMNS))
            as_json = _json_of(conn.dialect.name)
            await conn.execute(flights.update().where(flights.c.id == older_id).values(
                {name: as_json(json.dumps(value)) for name, value in VALUES.items()}))
            assert (await _texts(conn, older_id))["coverage"] == json.dumps(VALUES["coverage"])
            before = await _texts(conn, unprocessed_id)
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await _texts(conn, older_id) == {
                name: stored_text(value) for name, value in VALUES.items()}
            assert await _texts(conn, unprocessed_id) == before
    finally:
        await engine.dispose()
