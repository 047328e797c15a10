"""API keys: a machine's door to one account, with no more than its scopes."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import select, update

from nubo.kit.types import utcnow
from nubo.models import ApiKey, Scope
from tests.conftest import make_settings
from tests.fixtures.world import World, make_api_key
from tests.flights.helpers import csv_bytes
from tests.flights.live import Live, start_live


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _create(client: AsyncClient, world: World, **body: Any) -> Any:
    payload = {"name": "ground station GRU", "scopes": ["flights:read", "flights:write"], **body}
    r = await client.post("/api/api-keys", json=payload, headers=world.headers("admin_a"))
    assert r.status_code == 201, r.text
    return r.json()


async def test_an_admin_sees_the_secret_once_and_only_its_hash_is_stored(client, world, session):
    created = await _create(client, world)
    token = created["key"]
    assert token.startswith(f"nubo_{created['prefix']}_") and len(token) >= 50
    stmt = select(ApiKey).where(ApiKey.id == uuid.UUID(created["id"]))
    row = (await session.execute(stmt)).scalar_one()
    assert row.secret_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {row.secret_hash, row.prefix, row.name}
    listed = await client.get("/api/api-keys", headers=world.headers("admin_a"))
    [item] = [k for k in listed.json()["items"] if k["id"] == created["id"]]
    assert "key" not in item and item["scopes"] == ["flights:read", "flights:write"]


async def test_a_key_reads_its_own_account_only(client, world, session):
    _, token = await make_api_key(session, world.account_a, [Scope.flights_read])
    await session.commit()
    r = await client.get("/api/flight", headers=_bearer(token))
    assert r.status_code == 200
    me = await client.get("/api/users/profile", headers=_bearer(token))
    assert me.status_code == 403 and me.json()["code"] == "key-not-allowed"


async def test_a_key_without_the_scope_is_403(client, world, session):
    _, token = await make_api_key(session, world.account_a, [Scope.flights_read])
    await session.commit()
    r = await client.post("/api/flight/create", json={"registration": "PR-XBA"},
                          headers=_bearer(token))
    assert r.status_code == 403 and r.json()["code"] == "key-scope-missing"


async def test_a_key_never_manages_keys(client, world, session):
    _, token = await make_api_key(session, world.account_a)
    await session.commit()
    r = await client.post("/api/api-keys", json={"name": "x", "scopes": ["flights:read"]},
                          headers=_bearer(token))
    assert r.status_code == 403


async def test_revoked_key_is_401_at_once(client, world, session):
    created = await _create(client, world)
    headers = _bearer(created["key"])
    assert (await client.get("/api/flight", headers=headers)).status_code == 200
    r = await client.delete(f"/api/api-keys/{created['id']}", headers=world.headers("admin_a"))
    assert r.status_code == 204
    after = await client.get("/api/flight", headers=headers)
    assert after.status_code == 401 and after.json()["code"] == "invalid-key"
    assert after.headers["www-authenticate"] == "Bearer"


async def test_expired_key_is_401(client, world, session):
    key, token = await make_api_key(session, world.account_a)
    await session.commit()
    assert (await client.get("/api/flight", headers=_bearer(token))).status_code == 200
    await session.execute(
        update(ApiKey).where(ApiKey.id == key.id).values(expires_at=utcnow() - timedelta(seconds=1))
    )
    await session.commit()
    assert (await client.get("/api/flight", headers=_bearer(token))).status_code == 401


async def test_key_of_a_deleted_account_is_401(client, world, session):
    _, token = await make_api_key(session, world.account_a)
    await session.commit()
    r = await client.delete(f"/api/accounts/{world.account_a.id}",
                            headers=world.headers("operator"))
    assert r.status_code == 204
    assert (await client.get("/api/flight", headers=_bearer(token))).status_code == 401


async def test_a_forged_or_altered_key_is_401(client, world, session):
    _, token = await make_api_key(session, world.account_a)
    await session.commit()
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (altered, "nubo_", "nubo_zz_zz", token + "x"):
        r = await client.get("/api/flight", headers=_bearer(bad))
        assert r.status_code == 401, bad


async def test_an_expiry_in_the_past_is_refused(client, world):
    r = await client.post(
        "/api/api-keys",
        json={"name": "old", "scopes": ["flights:read"], "expires_at": "2020-01-01T00:00:00Z"},
        headers=world.headers("admin_a"),
    )
    assert r.status_code == 422


async def test_last_use_is_written_at_most_once_a_minute(client, world, session):
    key, token = await make_api_key(session, world.account_a)
    key_id = key.id
    await session.commit()
    assert await _last_used(session, key_id) is None
    await client.get("/api/flight", headers=_bearer(token))
    first = await _last_used(session, key_id)
    assert first is not None
    await client.get("/api/flight", headers=_bearer(token))
    assert await _last_used(session, key_id) == first  # within the minute: not written again
    stale = utcnow() - timedelta(minutes=2)
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=stale))
    await session.commit()
    await client.get("/api/flight", headers=_bearer(token))
    assert await _last_used(session, key_id) > stale


async def _last_used(session, key_id):
    return (await session.execute(select(ApiKey.last_used_at).where(ApiKey.id == key_id))).scalar()


@pytest.fixture
async def limited_client(database_url, data_dir, sessionmaker, engine, connection):
    from tests.conftest import app_in_test_transaction

    settings = make_settings(database_url, data_dir, api_key_requests_per_window=3,
                             api_key_window_s=3600)
    app = app_in_test_transaction(settings, sessionmaker, engine, connection)
    transport = ASGITransport(app=app, client=("203.0.113.9", 40002))
    async with AsyncClient(transport=transport, base_url="http://nubo.test") as client:
        yield client


async def test_a_key_over_its_rate_limit_is_429_with_retry_after(limited_client, world, session):
    _, token = await make_api_key(session, world.account_a)
    _, other = await make_api_key(session, world.account_a)
    await session.commit()
    for _ in range(3):
        assert (await limited_client.get("/api/flight", headers=_bearer(token))).status_code == 200
    r = await limited_client.get("/api/flight", headers=_bearer(token))
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    # each key has its own allowance, and people are not counted against it
    assert (await limited_client.get("/api/flight", headers=_bearer(other))).status_code == 200
    r = await limited_client.get("/api/flight", headers=world.headers("admin_a"))
    assert r.status_code == 200


# ------------------------------------------------------------------ a ground station


@pytest.fixture
async def live(database_url: str, engine: Any, tmp_path: Path) -> AsyncIterator[Live]:
    async for value in start_live(database_url, tmp_path):
        yield value


async def test_a_ground_station_with_a_key_uploads_a_flight_and_reads_its_result(live: Live):
    created = await _create(live.client, live.world)
    # The station's script knows nothing but the key and the API's address.
    transport = ASGITransport(app=live.app, client=("198.51.100.4", 50000))
    async with AsyncClient(
        transport=transport, base_url="http://nubo.test", headers=_bearer(created["key"])
    ) as station:
        r = await station.post("/api/flight/create", json={"registration": "PR-XBA"})
        assert r.status_code == 201, r.text
        flight_id = r.json()["id"]
        assert r.json()["account_id"] == str(live.world.account_a.id)
        r = await station.post(f"/api/flight/{flight_id}/upload",
                               files={"file": ("f.csv", csv_bytes(10))})
        assert r.status_code == 200, r.text
        done = await live.wait_terminal(flight_id)
        assert done["processing_status"] == "processed"
        r = await station.get(f"/api/flight/{flight_id}")
        assert r.status_code == 200 and r.json()["bleed_status"] == done["bleed_status"]
        listed = await station.get("/api/flight", params={"registration": "PR-XBA"})
        assert [f["id"] for f in listed.json()["items"]] == [flight_id]


