"""The upload page's script posts to POST /api/flight/create with the session cookie: only
with our Origin and the session's CSRF token."""

from __future__ import annotations

from sqlalchemy import func, select

from nubo.models import Flight
from tests.flights.helpers import csv_bytes
from tests.web.helpers import ORIGIN, browser_session


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
