"""Live notices: a committed event wakes the streams of this process at once (PostgreSQL
NOTIFY, or the in-process announcement on SQLite), a rolled-back one never; a listener that
lost its connection makes every stream re-read, so nothing is lost; the per-account cap."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from nubo.flights import service
from nubo.kit.db import commit_unit, create_engine, rollback_unit
from nubo.live import Live as Listener
from nubo.models import Flight
from tests.flights.live import Live, read_sse, start_live

# Far beyond every wait of these tests: whatever arrives came by notice, not by a poll.
NEVER_S = 600.0


@pytest.fixture
async def live(database_url: str, engine: Any, tmp_path: Path) -> AsyncIterator[Live]:
    async for value in start_live(database_url, tmp_path, events_poll_s=NEVER_S,
                                  events_fallback_s=NEVER_S, events_heartbeat_s=5):
        yield value


async def _flight(live: Live) -> Flight:
    async with live.app.state.sessionmaker() as session:
        flight = await service.create_flight(session, live.world.account_a.id,
                                             service.FlightCreate(registration="PR-LIV"))
        await commit_unit(session)
    return flight


async def _event(live: Live, flight: Flight, status: str, *, commit: bool = True) -> int:
    async with live.app.state.sessionmaker() as session:
        event = service.add_event(session, flight, status, "from a unit of work")
        await session.flush()
        await (commit_unit(session) if commit else rollback_unit(session))
    return event.id


def _listener(live: Live) -> Listener:
    listener: Listener = live.app.state.live
    return listener


async def _until_true(condition: Callable[[], bool]) -> None:
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not reached in 20 s")


def _until(statuses: list[str]):
    return lambda events, _: [e["data"]["status"] for e in events] == statuses


async def test_a_committed_event_reaches_the_stream_without_waiting_for_a_poll(live: Live):
    flight = await _flight(live)
    stream = asyncio.create_task(read_sse(
        live.app, f"/api/flight/{flight.id}/events", live.world.headers("admin_a"),
        stop=_until(["created", "processing"]), timeout_s=20))
    await _until_true(lambda: _listener(live).hub.streams() > 0)
    await _event(live, flight, "processing")
    events, _, _ = await stream  # no poll comes within the timeout: the notice did it
    assert [e["data"]["status"] for e in events] == ["created", "processing"]


async def test_a_rolled_back_event_is_never_announced(live: Live):
    doomed, kept = await _flight(live), await _flight(live)
    sub = _listener(live).hub.open("test", str(live.world.account_a.id), cap=1)
    seen = []
    try:
        await _event(live, doomed, "processing", commit=False)
        kept_event = await _event(live, kept, "failed")
        # Until the kept event's notice: the flights' own "created" notices may come late.
        for _ in range(20):
            if kept_event in [n.id for n in seen]:
                break
            notices, _ = await sub.wait(1)
            seen += notices
    finally:
        sub.close()
    assert kept_event in [n.id for n in seen]
    assert str(doomed.id) not in [n.flight_id for n in seen]


async def test_after_the_listener_reconnects_every_stream_reads_what_it_missed(
    live: Live, database_url: str
):
    if not database_url.startswith("postgresql"):
        pytest.skip("the listener is PostgreSQL's; SQLite announces in-process")
    listener = _listener(live)
    listener.retry_s = 1.0  # the events below are written while it is away
    flight = await _flight(live)
    headers = live.world.headers("admin_a")
    statuses = ["created", "queued", "processing", "failed"]
    stream = asyncio.create_task(read_sse(
        live.app, f"/api/flight/{flight.id}/events", headers, stop=_until(statuses),
        timeout_s=20))
    await _until_true(lambda: listener.hub.streams() > 0)
    pid = listener.listener_pid
    assert pid is not None
    admin = create_engine(database_url)
    try:
        async with admin.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await conn.commit()
    finally:
        await admin.dispose()
    await _until_true(lambda: listener.listener_pid is None)  # it noticed
    for status in statuses[1:]:
        await _event(live, flight, status)
    events, _, _ = await stream
    assert listener.connections == 2
    ids = [int(e["id"]) for e in events]
    assert [e["data"]["status"] for e in events] == statuses

    # A client that went away after the first event resumes after it and misses nothing.
    resumed, _, _ = await read_sse(
        live.app, f"/api/flight/{flight.id}/events", {**headers, "Last-Event-ID": str(ids[0])},
        timeout_s=20)
    assert [int(e["id"]) for e in resumed] == ids[1:]


async def test_past_the_accounts_cap_a_new_stream_is_429(client, world, app):
    cap = app.state.settings.events_max_streams_per_account
    hub = app.state.live.hub
    owner = str(world.admin_a.account_id)
    held = [hub.open(owner, str(uuid.uuid4()), cap) for _ in range(cap)]
    try:
        r = await client.get("/api/events", headers=world.headers("member_a"))
        assert r.status_code == 429
        assert r.headers["content-type"].startswith("application/problem+json")
        assert int(r.headers["Retry-After"]) >= 1
        assert r.json()["code"] == "too-many-streams"
        hub.open(str(world.admin_b.account_id), "any", cap).close()  # others still may
    finally:
        for sub in held:
            sub.close()
    assert hub.streams(owner) == 0


async def test_a_closed_stream_gives_its_place_back(app, client, world):
    hub = app.state.live.hub
    r = await client.post("/api/flight/create", json={"registration": "PR-LIV"},
                          headers=world.headers("admin_a"))
    assert r.status_code == 201
    events, _, _ = await read_sse(app, "/api/events",
                                  {**world.headers("admin_a"), "Last-Event-ID": "0"},
                                  stop=lambda events, _c: bool(events))
    assert events and hub.streams() == 0


async def test_the_check_for_unannounced_events_reads_beside_a_writer(
    database_url: str, engine: Any
):
    """It ran every `events_poll_s` in a transaction that took SQLite's write lock, so
    every writer queued behind it (and it behind them)."""
    if not database_url.startswith("sqlite"):
        pytest.skip("the write lock is SQLite's")
    import sqlite3

    writer = sqlite3.connect(database_url.split("///", 1)[1], isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # a writer in the middle of its unit
        listener = Listener(engine, database_url, fallback_s=60, local_check_s=60,
                            listen=False)
        newest = await asyncio.wait_for(listener._newest(), 5)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert newest >= 0
