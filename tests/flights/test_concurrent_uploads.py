"""Uploads racing for one flight, with truly concurrent requests on a committing app (each
request its own connection and transaction), on SQLite and PostgreSQL: every accepted
upload is its own processing run, and no stored object is left that nothing refers to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nubo.kit.storage import ObjectStore
from tests.fixtures.s3 import S3Server
from tests.flights.helpers import csv_bytes
from tests.flights.live import Live, start_live

RACERS = 4


@pytest.fixture
async def live(database_url: str, engine: Any, tmp_path: Path) -> AsyncIterator[Live]:
    async for value in start_live(database_url, tmp_path, db_pool_size=RACERS + 4):
        yield value


async def _slowly(data: bytes, pieces: int = 4) -> AsyncIterator[bytes]:
    # Every racer is still sending while the others are: they all read the flight before
    # any of them records its file.
    step = len(data) // pieces + 1
    for i in range(0, len(data), step):
        yield data[i : i + step]
        await asyncio.sleep(0.02)


async def _flight(live: Live) -> dict[str, Any]:
    r = await live.client.post(
        "/api/flight/create", json={"registration": "PR-XBA"},
        headers=live.world.headers("admin_a"),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _raw_keys(store: ObjectStore, flight: dict[str, Any]) -> set[str]:
    assert store.root is not None
    base = store.root / "raw"
    return {
        str(p.relative_to(store.root)) for p in base.rglob("*")
        if p.is_file() and f"flight={flight['id']}" in str(p)
    }


async def test_concurrent_uploads_to_one_flight_each_get_their_own_run(live: Live):
    flight = await _flight(live)
    h = live.world.headers("admin_a")
    responses = await asyncio.gather(*[
        live.client.post(f"/api/flight/{flight['id']}/upload",
                         content=_slowly(csv_bytes(5 + i)), headers=h)
        for i in range(RACERS)
    ])
    accepted = [r.json() for r in responses if r.status_code == 200]
    assert all(r.status_code in (200, 409) for r in responses), [r.text for r in responses]
    assert accepted
    runs = sorted(body["processing_run"] for body in accepted)
    assert runs == list(range(1, len(accepted) + 1)), runs
    final = await live.wait_terminal(flight["id"])
    assert final["processing_run"] == len(accepted)
    # Only the recorded file is left: every replaced one was removed after its commit.
    assert _raw_keys(live.app.state.store, flight) == {final["file"]["key"]}


@pytest.fixture
async def live_s3_racers(
    database_url: str, engine: Any, tmp_path: Path, s3_server: S3Server, s3_url: str
) -> AsyncIterator[Live]:
    async for value in start_live(
        database_url, tmp_path, db_pool_size=RACERS + 5, storage_url=s3_url,
        s3_endpoint=s3_server.endpoint, s3_region=s3_server.region,
        s3_access_key_id=s3_server.access_key_id,
        s3_secret_access_key=s3_server.secret_access_key, s3_allow_http=True,
    ):
        yield value


async def test_concurrent_completions_of_one_grant_record_it_once(
    live_s3_racers: Live, s3_server: S3Server, s3_url: str
):
    live = live_s3_racers
    flight = await _flight(live)
    h = live.world.headers("admin_a")
    grant = (await live.client.post(
        f"/api/flight/{flight['id']}/upload-url", json={}, headers=h)).json()
    async with httpx.AsyncClient(timeout=60) as s3:
        assert (await s3.put(grant["url"], content=csv_bytes(9))).status_code == 200
    responses = await asyncio.gather(*[
        live.client.post(f"/api/flight/{flight['id']}/upload-complete", headers=h)
        for _ in range(RACERS + 1)
    ])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * RACERS, [r.text for r in responses]
    # Refused under the lock, or (a racer that read the flight only after the winner's
    # commit) before the object was even looked at.
    assert {r.json()["code"] for r in responses if r.status_code == 409} <= {
        "upload-superseded", "no-pending-upload"
    }
    final = await live.wait_terminal(flight["id"])
    assert final["processing_run"] == 1 and final["file"]["key"] == grant["key"]
    prefix = s3_url.split("/", 3)[3]
    assert s3_server.list_keys(f"{prefix}/raw/") == [f"{prefix}/{grant['key']}"]
