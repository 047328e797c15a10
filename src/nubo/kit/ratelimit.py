"""Fixed-window attempt counters kept in the database, so that every API process shares them.

Counters in process memory let an attacker multiply the allowance by the number of API
processes behind the load balancer; a row per (scope, subject) in the shared database does not.
Each call is one short statement on a connection of its own, outside the request's unit of work:
a failed login must be counted although its request rolls back.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from sqlalchemy import Table, bindparam, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable


class WindowStatements:
    """The counting statements over the application's window table, which must have the
    columns `key` (unique), `started_s` and `count`. Built once per table: statements are
    cheaper to execute from the compiled cache than to build."""

    def __init__(self, table: Table) -> None:
        c = table.c
        self.hit = {
            "postgresql": _upsert(table, postgresql.insert),
            "sqlite": _upsert(table, sqlite.insert),
        }
        self.read = select(c["count"], c.started_s).where(c.key == bindparam("key"))
        self.reset = delete(table).where(c.key == bindparam("key"))
        self.prune = delete(table).where(
            c.key.startswith(bindparam("scope")), c.started_s <= bindparam("cutoff")
        )


def _upsert(table: Table, insert: Callable[..., postgresql.Insert | sqlite.Insert]) -> Executable:
    """Count one attempt, starting a fresh window if the stored one has expired."""
    c = table.c
    expired = c.started_s <= bindparam("cutoff")
    stmt = insert(table).values(key=bindparam("key"), started_s=bindparam("now"), count=1)
    return stmt.on_conflict_do_update(
        index_elements=[c.key],
        set_={
            "count": case((expired, 1), else_=c["count"] + 1),
            "started_s": case((expired, bindparam("now")), else_=c.started_s),
        },
    ).returning(c["count"], c.started_s)


class AttemptLimiter:
    """At most `limit` attempts per subject in each window of `window_s` seconds."""

    def __init__(
        self,
        statements: WindowStatements,
        scope: str,
        limit: int,
        window_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sql = statements
        self.scope = scope
        self.limit = limit
        self.window_s = window_s
        self._clock = clock  # wall time: the windows are compared across processes
        self._next_prune = 0.0

    async def retry_after(self, conn: AsyncConnection, subject: str) -> int | None:
        """Seconds to wait if `subject` is over its limit, else None (does not count)."""
        row = (await conn.execute(self._sql.read, {"key": self._key(subject)})).first()
        if row is None:
            return None
        count, started = row
        return self._wait(count + 1, started, self._clock())  # as if this one were counted

    async def hit(self, conn: AsyncConnection, subject: str) -> int | None:
        """Count one attempt; seconds to wait if it went over the limit, else None."""
        now = self._clock()
        params = {"key": self._key(subject), "now": now, "cutoff": now - self.window_s}
        count, started = (await conn.execute(self._sql.hit[conn.dialect.name], params)).one()
        await self._prune(conn, now)
        return self._wait(count, started, now)

    async def reset(self, conn: AsyncConnection, subject: str) -> None:
        await conn.execute(self._sql.reset, {"key": self._key(subject)})

    def _key(self, subject: str) -> str:
        digest = hashlib.sha256(subject.encode()).hexdigest()
        return f"{self.scope}:{digest}"

    def _wait(self, count: int, started: float, now: float) -> int | None:
        """Seconds until the window ends if `count` attempts in it are more than allowed."""
        if count <= self.limit or started <= now - self.window_s:
            return None
        return int(started + self.window_s - now) + 1

    async def _prune(self, conn: AsyncConnection, now: float) -> None:
        """Drop expired windows of this scope, at most once a window per process, so that
        a spray of subjects cannot grow the table beyond what one window holds."""
        if now < self._next_prune:
            return
        self._next_prune = now + self.window_s
        await conn.execute(
            self._sql.prune, {"scope": f"{self.scope}:", "cutoff": now - self.window_s}
        )
