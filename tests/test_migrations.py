"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from nubo.kit.schema_scope import owned_by_migrations
from nubo.models import Base


async def test_migrated_schema_matches_the_models(connection):
    def diff(sync_conn):
        context = MigrationContext.configure(
            sync_conn, opts={"compare_type": True, "include_object": owned_by_migrations}
        )
        return compare_metadata(context, Base.metadata)

    changes = await connection.run_sync(diff)
    assert changes == []
