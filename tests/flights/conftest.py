from __future__ import annotations

from pathlib import Path

import pytest
from httpx import AsyncClient

from nubo.kit.storage import ObjectStore
from tests.fixtures.world import World


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
