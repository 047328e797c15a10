"""The upload page's script posts to POST /api/flight/create with the session cookie: only
with our Origin and the session's CSRF token."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from nubo.flights import direct
from nubo.kit.storage import ObjectStore
from nubo.models import Flight
from tests.flights.helpers import csv_bytes
from tests.web.helpers import ORIGIN, browser_session

PART = 5 * 1024 * 1024


async def _count(session, world) -> int:
    stmt = select(func.count()).where(Flight.account_id == world.account_a.id)
    return int(await session.scalar(stmt) or 0)


async def test_upload_page_is_shown_signed_in(client, session, world):
    cookie, csrf = await browser_session(session, world.platform, world.member_a)
    client.cookies.set("nubo_session", cookie)
    response = await client.get("/upload")
    assert response.status_code == 200
    assert "<h1>Enviar voos</h1>" in response.text
    assert f'<meta name="csrf-token" content="{csrf}">' in response.text


async def test_session_upload_with_csrf_header_creates_the_flight(client, session, world):
    cookie, csrf = await browser_session(session, world.platform, world.member_a)
    client.cookies.set("nubo_session", cookie)
    response = await client.post(
        "/api/flight/create", headers={**ORIGIN, "X-CSRF-Token": csrf},
        data={"registration": "PR-XBA"}, files={"file": ("f.csv", csv_bytes(), "text/csv")},
    )
    assert response.status_code == 201, response.text
    assert response.json()["processing_status"] == "queued"


async def test_session_upload_without_csrf_is_403_and_stores_nothing(client, session, world):
    cookie, csrf = await browser_session(session, world.platform, world.member_a)
    client.cookies.set("nubo_session", cookie)
    before = await _count(session, world)
    for headers in (ORIGIN, {"Origin": "https://evil.example", "X-CSRF-Token": csrf}):
        response = await client.post(
            "/api/flight/create", headers=headers, data={"registration": "PR-XBA"},
            files={"file": ("f.csv", csv_bytes(), "text/csv")},
        )
        assert response.status_code == 403
        assert response.json()["code"] == "csrf-token"
    assert await _count(session, world) == before


async def test_a_local_store_keeps_every_upload_on_our_origin(client, session, world):
    cookie, _ = await browser_session(session, world.platform, world.member_a)
    client.cookies.set("nubo_session", cookie)
    response = await client.get("/upload")
    assert "data-direct-from" not in response.text
    assert "connect-src 'self';" in response.headers["content-security-policy"]


@pytest.fixture
def s3_app_store(app, s3_server, s3_url) -> ObjectStore:
    store = ObjectStore.from_url(s3_url, **s3_server.store_kwargs())
    app.state.store = store
    return store


async def test_with_s3_large_files_go_straight_to_the_store_through_the_grant(
    client, session, world, s3_server, s3_app_store
):
    """The page's configuration and the calls its script makes, over HTTP (not in a
    browser): the session authenticates the grant and its completion like the upload."""
    cookie, csrf = await browser_session(session, world.platform, world.member_a)
    client.cookies.set("nubo_session", cookie)
    page = await client.get("/upload")
    assert f'data-direct-from="{direct.BROWSER_DIRECT_FROM}"' in page.text
    policy = page.headers["content-security-policy"]
    assert f"connect-src 'self' {s3_server.endpoint.rstrip('/')};" in policy
    other = await client.get("/flights")  # only the upload page may send to the store
    assert "connect-src 'self';" in other.headers["content-security-policy"]

    writer = {**ORIGIN, "X-CSRF-Token": csrf}
    flight = (await client.post("/api/flight/create", json={"registration": "PR-XBA"},
                                headers=writer)).json()
    data = csv_bytes(200_000)  # over the 5 MiB minimum part: two parts
    grant_url = f"/api/flight/{flight['id']}/upload-url"
    refused = await client.post(grant_url, json={"size": len(data), "multipart": True},
                                headers=ORIGIN)
    assert refused.status_code == 403 and refused.json()["code"] == "csrf-token"
    grant = await client.post(grant_url, json={"size": len(data), "multipart": True,
                                               "part_size": PART}, headers=writer)
    assert grant.status_code == 200, grant.text
    body = grant.json()
    assert len(body["parts"]) == 2
    parts = []
    async with httpx.AsyncClient(timeout=60) as s3:
        for p in body["parts"]:
            start = (p["part_number"] - 1) * body["part_size"]
            put = await s3.put(p["url"], content=data[start:start + body["part_size"]])
            assert put.status_code == 200
            parts.append({"part_number": p["part_number"], "etag": put.headers["etag"]})
    done = await client.post(f"/api/flight/{flight['id']}/upload-complete",
                             json={"parts": parts}, headers=writer)
    assert done.status_code == 200, done.text
    assert done.json()["file"]["size"] == len(data)
