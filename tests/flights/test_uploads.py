"""Streamed uploads to the local store: every rule of the issue."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.models import Flight, FlightEvent
from nubo.runtime import UnavailableStore
from tests.fixtures.world import World
from tests.flights.helpers import (
    agen,
    big_csv_chunks,
    csv_bytes,
    csv_gz_bytes,
    files_under,
    parquet_bytes,
)

MiB = 1024 * 1024


def _prefix(flight: dict) -> str:
    return f"raw/account={flight['account_id']}/flight={flight['id']}"


async def _events(session: AsyncSession, flight_id: str) -> list[str]:
    import uuid

    rows = await session.execute(
        select(FlightEvent.status)
        .where(FlightEvent.flight_id == uuid.UUID(flight_id))
        .order_by(FlightEvent.id)
    )
    return list(rows.scalars())


async def test_multipart_create_with_file(
    client: AsyncClient, world: World, store_root: Path, session: AsyncSession
):
    data = csv_bytes(20)
    r = await client.post(
        "/api/flight/create",
        data={"registration": "pr-xba", "origin": "SBGR"},
        files={"file": ("../../etc/passwd.csv", data, "text/csv")},
        headers=world.headers("member_a"),
    )
    assert r.status_code == 201, r.text
    flight = r.json()
    f = flight["file"]
    assert flight["registration"] == "PR-XBA" and flight["origin"] == "SBGR"
    assert flight["processing_status"] == "queued"
    assert f["size"] == len(data)
    assert f["sha256"] == hashlib.sha256(data).hexdigest()
    assert f["format"] == "csv"
    assert f["name"] == "passwd.csv"  # path-traversal name sanitised, display only
    assert f["key"].startswith(_prefix(flight) + "/")
    assert "passwd" not in f["key"]
    assert (store_root / f["key"]).read_bytes() == data
    assert await _events(session, flight["id"]) == ["created", "uploaded", "queued"]


async def test_formats_are_sniffed_from_the_bytes(
    client: AsyncClient, world: World, flight_a: dict
):
    h = world.headers("admin_a")
    url = f"/api/flight/{flight_a['id']}/upload"
    for name, data, fmt in [
        ("flight.parquet", csv_bytes(), "csv"),  # a .parquet name holding CSV
        ("flight.csv", csv_gz_bytes(), "csv.gz"),
        ("flight.csv", parquet_bytes(), "parquet"),
        ("flight.txt", csv_bytes(sep=";"), "csv"),
    ]:
        r = await client.post(url, files={"file": (name, data, "application/x-parquet")}, headers=h)
        assert r.status_code == 200, r.text
        assert r.json()["file"]["format"] == fmt, name


async def test_anything_else_is_415_and_nothing_is_stored(
    client: AsyncClient, world: World, flight_a: dict, store_root: Path
):
    h = world.headers("admin_a")
    url = f"/api/flight/{flight_a['id']}/upload"
    for data in [
        b"",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
        b"just some text without delimiters\n",
        b"PK\x03\x04" + b"\x00" * 20000,
    ]:
        r = await client.post(url, files={"file": ("flight.csv", data, "text/csv")}, headers=h)
        assert r.status_code == 415, r.text
        assert r.json()["code"] == "unsupported-file-format"
    r = await client.post(url, content=b"\xff\xd8\xff" * 5000, headers=h)
    assert r.status_code == 415
    assert files_under(store_root, _prefix(flight_a)) == []
    r = await client.get(f"/api/flight/{flight_a['id']}", headers=h)
    assert r.json()["file"] is None and r.json()["processing_status"] == "created"


async def test_raw_body_upload_and_replacement(
    client: AsyncClient, world: World, flight_a: dict, store_root: Path, session: AsyncSession
):
    h = {**world.headers("admin_a"), "Content-Disposition": 'attachment; filename="a b.csv"'}
    url = f"/api/flight/{flight_a['id']}/upload"
    first = csv_bytes(3)
    r = await client.post(url, content=first, headers=h)
    assert r.status_code == 200, r.text
    one = r.json()
    assert one["file"]["name"] == "a b.csv" and one["processing_run"] == 1
    second = csv_gz_bytes(7)
    r = await client.post(
        url, files={"file": ("b.csv.gz", second)}, headers=world.headers("member_a")
    )
    assert r.status_code == 200, r.text
    two = r.json()
    assert two["processing_run"] == 2 and two["processing_status"] == "queued"
    assert two["file"]["key"] != one["file"]["key"]
    # The replaced object is gone, the new one is there.
    assert not (store_root / one["file"]["key"]).exists()
    assert (store_root / two["file"]["key"]).read_bytes() == second
    events = await _events(session, flight_a["id"])
    assert events == ["created", "uploaded", "queued", "uploaded", "queued"]


async def test_cap_with_content_length_is_413_before_reading(
    client: AsyncClient, app: Any, world: World, flight_a: dict, store_root: Path
):
    app.state.settings.max_upload_bytes = 1000
    try:
        r = await client.post(
            f"/api/flight/{flight_a['id']}/upload",
            content=csv_bytes(200),
            headers=world.headers("admin_a"),
        )
    finally:
        app.state.settings.max_upload_bytes = 2 * 1024**3
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "payload-too-large"
    assert files_under(store_root, _prefix(flight_a)) == []


async def test_cap_without_content_length_stops_midway(
    client: AsyncClient, app: Any, world: World, flight_a: dict, store_root: Path
):
    app.state.settings.max_upload_bytes = 10 * MiB
    sent = 0

    async def body():
        nonlocal sent
        async for chunk in agen(big_csv_chunks(40 * MiB)):
            sent += len(chunk)
            yield chunk

    try:
        for upload in ("raw", "multipart"):
            sent = 0
            if upload == "raw":
                r = await client.post(
                    f"/api/flight/{flight_a['id']}/upload",
                    content=body(),
                    headers=world.headers("admin_a"),
                )
            else:
                boundary = "nubo-test-boundary"

                async def form(boundary: str = boundary):
                    yield (
                        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                        f'filename="big.csv"\r\n\r\n'
                    ).encode()
                    async for chunk in body():
                        yield chunk
                    yield f"\r\n--{boundary}--\r\n".encode()

                r = await client.post(
                    f"/api/flight/{flight_a['id']}/upload",
                    content=form(),
                    headers={
                        **world.headers("admin_a"),
                        "Content-Type": f"multipart/form-data; boundary={boundary}",
                    },
                )
            assert r.status_code == 413, (upload, r.text)
            assert sent < 40 * MiB  # answered before the whole body was read
    finally:
        app.state.settings.max_upload_bytes = 2 * 1024**3
    assert files_under(store_root, _prefix(flight_a)) == []
    r = await client.get(f"/api/flight/{flight_a['id']}", headers=world.headers("admin_a"))
    assert r.json()["file"] is None


async def _asgi_upload_then_disconnect(
    app: Any, path: str, headers: dict[str, str], chunks: list[bytes]
) -> list[dict]:
    """Drive the ASGI app directly: send `chunks`, then the client disconnects."""
    messages: list[dict] = [
        {"type": "http.request", "body": c, "more_body": True} for c in chunks
    ] + [{"type": "http.disconnect"}]

    async def receive() -> dict:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("203.0.113.9", 5555),
        "server": ("nubo.test", 80),
    }
    await asyncio.wait_for(app(scope, receive, send), 60)
    return sent


async def test_client_disconnect_midway_leaves_nothing(
    app: Any, client: AsyncClient, world: World, flight_a: dict, store_root: Path
):
    # 20 MiB sent (past the first multipart part) before the client goes away.
    chunks = list(big_csv_chunks(20 * MiB, chunk=1 * MiB))
    path = f"/api/flight/{flight_a['id']}/upload"
    headers = {
        **world.headers("admin_a"),
        "content-type": "application/octet-stream",
        "content-length": str(100 * MiB),
    }
    sent = await _asgi_upload_then_disconnect(app, path, headers, chunks)
    # The server saw the disconnect (not an auth or format failure).
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert start["status"] == 400 and b"client-disconnected" in body, body
    assert files_under(store_root, _prefix(flight_a)) == []
    r = await client.get(f"/api/flight/{flight_a['id']}", headers=world.headers("admin_a"))
    assert r.json()["file"] is None
    assert r.json()["processing_status"] == "created"


async def test_storage_down_is_503_problem(
    app: Any, client: AsyncClient, world: World, flight_a: dict
):
    saved = app.state.store
    app.state.store = UnavailableStore("test: storage is down")
    try:
        r = await client.post(
            f"/api/flight/{flight_a['id']}/upload",
            files={"file": ("f.csv", csv_bytes())},
            headers=world.headers("admin_a"),
        )
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        r = await client.get("/api/ready")
        assert r.status_code == 503
        assert r.json()["checks"]["storage"].startswith("unavailable")
    finally:
        app.state.store = saved
    r = await client.get(f"/api/flight/{flight_a['id']}", headers=world.headers("admin_a"))
    assert r.json()["file"] is None


async def test_multipart_rules(client: AsyncClient, world: World, flight_a: dict, store_root: Path):
    h = world.headers("admin_a")
    url = f"/api/flight/{flight_a['id']}/upload"
    r = await client.post(
        url, data={"note": "x"}, files={"file": ("f.csv", csv_bytes())}, headers=h
    )
    assert r.status_code == 422 and r.json()["code"] == "unexpected-field"
    r = await client.post(
        url, data={"note": "x"}, headers={**h, "Content-Type": "multipart/form-data; boundary=zzz"}
    )
    assert r.status_code == 400
    r = await client.post(url, files={"other": ("f.csv", csv_bytes())}, headers=h)
    assert r.status_code == 400
    # A record whose fields are invalid: nothing stored, no flight.
    r = await client.post(
        "/api/flight/create",
        data={"registration": "???"},
        files={"file": ("f.csv", csv_bytes())},
        headers=h,
    )
    assert r.status_code == 422
    # Invalid field sent after the file: the stored object is removed again.
    boundary = "b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.csv"\r\n\r\n'
        ).encode()
        + csv_bytes()
        + (
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="registration"\r\n\r\n'
            f"!!\r\n--{boundary}--\r\n"
        ).encode()
    )
    before = set(files_under(store_root, ""))
    r = await client.post(
        "/api/flight/create",
        content=body,
        headers={**h, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert r.status_code == 422, r.text
    assert set(files_under(store_root, "")) == before
    assert files_under(store_root, _prefix(flight_a)) == []


async def test_multipart_record_fields_after_the_file(
    client: AsyncClient, world: World, session: AsyncSession
):
    boundary = "b0undary"
    data = csv_bytes()
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.csv"\r\n\r\n'
        ).encode()
        + data
        + (
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="registration"\r\n\r\n'
            f"pr-xbc\r\n--{boundary}--\r\n"
        ).encode()
    )
    r = await client.post(
        "/api/flight/create",
        content=body,
        headers={
            **world.headers("member_a"),
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["registration"] == "PR-XBC"
    assert r.json()["file"]["size"] == len(data)
    flight = await session.get(Flight, __import__("uuid").UUID(r.json()["id"]))
    assert flight is not None and flight.file_sha256 == hashlib.sha256(data).hexdigest()
