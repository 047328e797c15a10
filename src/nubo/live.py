"""Live notices: which flight events were just committed, for this process's event streams.

One source per API process instead of one poll per stream:

- PostgreSQL: one listener connection (`LISTEN nubo_flight_events`); a trigger on
  `flight_events` sends `NOTIFY` in the transaction that writes the event, so PostgreSQL
  delivers it on commit and never for a rolled-back event, whichever process wrote it.
- SQLite (embedded, jobs in-process): the unit of work that wrote the event announces it
  in-process after its commit (:func:`announce`).

Streams subscribe by key (a flight id, an account id, or :data:`EVERY` for operators) and
are woken with the notices; they read the rows from the table, so replay by
`Last-Event-ID` stays what it was. Nothing polls per stream: every `events_fallback_s` (on
SQLite every `events_poll_s`: a local read) the process reads the newest event id once,
and if the table is ahead of what was announced (a writer this process cannot hear, e.g.
another process on SQLite), or the listener reconnected, every stream re-reads what it
missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from nubo.kit.db import after_commit, engine_reader
from nubo.kit.errors import TooManyRequests
from nubo.models import FlightEvent

log = logging.getLogger("nubo.live")

CHANNEL = "nubo_flight_events"
EVERY = "*"  # the key of a subscription to every account's events (operators)
NEWEST_SQL = "SELECT coalesce(max(id), 0) FROM flight_events"
REREAD = 0  # the id of a notice without an event: the flight changed, streams re-read it


class TooManyStreams(TooManyRequests):
    code = "too-many-streams"


@dataclass(frozen=True, slots=True)
class Notice:
    """A committed event: its id and where it belongs (the row is read from the table)."""

    id: int
    flight_id: str
    account_id: str

    @classmethod
    def parse(cls, payload: str) -> Notice | None:
        """`<event id> <flight id> <account id>` (the trigger's and :func:`reread`'s)."""
        parts = payload.split(" ")
        if len(parts) != 3 or not parts[0].isdigit():
            return None
        return cls(int(parts[0]), parts[1], parts[2])


class Subscription:
    """One stream's inbox: the notices for its key since it last looked, and whether it
    must re-read the table (something may have been missed)."""

    def __init__(self, hub: Hub, owner: str, key: str) -> None:
        self.hub = hub
        self.owner = owner
        self.key = key
        self.notices: list[Notice] = []
        self.resync = False
        self._wake = asyncio.Event()
        self._closed = False

    def push(self, notice: Notice) -> None:
        if notice.id == REREAD:
            self.resync = True
        else:
            self.notices.append(notice)
        self._wake.set()

    def wake_to_resync(self) -> None:
        self.resync = True
        self._wake.set()

    async def wait(self, timeout_s: float) -> tuple[list[Notice], bool]:
        """The notices since the last call and whether to re-read the table; after
        `timeout_s` without news: none, and re-read (the pace of a polling stream)."""
        if not self.notices and not self.resync:
            try:
                # asyncio.timeout, not wait_for: no task per wait (a thousand streams wake
                # at once).
                async with asyncio.timeout(timeout_s):
                    await self._wake.wait()
            except TimeoutError:
                return [], True
        self._wake.clear()
        notices, self.notices = self.notices, []
        resync, self.resync = self.resync, False
        return notices, resync

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.hub.drop(self)


class Hub:
    """The streams of this process by key, and what has been announced to them."""

    def __init__(self) -> None:
        self._by_key: dict[str, set[Subscription]] = {}
        self._owners: Counter[str] = Counter()
        self.newest = 0  # the highest event id announced (or known at start)
        self.running = False  # notices are flowing: streams need not poll

    def open(self, owner: str, key: str, cap: int) -> Subscription:
        """Subscribe a stream of `owner` (an account) to `key`; 429 past `cap` streams."""
        if self._owners[owner] >= cap:
            raise TooManyStreams(
                5, f"this account already has {cap} open event streams; close one"
            )
        sub = Subscription(self, owner, key)
        self._owners[owner] += 1
        self._by_key.setdefault(key, set()).add(sub)
        return sub

    def drop(self, sub: Subscription) -> None:
        subs = self._by_key.get(sub.key)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_key[sub.key]
        self._owners[sub.owner] -= 1
        if self._owners[sub.owner] <= 0:
            del self._owners[sub.owner]

    def streams(self, owner: str | None = None) -> int:
        return self._owners[owner] if owner else sum(self._owners.values())

    def publish(self, notice: Notice) -> None:
        self.newest = max(self.newest, notice.id)
        for key in (notice.flight_id, notice.account_id, EVERY):
            for sub in self._by_key.get(key, ()):
                sub.push(notice)

    def resync_all(self) -> None:
        for subs in self._by_key.values():
            for sub in subs:
                sub.wake_to_resync()

    def check(self, seen_before: int) -> None:
        """The table held `seen_before` one check ago: if that was never announced since,
        an announcement was missed and every stream re-reads."""
        if seen_before > self.newest:
            log.info("event %d was not announced here; every stream re-reads", seen_before)
            self.newest = seen_before
            self.resync_all()


# Hubs fed by this process's own commits (SQLite); weak, so a stopped app's hub goes.
_LOCAL_HUBS: weakref.WeakSet[Hub] = weakref.WeakSet()


def announce(session: AsyncSession, event: FlightEvent, account_id: object) -> None:
    """Announce `event` once the session's unit of work commits (not at all if it rolls
    back). On PostgreSQL the table's trigger does it, for every writer in any process."""
    bind = session.bind
    if bind is None or bind.dialect.name == "postgresql":
        return

    async def publish() -> None:
        notice = Notice(event.id, str(event.flight_id), str(account_id))
        for hub in list(_LOCAL_HUBS):
            hub.publish(notice)

    after_commit(session, publish)


