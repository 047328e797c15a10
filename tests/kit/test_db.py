"""The request's unit of work, the caller read outside it, and the connection pool."""

from __future__ import annotations

import asyncio
import enum
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import Request
from httpx import ASGITransport, AsyncClient
from sqlalchemy import (
    JSON,
    Column,
    Enum,
    Float,
    MetaData,
    Table,
    Uuid,
    bindparam,
    delete,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import NullPool

from nubo.app import bind_engine, create_app
from nubo.kit.db import Session, create_engine, engine_reader, fetch_rows, unit_of, write_rows
from nubo.kit.errors import database_unreachable
from nubo.kit.jobs import JobContext
from nubo.kit.listing import json_text, uuid_text
from nubo.kit.types import UTCDateTime, utcnow
from nubo.models import Account, RateLimitWindow
from nubo.runtime import job_context
from tests.flights.live import Live, start_live


async def test_a_failing_commit_turns_the_response_into_an_error(app):
    class Exploding:
        async def commit(self) -> None:
            raise RuntimeError("disk full")

        async def rollback(self) -> None:
            return None

        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc) -> None:
            return None

    app.state.sessionmaker = lambda: Exploding()

    async def create(session: Session) -> dict[str, str]:
        return {"status": "created"}

    app.add_api_route("/unit-of-work", create, methods=["POST"], status_code=201)
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post("/unit-of-work")
    assert response.status_code == 500  # never a 201 for data that was not stored


async def test_the_unit_of_work_is_found_from_the_request_only_while_it_is_open(app, client):
    requests: list[Request] = []

    async def read(request: Request, session: Session) -> dict[str, bool]:
        requests.append(request)
        return {"open": unit_of(request) is session}

    app.add_api_route("/unit-of-work", read, methods=["GET"])
    response = await client.get("/unit-of-work")
    assert response.json() == {"open": True}
    assert unit_of(requests[0]) is None  # ended with the request's unit


async def test_reading_the_caller_opens_no_unit_of_work(app, client, world):
    class NoSessions:
        def __call__(self) -> None:
            raise AssertionError("the profile route opened a session")

    app.state.sessionmaker = NoSessions()
    response = await client.get("/api/users/profile", headers=world.headers("member_a"))
    assert response.status_code == 200, response.text
    assert response.json()["id"] == str(world.member_a.id)


async def _now_moves(conn: AsyncConnection) -> bool:
    """now() is the start of the transaction: inside one BEGIN it does not move."""
    first = (await conn.execute(text("SELECT now()"))).scalar_one()
    second = (await conn.execute(text("SELECT now()"))).scalar_one()
    return bool(second > first)


