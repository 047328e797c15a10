"""Live status: a flight's stored events as Server-Sent Events.

The stream polls the database for events after the last one sent, so an event written by
any process (a worker on another machine) reaches a client connected to any API process.
`Last-Event-ID` (or `?after=`) resumes after that event; a comment is sent as a heartbeat;
the stream ends once the flight reached a terminal state (`processed`, `failed`).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from nubo.flights import repository
from nubo.flights.schemas import FlightEventOut
from nubo.identity.principal import Actor
from nubo.kit.db import read_only_options
from nubo.kit.errors import Unprocessable
from nubo.models import ProcessingStatus
from nubo.models.flight import TERMINAL_STATUSES

BATCH = 500
GONE_CHECK_EVERY = 20  # polls between checks that the flight still exists
_TERMINAL = {str(s) for s in TERMINAL_STATUSES}


MAX_EVENT_ID = 2**63 - 1  # event ids are a signed 64-bit column


def parse_last_event_id(header: str | None, after: int | None) -> int:
    """Where to resume: `Last-Event-ID` if sent, else `?after=`. Checked before the stream
    opens: a value no event id can have would otherwise fail in SQL mid-stream."""
    if header is not None and header.strip():
        try:
            value = int(header.strip())
        except ValueError as exc:
            raise _invalid_event_id() from exc
    else:
        value = after or 0
    if not 0 <= value <= MAX_EVENT_ID:
        raise _invalid_event_id()
    return value


def _invalid_event_id() -> Unprocessable:
    return Unprocessable("Last-Event-ID must be an event id", code="invalid-event-id")


async def event_stream(
    request: Request,
    maker: async_sessionmaker[AsyncSession],
    flight_id: uuid.UUID,
    after_id: int,
    current_status: ProcessingStatus,
    poll_s: float,
) -> AsyncIterator[dict[str, Any]]:
    last = after_id
    polls = 0
    while True:
        async with maker(**read_only_options(True)) as session:
            rows = await repository.events_after(session, flight_id, last, BATCH)
            events = [FlightEventOut.model_validate(e).model_dump(mode="json") for e in rows]
            polls += 1
            gone_check = not events and polls % GONE_CHECK_EVERY == 0
            if gone_check and not await repository.is_live(session, flight_id):
                return  # deleted while watched: nothing more will come
        for body in events:
            last = body["id"]
            yield {"id": str(body["id"]), "event": "status", "data": json.dumps(body)}
        if events:
            if len(events) < BATCH and events[-1]["status"] in _TERMINAL:
                return
        elif last > 0 and current_status in TERMINAL_STATUSES and after_id == last:
            # Resumed after the terminal event itself: nothing more will come for this run.
            return
        if await request.is_disconnected():
            return
        await asyncio.sleep(poll_s)


async def account_stream(
    request: Request,
    maker: async_sessionmaker[AsyncSession],
    actor: Actor,
    after_id: int,
    poll_s: float,
    max_s: float,
) -> AsyncIterator[dict[str, Any]]:
    """Every flight event of the actor's account (operators: all) after `after_id`, as they
    come, until the client goes or `max_s` passed (the client resumes by Last-Event-ID)."""
    last = after_id
    deadline = time.monotonic() + max_s
    while time.monotonic() < deadline:
        async with maker(**read_only_options(True)) as session:
            rows = await repository.account_events_after(session, actor, last, BATCH)
            batch = [FlightEventOut.model_validate(e).model_dump(mode="json") for e in rows]
        for body in batch:
            last = body["id"]
            yield {"id": str(body["id"]), "event": "status", "data": json.dumps(body)}
        if len(batch) == BATCH:
            continue  # a backlog: send it on without waiting
        if await request.is_disconnected():
            return
        await asyncio.sleep(poll_s)