async def reread(session: AsyncSession, flight_id: object, account_id: object) -> None:
    """Once the unit of work commits, have the flight's streams re-read it (it was deleted:
    they end) although no event was written."""
    bind = session.bind
    if bind is not None and bind.dialect.name == "postgresql":
        payload = f"{REREAD} {flight_id} {account_id}"
        await session.execute(select(func.pg_notify(CHANNEL, payload)))
        return

    async def publish() -> None:
        for hub in list(_LOCAL_HUBS):
            hub.publish(Notice(REREAD, str(flight_id), str(account_id)))

    after_commit(session, publish)


class Live:
    """The app's source of notices, started and stopped by the lifespan."""

    def __init__(self, engine: AsyncEngine, database_url: str, *, fallback_s: float,
                 local_check_s: float, listen: bool = True) -> None:
        self.hub = Hub()
        self.engine = engine
        self.database_url = database_url
        self.fallback_s = fallback_s
        # SQLite: a read of a local file, no server to spare, and processes sharing the
        # file (`serve --workers`) hear each other only through it: check often.
        self.local_check_s = min(fallback_s, local_check_s)
        self.listen = listen
        self._task: asyncio.Task[None] | None = None
        self.retry_s = 0.1  # the first wait before reconnecting (doubles while none works)
        self.connections = 0  # listener connections opened so far
        self.listener_pid: int | None = None  # its server process, while connected

    async def start(self) -> None:
        if not self.listen:
            return  # streams poll the table at `events_poll_s` (the old path)
        if self.engine.dialect.name == "postgresql":
            self._task = asyncio.create_task(self._listen(), name="nubo-live-listener")
        else:
            _LOCAL_HUBS.add(self.hub)
            self.hub.newest = await self._newest()
            self._task = asyncio.create_task(self._check_local(), name="nubo-live-check")
        self.hub.running = True

    async def stop(self) -> None:
        self.hub.running = False
        _LOCAL_HUBS.discard(self.hub)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None
        self.hub.resync_all()  # streams still open fall back to reading the table

    async def _newest(self) -> int:
        # A read: on SQLite it must not take the write lock (writers would queue behind a
        # check every `local_check_s`, and a check cancelled mid-statement would keep it).
        async with engine_reader(self.engine)() as conn:
            return int((await conn.execute(select(func.coalesce(func.max(FlightEvent.id), 0))))
                       .scalar_one())

    async def _check_local(self) -> None:
        seen = self.hub.newest
        while True:
            await asyncio.sleep(self.local_check_s)
            try:
                self.hub.check(seen)
                seen = await self._newest()
            except Exception:
                log.warning("the check for unannounced events failed", exc_info=True)

    async def _listen(self) -> None:
        backoff = self.retry_s
        while True:
            opened = self.connections
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event listener lost its connection (%s); reconnecting", exc)
            self.listener_pid = None
            # Reconnect at once after a connection that worked; back off while none does.
            backoff = self.retry_s if self.connections > opened else min(backoff * 2, 5.0)
            await asyncio.sleep(backoff)

    async def _listen_once(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(_asyncpg_dsn(self.database_url), timeout=10)
        lost = asyncio.Event()
        try:
            reconnect = self.connections > 0
            self.connections += 1
            self.listener_pid = conn.get_server_pid()
            conn.add_termination_listener(lambda _c: lost.set())
            await conn.add_listener(CHANNEL, self._on_notify)
            seen = int(await conn.fetchval(NEWEST_SQL))
            self.hub.newest = max(self.hub.newest, seen)
            if reconnect:
                log.info("event listener reconnected; every stream re-reads what it missed")
            # Also on the first connection: a stream opened while it was down re-reads.
            self.hub.resync_all()
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), self.fallback_s)
                if lost.is_set():
                    break
                self.hub.check(seen)
                # Also the listener's liveness check: a dead socket fails here.
                seen = int(await asyncio.wait_for(conn.fetchval(NEWEST_SQL), 10))
        finally:
            with contextlib.suppress(Exception):
                conn.terminate()
        raise ConnectionError("listener connection closed")

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        notice = Notice.parse(payload)
        if notice is not None:
            self.hub.publish(notice)


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
