"""The benchmarks' own PostgreSQL databases: created and dropped through the admin database."""

from __future__ import annotations

import os

ADMIN_URL = os.environ.get(
    "BENCH_ADMIN_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


async def admin(statement: str) -> None:
    """Run one statement (CREATE/DROP DATABASE) outside a transaction."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def database_url(name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