async def test_caller_reads_on_postgresql_run_without_a_transaction(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite reads are local: there are no round trips to save")
    engine = create_engine(database_url, pool_size=1)  # one connection: reused by both
    try:
        async with engine_reader(engine)() as conn:
            assert await _now_moves(conn)
        async with engine.connect() as conn:  # back in the pool, autocommit is gone again
            assert not await _now_moves(conn)
    finally:
        await engine.dispose()


@asynccontextmanager
async def _app_with_a_pool_of_one(
    settings, database_url: str, timeout_s: float
) -> AsyncIterator[tuple[AsyncEngine, AsyncClient]]:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite connections are not pooled")
    app = create_app(settings.model_copy(update={"db_pool_size": 1}))
    engine = create_engine(database_url, pool_size=1, pool_timeout=timeout_s)
    bind_engine(app, engine)
    try:
        transport = ASGITransport(app=app, raise_app_exceptions=False)
        async with AsyncClient(transport=transport, base_url="http://t") as client:
            yield engine, client
    finally:
        await engine.dispose()


async def _login(client: AsyncClient, email: str):
    return await client.post("/api/auth/login", json={"email": email, "password": "long-enough-1"})


async def test_an_exhausted_pool_answers_503_database_busy(settings, database_url):
    pool = _app_with_a_pool_of_one(settings, database_url, 0.2)
    async with pool as (engine, client), engine.connect() as held:
        await held.execute(text("SELECT 1"))  # the pool's only connection, kept busy
        response = await _login(client, "nobody@example.com")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "database-busy"
    assert response.headers["retry-after"] == "1"


async def test_a_login_takes_one_connection_at_a_time(settings, database_url):
    # Its attempt counters are written on standalone connections: were one taken while the
    # session held another, a pool of one would deadlock until its timeout (503).
    async with _app_with_a_pool_of_one(settings, database_url, 0.5) as (engine, client):
        response = await _login(client, f"{uuid.uuid4().hex}@example.com")
        async with engine.begin() as conn:  # the counted attempt was committed: remove it
            await conn.execute(delete(RateLimitWindow))
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "invalid-credentials"


async def test_after_commit_hooks_run_once_committed_and_never_on_rollback(session):
    from nubo.kit.db import after_commit, after_rollback, commit_unit, rollback_unit

    ran: list[str] = []

    async def note(what: str) -> None:
        ran.append(what)

    after_commit(session, lambda: note("committed"))
    after_rollback(session, lambda: note("undone"))
    await session.execute(text("SELECT 1"))
    await commit_unit(session)
    assert ran == ["committed"]

    after_commit(session, lambda: note("committed again"))
    after_rollback(session, lambda: note("undone"))
    await rollback_unit(session)
    assert ran == ["committed", "undone"]
    await commit_unit(session)  # hooks of an ended unit never run again
    assert ran == ["committed", "undone"]


@pytest.fixture
async def live(database_url: str, engine: AsyncEngine, tmp_path) -> AsyncIterator[Live]:
    async for value in start_live(database_url, tmp_path):
        yield value


async def _hold_a_write(ctx: JobContext, account_id: uuid.UUID, holding: asyncio.Event,
                        release: asyncio.Event) -> None:
    async with ctx.unit() as s:
        await s.execute(
            update(Account).where(Account.id == account_id).values(updated_at=utcnow())
        )
        holding.set()
        await release.wait()


async def test_writers_wait_their_turn_behind_a_job_holding_a_write_never_503(live: Live):
    """A job's unit holds a write; concurrent writes that read first wait for it (on
    SQLite a deferred transaction that has read cannot wait: it failed at once with 503)."""
    ctx = job_context(live.app, live.app.state.jobs)
    holding, release = asyncio.Event(), asyncio.Event()
    job = asyncio.create_task(_hold_a_write(ctx, live.world.account_b.id, holding, release))
    await holding.wait()
    emails = [f"w{i}-{uuid.uuid4().hex[:8]}@example.com" for i in range(4)]
    op, admin = live.world.headers("operator"), live.world.headers("admin_a")
    writes = [
        live.client.post("/api/accounts", json={"name": "Waiting", "email": e}, headers=op)
        for e in emails
    ] + [
        live.client.patch("/api/users/edit", json={"name": f"Ada {i}"}, headers=admin)
        for i in range(4)
    ]
    pending = [asyncio.ensure_future(w) for w in writes]
    await asyncio.sleep(0.3)  # let them reach the held lock
    release.set()
    await job
    responses = await asyncio.gather(*pending)
    async with live.app.state.sessionmaker() as s:
        await s.execute(delete(Account).where(Account.email.in_(emails)))
        await s.commit()
    assert [r.status_code for r in responses] == [201] * 4 + [200] * 4, [
        r.text for r in responses if r.status_code >= 300
    ]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _answers_while_unreachable(settings, url: str) -> list[Any]:
    app = create_app(settings.model_copy(update={"database_url": url}))
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    signup = {"account_name": "Down", "name": "D", "email": "d@example.com",
              "password": "long-enough-1"}
    platform = app.state.platform
    token, _ = platform.tokens.encode(
        sub=uuid.uuid4(), typ="access", ttl=platform.access_ttl, version=0
    )
    try:
        async with AsyncClient(transport=transport, base_url="http://t") as client:
            return [
                await _login(client, "nobody@example.com"),
                await client.post("/api/auth/signup", json=signup),
                await client.get("/api/accounts", headers={"Authorization": f"Bearer {token}"}),
            ]
    finally:
        await app.state.engine.dispose()


def _all_database_unavailable(responses: list[Any]) -> None:
    for response in responses:
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "database-unavailable"
        assert response.headers["retry-after"] == "1"


async def test_a_database_that_cannot_be_reached_answers_503_never_500(
    settings, database_url, tmp_path
):
    if database_url.startswith("postgresql"):
        url = f"postgresql+asyncpg://nubo@127.0.0.1:{_closed_port()}/nubo"
    else:
        url = f"sqlite+aiosqlite:///{tmp_path}/missing-folder/nubo.db"
    _all_database_unavailable(await _answers_while_unreachable(settings, url))


async def test_a_postgresql_that_refuses_sessions_answers_503(settings, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("a server refusing sessions is a PostgreSQL state")
    name = f"nubo_refusing_{uuid.uuid4().hex[:8]}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
            await conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
        _all_database_unavailable(await _answers_while_unreachable(settings, url))
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        await admin.dispose()


class _Kind(enum.Enum):
    one = "one"
    two = "two"


_PROBE = Table(
    "fetch_rows_probe", MetaData(),
    Column("id", Uuid, primary_key=True), Column("kind", Enum(_Kind, native_enum=False)),
    Column("at", UTCDateTime), Column("score", Float), Column("doc", JSON),
    prefixes=["TEMPORARY"],
)
_PROBE_READ = (
    select(uuid_text(_PROBE.c.id), _PROBE.c.kind, _PROBE.c.at, _PROBE.c.score,
           json_text(_PROBE.c.doc))
    .where(_PROBE.c.kind == bindparam("kind"), _PROBE.c.at < bindparam("before"))
    .order_by(_PROBE.c.at)
)


async def test_rows_fetched_for_a_list_are_those_sqlalchemy_reads(engine):
    at = datetime(2026, 11, 29, 12, tzinfo=UTC)
    async with engine.connect() as conn:
        await conn.run_sync(_PROBE.create)
        await conn.execute(_PROBE.insert(), [
            {"id": uuid.uuid4(), "kind": kind, "at": at + timedelta(hours=i),
             "score": 0.1 * i if i else None, "doc": {"i": i, "é": [1.5, None]}}
            for i, kind in enumerate([_Kind.one, _Kind.two, _Kind.one, _Kind.one])
        ])
        params = {"kind": _Kind.one, "before": at + timedelta(hours=3)}
        for _ in range(2):  # the first read plans the statement, the second reuses it
            fetched = await fetch_rows(conn, _PROBE_READ, params)
            read = (await conn.execute(_PROBE_READ, params)).all()
            assert [tuple(r) for r in fetched] == [tuple(r) for r in read] and len(read) == 2
            assert [(r.id, r.at) for r in fetched] == [(r.id, r.at) for r in read]
            assert all(isinstance(r.id, str) for r in fetched)
        await conn.run_sync(_PROBE.drop)
        await conn.rollback()


async def test_a_list_read_on_a_connection_the_server_dropped_answers_503_and_recovers(
    settings, database_url
):
    if not database_url.startswith("postgresql"):
        pytest.skip("a session dropped by the server is a PostgreSQL state")
    engine = create_engine(database_url, pool_size=1)
    read = engine_reader(engine)
    stmt = select(literal_column("1").label("one"))
    try:
        async with read() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        admin = create_engine(database_url, poolclass=NullPool)
        async with admin.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await admin.dispose()
        with pytest.raises(DBAPIError) as caught:
            async with read() as conn:  # the pool's one connection, dead
                await fetch_rows(conn, stmt, {})
        assert database_unreachable(caught.value)  # what the error handler answers 503
        async with read() as conn:  # the dead connection was replaced
            assert [tuple(r) for r in await fetch_rows(conn, stmt, {})] == [(1,)]
    finally:
        await engine.dispose()


_PROBE_WRITE = (
    update(_PROBE)
    .where(_PROBE.c.kind == _Kind.one, _PROBE.c.at < bindparam("before"))  # a fixed value
    .values(score=bindparam("score"))
    .returning(uuid_text(_PROBE.c.id), _PROBE.c.kind, _PROBE.c.at, _PROBE.c.score)
)


async def test_a_write_runs_as_sqlalchemy_runs_it_and_returns_its_rows(engine):
    at = datetime(2026, 11, 29, 12, tzinfo=UTC)
    async with engine.connect() as conn:
        await conn.run_sync(_PROBE.create)
        await conn.execute(_PROBE.insert(), [
            {"id": uuid.uuid4(), "kind": kind, "at": at + timedelta(hours=i), "score": None}
            for i, kind in enumerate([_Kind.one, _Kind.two, _Kind.one])
        ])
        await conn.commit()
        for score in (0.5, 0.25):  # the first write plans the statement, the second reuses it
            written = await write_rows(conn, _PROBE_WRITE, {"before": at + timedelta(hours=3),
                                                            "score": score})
            assert sorted((r.kind, r.score) for r in written) == [(_Kind.one, score)] * 2
            assert {r.at for r in written} == {at, at + timedelta(hours=2)}
        await conn.rollback()  # the writes were in the connection's transaction
        scores = (await conn.execute(select(_PROBE.c.score))).scalars().all()
        assert scores == [None, None, None]
        await conn.run_sync(_PROBE.drop)
        await conn.commit()


async def test_a_write_without_returning_gives_no_rows_and_a_failed_one_raises(engine):
    async with engine.connect() as conn:
        await conn.run_sync(_PROBE.create)
        stmt = insert(_PROBE).values(id=bindparam("id"), kind=_Kind.two)
        row_id = uuid.uuid4()
        assert await write_rows(conn, stmt, {"id": row_id}) == []
        assert (await conn.execute(select(_PROBE.c.kind))).scalars().all() == [_Kind.two]
        with pytest.raises(Exception) as caught:  # the same primary key again
            await write_rows(conn, stmt, {"id": row_id})
        assert any(word in str(caught.value).lower() for word in ("duplicate", "unique"))
        if conn.dialect.name == "postgresql":  # its state unknown: not returned to the pool
            assert conn.invalidated
    async with engine.connect() as conn:
        assert (await conn.execute(select(literal_column("1")))).scalar_one() == 1
