"""The job system: the wrapper, the in-process runner and Procrastinate on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from nubo import runtime
from nubo.kit import jobs
from nubo.kit.db import create_sessionmaker
from nubo.kit.storage import ObjectStore
from nubo.models import Account
from tests.conftest import make_settings

CALLS: list[tuple[str, dict[str, Any]]] = []
FAILURES: dict[str, int] = {}


@jobs.task("test.record", lock=lambda kw: f"record:{kw['key']}")
async def _record(ctx: jobs.JobContext, key: str, n: int = 0) -> None:
    CALLS.append(("record", {"key": key, "n": n}))


@jobs.task("test.flaky", max_attempts=3)
async def _flaky(ctx: jobs.JobContext, key: str) -> None:
    FAILURES[key] = FAILURES.get(key, 0) + 1
    if FAILURES[key] < 3:
        raise RuntimeError("not yet")
    CALLS.append(("flaky", {"key": key}))


@jobs.task("test.cpu")
async def _cpu(ctx: jobs.JobContext, key: str) -> None:
    import threading

    main = threading.get_ident()
    other = await ctx.run_cpu(threading.get_ident)
    CALLS.append(("cpu", {"key": key, "off_loop": other != main}))


@pytest.fixture
async def ctx(database_url: str, engine: AsyncEngine, tmp_path: Path) -> jobs.JobContext:
    settings = make_settings(database_url, tmp_path)
    return jobs.JobContext(
        settings=settings,
        sessionmaker=create_sessionmaker(engine),
        store=ObjectStore.from_url("memory://"),
        queue=jobs.InProcessQueue(),
    )


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()
    FAILURES.clear()


async def _inprocess(ctx: jobs.JobContext, **kw: Any) -> AsyncIterator[jobs.InProcessQueue]:
    queue = jobs.InProcessQueue(**kw)
    ctx.queue = queue
    await queue.start(ctx, worker=True)
    try:
        yield queue
    finally:
        await queue.stop()


async def test_inprocess_runs_jobs_and_does_not_queue_the_same_work_twice(ctx):
    queue = jobs.InProcessQueue()
    ctx.queue = queue
    await queue.defer("test.record", key="a", n=1)
    await queue.defer("test.record", key="a", n=2)  # same lock, still waiting: dropped
    await queue.defer("test.record", key="b", n=3)
    assert queue.pending == 2
    await queue.start(ctx, worker=True)
    try:
        await queue.join()
        await queue.ping()
        assert sorted(c[1]["key"] for c in CALLS) == ["a", "b"]
        await queue.defer("test.record", key="a", n=4)  # ran already: may run again
        await queue.join()
        assert len(CALLS) == 3
    finally:
        await queue.stop()


async def test_inprocess_retries_a_failing_job(ctx):
    async for queue in _inprocess(ctx, retry_base_s=0.01):
        await queue.defer("test.flaky", key="x")
        await queue.join()
    assert FAILURES["x"] == 3 and CALLS == [("flaky", {"key": "x"})]


STARTED = asyncio.Event()


@jobs.task("test.slow-write")
async def _slow_write(ctx: jobs.JobContext, email: str) -> None:
    async with ctx.unit() as session:
        session.add(Account(name="Slow", email=email))
        await session.flush()
        STARTED.set()
        slow = (  # a statement that runs for a while, whatever the database
            "SELECT pg_sleep(0.3)" if session.bind.dialect.name == "postgresql" else
            "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 1000000)"
            " SELECT count(*) FROM r"
        )
        await session.execute(text(slow))


def _sqlite_write_lock_free(database_url: str) -> bool:
    import sqlite3

    conn = sqlite3.connect(database_url.split("///", 1)[1], timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


async def test_a_stop_lets_the_running_job_finish_its_unit(ctx, database_url: str):
    """Cancelled in the middle of a statement, a job's connection went to the garbage
    collector still inside its transaction: on SQLite the database stayed write-locked."""
    email = f"slow-{uuid.uuid4().hex[:8]}@example.com"
    STARTED.clear()
    queue = jobs.InProcessQueue()
    ctx.queue = queue
    await queue.start(ctx, worker=True)
    await queue.defer("test.slow-write", email=email)
    await asyncio.wait_for(STARTED.wait(), 10)
    await queue.stop()
    if database_url.startswith("sqlite"):
        assert _sqlite_write_lock_free(database_url)
    async with ctx.unit() as session:
        found = await session.scalar(select(Account.id).where(Account.email == email))
        assert found is not None  # the job finished and committed
        await session.execute(delete(Account).where(Account.email == email))


@jobs.task("test.stuck")
async def _stuck(ctx: jobs.JobContext) -> None:
    STARTED.set()
    await asyncio.Event().wait()


async def test_a_job_still_running_after_the_grace_is_cancelled(ctx):
    STARTED.clear()
    queue = jobs.InProcessQueue()
    queue.stop_grace_s = 0.1
    ctx.queue = queue
    await queue.start(ctx, worker=True)
    await queue.defer("test.stuck")
    await asyncio.wait_for(STARTED.wait(), 10)
    await asyncio.wait_for(queue.stop(), 10)
    assert queue.pending == 0


async def test_cpu_work_runs_off_the_event_loop(ctx):
    async for queue in _inprocess(ctx):
        await queue.defer("test.cpu", key="c")
        await queue.join()
    assert CALLS == [("cpu", {"key": "c", "off_loop": True})]


async def test_unknown_task_is_refused(ctx):
    with pytest.raises(LookupError):
        await ctx.queue.defer("test.nope")
    with pytest.raises(LookupError):
        await jobs.run_job(ctx, "test.nope", {})
    assert await ctx.queue.defer_quietly("test.nope") is False


async def _a_unit_that_fails(ctx, email: str) -> None:
    """A unit that writes an account with `email`, then raises before its end."""
    with pytest.raises(RuntimeError):
        async with ctx.unit() as session:
            session.add(Account(name="Rolled back", email=email))
            await session.flush()
            raise RuntimeError("boom")


async def test_the_unit_of_work_commits_or_rolls_back(ctx):
    email = f"jobs-{uuid.uuid4().hex[:8]}@example.com"
    async with ctx.unit() as session:
        session.add(Account(name="Jobs", email=email))
    await _a_unit_that_fails(ctx, "2" + email)
    async with ctx.unit() as session:
        found = (
            (await session.execute(select(Account.email).where(Account.email.like(f"%{email}"))))
            .scalars()
            .all()
        )
        assert found == [email]
        await session.execute(delete(Account).where(Account.email == email))


async def test_a_statement_unit_is_committed_by_its_statement_and_units_stay_transactions(
    ctx, database_url: str
):
    if not database_url.startswith("postgresql"):
        pytest.skip("a unit of one statement is for PostgreSQL's data-modifying WITH clauses")
    email = f"statement-{uuid.uuid4().hex[:8]}@example.com"
    async with ctx.statement() as conn:
        await conn.execute(insert(Account).values(id=uuid.uuid4(), name="One", email=email))
        async with ctx.sessionmaker() as other:  # seen elsewhere before the unit ends
            seen = await other.execute(select(Account.email).where(Account.email == email))
            assert seen.scalar_one_or_none() == email
    # The pooled connection goes back to units of several statements, rolled back whole.
    await _a_unit_that_fails(ctx, "2" + email)
    async with ctx.unit() as session:
        found = await session.execute(select(Account.email).where(Account.email.like(f"%{email}")))
        assert found.scalars().all() == [email]
        await session.execute(delete(Account).where(Account.email == email))


async def test_procrastinate_defers_runs_and_locks(ctx, database_url: str):
    if not database_url.startswith("postgresql"):
        pytest.skip("Procrastinate needs PostgreSQL")
    conninfo = runtime.procrastinate_conninfo(ctx.settings)
    queue = jobs.ProcrastinateQueue(conninfo, poll_interval_s=0.2)
    ctx.queue = queue
    await queue.start(ctx, worker=False)  # an API process: defers only
    try:
        await queue.ensure_schema()  # a second call is a no-op
        await queue.ping()
        await queue.defer("test.record", key="p", n=1)
        await queue.defer("test.record", key="p", n=2)  # waiting with the same lock: dropped
        rows = await queue.app.connector.execute_query_all_async(
            "SELECT args FROM procrastinate_jobs WHERE task_name = 'test.record' "
            "AND status = 'todo'"
        )
        assert [r["args"] for r in rows] == [{"key": "p", "n": 1}]
    finally:
        await queue.stop()
    worker = jobs.ProcrastinateQueue(conninfo, poll_interval_s=0.2)
    ctx.queue = worker
    await worker.start(ctx, worker=True)  # a `nubo worker`
    try:
        await worker.defer("test.flaky", key="q")
        for _ in range(200):
            if len(CALLS) >= 2:
                break
            await asyncio.sleep(0.1)
    finally:
        await worker.stop()
    assert ("record", {"key": "p", "n": 1}) in CALLS
    assert ("flaky", {"key": "q"}) in CALLS and FAILURES["q"] == 3  # retried by Procrastinate


async def test_procrastinate_queue_down_does_not_stop_an_api_process(ctx):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    queue = jobs.ProcrastinateQueue(f"postgresql://nobody@127.0.0.1:{port}/none?connect_timeout=2")
    await queue.start(ctx, worker=False)  # logs, does not raise
    try:
        with pytest.raises(jobs.JobsUnavailable):
            await queue.ping()
        with pytest.raises(jobs.JobsUnavailable):
            await queue.defer("test.record", key="z")
        assert await queue.defer_quietly("test.record", key="z") is False
    finally:
        await queue.stop()


async def test_procrastinate_replaces_a_pooled_connection_the_server_ended(ctx, database_url: str):
    """The pool checks a lent connection only when the server spoke on it while it was idle
    (a quiet one costs no round trip); a backend terminated meanwhile (a restart, an
    administrator) is replaced, not failed."""
    if not database_url.startswith("postgresql"):
        pytest.skip("Procrastinate needs PostgreSQL")
    queue = jobs.ProcrastinateQueue(runtime.procrastinate_conninfo(ctx.settings))
    ctx.queue = queue
    await queue.start(ctx, worker=False)
    try:
        pool = queue.app.connector.pool
        async with pool.connection() as other:
            async with pool.connection() as conn:
                pid = conn.info.backend_pid
            await other.execute("SELECT pg_terminate_backend(%s)", (pid,))  # idle in the pool
        for _ in range(50):  # the server's goodbye reaches the idle socket
            idle = list(pool._pool)
            if all(c.info.backend_pid != pid or jobs._readable(c.fileno()) for c in idle):
                break
            await asyncio.sleep(0.05)
        for _ in range(4):  # every pooled connection in turn: none fails
            row = await queue.app.connector.execute_query_one_async("SELECT 1 AS ok")
            assert row["ok"] == 1
        await queue.ping()
    finally:
        await queue.stop()
