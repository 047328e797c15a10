"""An account's invoices and transactions as CSV: their own lists read in batches."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from nubo.identity import service as identity
from nubo.identity.principal import Actor
from nubo.kit.db import ReadSessionFactory
from nubo.kit.pagination import PageParams, all_pages
from nubo.kit.tabular import Column, Row
from nubo.marketplace import billing, invoicing, money
from nubo.models import Invoice, Transaction

INVOICE_COLUMNS = (
    Column("id"),
    Column("number"),
    Column("account_id"),
    Column("month"),
    Column("status"),
    Column("currency"),
    Column("total", "decimal"),
    Column("prorated", "bool"),
    Column("manual", "bool"),
    Column("created_at", "time"),
    Column("paid_at", "time"),
    Column("voided_at", "time"),
)

TRANSACTION_COLUMNS = (
    Column("id"),
    Column("type"),
    Column("account_id"),
    Column("dataset_id"),
    Column("subscription_id"),
    Column("amount", "decimal"),
    Column("currency"),
    Column("period_start", "time"),
    Column("period_end", "time"),
    Column("created_at", "time"),
)


def invoice_row(i: Invoice) -> Row:
    return (
        str(i.id), i.number, str(i.account_id), i.month, str(i.status), i.currency,
        money.format_minor(i.total_minor, i.currency), i.prorated, i.manual, i.created_at,
        i.paid_at, i.voided_at,
    )


def transaction_row(t: Transaction) -> Row:
    return (
        str(t.id), str(t.type), str(t.account_id), str(t.dataset_id),
        None if t.subscription_id is None else str(t.subscription_id),
        money.format_minor(t.amount_minor, t.currency), t.currency, t.period_start,
        t.period_end, t.created_at,
    )


async def invoices_table(
    session: AsyncSession, sessions: ReadSessionFactory, actor: Actor, account_id: uuid.UUID
) -> AsyncIterator[list[Row]]:
    """The rows of `GET /api/invoices/account/{accountId}`, newest first. The account is
    checked here, in the request's unit, before a byte is sent (404 for another's)."""
    await identity.get_account(session, actor, account_id)

    async def fetch(s: AsyncSession, params: PageParams) -> list[Invoice]:
        rows, _ = await invoicing.of_account(s, actor, account_id, params)
        return rows

    return _rows(all_pages(sessions, fetch, _newest), invoice_row)


async def transactions_table(
    session: AsyncSession, sessions: ReadSessionFactory, actor: Actor, account_id: uuid.UUID
) -> AsyncIterator[list[Row]]:
    """An account's transactions, newest first; the account is checked as for invoices."""
    await identity.get_account(session, actor, account_id)

    async def fetch(s: AsyncSession, params: PageParams) -> list[Transaction]:
        return await billing.transactions_of_account(s, actor, account_id, params)

    return _rows(all_pages(sessions, fetch, _newest), transaction_row)


def _newest(row: Any) -> tuple[Any, Any]:
    return (row.created_at, row.id)


async def _rows(pages: AsyncIterator[list[Any]], shape: Any) -> AsyncIterator[list[Row]]:
    async for batch in pages:
        yield [shape(item) for item in batch]
