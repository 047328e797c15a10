"""billing runs: at most one unfinished run per month; invoice lines: a kind and its
parameters, so each reader sees the line in their own language

Revision ID: 0024
Revises: 0018
Create Date: 2026-11-29 20:15:00.000000
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0018"
branch_labels = None
depends_on = None

UNFINISHED = "status IN ('queued', 'running')"
# The English text the lines were built with until now (invoicing.drafts_for_accounts).
SUBSCRIPTION = re.compile(r"^Subscription: (?P<dataset>.*) \((?P<month>\d{4}-\d{2})\)$", re.S)
PURCHASE = re.compile(r"^Purchase: (?P<dataset>.*)$", re.S)
BATCH = 1000


def _one_unfinished_run_per_month() -> None:
    # Older runs left unfinished beside a newer one of the same month (a worker lost, then
    # the month started again) are the abandoned ones: the index below keeps the newest.
    op.execute(
        sa.text(
            "UPDATE billing_runs SET status = 'failed', "
            "error = 'abandoned: a newer closing of the month was started' "
            f"WHERE {UNFINISHED} AND EXISTS (SELECT 1 FROM billing_runs AS newer "
            "WHERE newer.month = billing_runs.month "
            "AND newer.status IN ('queued', 'running') "
            "AND (newer.created_at > billing_runs.created_at "
            "OR (newer.created_at = billing_runs.created_at AND newer.id > billing_runs.id)))"
        )
    )
    op.create_index(
        "uq_billing_runs_month_unfinished", "billing_runs", ["month"], unique=True,
        sqlite_where=sa.text(UNFINISHED), postgresql_where=sa.text(UNFINISHED),
    )


def _line_kinds() -> None:
    with op.batch_alter_table("invoice_lines") as batch:
        batch.add_column(sa.Column(
            "kind",
            sa.Enum("subscription", "purchase", name="invoicelinekind", native_enum=False,
                    length=20),
            nullable=True,
        ))
        batch.add_column(sa.Column("params", sa.JSON(), nullable=True))
    lines = sa.table(
        "invoice_lines", sa.column("id", sa.Uuid()), sa.column("description", sa.Text()),
        sa.column("subscription_id", sa.Uuid()), sa.column("transaction_id", sa.Uuid()),
        sa.column("kind", sa.String()), sa.column("params", sa.JSON()),
    )
    bind = op.get_bind()
    built = sa.or_(lines.c.subscription_id.is_not(None), lines.c.transaction_id.is_not(None))
    last = None
    while True:  # built lines only (manual ones are the operator's own words), by id batches
        stmt = sa.select(lines.c.id, lines.c.description, lines.c.subscription_id).where(built)
        if last is not None:
            stmt = stmt.where(lines.c.id > last)
        rows = bind.execute(stmt.order_by(lines.c.id).limit(BATCH)).all()
        if not rows:
            return
        last = rows[-1].id
        updates = []
        for row in rows:
            pattern = SUBSCRIPTION if row.subscription_id is not None else PURCHASE
            match = pattern.match(row.description)
            if match:  # else: left as its stored text, which the pages show as it is
                kind = "subscription" if row.subscription_id is not None else "purchase"
                updates.append({"line_id": row.id, "kind": kind, "params": match.groupdict()})
        if updates:
            bind.execute(
                lines.update().where(lines.c.id == sa.bindparam("line_id"))
                .values(kind=sa.bindparam("kind"), params=sa.bindparam("params")),
                updates,
            )


def upgrade() -> None:
    _one_unfinished_run_per_month()
    _line_kinds()


def downgrade() -> None:
    with op.batch_alter_table("invoice_lines") as batch:
        batch.drop_column("params")
        batch.drop_column("kind")
    op.drop_index("uq_billing_runs_month_unfinished", table_name="billing_runs")
