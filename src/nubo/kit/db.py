"""Engine, sessions and the one-transaction-per-request dependency."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from nubo.kit.errors import NuboError


def create_engine(url: str, *, pool_size: int = 10, **kwargs: Any) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(
            url,
            connect_args={"timeout": 30},
            poolclass=kwargs.pop("poolclass", None) or NullPool,
            **kwargs,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    if kwargs.get("poolclass") is NullPool:
        return create_async_engine(url, **kwargs)
    # No pre-ping: it costs a round trip per checkout on the hottest path. Connections are
    # recycled instead, and a connection found dead mid-request answers 503 (kit/errors).
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=0, pool_recycle=1800, **kwargs
    )


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # The driver's own implicit transactions break SAVEPOINT; SQLAlchemy emits BEGIN instead.
    dbapi_conn.isolation_level = None
    # WAL lets readers proceed while one writer commits; FKs are off by default in SQLite.
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


ReadConnection = Callable[[], AbstractAsyncContextManager[AsyncConnection]]


def engine_reader(engine: AsyncEngine) -> ReadConnection:
    """Connections for a single read outside the request's unit of work (the caller's identity).

    On PostgreSQL they run in autocommit: one statement needs no BEGIN and COMMIT round
    trips, and under READ COMMITTED a transaction around it would add no consistency.
    """
    return _single_statements(engine).connect


def _single_statements(engine: AsyncEngine) -> AsyncEngine:
    """The engine for statements that stand alone: in autocommit on PostgreSQL."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


def connection_reader(conn: AsyncConnection) -> ReadConnection:
    """Reads on a connection that is already open (the tests' rolled-back transaction)."""

    @asynccontextmanager
    async def borrow() -> AsyncIterator[AsyncConnection]:
        yield conn

    return borrow


WriteConnection = Callable[[], AbstractAsyncContextManager[AsyncConnection]]


def engine_writer(engine: AsyncEngine) -> WriteConnection:
    """Connections for a write that must outlast the request's unit of work (an attempt
    counted although the request fails), committed when the block exits.

    On PostgreSQL each statement commits by itself, for the reason given in `engine_reader`.
    """
    return _single_statements(engine).begin


def connection_writer(conn: AsyncConnection) -> WriteConnection:
    """Writes in a savepoint of a connection that is already open (the tests' transaction)."""

    @asynccontextmanager
    async def borrow() -> AsyncIterator[AsyncConnection]:
        async with conn.begin_nested():
            yield conn

    return borrow


@dataclass(frozen=True, slots=True)
class Standalone:
    """Single statements outside the request's unit of work, each on a connection of its
    own that goes back to the pool at once. The session's connection is not held meanwhile:
    a service that uses both takes these before the session's first statement."""

    read: ReadConnection
    write: WriteConnection


async def get_standalone(request: Request) -> Standalone:
    return Standalone(request.app.state.read_connection, request.app.state.write_connection)


StandaloneDb = Annotated[Standalone, Depends(get_standalone)]


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed if the handler returns, rolled back otherwise."""
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with maker() as session:
        try:
            yield session
            await session.commit()
        except NuboError as exc:
            await (session.commit() if exc.commit_changes else session.rollback())
            raise
        except BaseException:
            await session.rollback()
            raise


# scope="function": the unit of work is committed before the response is sent, so a 2xx
# always means durable (the default scope would commit after the response is on the wire).
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]
