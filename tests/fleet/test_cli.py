"""`nubo fleet query` / `columns`: readable formats, and no answer from nowhere; `replace` and
`refit` against the embedded database."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import uuid
from datetime import UTC, datetime

import polars as pl
from typer.testing import CliRunner

from nubo.cli import app
from nubo.fleet.features import feature_key
from nubo.kit.db import create_engine, create_sessionmaker
from nubo.kit.migrate import upgrade
from nubo.kit.storage import ObjectStore
from nubo.models import Account, Flight
from nubo.settings import Settings

runner = CliRunner()
WIDE = [f"a_rather_long_feature_column_{i}" for i in range(12)]
DAY = datetime(2026, 5, 4, tzinfo=UTC)


def _store_flight(data_dir, frame: pl.DataFrame | None = None) -> None:
    """A live flight in the data directory's database, and its feature file in its store."""
    asyncio.run(_seed(data_dir, frame if frame is not None
                      else pl.DataFrame({name: [1.5, 2.5] for name in WIDE})))


async def _seed(data_dir, frame: pl.DataFrame) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=data_dir, _env_file=None)
    engine = create_engine(settings.resolved_database_url)
    try:
        await upgrade(engine)
        async with create_sessionmaker(engine)() as session, session.begin():
            account = Account(name="Acme", email=f"{uuid.uuid4().hex}@example.com")
            session.add(account)
            await session.flush()
            flight = Flight(account_id=account.id, registration="PR-XBA", departure_at=DAY)
            session.add(flight)
            await session.flush()
            key = feature_key(account.id, "PR-XBA", DAY, flight.id)
    finally:
        await engine.dispose()
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    await ObjectStore.from_url(str(data_dir / "objects")).put_bytes(key, buffer.getvalue())


def _invoke(data_dir, monkeypatch, *args: str):
    monkeypatch.setenv("NUBO_DATA_DIR", str(data_dir))
    monkeypatch.delenv("NUBO_STORAGE_URL", raising=False)
    return runner.invoke(app, ["fleet", *args], env={"COLUMNS": "80"})


def test_query_on_a_missing_data_directory_is_refused_and_creates_nothing(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    result = _invoke(missing, monkeypatch, "query", "SELECT count(*) FROM features")
    assert result.exit_code == 2
    assert "no data directory" in result.output
    assert not missing.exists()


def test_select_star_as_a_table_shows_every_column_whole(tmp_path, monkeypatch):
    _store_flight(tmp_path)
    result = _invoke(tmp_path, monkeypatch, "query", "SELECT * FROM features")
    assert result.exit_code == 0, result.output
    for name in [*WIDE, "registration", "flight"]:
        assert name in result.output
    assert "…" not in result.output
    assert "2 rows" in result.output


def test_query_as_csv_and_json(tmp_path, monkeypatch):
    _store_flight(tmp_path)
    sql = "SELECT registration, date, a_rather_long_feature_column_0 AS x FROM features ORDER BY x"
    as_csv = _invoke(tmp_path, monkeypatch, "query", sql, "--format", "csv")
    assert as_csv.exit_code == 0, as_csv.output
    assert list(csv.reader(io.StringIO(as_csv.output))) == [
        ["registration", "date", "x"],
        ["PR-XBA", "2026-05-04", "1.5"],
        ["PR-XBA", "2026-05-04", "2.5"],
    ]
    as_json = _invoke(tmp_path, monkeypatch, "query", sql, "--format", "json")
    assert json.loads(as_json.output) == [
        {"registration": "PR-XBA", "date": "2026-05-04", "x": 1.5},
        {"registration": "PR-XBA", "date": "2026-05-04", "x": 2.5},
    ]


def test_columns_lists_the_view_with_registration_not_aircraft(tmp_path, monkeypatch):
    _store_flight(tmp_path)
    result = _invoke(tmp_path, monkeypatch, "columns")
    assert result.exit_code == 0, result.output
    names = {line.split("│")[1].strip() for line in result.output.splitlines() if "│" in line}
    assert {"account", "registration", "date", "flight", *WIDE} <= names
    assert "aircraft" not in names


def test_docs_list_exactly_the_columns_of_the_features_view(tmp_path, monkeypatch):
    from pathlib import Path

    from nubo.bleed.pipeline import analyze
    from nubo.bleed.simulate import write_flight
    from tests.bleed.conftest import flight

    frame = analyze(write_flight(flight(), tmp_path / "f.csv", fmt="csv")).features
    _store_flight(tmp_path / "data", frame)
    result = _invoke(tmp_path / "data", monkeypatch, "columns")
    listed = {line.split("│")[1].strip() for line in result.output.splitlines() if "│" in line}
    docs = (Path(__file__).parents[2] / "docs" / "fleet.md").read_text()
    documented = set(re.findall(r"^\| `(\w+)` \|", docs, flags=re.MULTILINE))
    assert documented == listed - {"column"}


def test_cli_refit_and_replace_on_an_empty_account(tmp_path, monkeypatch):
    monkeypatch.setenv("NUBO_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("NUBO_DATABASE_URL", raising=False)
    account = str(uuid.uuid4())
    refit = runner.invoke(
        app, ["fleet", "refit", "--account", account, "--since", "2026-01-01T00:00:00"]
    )
    assert refit.exit_code == 0, refit.output
    assert "0 aircraft" in refit.output
    replace = runner.invoke(
        app,
        ["fleet", "replace", "--account", account, "--registration", "PR-XBA", "--engine", "1",
         "--component", "bleed-valve"],
    )
    assert replace.exit_code == 1
    assert "aircraft not found" in replace.output
