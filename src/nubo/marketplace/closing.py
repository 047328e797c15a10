"""Close a month: invoice every account with something to bill, each in its own transaction.

Used by `nubo billing close-month YYYY-MM`. Re-running is safe: accounts already invoiced for
the month are skipped (and the database refuses a second invoice anyway). Accounts are
invoiced in batches, one transaction per batch and one savepoint per account: a failing
account is reported and skipped without undoing the others.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import exists, select, union, update
from sqlalchemy.exc import IntegrityError
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
from nubo.webhooks import outbox


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
        ~exists().where(
            InvoiceLine.transaction_id == Transaction.id, InvoiceLine.voided.is_(False)
        ),
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


def _record(
    result: CloseResult, invoices: list[Invoice], skipped: int, failed: dict[str, str]
) -> None:
    result.created += len(invoices)
    result.skipped += skipped
    result.failed.update(failed)
    for invoice in invoices:
        result.totals_minor[invoice.currency] = (
            result.totals_minor.get(invoice.currency, 0) + invoice.total_minor
        )


async def _bulk_batch(
    sessionmaker: async_sessionmaker[AsyncSession],
    month: str,
    account_ids: list[uuid.UUID],
    prorate: bool,
) -> tuple[list[Invoice], int, dict[str, str]]:
    """The fast path: a handful of statements for the whole batch, one transaction."""
    skipped = 0
    failed: dict[str, str] = {}
    async with sessionmaker() as session, session.begin():
        done = await invoicing.invoiced_accounts(session, account_ids, month)
        todo = [a for a in account_ids if a not in done]
        skipped += len(done)
        drafts = await invoicing.drafts_for_accounts(session, todo, month, prorate=prorate)
        built: list[tuple[Invoice, list[InvoiceLine]]] = []
        for account_id in todo:
            try:
                built.append(
                    invoicing.assemble(
                        account_id,
                        month,
                        drafts[account_id],
                        invoicing.pending_number(),
                        prorated=prorate,
                    )
                )
            except invoicing.EmptyMonth:
                skipped += 1
            except NuboError as exc:
                failed[str(account_id)] = exc.detail
        # Numbers last: the month's counter row is locked from here to the commit.
        numbers = await invoicing.next_numbers(session, month, len(built)) if built else []
        for (invoice, lines), number in zip(built, numbers, strict=True):
            invoice.number = number
            session.add(invoice)
            session.add_all(lines)
        await session.flush()
        await invoicing.tell(session, outbox.INVOICE_CREATED, built)
    return [invoice for invoice, _ in built], skipped, failed


async def _careful_batch(
    sessionmaker: async_sessionmaker[AsyncSession],
    month: str,
    account_ids: list[uuid.UUID],
    prorate: bool,
) -> tuple[list[Invoice], int, dict[str, str]]:
    """The slow path, after the fast one met a concurrent writer: one savepoint per
    account (a failing account is skipped, not the batch), numbers at the end."""
    created: list[Invoice] = []
    issued: list[tuple[Invoice, list[InvoiceLine]]] = []
    skipped = 0
    failed: dict[str, str] = {}
    async with sessionmaker() as session, session.begin():
        for account_id in account_ids:
            try:
                async with session.begin_nested():
                    invoice, lines = await invoicing.build_for_account(
                        session, account_id, month, prorate=prorate, number_pending=True
                    )
                created.append(invoice)
                issued.append((invoice, lines))
            except (invoicing.InvoiceExists, invoicing.EmptyMonth):
                skipped += 1  # invoiced meanwhile, or nothing left to bill
            except NuboError as exc:
                failed[str(account_id)] = exc.detail
        if created:
            numbers = await invoicing.next_numbers(session, month, len(created))
            await session.execute(
                update(Invoice),
                [{"id": inv.id, "number": n} for inv, n in zip(created, numbers, strict=True)],
            )
            for inv, n in zip(created, numbers, strict=True):
                inv.number = n
            await invoicing.tell(session, outbox.INVOICE_CREATED, issued)
    return created, skipped, failed


async def _invoice_batch(
    sessionmaker: async_sessionmaker[AsyncSession],
    month: str,
    account_ids: list[uuid.UUID],
    prorate: bool,
    result: CloseResult,
) -> None:
    try:
        outcome = await _bulk_batch(sessionmaker, month, account_ids, prorate)
    except IntegrityError:
        # Someone invoiced one of these accounts (or billed one of these purchases) between
        # our read and our insert: redo the batch account by account.
        outcome = await _careful_batch(sessionmaker, month, account_ids, prorate)
    _record(result, *outcome)


async def close_month(
    sessionmaker: async_sessionmaker[AsyncSession],
    month: str,
    *,
    prorate: bool = False,
    concurrency: int = 4,
    batch_size: int = 100,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> CloseResult:
    async with sessionmaker() as session:
        account_ids = await accounts_to_invoice(session, month)
    result = CloseResult(month=month, accounts=len(account_ids))
    if on_start:
        on_start(len(account_ids))
    queue: asyncio.Queue[list[uuid.UUID]] = asyncio.Queue()
    for i in range(0, len(account_ids), batch_size):
        queue.put_nowait(account_ids[i : i + batch_size])

    async def worker() -> None:
        while True:
            try:
                batch = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await _invoice_batch(sessionmaker, month, batch, prorate, result)
            if on_progress:
                on_progress(len(batch))

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    return result
