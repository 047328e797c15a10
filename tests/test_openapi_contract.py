"""Property-based contract test: every operation of the OpenAPI schema, called with generated
input and an operator's token, answers within its documented responses and never with 5xx."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from sqlalchemy.pool import NullPool

from nubo.app import bind_engine, create_app
from nubo.kit.db import create_engine, create_sessionmaker
from nubo.kit.migrate import upgrade
from tests.conftest import (
    POSTGRES_ADMIN_URL,
    _create_postgres_database,
    _drop_postgres_database,
    make_settings,
    service_missing,
)
from tests.fixtures.world import World, build_world


def _in_thread(coro_factory: Any) -> Any:
    # The suite's event loop is running elsewhere; this setup gets a loop of its own.
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = asyncio.run(coro_factory())
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


# The schema is read from an app built at import; each database fixture below points this
# same app at its own freshly migrated database.
# The account-wide event stream never reaches a terminal state: close it after a moment, so
# that each generated call of it ends (as the route walk does).
APP = create_app(make_settings("sqlite+aiosqlite://", Path("var/contract-unused"),
                               events_stream_max_s=0.2, events_poll_s=0.05))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def contract_world(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[World]:
    data_dir: Path = tmp_path_factory.mktemp("contract")
    pg_name = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{data_dir / 'nubo.db'}"
    else:
        try:
            url, pg_name = _in_thread(_create_postgres_database)
        except Exception as exc:
            service_missing(f"PostgreSQL at {POSTGRES_ADMIN_URL}", exc)
            raise
    app = APP
    engine = create_engine(url, poolclass=NullPool)

    async def prepare() -> World:
        await upgrade(engine)
        async with create_sessionmaker(engine)() as session:
            return await build_world(session, app.state.platform)

    world = _in_thread(prepare)
    bind_engine(app, engine)
    yield world
    if pg_name:
        _in_thread(lambda: _drop_postgres_database(pg_name))


@schema.parametrize()
@settings(max_examples=20, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_operation_honours_its_contract(case, contract_world):
    # Two checks are excluded, every other one runs (5xx, status codes, content types,
    # headers, response schemas, Allow): positive-data acceptance, because the API is stricter
    # than JSON Schema can say (email deliverability, NUL characters); and negative-data
    # rejection, because the token injected here puts back the Authorization header a negative
    # case removes, and unknown query parameters are ignored by design.
    case.call_and_validate(
        headers=contract_world.headers("operator"),
        excluded_checks=[
            schemathesis.checks.positive_data_acceptance,
            schemathesis.checks.negative_data_rejection,
        ],
    )
