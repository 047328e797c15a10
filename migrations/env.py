"""Alembic environment: runs on a connection handed in, or opens one from the settings."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from nubo.kit.db import create_engine
from nubo.kit.schema_scope import owned_by_migrations
from nubo.models import Base
from nubo.settings import Settings

config = context.config
target_metadata = Base.metadata


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=owned_by_migrations,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_settings() -> None:
    url = config.attributes.get("url") or Settings().resolved_database_url
    engine = create_engine(url)
    async with engine.connect() as conn:
        await conn.run_sync(run_on)
        await conn.commit()
    await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    run_on(connection)
elif context.is_offline_mode():
    context.configure(
        url=Settings().resolved_database_url, target_metadata=target_metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(run_from_settings())
