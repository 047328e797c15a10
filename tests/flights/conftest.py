from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient

from nubo.kit.storage import ObjectStore
from tests.fixtures.s3 import S3Server
from tests.fixtures.world import World
from tests.flights.live import Live, start_live


@pytest.fixture
def store(app) -> ObjectStore:
    store: ObjectStore = app.state.store
    return store


@pytest.fixture
def store_root(store: ObjectStore) -> Path:
    assert store.root is not None
    return store.root


@pytest.fixture
async def flight_a(client: AsyncClient, world: World) -> dict:
    r = await client.post(
        "/api/flight/create", json={"registration": "PR-XBA"}, headers=world.headers("admin_a")
    )
    assert r.status_code == 201
    return r.json()


@pytest.fixture
async def live_s3(  # the app on the S3 test server, jobs in-process
    database_url: str, engine: Any, tmp_path: Path, s3_server: S3Server, s3_url: str
) -> AsyncIterator[Live]:
    async for value in start_live(
        database_url,
        tmp_path,
        storage_url=s3_url,
        s3_endpoint=s3_server.endpoint,
        s3_region=s3_server.region,
        s3_access_key_id=s3_server.access_key_id,
        s3_secret_access_key=s3_server.secret_access_key,
        s3_allow_http=True,
    ):
        yield value
