"""flights' JSON columns rewritten in the form the lists copy into their pages

The engines now write JSON columns compact, in UTF-8, floats in their shortest form
(`kit.listing.stored_text`), and the flights list copies the stored text of its JSON columns
into the page as it is. Rows written before were in `json.dumps`'s form (spaces, `\\u`
escapes, `1e-07`): each is rewritten once, as the same JSON value.

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-30 00:00:00.000000
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op
from pydantic_core import to_json

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

COLUMNS = ("engine_scores", "findings", "phases", "coverage", "warnings")
BATCH = 1000


def _stored_text(text: str | None) -> str | None:
    # kit.listing.stored_text of the value the text holds, as of this revision.
    if text is None:
        return None
    return to_json(json.loads(text), inf_nan_mode="null").decode()


def _json_of(dialect: str) -> Any:
    """A JSON text as the value of a `json` column: PostgreSQL casts it; SQLite stores text
    (its CAST to JSON would take the numeric affinity)."""
    if dialect == "postgresql":
        return lambda text: None if text is None else sa.cast(sa.literal(text, sa.Text), sa.JSON)
    return lambda text: text


def upgrade() -> None:
    bind = op.get_bind()
    flights = sa.table("flights", sa.column("id", sa.Uuid()),
                       *(sa.column(name, sa.Text()) for name in COLUMNS))
    texts = [sa.cast(flights.c[name], sa.Text).label(name) for name in COLUMNS]
    as_json = _json_of(bind.dialect.name)
    after = None
    while True:
        stmt = sa.select(flights.c.id, *texts).order_by(flights.c.id).limit(BATCH)
        if after is not None:
            stmt = stmt.where(flights.c.id > after)
        rows = bind.execute(stmt).all()
        if not rows:
            return
        for row in rows:
            rewritten = {name: _stored_text(row._mapping[name]) for name in COLUMNS}
            changed = {k: as_json(v) for k, v in rewritten.items() if v != row._mapping[k]}
            if changed:
                bind.execute(flights.update().where(flights.c.id == row.id).values(**changed))
        after = rows[-1].id


def downgrade() -> None:
    # The texts hold the same JSON values in either form: nothing to undo.
    pass
