"""A real app on the test database (committing, with its job workers running) for the
tests where a job must actually run. Rows it creates are removed afterwards."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import delete, select

from nubo.app import create_app
from nubo.models import (
    Account,
    Aircraft,
    ApiKey,
    Flight,
    FlightEvent,
    RefreshToken,
    Reprocessing,
    ReprocessingAircraft,
    TrendPoint,
    User,
)
from tests.conftest import make_settings
from tests.fixtures.world import World, build_world


@dataclass
class Live:
    app: FastAPI
    client: AsyncClient
    world: World

    async def wait_terminal(self, flight_id: str, timeout_s: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            r = await self.client.get(
                f"/api/flight/{flight_id}", headers=self.world.headers("admin_a")
            )
            body = r.json()
            if body["processing_status"] in ("processed", "failed"):
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"flight still {body['processing_status']}")
            await asyncio.sleep(0.05)


async def start_live(database_url: str, data_dir: Path, **overrides: Any) -> AsyncIterator[Live]:
    values: dict[str, Any] = {
        "jobs_requeue_after_s": 1,
        "jobs_sweep_every_s": 0.3,
        "events_poll_s": 0.05,
        "events_heartbeat_s": 0.3,
    }
    values.update(overrides)
    app = create_app(make_settings(database_url, data_dir, **values))
    async with app.router.lifespan_context(app):
        async with app.state.sessionmaker() as session:
            world = await build_world(session, app.state.platform)
        transport = ASGITransport(app=app, client=("203.0.113.8", 40001))
        try:
            async with AsyncClient(transport=transport, base_url="http://nubo.test") as client:
                yield Live(app, client, world)
        finally:
            await cleanup(app, world)


async def cleanup(app: FastAPI, world: World) -> None:
    ids = [world.account_a.id, world.account_b.id, world.platform_account.id]
    flights = select(Flight.id).where(Flight.account_id.in_(ids))
    users = select(User.id).where(User.account_id.in_(ids))
    async with app.state.sessionmaker() as s:
        await s.execute(delete(FlightEvent).where(FlightEvent.flight_id.in_(flights)))
        await s.execute(delete(TrendPoint).where(TrendPoint.flight_id.in_(flights)))
        runs = select(Reprocessing.id).where(Reprocessing.account_id.in_(ids))
        await s.execute(
            delete(ReprocessingAircraft).where(ReprocessingAircraft.reprocessing_id.in_(runs))
        )
        await s.execute(delete(Reprocessing).where(Reprocessing.account_id.in_(ids)))
        await s.execute(delete(Aircraft).where(Aircraft.account_id.in_(ids)))
        await s.execute(delete(Flight).where(Flight.account_id.in_(ids)))
        await s.execute(delete(RefreshToken).where(RefreshToken.user_id.in_(users)))
        keys = (await s.execute(select(ApiKey.id).where(ApiKey.account_id.in_(ids)))).scalars()
        conn = await s.connection()
        for key_id in keys.all():  # the keys' request counters
            await app.state.platform.key_requests.reset(conn, str(key_id))
        await s.execute(delete(ApiKey).where(ApiKey.account_id.in_(ids)))
        await s.execute(delete(User).where(User.account_id.in_(ids)))
        await s.execute(delete(Account).where(Account.id.in_(ids)))
        await s.commit()


async def read_sse(
    app: Any,
    path: str,
    headers: dict[str, str],
    *,
    stop: Callable[[list[dict[str, Any]], list[str]], bool] | None = None,
    timeout_s: float = 30,
) -> tuple[list[dict[str, Any]], list[str], bool]:
    """Drive the SSE endpoint as a real client would: read events as they come, and
    disconnect once `stop(events, comments)` is true. Returns (events, comments, ended by
    the server)."""
    events: list[dict[str, Any]] = []
    comments: list[str] = []
    buffer = ""
    gone = asyncio.Event()
    first = True
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal buffer
        if message["type"] == "http.response.start":
            status.append(message["status"])
            return
        if message["type"] != "http.response.body":
            return
        buffer += message.get("body", b"").decode()
        while "\n\n" in buffer.replace("\r\n", "\n"):
            norm = buffer.replace("\r\n", "\n")
            block, _, rest = norm.partition("\n\n")
            buffer = rest
            item: dict[str, Any] = {}
            for line in block.split("\n"):
                if line.startswith(":"):
                    comments.append(line[1:].strip())
                elif ":" in line:
                    key, _, value = line.partition(":")
                    item[key] = value[1:] if value.startswith(" ") else value
            if "data" in item:
                item["data"] = json.loads(item["data"])
                events.append(item)
        if stop is not None and stop(events, comments):
            gone.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("203.0.113.9", 5555),
        "server": ("nubo.test", 80),
    }
    await asyncio.wait_for(app(scope, receive, send), timeout_s)
    assert status and status[0] == 200, status
    return events, comments, not gone.is_set()


def new_id() -> str:
    return str(uuid.uuid4())
