"""`nubo model reprocess` against the embedded database: it runs the aircraft itself and
reports what it did."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from typer.testing import CliRunner

from nubo.cli import app
from nubo.kit.db import create_engine, create_sessionmaker
from nubo.kit.migrate import upgrade
from nubo.kit.storage import ObjectStore
from nubo.models import Account, Aircraft, Flight, FlightEvent, ProcessingStatus
from nubo.settings import Settings
from tests.fixtures.flights_data import simulated_csv

DAY = datetime(2026, 5, 4, tzinfo=UTC)


async def _seed(data_dir) -> uuid.UUID:  # type: ignore[no-untyped-def]
    """Two processed flights of one aircraft with their files (as recorded by an older model)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(Settings(data_dir=data_dir, _env_file=None).resolved_database_url)
    store = ObjectStore.from_url(str(data_dir / "objects"))
    try:
        await upgrade(engine)
        async with create_sessionmaker(engine)() as session, session.begin():
            account = Account(name="Acme", email=f"{uuid.uuid4().hex}@example.com")
            session.add(account)
            await session.flush()
            session.add(Aircraft(account_id=account.id, registration="PR-XBA"))
            for day, seed in enumerate((31, 32)):
                key = f"uploads/{uuid.uuid4().hex}.csv"
                await store.put_bytes(key, simulated_csv(seed=seed, duration_h=0.3))
                session.add(Flight(account_id=account.id, registration="PR-XBA",
                                   aircraft_type="A320", departure_at=DAY + timedelta(days=day),
                                   processing_status=ProcessingStatus.processed,
                                   processing_run=1, file_key=key, file_format="csv"))
            return account.id
    finally:
        await engine.dispose()


async def _reprocessed(data_dir) -> int:  # type: ignore[no-untyped-def]
    engine = create_engine(Settings(data_dir=data_dir, _env_file=None).resolved_database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            stmt = select(func.count()).where(FlightEvent.message.like("reprocessed%"))
            return int((await session.execute(stmt)).scalar_one())
    finally:
        await engine.dispose()


def test_reprocess_runs_the_embedded_fleet_and_says_how_much(tmp_path, monkeypatch):
    data_dir = tmp_path / "nubo"
    account_id = asyncio.run(_seed(data_dir))
    monkeypatch.setenv("NUBO_DATA_DIR", str(data_dir))
    monkeypatch.delenv("NUBO_STORAGE_URL", raising=False)
    monkeypatch.delenv("NUBO_DATABASE_URL", raising=False)
    monkeypatch.setenv("NUBO_JOBS", "inprocess")
    result = CliRunner().invoke(app, ["model", "reprocess", "--account", str(account_id)],
                                env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    assert "2 flight(s) of 1 aircraft reprocessed" in result.output
    assert asyncio.run(_reprocessed(data_dir)) == 2
    bad = CliRunner().invoke(app, ["model", "reprocess", "--account", "nope"])
    assert bad.exit_code == 2
