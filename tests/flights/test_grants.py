"""A presigned grant's whole life against S3 (moto on loopback): a recorded file ends the
grant and what it left, and the orphan sweep removes what a superseded URL stored."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.fleet.features import feature_key
from nubo.flights import orphans
from nubo.flights.series import series_key
from nubo.kit.storage import ObjectStore
from nubo.kit.types import utcnow
from nubo.models import Flight
from nubo.runtime import job_context
from tests.fixtures.s3 import S3Server
from tests.fixtures.world import World
from tests.flights.helpers import csv_bytes

MiB = 1024 * 1024
PART = 5 * MiB


@pytest.fixture
def s3_prefix(s3_url: str) -> str:
    return s3_url.split("/", 3)[3]


@pytest.fixture
def s3_store(app: Any, s3_server: S3Server, s3_url: str) -> ObjectStore:
    store = ObjectStore.from_url(s3_url, **s3_server.store_kwargs())
    app.state.store = store
    return store


async def _flight(client: AsyncClient, world: World, registration: str = "PR-XBA") -> dict:
    r = await client.post(
        "/api/flight/create", json={"registration": registration},
        headers=world.headers("admin_a"),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _grant(client: AsyncClient, world: World, flight: dict, **body: Any) -> dict:
    r = await client.post(
        f"/api/flight/{flight['id']}/upload-url", json=body, headers=world.headers("admin_a")
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _sweep_later(app: Any) -> int:
    # As if the grace period had passed for every object stored so far.
    later = utcnow() + orphans.grace(app.state.settings.presigned_upload_ttl_s) + timedelta(
        minutes=1
    )
    return await orphans.sweep_orphans(job_context(app, app.state.jobs), now=later)


async def test_a_recorded_file_ends_a_pending_multipart_grant(
    client, world, s3_store, s3_server, s3_prefix, session: AsyncSession
):
    flight = await _flight(client, world)
    grant = await _grant(client, world, flight, size=3 * PART, part_size=PART, multipart=True)
    async with httpx.AsyncClient(timeout=60) as s3:
        assert (await s3.put(grant["parts"][0]["url"], content=csv_bytes())).status_code == 200
    assert s3_server.list_multipart_uploads(s3_prefix + "/") == [f"{s3_prefix}/{grant['key']}"]

    r = await client.post(f"/api/flight/{flight['id']}/upload", content=csv_bytes(7),
                          headers=world.headers("admin_a"))
    assert r.status_code == 200, r.text

    row = await session.get(Flight, uuid.UUID(flight["id"]), populate_existing=True)
    assert row is not None
    assert (row.pending_key, row.pending_upload_id, row.pending_expires_at) == (None, None, None)
    assert s3_server.list_multipart_uploads(s3_prefix + "/") == []
    r = await client.post(f"/api/flight/{flight['id']}/upload-complete",
                          json={"parts": []}, headers=world.headers("admin_a"))
    assert r.status_code in (409, 422)


async def test_the_orphan_sweep_removes_what_a_superseded_url_stored(
    app, client, world, s3_store, s3_server, s3_prefix
):
    flight = await _flight(client, world)
    first = await _grant(client, world, flight)
    second = await _grant(client, world, flight)
    async with httpx.AsyncClient(timeout=60) as s3:
        # The first URL is still valid for S3 although its grant was replaced.
        assert (await s3.put(first["url"], content=csv_bytes(3))).status_code == 200
        assert (await s3.put(second["url"], content=csv_bytes(4))).status_code == 200
    r = await client.post(f"/api/flight/{flight['id']}/upload-complete",
                          headers=world.headers("admin_a"))
    assert r.status_code == 200, r.text
    # Objects of other owners in the same store: a dataset file, a live flight's features.
    await s3_store.put_bytes("datasets/dataset=1/abc", b"station,mm\nA,1\n")
    live_features = feature_key(flight["account_id"], "PR-XBA", utcnow(), flight["id"])
    await s3_store.put_bytes(live_features, b"PAR1")
    keys = set(s3_server.list_keys(s3_prefix + "/"))
    assert f"{s3_prefix}/{first['key']}" in keys

    assert await orphans.sweep_orphans(job_context(app, app.state.jobs)) == 0  # too young
    assert await _sweep_later(app) == 1
    assert set(s3_server.list_keys(s3_prefix + "/")) == keys - {f"{s3_prefix}/{first['key']}"}


async def test_the_orphan_sweep_removes_features_and_series_of_deleted_flights(
    app, client, world, s3_store, s3_server, s3_prefix
):
    kept = await _flight(client, world, "PR-KEP")
    gone = await _flight(client, world, "PR-GON")
    keep_key = feature_key(kept["account_id"], "PR-KEP", utcnow(), kept["id"])
    gone_key = feature_key(gone["account_id"], "PR-GON", utcnow(), gone["id"])
    keep_series = series_key(kept["account_id"], "PR-KEP", kept["id"])
    gone_series = series_key(gone["account_id"], "PR-GON", gone["id"])
    await s3_store.put_bytes(keep_key, b"PAR1")
    await s3_store.put_bytes(keep_series, b"PAR1")
    r = await client.delete(f"/api/flight/{gone['id']}", headers=world.headers("admin_a"))
    assert r.status_code == 204
    # A removal that failed at deletion time (written again here) is retried by the sweep.
    await s3_store.put_bytes(gone_key, b"PAR1")
    await s3_store.put_bytes(gone_series, b"PAR1")
    assert await _sweep_later(app) == 2
    assert s3_server.list_keys(f"{s3_prefix}/features/") == [f"{s3_prefix}/{keep_key}"]
    assert s3_server.list_keys(f"{s3_prefix}/series/") == [f"{s3_prefix}/{keep_series}"]
