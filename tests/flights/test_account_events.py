"""GET /api/events: one stream of every flight event of the account, for the panel's pages."""

from __future__ import annotations

import pytest

from nubo.flights import service
from nubo.flights.schemas import FlightCreate
from nubo.models import FlightEvent
from tests.conftest import make_settings
from tests.flights.live import read_sse
from tests.web.helpers import browser_session


@pytest.fixture
def settings(database_url, data_dir):
    return make_settings(database_url, data_dir, events_poll_s=0.05, events_heartbeat_s=0.2,
                         events_stream_max_s=30)


async def _flight(session, actor, registration):
    flight = await service.create_flight(session, actor.account_id,
                                         FlightCreate(registration=registration))
    await session.commit()
    return flight


def _after_heartbeats(events, comments):
    return len(comments) >= 2


async def test_replays_every_flight_of_the_account_and_no_other(app, session, world):
    a1 = await _flight(session, world.admin_a, "PR-AAA")
    a2 = await _flight(session, world.member_a, "PR-AAB")
    await _flight(session, world.admin_b, "PR-BBB")
    headers = {**world.headers("member_a"), "Last-Event-ID": "0"}
    events, _, ended = await read_sse(app, "/api/events", headers, stop=_after_heartbeats)
    assert not ended  # the account stream stays open
    assert [e["data"]["flight_id"] for e in events] == [str(a1.id), str(a2.id)]
    assert [int(e["id"]) for e in events] == sorted(int(e["id"]) for e in events)


async def test_resumes_after_the_last_event_id(app, session, world):
    await _flight(session, world.admin_a, "PR-AAA")
    second = await _flight(session, world.admin_a, "PR-AAB")
    first_id = (await session.execute(
        FlightEvent.__table__.select().where(FlightEvent.flight_id != second.id)
        .order_by(FlightEvent.id.desc()).limit(1))).first().id
    headers = {**world.headers("admin_a"), "Last-Event-ID": str(first_id)}
    events, _, _ = await read_sse(app, "/api/events", headers, stop=_after_heartbeats)
    assert [e["data"]["flight_id"] for e in events] == [str(second.id)]


async def test_without_a_position_it_starts_with_the_next_event(app, session, world):
    await _flight(session, world.admin_a, "PR-AAA")
    events, comments, _ = await read_sse(app, "/api/events", world.headers("admin_a"),
                                         stop=_after_heartbeats)
    assert events == []
    assert len(comments) >= 2


async def test_the_panel_session_cookie_opens_the_stream(app, session, world):
    flight = await _flight(session, world.admin_a, "PR-AAA")
    cookie, _ = await browser_session(session, world.platform, world.admin_a)
    headers = {"Cookie": f"nubo_session={cookie}", "Last-Event-ID": "0"}
    events, _, _ = await read_sse(app, "/api/events", headers, stop=_after_heartbeats)
    assert [e["data"]["flight_id"] for e in events] == [str(flight.id)]


async def test_the_panel_session_cookie_opens_a_flights_stream(app, session, world):
    flight = await _flight(session, world.admin_a, "PR-AAA")
    cookie, _ = await browser_session(session, world.platform, world.admin_a)
    headers = {"Cookie": f"nubo_session={cookie}"}
    events, _, _ = await read_sse(app, f"/api/flight/{flight.id}/events", headers,
                                  stop=_after_heartbeats)
    assert [e["data"]["status"] for e in events] == ["created"]


async def test_without_credentials_it_is_401(client):
    response = await client.get("/api/events")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
