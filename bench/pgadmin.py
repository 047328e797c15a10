"""The benchmarks' own PostgreSQL databases: created and dropped through the admin database."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

ADMIN_URL = os.environ.get(
    "BENCH_ADMIN_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


async def admin(statement: str, **params: Any) -> Any:
    """Run one statement outside a transaction (CREATE/DROP DATABASE, or a read of the
    server's statistics); its first value, if it returns rows."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text(statement), params)
            return result.scalar() if result.returns_rows else None
    finally:
        await engine.dispose()


def drop_database(name: str) -> None:
    """Drop a benchmark's database at its end, even a failed one's; a failure to drop is
    reported, not raised over the benchmark's own error."""
    try:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except Exception as exc:  # pragma: no cover - reported, not hidden
        print(f"could not drop database {name}: {exc}", file=sys.stderr)


def database_url(name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
