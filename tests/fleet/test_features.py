"""Feature tables land in the store under account/aircraft/date and answer fleet SQL."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime

import polars as pl
import pytest

from nubo.fleet.features import feature_key, fleet_query
from nubo.kit.storage import ObjectStore


def _parquet(engine_rows: list[tuple[int, str, float]]) -> bytes:
    frame = pl.DataFrame(engine_rows, schema=["engine", "phase", "press_mean"], orient="row")
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> ObjectStore:
    if request.param == "local":
        return ObjectStore.from_url(str(tmp_path / "objects"))
    server = request.getfixturevalue("s3_server")
    url = f"s3://{server.bucket}/t-{uuid.uuid4().hex[:12]}"
    return ObjectStore.from_url(url, **server.store_kwargs())


def test_feature_key_is_hive_partitioned_and_safe():
    key = feature_key("acc", "PR/X BA", datetime(2026, 5, 4, tzinfo=UTC), "f1")
    assert key == "features/account=acc/aircraft=PR_X_BA/date=2026-05-04/flight=f1.parquet"


async def test_fleet_query_reads_every_flight_with_its_partitions(store):
    day = datetime(2026, 5, 4, tzinfo=UTC)
    await store.put_bytes(feature_key("a1", "PR-XBA", day, "f1"),
                          _parquet([(1, "cruise", 45.0), (2, "cruise", 44.0)]))
    await store.put_bytes(feature_key("a1", "PR-XBB", day, "f2"),
                          _parquet([(1, "cruise", 51.0)]))
    columns, rows = await fleet_query(
        store,
        "SELECT registration, count(*) AS n, max(press_mean) AS top FROM features "
        "GROUP BY registration ORDER BY registration",
    )
    assert columns == ["registration", "n", "top"]
    assert rows == [("PR-XBA", 2, 45.0), ("PR-XBB", 1, 51.0)]
    _, flights = await fleet_query(store, "SELECT DISTINCT flight, date FROM features ORDER BY 1")
    assert [(f, str(d)) for f, d in flights] == [("f1", "2026-05-04"), ("f2", "2026-05-04")]


async def test_fleet_query_on_an_empty_store_returns_no_rows(store):
    _, rows = await fleet_query(store, "SELECT * FROM features")
    assert rows == []
