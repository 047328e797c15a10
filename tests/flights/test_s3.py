"""The upload rules against S3 (moto in server mode on loopback), presigned uploads, and
processing end to end reading from S3."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from typing import Any

import httpx
import pytest
from httpx import AsyncClient

from nubo.kit.storage import ObjectStore
from tests.fixtures.s3 import S3Server
from tests.fixtures.world import World
from tests.flights.helpers import agen, big_csv_chunks, csv_bytes, parquet_bytes
from tests.flights.live import Live
from tests.flights.test_uploads import _asgi_upload_then_disconnect

MiB = 1024 * 1024


@pytest.fixture
def s3_prefix(s3_url: str) -> str:
    return s3_url.split("/", 3)[3]


@pytest.fixture
def s3_store(app: Any, s3_server: S3Server, s3_url: str) -> ObjectStore:
    store = ObjectStore.from_url(s3_url, **s3_server.store_kwargs())
    app.state.store = store
    return store


def _keys(server: S3Server, prefix: str) -> list[str]:
    return server.list_keys(prefix + "/")


def _uploads(server: S3Server, prefix: str) -> list[str]:
    return server.list_multipart_uploads(prefix + "/")


async def _flight(client: AsyncClient, world: World) -> dict:
    r = await client.post(
        "/api/flight/create", json={"registration": "PR-XBA"}, headers=world.headers("admin_a")
    )
    assert r.status_code == 201
    return r.json()


async def test_upload_to_s3(client, world, s3_store, s3_server, s3_prefix):
    data = parquet_bytes(50)
    r = await client.post(
        "/api/flight/create",
        data={"registration": "PR-XBA"},
        files={"file": ("x.csv", data)},
        headers=world.headers("member_a"),
    )
    assert r.status_code == 201, r.text
    f = r.json()["file"]
    assert f["format"] == "parquet" and f["sha256"] == hashlib.sha256(data).hexdigest()
    assert _keys(s3_server, s3_prefix) == [f"{s3_prefix}/{f['key']}"]
    assert await s3_store.read_head(f["key"], 4) == b"PAR1"


async def test_big_upload_streams_in_parts(client, world, s3_store, s3_server, s3_prefix):
    flight = await _flight(client, world)
    total = 20 * MiB
    digest = hashlib.sha256()
    chunks = list(big_csv_chunks(total, chunk=1 * MiB))
    for c in chunks:
        digest.update(c)
    r = await client.post(
        f"/api/flight/{flight['id']}/upload",
        content=agen(chunks),
        headers=world.headers("admin_a"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["file"]["size"] == total
    assert r.json()["file"]["sha256"] == digest.hexdigest()
    assert _uploads(s3_server, s3_prefix) == []


async def test_cap_without_content_length_aborts_the_multipart_upload(
    client, app, world, s3_store, s3_server, s3_prefix
):
    flight = await _flight(client, world)
    app.state.settings.max_upload_bytes = 12 * MiB
    try:
        r = await client.post(
            f"/api/flight/{flight['id']}/upload",
            content=agen(big_csv_chunks(40 * MiB, chunk=1 * MiB)),
            headers=world.headers("admin_a"),
        )
    finally:
        app.state.settings.max_upload_bytes = 2 * 1024**3
    assert r.status_code == 413, r.text
    assert _keys(s3_server, s3_prefix) == []
    assert _uploads(s3_server, s3_prefix) == []


async def test_client_disconnect_aborts_the_multipart_upload(
    client, app, world, s3_store, s3_server, s3_prefix
):
    flight = await _flight(client, world)
    headers = {**world.headers("admin_a"), "content-type": "application/octet-stream"}
    sent = await _asgi_upload_then_disconnect(
        app,
        f"/api/flight/{flight['id']}/upload",
        headers,
        list(big_csv_chunks(20 * MiB, chunk=1 * MiB)),
    )
    assert any(m.get("status") == 400 for m in sent)
    assert _keys(s3_server, s3_prefix) == []
    assert _uploads(s3_server, s3_prefix) == []
    r = await client.get(f"/api/flight/{flight['id']}", headers=world.headers("admin_a"))
    assert r.json()["file"] is None


async def test_unsupported_format_stores_nothing(client, world, s3_store, s3_server, s3_prefix):
    flight = await _flight(client, world)
    r = await client.post(
        f"/api/flight/{flight['id']}/upload",
        files={"file": ("x.parquet", b"\x00\x01binary" * 3000)},
        headers=world.headers("admin_a"),
    )
    assert r.status_code == 415
    assert _keys(s3_server, s3_prefix) == []


async def test_storage_down_is_503(client, app, world):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app.state.store = ObjectStore.from_url(
        "s3://nowhere",
        endpoint=f"http://127.0.0.1:{port}",
        region="us-east-1",
        access_key_id="x",
        secret_access_key="y",
        allow_http=True,
        max_retries=0,
        connect_timeout_s=1,
    )
    flight = await _flight(client, world)
    r = await client.post(
        f"/api/flight/{flight['id']}/upload",
        files={"file": ("f.csv", csv_bytes())},
        headers=world.headers("admin_a"),
    )
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.get(f"/api/flight/{flight['id']}", headers=world.headers("admin_a"))
    assert r.json()["file"] is None


async def test_presigned_upload(client, world, s3_store, s3_server, s3_prefix):
    flight = await _flight(client, world)
    h = world.headers("member_a")
    base = f"/api/flight/{flight['id']}"
    r = await client.post(f"{base}/upload-complete", headers=h)
    assert r.status_code == 409 and r.json()["code"] == "no-pending-upload"

    r = await client.post(f"{base}/upload-url", json={"file_name": "../QAR dump.csv"}, headers=h)
    assert r.status_code == 200, r.text
    grant = r.json()
    assert grant["method"] == "PUT" and grant["key"].startswith(
        f"raw/account={flight['account_id']}/flight={flight['id']}/"
    )
    r = await client.post(f"{base}/upload-complete", headers=h)
    assert r.status_code == 409 and r.json()["code"] == "upload-missing"

    data = csv_bytes(100)
    async with httpx.AsyncClient() as s3:
        put = await s3.put(grant["url"], content=data)
    assert put.status_code == 200, put.text
    r = await client.post(f"{base}/upload-complete", headers=h)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["processing_status"] == "queued"
    assert done["file"]["key"] == grant["key"] and done["file"]["name"] == "QAR dump.csv"
    assert done["file"]["sha256"] == hashlib.sha256(data).hexdigest()
    r = await client.post(f"{base}/upload-complete", headers=h)
    assert r.status_code == 409  # recorded once

    # Something that is not a flight file is refused and removed.
    r = await client.post(f"{base}/upload-url", headers=h)
    grant = r.json()
    async with httpx.AsyncClient() as s3:
        await s3.put(grant["url"], content=b"\x7fELF" + b"\x00" * 5000)
    r = await client.post(f"{base}/upload-complete", headers=h)
    assert r.status_code == 415
    assert f"{s3_prefix}/{grant['key']}" not in _keys(s3_server, s3_prefix)


async def test_processing_reads_from_s3(live_s3: Live):
    h = live_s3.world.headers("admin_a")
    r = await live_s3.client.post(
        "/api/flight/create",
        data={"registration": "PR-XBA"},
        files={"file": ("f.csv", csv_bytes())},
        headers=h,
    )
    assert r.status_code == 201, r.text
    done = await live_s3.wait_terminal(r.json()["id"])
    assert done["processing_status"] == "processed", done
    r = await live_s3.client.get("/api/ready")
    assert r.status_code == 200 and r.json()["checks"]["storage"] == "ok"
    await asyncio.sleep(0)


async def test_the_sweeper_removes_an_abandoned_presigned_upload(
    client, app, world, s3_store, s3_server, s3_prefix, session
):
    import uuid
    from datetime import timedelta

    from nubo.flights import tasks
    from nubo.kit.types import utcnow
    from nubo.models import Flight
    from nubo.runtime import job_context

    flight = await _flight(client, world)
    h = world.headers("admin_a")
    grant = (await client.post(f"/api/flight/{flight['id']}/upload-url", headers=h)).json()
    async with httpx.AsyncClient() as s3:
        await s3.put(grant["url"], content=csv_bytes())
    assert _keys(s3_server, s3_prefix) == [f"{s3_prefix}/{grant['key']}"]
    row = await session.get(Flight, uuid.UUID(flight["id"]))
    assert row is not None
    row.pending_expires_at = utcnow() - timedelta(hours=2)
    await session.commit()
    await tasks.sweep(job_context(app, app.state.jobs))
    assert _keys(s3_server, s3_prefix) == []
    r = await client.post(f"/api/flight/{flight['id']}/upload-complete", headers=h)
    assert r.status_code == 409
