"""dataset location keys by part; search text includes the location

Revision ID: 0011
Revises: 0002, 0012
Create Date: 2026-11-29 14:30:00
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = ("0002", "0012")
branch_labels = None
depends_on = None

# A copy of the rules at this revision (marketplace/text.py): a migration must not change
# meaning when the application's code moves on.


def _normalise(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def _location_key(value: str) -> str:
    return ", ".join(part for part in (_normalise(p) for p in value.split(",")) if part)


_datasets = sa.table(
    "datasets",
    sa.column("id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("description", sa.Text()),
    sa.column("location", sa.String()),
    sa.column("location_key", sa.String()),
    sa.column("search_text", sa.Text()),
)


def _rekey(key: Callable[[str], str], search_text: Callable[[str, str, str], str]) -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(_datasets.c.id, _datasets.c.name, _datasets.c.description, _datasets.c.location)
    ).all()
    for id_, name, description, location in rows:
        conn.execute(
            _datasets.update()
            .where(_datasets.c.id == id_)
            .values(location_key=key(location),
                    search_text=search_text(name, description, location))
        )


def upgrade() -> None:
    _rekey(_location_key, lambda name, desc, location: _normalise(f"{name} {desc} {location}"))


def downgrade() -> None:
    _rekey(_normalise, lambda name, desc, _location: _normalise(f"{name} {desc}"))
