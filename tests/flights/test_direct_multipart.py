"""Presigned multipart uploads straight to S3 (moto in server mode on loopback):
`upload-url` with a `size` grants one presigned UploadPart URL per part, the client PUTs
the parts, `upload-complete` takes their ETags, completes, verifies and records."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from httpx import AsyncClient

from nubo.flights import tasks
from nubo.kit.storage import ObjectStore
from nubo.kit.types import utcnow
from nubo.models import Flight
from nubo.runtime import job_context
from tests.fixtures.s3 import S3Server
from tests.fixtures.world import World
from tests.flights.helpers import HEADER, csv_bytes
from tests.flights.live import Live

MiB = 1024 * 1024
PART = 5 * MiB  # S3's smallest part (but the last)


@pytest.fixture
def s3_prefix(s3_url: str) -> str:
    return s3_url.split("/", 3)[3]


@pytest.fixture
def s3_store(app: Any, s3_server: S3Server, s3_url: str) -> ObjectStore:
    store = ObjectStore.from_url(s3_url, **s3_server.store_kwargs())
    app.state.store = store
    return store


def _big_csv(at_least: int) -> bytes:
    """A valid flight CSV (time counting up) of at least `at_least` bytes."""
    head = csv_bytes(0).decode()
    ones = ",".join("1" for _ in HEADER[1:])
    rows = [head]
    size, i = len(head), 0
    while size < at_least:
        line = f"{i},{ones}\n"
        rows.append(line)
        size += len(line)
        i += 1
    return "".join(rows).encode()


def _split(data: bytes, part_size: int) -> list[bytes]:
    return [data[i : i + part_size] for i in range(0, len(data), part_size)]


async def _put_parts(grant: dict[str, Any], parts: list[bytes]) -> list[dict[str, Any]]:
    """PUT each part to its presigned URL; the `{part_number, etag}` list to complete with."""
    done = []
    async with httpx.AsyncClient(timeout=60) as s3:
        for spec, body in zip(grant["parts"], parts, strict=False):
            r = await s3.put(spec["url"], content=body)
            assert r.status_code == 200, r.text
            done.append({"part_number": spec["part_number"], "etag": r.headers["etag"]})
    return done


async def _flight(client: AsyncClient, world: World) -> dict[str, Any]:
    r = await client.post(
        "/api/flight/create", json={"registration": "PR-XBA"}, headers=world.headers("admin_a")
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _grant(client: AsyncClient, h: dict[str, str], flight_id: str, **body: Any) -> dict:
    r = await client.post(f"/api/flight/{flight_id}/upload-url", json=body, headers=h)
    assert r.status_code == 200, r.text
    grant = dict(r.json())
    assert grant["method"] == "multipart", grant
    return grant


async def test_a_three_part_upload_is_recorded_and_processed(
    live_s3: Live, s3_server: S3Server, s3_prefix: str
):
    client, world = live_s3.client, live_s3.world
    h = world.headers("member_a")
    flight = await _flight(client, world)
    data = _big_csv(2 * PART + 1000)
    grant = await _grant(
        client, h, flight["id"], size=len(data), part_size=PART, multipart=True, file_name="qar.csv"
    )
    assert grant["part_size"] == PART and [p["part_number"] for p in grant["parts"]] == [1, 2, 3]
    assert grant["key"].startswith(f"raw/account={flight['account_id']}/flight={flight['id']}/")
    assert grant["upload_id"] and grant["max_bytes"] > len(data)

    parts = await _put_parts(grant, _split(data, PART))
    r = await client.post(
        f"/api/flight/{flight['id']}/upload-complete", json={"parts": parts}, headers=h
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["processing_status"] == "queued"
    assert body["file"]["key"] == grant["key"] and body["file"]["name"] == "qar.csv"
    assert body["file"]["size"] == len(data)
    assert body["file"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["file"]["format"] == "csv"

    done = await live_s3.wait_terminal(flight["id"])
    assert done["processing_status"] == "processed", done
    assert done["file"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert f"{s3_prefix}/{grant['key']}" in s3_server.list_keys(s3_prefix + "/")
    assert s3_server.list_multipart_uploads(s3_prefix + "/") == []
    r = await client.post(
        f"/api/flight/{flight['id']}/upload-complete", json={"parts": parts}, headers=h
    )
    assert r.status_code == 409 and r.json()["code"] == "no-pending-upload"  # recorded once


async def test_a_wrong_part_list_records_nothing_and_can_be_corrected(
    client, world, s3_store, s3_server, s3_prefix
):
    h = world.headers("admin_a")
    flight = await _flight(client, world)
    base = f"/api/flight/{flight['id']}"
    data = _big_csv(PART + 2000)
    grant = await _grant(client, h, flight["id"], size=len(data), part_size=PART, multipart=True)
    assert len(grant["parts"]) == 2

    r = await client.post(
        f"{base}/upload-complete", json={"parts": [{"part_number": 1, "etag": "x"}]}, headers=h
    )
    assert r.status_code == 409 and r.json()["code"] == "upload-missing"  # nothing uploaded

    first, second = _split(data, PART)
    parts = await _put_parts(grant, [first, second])
    wrong_etag = [parts[0], {**parts[1], "etag": '"0123456789abcdef0123456789abcdef"'}]
    for bad in (
        wrong_etag,
        parts[:1],  # an uploaded part left out: S3 would silently drop it
        parts[1:],  # not numbered from 1
        [*parts, {"part_number": 3, "etag": parts[1]["etag"]}],  # never uploaded
    ):
        r = await client.post(f"{base}/upload-complete", json={"parts": bad}, headers=h)
        assert r.status_code == 409, r.text
        assert r.json()["code"] == "upload-parts-mismatch"
    r = await client.post(f"{base}/upload-complete", headers=h)
    assert r.status_code == 409 and r.json()["code"] == "parts-required"
    r = await client.post(
        f"{base}/upload-complete", json={"parts": [parts[0], parts[0]]}, headers=h
    )
    assert r.status_code == 422

    r = await client.get(base, headers=h)
    assert r.json()["file"] is None and r.json()["processing_status"] == "created"
    assert s3_server.list_keys(s3_prefix + "/") == []
    assert s3_server.list_multipart_uploads(s3_prefix + "/") == [f"{s3_prefix}/{grant['key']}"]

    # The upload stayed pending: the right list completes it.
    r = await client.post(f"{base}/upload-complete", json={"parts": parts}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["processing_status"] == "queued"
    assert r.json()["file"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert s3_server.list_multipart_uploads(s3_prefix + "/") == []


async def test_over_the_cap_is_413_and_nothing_stays(
    client, app, world, s3_store, s3_server, s3_prefix
):
    h = world.headers("admin_a")
    flight = await _flight(client, world)
    base = f"/api/flight/{flight['id']}"
    cap = app.state.settings.max_upload_bytes
    r = await client.post(f"{base}/upload-url", json={"size": cap + 1}, headers=h)
    assert r.status_code == 413 and r.json()["code"] == "payload-too-large"

    data = _big_csv(PART + 2000)
    grant = await _grant(client, h, flight["id"], size=1000, multipart=True)  # understated
    assert len(grant["parts"]) == 1
    parts = await _put_parts(grant, [data])
    app.state.settings.max_upload_bytes = PART
    try:
        r = await client.post(f"{base}/upload-complete", json={"parts": parts}, headers=h)
    finally:
        app.state.settings.max_upload_bytes = cap
    assert r.status_code == 413, r.text
    assert s3_server.list_keys(s3_prefix + "/") == []
    assert s3_server.list_multipart_uploads(s3_prefix + "/") == []
    r = await client.get(base, headers=h)
    assert r.json()["file"] is None


async def test_not_a_flight_file_is_415_and_deleted(client, world, s3_store, s3_server, s3_prefix):
    h = world.headers("admin_a")
    flight = await _flight(client, world)
    body = b"\x7fELF" + b"\x00" * 5000
    grant = await _grant(client, h, flight["id"], size=len(body), multipart=True)
    parts = await _put_parts(grant, [body])
    r = await client.post(
        f"/api/flight/{flight['id']}/upload-complete", json={"parts": parts}, headers=h
    )
    assert r.status_code == 415 and r.json()["code"] == "unsupported-file-format"
    assert s3_server.list_keys(s3_prefix + "/") == []
    assert s3_server.list_multipart_uploads(s3_prefix + "/") == []
    r = await client.get(f"/api/flight/{flight['id']}", headers=h)
    assert r.json()["file"] is None


async def test_grants_choose_put_or_multipart(client, world, s3_store, s3_server, s3_prefix):
    h = world.headers("admin_a")
    flight = await _flight(client, world)
    url = f"/api/flight/{flight['id']}/upload-url"
    r = await client.post(url, json={"size": 1000}, headers=h)
    assert r.status_code == 200 and r.json()["method"] == "PUT"
    r = await client.post(url, json={"size": 200 * MiB}, headers=h)  # above the threshold
    grant = r.json()
    assert grant["method"] == "multipart" and grant["part_size"] == 16 * MiB
    assert len(grant["parts"]) == 13
    r = await client.post(url, json={"multipart": True}, headers=h)
    assert r.status_code == 422  # multipart needs the size
    r = await client.post(url, json={"size": 100, "part_size": MiB}, headers=h)
    assert r.status_code == 422  # parts are at least 5 MiB
    # A new grant replaced the multipart one: its S3 upload was aborted.
    r = await client.post(url, headers=h)
    assert r.status_code == 200 and r.json()["method"] == "PUT"
    assert s3_server.list_multipart_uploads(s3_prefix + "/") == []
    r = await client.post(
        f"/api/flight/{flight['id']}/upload-complete",
        json={"parts": [{"part_number": 1, "etag": "x"}]},
        headers=h,
    )
    assert r.status_code == 409 and r.json()["code"] == "parts-unexpected"


async def test_the_sweeper_aborts_an_expired_multipart_upload(
    client, app, world, s3_store, s3_server, s3_prefix, session
):
    h = world.headers("admin_a")
    flight = await _flight(client, world)
    grant = await _grant(client, h, flight["id"], size=3 * PART, part_size=PART, multipart=True)
    parts = await _put_parts(grant, [csv_bytes()])
    assert s3_server.list_multipart_uploads(s3_prefix + "/") == [f"{s3_prefix}/{grant['key']}"]
    row = await session.get(Flight, uuid.UUID(flight["id"]))
    assert row is not None and row.pending_upload_id == grant["upload_id"]
    row.pending_expires_at = utcnow() - timedelta(hours=2)
    await session.commit()
    await tasks.sweep(job_context(app, app.state.jobs))
    assert s3_server.list_multipart_uploads(s3_prefix + "/") == []
    assert s3_server.list_keys(s3_prefix + "/") == []
    r = await client.post(
        f"/api/flight/{flight['id']}/upload-complete", json={"parts": parts}, headers=h
    )
    assert r.status_code == 409 and r.json()["code"] == "no-pending-upload"


async def test_another_account_gets_404(client, world, s3_store, s3_server, s3_prefix):
    flight = await _flight(client, world)
    base = f"/api/flight/{flight['id']}"
    grant = await _grant(
        client,
        world.headers("admin_a"),
        flight["id"],
        size=3 * PART,
        part_size=PART,
        multipart=True,
    )
    other = world.headers("admin_b")
    r = await client.post(
        f"{base}/upload-url", json={"size": 3 * PART, "multipart": True}, headers=other
    )
    assert r.status_code == 404
    parts = [{"part_number": 1, "etag": "x"}]
    r = await client.post(f"{base}/upload-complete", json={"parts": parts}, headers=other)
    assert r.status_code == 404
    # The grant of account A is untouched.
    assert s3_server.list_multipart_uploads(s3_prefix + "/") == [f"{s3_prefix}/{grant['key']}"]


async def test_a_local_store_answers_501(client, world):
    flight = await _flight(client, world)
    r = await client.post(
        f"/api/flight/{flight['id']}/upload-url",
        json={"size": 3 * PART, "multipart": True},
        headers=world.headers("admin_a"),
    )
    assert r.status_code == 501 and r.json()["code"] == "presigned-upload-unsupported"
