"""Engine, sessions and the one-transaction-per-request dependency."""

from __future__ import annotations

import logging
import weakref
from collections import namedtuple
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Executable, Select, event
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
from nubo.kit.listing import stored_text

log = logging.getLogger("nubo.db")


def create_engine(url: str, *, pool_size: int = 10, **kwargs: Any) -> AsyncEngine:
    # JSON columns hold the text the lists copy into their pages (kit.listing).
    kwargs.setdefault("json_serializer", stored_text)
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
        engine = create_async_engine(url, **kwargs)
    else:
        # No pre-ping: it costs a round trip per checkout on the hottest path. Connections
        # are recycled instead, and a connection found dead mid-request answers 503.
        engine = create_async_engine(
            url, pool_size=pool_size, max_overflow=0, pool_recycle=1800, **kwargs
        )
    event.listen(engine.sync_engine, "do_connect", _connect_or_unavailable)
    return engine


def _connect_or_unavailable(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
    """Open a connection; whatever stops it is the database being unreachable.

    The driver lets a refused socket out as a bare OSError and a server that refuses the
    session (starting up, shutting down, not accepting connections, too many) as a generic
    error: both become the DB-API's OperationalError, which the error handler answers 503.
    """
    dbapi = dialect.loaded_dbapi
    try:
        return dialect.connect(*cargs, **cparams)
    except dbapi.OperationalError:
        raise
    except Exception as exc:
        raise dbapi.OperationalError(f"cannot connect: {type(exc).__name__}: {exc}", exc) from exc


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


# A connection option naming a transaction that only reads (see `_sqlite_begin`).
READ_ONLY = "nubo_read_only"


def _sqlite_begin(conn: Any) -> None:
    # A deferred SQLite transaction that has read cannot wait for the write lock: when it
    # first writes while another connection writes (or has committed since it read), it
    # fails at once with "database is locked", whatever the busy timeout. A unit that may
    # write therefore takes the write lock first (IMMEDIATE), waiting its turn behind the
    # other writers; only units known to read alone begin deferred, beside the writers.
    if conn.get_execution_options().get(READ_ONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


ReadConnection = Callable[[], AbstractAsyncContextManager[AsyncConnection]]


def engine_reader(engine: AsyncEngine) -> ReadConnection:
    """Connections for a single read outside the request's unit of work (the caller's identity).

    On PostgreSQL they run in autocommit: one statement needs no BEGIN and COMMIT round
    trips, and under READ COMMITTED a transaction around it would add no consistency.
    """
    return _single_reads(engine).connect


def _single_statements(engine: AsyncEngine) -> AsyncEngine:
    """The engine for statements that stand alone: in autocommit on PostgreSQL."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


def _single_reads(engine: AsyncEngine) -> AsyncEngine:
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{READ_ONLY: True})
    return _single_statements(engine)


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


ReadSessionFactory = Callable[[], AbstractAsyncContextManager[AsyncSession]]


async def get_read_sessions(request: Request) -> ReadSessionFactory:
    """Short read-only sessions for work that outlives the request's unit of work (a
    streamed export reads its batches after the unit has ended)."""
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return lambda: maker(**read_only_options(True))


ReadSessions = Annotated[ReadSessionFactory, Depends(get_read_sessions)]


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


Hook = Callable[[], Awaitable[Any]]
_AFTER_COMMIT = "nubo.after_commit"
_AFTER_ROLLBACK = "nubo.after_rollback"


def after_commit(session: AsyncSession, hook: Hook) -> None:
    """Run `hook` once the unit of work has committed (defer a job, delete a replaced
    object): never before, and not at all if the unit is rolled back."""
    session.info.setdefault(_AFTER_COMMIT, []).append(hook)


def after_rollback(session: AsyncSession, hook: Hook) -> None:
    """Run `hook` if the unit of work is rolled back instead (remove an object written
    for a row that will not exist)."""
    session.info.setdefault(_AFTER_ROLLBACK, []).append(hook)


async def commit_unit(session: AsyncSession) -> None:
    """Commit the unit of work, then run its after-commit hooks (each failure is logged:
    what they do is backed by a sweeper, the commit stands)."""
    await session.commit()
    session.info.pop(_AFTER_ROLLBACK, None)
    await _run(session.info.pop(_AFTER_COMMIT, []))


async def rollback_unit(session: AsyncSession) -> None:
    """Roll the unit of work back, then run its after-rollback hooks."""
    session.info.pop(_AFTER_COMMIT, None)
    try:
        await session.rollback()
    finally:
        await _run(session.info.pop(_AFTER_ROLLBACK, []))


async def _run(hooks: list[Hook]) -> None:
    for hook in hooks:
        try:
            await hook()
        except Exception:
            log.warning("a hook of a finished unit of work failed", exc_info=True)


# Methods that never write: their units read beside the writers instead of queueing behind.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def read_only_options(read_only: bool) -> dict[str, Any]:
    """Session options for a unit that only reads (SQLite begins it deferred)."""
    return {"execution_options": {READ_ONLY: True}} if read_only else {}


# Where the request's open unit of work is kept in the ASGI scope (see `unit_of`).
_UNIT = "nubo.unit_of_work"


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed if the handler returns, rolled back otherwise."""
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with maker(**read_only_options(request.method in READ_METHODS)) as session:
        request.scope[_UNIT] = session
        try:
            yield session
            await commit_unit(session)
        except NuboError as exc:
            await (commit_unit(session) if exc.commit_changes else rollback_unit(session))
            raise
        except BaseException:
            await rollback_unit(session)
            raise
        finally:
            request.scope.pop(_UNIT, None)


def unit_of(request: Request) -> AsyncSession | AsyncConnection | None:
    """The request's unit of work (or a page's one read connection, see `get_page_reader`)
    while it is open, else None (before it starts, after it ended, on a route without one).
    What a page reads beside its own data (the notices every page shows) joins it instead
    of opening a connection of its own."""
    unit: AsyncSession | AsyncConnection | None = request.scope.get(_UNIT)
    return unit


async def get_page_reader(request: Request) -> AsyncIterator[ReadConnection]:
    """One read connection for a whole page that only reads single statements (a list
    page): its own query and what every page reads beside it (the notices) share it, where
    each would otherwise open one (on SQLite, a thread each)."""
    async with request.app.state.read_connection() as conn:
        lend = connection_reader(conn)
        request.scope[_UNIT], request.scope[_READER] = conn, lend
        try:
            yield lend
        finally:
            request.scope.pop(_UNIT, None)
            request.scope.pop(_READER, None)


# Declared before the page's signed-in user, so the session cookie's lookup shares it too.
PageReader = Annotated[ReadConnection, Depends(get_page_reader, scope="function")]
_READER = "nubo.page_reader"


def reader_of(request: Request) -> ReadConnection:
    """Where a single read of this request goes: the page's one connection while it is
    open (`get_page_reader`), else a connection of its own."""
    lent: ReadConnection | None = request.scope.get(_READER)
    return lent or request.app.state.read_connection


# scope="function": the unit of work is committed before the response is sent, so a 2xx
# always means durable (the default scope would commit after the response is on the wire).
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def fetch_rows(conn: AsyncConnection, stmt: Select[Any], params: dict[str, Any]) -> list[Any]:
    """The rows of a read built once and executed often (a list's page), with their
    columns as attributes, as `conn.execute(stmt, params).all()` gives them.

    On PostgreSQL the statement runs on the driver's own connection, prepared once: for a
    page of 50 rows SQLAlchemy's execution and result layers cost about as much again as
    asyncpg's own work. Whatever fails there runs again through SQLAlchemy, whose error is
    the one raised: it is translated the same way as every other statement's (an
    unreachable or dead database answers 503), and a dead connection is invalidated.
    """
    if conn.dialect.name != "postgresql":
        return list((await conn.execute(stmt, params)).all())
    try:
        driver: Any = (await conn.get_raw_connection()).driver_connection
        plan = _PLANS.get(stmt) or await _plan(driver, stmt, conn.dialect)
        return plan.rows(await driver.fetch(plan.sql, *plan.arguments(params)))
    except Exception:
        log.debug("a driver read failed; running it through SQLAlchemy", exc_info=True)
    return list((await conn.execute(stmt, params)).all())


async def write_rows(
    conn: AsyncConnection, stmt: Executable, params: dict[str, Any]
) -> list[Any]:
    """A write built once and run often (a job's claim or result), as `conn.execute(stmt,
    params)` runs it, with the rows it returns (its RETURNING, or the SELECT over its
    data-modifying WITH clauses) as `fetch_rows` gives them.

    On PostgreSQL the statement runs on the driver's own connection, prepared once, inside
    the transaction `conn` is in (begun first if SQLAlchemy has not yet: it begins lazily,
    at the first statement). Unlike a read, a failure is not tried again through SQLAlchemy
    (the write may have happened): the connection is invalidated, since its state is not
    known, and the driver's error raised for the unit of work to roll back.
    """
    if conn.dialect.name != "postgresql":
        result = await conn.execute(stmt, params)
        return list(result.all()) if result.returns_rows else []
    if not conn.in_transaction():
        await conn.begin()  # as `conn.execute` would (autobegin); `conn` ends it
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    try:
        adapter: Any = raw.dbapi_connection
        if adapter._transaction is None:  # SQLAlchemy's asyncpg adapter sends BEGIN lazily
            await adapter._start_transaction()  # (nothing in autocommit)
        plan = _PLANS.get(stmt) or await _plan(driver, stmt, conn.dialect)
        if not plan.returns:
            await driver.execute(plan.sql, *plan.arguments(params))
            return []
        return plan.rows(await driver.fetch(plan.sql, *plan.arguments(params)))
    except BaseException:
        await conn.invalidate()
        raise


class _Plan:
    """A statement as the driver takes it: its SQL, its parameters in order with
    SQLAlchemy's conversions (an enum to its value...) and the values of those the
    statement holds itself, and its columns' conversions."""

    __slots__ = ("binds", "fixed", "names", "results", "returns", "row", "sql")

    def __init__(self, stmt: Any, compiled: Any, dialect: Any, oids: list[int]) -> None:
        self.sql = compiled.string
        self.names = list(compiled.positiontup or ())
        self.binds = [compiled.binds[name].type.bind_processor(dialect) for name in self.names]
        self.fixed = {name: bind.value for name, bind in compiled.binds.items()
                      if not bind.required}
        columns = stmt.exported_columns
        self.returns = len(columns) > 0
        self.results = [
            (i, convert)
            for i, (column, oid) in enumerate(zip(columns, oids, strict=True))
            if (convert := column.type.result_processor(dialect, oid)) is not None
        ]
        self.row = namedtuple("Row", columns.keys())  # type: ignore[misc]

    def arguments(self, params: dict[str, Any]) -> list[Any]:
        fixed = self.fixed
        return [
            value if bind is None or value is None else bind(value)
            for bind, value in zip(
                self.binds, (params[n] if n in params else fixed[n] for n in self.names),
                strict=True,
            )
        ]

    def rows(self, records: list[Any]) -> list[Any]:
        row, new = self.row, tuple.__new__
        if not self.results:
            return [new(row, record) for record in records]
        rows = []
        for record in records:
            values = list(record)
            for i, convert in self.results:
                values[i] = convert(values[i])
            rows.append(new(row, values))
        return rows


_PLANS: weakref.WeakKeyDictionary[Executable, _Plan] = weakref.WeakKeyDictionary()


async def _plan(driver: Any, stmt: Any, dialect: Any) -> _Plan:
    compiled = stmt.compile(dialect=dialect)
    oids = [attr.type.oid for attr in (await driver.prepare(compiled.string)).get_attributes()]
    plan = _PLANS[stmt] = _Plan(stmt, compiled, dialect, oids)
    return plan
