"""Live status: flights' stored events as Server-Sent Events.

A stream reads the table for the events after the last one sent (the replay after
`Last-Event-ID` or `?after=`), then sleeps until this process is told of a new event for
its key (`nubo.live`: PostgreSQL NOTIFY or the in-process announcement), and reads the rows
it was told of: once for every stream woken by them, not once per stream. When told it may
have missed something it re-reads the table after its last event, so resuming stays gap
free. Without a running listener (`events_listen` off, or an app without its lifespan) each
stream polls the table every `events_poll_s`, as it always did. A comment is sent as a
heartbeat; the flight stream ends once the flight reached a terminal state (`processed`,
`failed`); both end after `events_stream_max_s` (EventSource reconnects with its
Last-Event-ID).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sse_starlette import ServerSentEvent

from nubo.flights import repository
from nubo.flights.schemas import FlightEventOut
from nubo.identity.principal import Actor
from nubo.kit.db import read_only_options
from nubo.kit.errors import Unprocessable
from nubo.live import EVERY, Notice, Subscription
from nubo.models import FlightEvent, ProcessingStatus, Role
from nubo.models.flight import TERMINAL_STATUSES

log = logging.getLogger("nubo.flights.events")

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


Item = tuple[int, str, bytes]  # event id, its status, the SSE message (encoded once)


@dataclass(frozen=True)
class Watch:
    """What a stream waits with: its subscription, the poll pace when nothing announces
    events, and how long it may stay open."""

    sub: Subscription
    poll_s: float
    max_s: float

    async def wait(self, deadline: float) -> tuple[list[Notice], bool]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return [], False
        pace = remaining if self.sub.hub.running else min(self.poll_s, remaining)
        return await self.sub.wait(pace)


def _item(event: FlightEvent) -> Item:
    body = FlightEventOut.model_validate(event).model_dump(mode="json")
    message = ServerSentEvent(id=str(event.id), event="status", data=json.dumps(body))
    return event.id, event.status, message.encode()


class AnnouncedRows:
    """The rows of announced events, read once for every stream they wake: a status
    change watched by a thousand streams costs one query, not a thousand."""

    KEEP_S = 30.0

    def __init__(self, maker: async_sessionmaker[AsyncSession]) -> None:
        self.maker = maker
        self._reads: dict[int, asyncio.Task[dict[int, tuple[Item, str]]]] = {}

    async def get(self, ids: list[int]) -> dict[int, tuple[Item, str]]:
        """Each id's message and account id (an id missing: not a live flight's)."""
        missing = [i for i in ids if i not in self._reads]
        if missing:
            task = asyncio.create_task(self._read(missing))
            task.add_done_callback(lambda t: self._done(t, missing))
            for i in missing:
                self._reads[i] = task
        tasks = {self._reads[i] for i in ids if i in self._reads}
        found: dict[int, tuple[Item, str]] = {}
        for task in tasks:
            # Read already (most of the streams woken): no future to wait on.
            found.update(task.result() if task.done() else await asyncio.shield(task))
        return found

    async def _read(self, ids: list[int]) -> dict[int, tuple[Item, str]]:
        async with self.maker(**read_only_options(True)) as session:
            rows = await repository.live_events(session, ids)
        return {event.id: (_item(event), str(account_id)) for event, account_id in rows}

    def _done(self, task: asyncio.Task[Any], ids: list[int]) -> None:
        failed = task.cancelled() or task.exception() is not None
        loop = asyncio.get_running_loop()
        loop.call_later(0 if failed else self.KEEP_S, self._forget, ids, task)

    def _forget(self, ids: list[int], task: asyncio.Task[Any]) -> None:
        for i in ids:
            if self._reads.get(i) is task:
                del self._reads[i]


_ROWS: weakref.WeakKeyDictionary[async_sessionmaker[AsyncSession], AnnouncedRows] = (
    weakref.WeakKeyDictionary()
)


def _rows_of(maker: async_sessionmaker[AsyncSession]) -> AnnouncedRows:
    rows = _ROWS.get(maker)
    if rows is None:
        rows = _ROWS[maker] = AnnouncedRows(maker)
    return rows


async def _announced(
    maker: async_sessionmaker[AsyncSession], notices: list[Notice], last: int,
    accept: Callable[[str, str], bool],
) -> list[Item] | None:
    """The announced events after `last` that `accept(flight_id, account_id)`, in id
    order; None if they could not be read (the caller re-reads the table instead)."""
    ids = sorted({n.id for n in notices if n.id > last})
    if not ids:
        return []
    try:
        found = await _rows_of(maker).get(ids)
    except Exception:
        log.warning("reading announced events failed; the stream re-reads", exc_info=True)
        return None
    by_id = {n.id: n for n in notices}
    return [found[i][0] for i in ids
            if i in found and accept(by_id[i].flight_id, found[i][1])]


async def event_stream(
    maker: async_sessionmaker[AsyncSession],
    watch: Watch,
    flight_id: uuid.UUID,
    after_id: int,
    current_status: ProcessingStatus,
) -> AsyncIterator[bytes]:
    last = after_id
    deadline = time.monotonic() + watch.max_s
    key = str(flight_id)
    notices: list[Notice] = []
    reads = 0
    resync = True
    try:
        while True:
            items = None if resync else await _announced(
                maker, notices, last, lambda flight, _account: flight == key)
            full = False
            if items is None:
                async with maker(**read_only_options(True)) as session:
                    rows = await repository.events_after(session, flight_id, last, BATCH)
                    items = [_item(e) for e in rows]
                    reads += 1
                    full = len(items) == BATCH
                    every = 1 if watch.sub.hub.running else GONE_CHECK_EVERY
                    gone_check = not items and reads > 1 and reads % every == 0
                    if gone_check and not await repository.is_live(session, flight_id):
                        return  # deleted while watched: nothing more will come
            for event_id, _status, message in items:
                last = event_id
                yield message
            if items:
                if not full and items[-1][1] in _TERMINAL:
                    return
            elif last > 0 and current_status in TERMINAL_STATUSES and after_id == last:
                # Resumed after the terminal event itself: nothing more will come for this run.
                return
            if full:
                continue  # a backlog: send it on without waiting
            notices, resync = await watch.wait(deadline)
            if not notices and not resync:
                return  # open long enough: the client resumes by Last-Event-ID
    finally:
        watch.sub.close()


async def account_stream(
    maker: async_sessionmaker[AsyncSession],
    watch: Watch,
    actor: Actor,
    after_id: int,
) -> AsyncIterator[bytes]:
    """Every flight event of the actor's account (operators: all) after `after_id`, as they
    come, until the client goes or `max_s` passed (the client resumes by Last-Event-ID)."""
    last = after_id
    deadline = time.monotonic() + watch.max_s
    mine = str(actor.account_id)
    every = actor.role is Role.operator
    notices: list[Notice] = []
    resync = True
    try:
        while True:
            items = None if resync else await _announced(
                maker, notices, last, lambda _flight, account: every or account == mine)
            full = False
            if items is None:
                async with maker(**read_only_options(True)) as session:
                    rows = await repository.account_events_after(session, actor, last, BATCH)
                items = [_item(e) for e in rows]
                full = len(items) == BATCH
            for event_id, _status, message in items:
                last = event_id
                yield message
            if full:
                continue  # a backlog: send it on without waiting
            notices, resync = await watch.wait(deadline)
            if not notices and not resync:
                return
    finally:
        watch.sub.close()


def stream_key(actor: Actor) -> str:
    """What an account stream subscribes to: its account, or every account (operators)."""
    return EVERY if actor.role is Role.operator else str(actor.account_id)
