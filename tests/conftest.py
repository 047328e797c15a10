"""Test harness: every DB test runs on SQLite and on PostgreSQL, schema from the migrations,
each test inside a transaction that is rolled back."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from nubo.app import create_app
from nubo.kit.db import connection_reader, connection_writer, create_engine
from nubo.kit.migrate import upgrade
from nubo.settings import Settings

pytest_plugins = ["tests.fixtures.s3", "tests.fixtures.world"]

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
POSTGRES_ADMIN_URL = os.environ.get(
    "NUBO_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def service_missing(what: str, why: object) -> None:
    """Outside CI a missing service skips its tests; in CI it fails them."""
    message = f"{what} is not reachable: {why}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


async def _create_postgres_database() -> tuple[str, str]:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"nubo_test_{uuid.uuid4().hex[:12]}"
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    return f"{base}/{name}", name


async def _drop_postgres_database(name: str) -> None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "nubo.db"
        yield f"sqlite+aiosqlite:///{path}"
        return
    try:
        url, name = await _create_postgres_database()
    except Exception as exc:  # connection refused, auth, ...
        service_missing("PostgreSQL", exc)
        raise
    try:
        yield url
    finally:
        await _drop_postgres_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
async def fresh_url(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[str]:
    """An empty database of the test's own, not migrated (migration tests)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'nubo.db'}"
        return
    try:
        url, name = await _create_postgres_database()
    except Exception as exc:
        service_missing("PostgreSQL", exc)
        raise
    try:
        yield url
    finally:
        await _drop_postgres_database(name)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=5)
    await upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


def make_settings(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "data_dir": data_dir,
        "database_url": database_url,
        "jwt_secret": "test-signing-key-" + "x" * 40,
        "argon2_time_cost": 1,
        "argon2_memory_cost_kib": 1024,
        "login_attempts_per_address": 10_000,
        "signup_attempts_per_address": 10_000,
        # Freezing the heap is for a server's start-up, not for every app a test builds.
        "gc_tuning": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        outer = await conn.begin()
        yield conn
        if outer.is_active:
            await outer.rollback()


@pytest.fixture
def sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    # Commits inside the app release a savepoint; the test's outer transaction is rolled back.
    return async_sessionmaker(
        bind=connection,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
    )


@pytest.fixture
async def session(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


@pytest.fixture
def settings(database_url: str, data_dir: Path) -> Settings:
    return make_settings(database_url, data_dir)


@pytest.fixture
def app(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    connection: AsyncConnection,
):
    return app_in_test_transaction(settings, sessionmaker, engine, connection)


def app_in_test_transaction(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    connection: AsyncConnection,
):
    """An app (one API process) whose every statement runs in the test's transaction."""
    app = create_app(settings)
    app.state.sessionmaker = sessionmaker
    app.state.read_connection = connection_reader(connection)
    app.state.write_connection = connection_writer(connection)
    app.state.engine = engine
    return app


@pytest.fixture
async def client(app) -> AsyncIterator[AsyncClient]:
    transport = ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with AsyncClient(transport=transport, base_url="http://nubo.test") as client:
        yield client


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"
