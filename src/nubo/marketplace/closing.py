"""Close a month: invoice every account with something to bill, each in its own transaction.

Used by `nubo billing close-month YYYY-MM`. Re-running is safe: accounts already invoiced for
the month are skipped (and the database refuses a second invoice anyway).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import exists, select, union
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nubo.kit.errors import NuboError
from nubo.marketplace import invoicing, repository
from nubo.marketplace.months import bounds
from nubo.models import (
    Account,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Subscription,
    Transaction,
    TransactionType,
)


@dataclass
class CloseResult:
    month: str
    accounts: int = 0
    created: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    totals_minor: dict[str, int] = field(default_factory=dict)


async def accounts_to_invoice(session: AsyncSession, month: str) -> list[uuid.UUID]:
    """Accounts with a subscription active in the month or an unbilled one-off dated in it,
    and no invoice for the month yet (deleted accounts included: their usage is billed)."""
    start, end = bounds(month)
    subscribed = select(Subscription.account_id).where(repository.active_during(start, end))
    bought = select(Transaction.account_id).where(
        Transaction.type == TransactionType.one_time,
        Transaction.created_at >= start,
        Transaction.created_at < end,
        ~exists().where(InvoiceLine.transaction_id == Transaction.id),
    )
    candidates = union(subscribed, bought).subquery()
    invoiced = exists().where(
        Invoice.account_id == candidates.c.account_id,
        Invoice.month == month,
        Invoice.status != InvoiceStatus.void,
    )
    stmt = (
        select(candidates.c.account_id)
        .join(Account, Account.id == candidates.c.account_id)
        .where(~invoiced, Account.is_platform.is_(False))
        .order_by(candidates.c.account_id)
    )
    return list((await session.execute(stmt)).scalars().all())


async def close_month(
    sessionmaker: async_sessionmaker[AsyncSession],
    month: str,
    *,
    prorate: bool = False,
    concurrency: int = 8,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[], None] | None = None,
) -> CloseResult:
    async with sessionmaker() as session:
        account_ids = await accounts_to_invoice(session, month)
    result = CloseResult(month=month, accounts=len(account_ids))
    if on_start:
        on_start(len(account_ids))
    queue: asyncio.Queue[uuid.UUID] = asyncio.Queue()
    for account_id in account_ids:
        queue.put_nowait(account_id)

    async def worker() -> None:
        while True:
            try:
                account_id = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                async with sessionmaker() as session, session.begin():
                    invoice, _ = await invoicing.build_for_account(
                        session, account_id, month, prorate=prorate
                    )
                result.created += 1
                result.totals_minor[invoice.currency] = (
                    result.totals_minor.get(invoice.currency, 0) + invoice.total_minor
                )
            except (invoicing.InvoiceExists, invoicing.EmptyMonth):
                result.skipped += 1  # invoiced meanwhile, or nothing left to bill
            except NuboError as exc:
                result.failed[str(account_id)] = exc.detail
            if on_progress:
                on_progress()

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    return result
