"""A deleted flight leaves the fleet lake: its feature files are removed once the deletion
commits, and fleet SQL never counts it, even when that removal failed."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest
from httpx import AsyncClient

from nubo.fleet.features import feature_key
from nubo.fleet.service import query_lake
from nubo.kit.storage import ObjectStore
from nubo.kit.types import utcnow
from tests.fixtures.world import World

COUNT = "SELECT count(DISTINCT flight) FROM features"


def _parquet() -> bytes:
    buffer = io.BytesIO()
    pl.DataFrame({"engine": [1, 2], "press_mean": [45.0, 44.0]}).write_parquet(buffer)
    return buffer.getvalue()


async def _processed_flight(client: AsyncClient, world: World, store: ObjectStore,
                            registration: str) -> tuple[dict, str]:
    r = await client.post("/api/flight/create", json={"registration": registration},
                          headers=world.headers("admin_a"))
    assert r.status_code == 201, r.text
    flight = r.json()
    key = feature_key(flight["account_id"], registration, utcnow(), flight["id"])
    await store.put_bytes(key, _parquet())  # what processing writes
    return flight, key


@pytest.fixture
def store(app, tmp_path: Path) -> ObjectStore:
    store = ObjectStore.from_url(str(tmp_path / "objects"))
    app.state.store = store
    return store


async def test_deleting_a_flight_removes_its_features(client, world, session, store):
    _, kept_key = await _processed_flight(client, world, store, "PR-KEP")
    gone, gone_key = await _processed_flight(client, world, store, "PR-GON")
    assert (await query_lake(session, store, COUNT))[1] == [(2,)]

    r = await client.delete(f"/api/flight/{gone['id']}", headers=world.headers("admin_a"))
    assert r.status_code == 204
    assert await store.head(gone_key) is None
    assert await store.head(kept_key) is not None
    assert (await query_lake(session, store, COUNT))[1] == [(1,)]


async def test_a_deleted_flight_never_counts_even_if_its_files_stayed(
    client, world, session, store
):
    gone, gone_key = await _processed_flight(client, world, store, "PR-GON")
    r = await client.delete(f"/api/flight/{gone['id']}", headers=world.headers("admin_a"))
    assert r.status_code == 204
    await store.put_bytes(gone_key, _parquet())  # as if the removal had failed
    _, rows = await query_lake(session, store, "SELECT flight FROM features")
    assert rows == []
    assert await store.head(gone_key) is not None
