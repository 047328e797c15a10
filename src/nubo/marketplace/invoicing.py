"""Monthly invoices: built from the month's subscriptions and unbilled one-off purchases, or
from explicit lines; numbered from a gapless per-month sequence in the same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.identity import service as identity
from nubo.identity.principal import Actor
from nubo.kit.errors import Conflict, NotFound, Unprocessable
from nubo.kit.pagination import PageParams, page_by_creation
from nubo.kit.types import utcnow
from nubo.marketplace import line_words, money, repository
from nubo.marketplace.months import active_days, bounds, days_in
from nubo.marketplace.schemas import InvoiceCreate, InvoiceLineIn, InvoiceOut
from nubo.models import (
    Account,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
    InvoiceLineKind,
    InvoiceStatus,
)
from nubo.webhooks import outbox


@dataclass
class Draft:
    description: str
    period_start: datetime | None
    period_end: datetime | None
    quantity: Fraction
    unit_minor: int
    currency: str
    transaction_id: uuid.UUID | None = None
    subscription_id: uuid.UUID | None = None
    kind: InvoiceLineKind | None = None  # None: a manual line, worded by its author
    params: dict[str, str] | None = None

    @property
    def amount_minor(self) -> int:
        return money.round_fraction(self.quantity * self.unit_minor)


class EmptyMonth(Unprocessable):
    code = "empty-month"


class InvoiceExists(Conflict):
    code = "invoice-exists"


async def next_numbers(session: AsyncSession, month: str, count: int = 1) -> list[str]:
    """Take `count` numbers from the month's counter. The row stays locked until the commit
    and rolls back with the invoices, so numbers are gapless."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(InvoiceCounter)
        .values(month=month, last_value=count)
        .on_conflict_do_update(
            index_elements=["month"], set_={"last_value": InvoiceCounter.last_value + count}
        )
        .returning(InvoiceCounter.last_value)
    )
    last = (await session.execute(stmt)).scalar_one()
    prefix = f"INV-{month[:4]}{month[5:7]}-"
    return [f"{prefix}{value:06d}" for value in range(last - count + 1, last + 1)]


async def next_number(session: AsyncSession, month: str) -> str:
    return (await next_numbers(session, month, 1))[0]


def pending_number() -> str:
    """A stand-in until `number_pending` invoices get theirs, in the same transaction."""
    return f"PENDING-{uuid.uuid4().hex[:24]}"


async def _exists(session: AsyncSession, account_id: uuid.UUID, month: str) -> bool:
    stmt = select(Invoice.id).where(
        Invoice.account_id == account_id,
        Invoice.month == month,
        Invoice.status != InvoiceStatus.void,
    )
    return (await session.execute(stmt.limit(1))).first() is not None


async def drafts_for_accounts(
    session: AsyncSession, account_ids: list[uuid.UUID], month: str, *, prorate: bool
) -> dict[uuid.UUID, list[Draft]]:
    """What each account owes for the month: two queries, whatever the number of accounts."""
    start, end = bounds(month)
    dim = days_in(month)
    drafts: dict[uuid.UUID, list[Draft]] = {a: [] for a in account_ids}
    if not account_ids:
        return drafts
    subscriptions = repository.subscriptions_in_month(account_ids, start, end)
    for sub, dataset in (await session.execute(subscriptions)).all():
        days = active_days(sub.started_at, sub.ends_at, month)
        if days <= 0:
            continue
        params = {"dataset": dataset.name, "month": month}
        drafts[sub.account_id].append(
            Draft(
                description=line_words.english(InvoiceLineKind.subscription, params),
                kind=InvoiceLineKind.subscription,
                params=params,
                period_start=max(sub.started_at, start),
                period_end=min(sub.ends_at, end) if sub.ends_at else end,
                quantity=Fraction(days, dim) if prorate else Fraction(1),
                unit_minor=sub.price_minor,
                currency=sub.currency,
                subscription_id=sub.id,
            )
        )
    one_offs = repository.unbilled_one_offs(account_ids, start, end)
    for tx, dataset in (await session.execute(one_offs)).all():
        params = {"dataset": dataset.name}
        drafts[tx.account_id].append(
            Draft(
                description=line_words.english(InvoiceLineKind.purchase, params),
                kind=InvoiceLineKind.purchase,
                params=params,
                period_start=tx.created_at,
                period_end=None,
                quantity=Fraction(1),
                unit_minor=tx.amount_minor,
                currency=tx.currency,
                transaction_id=tx.id,
            )
        )
    return drafts


async def drafts_for_month(
    session: AsyncSession, account_id: uuid.UUID, month: str, *, prorate: bool
) -> list[Draft]:
    return (await drafts_for_accounts(session, [account_id], month, prorate=prorate))[account_id]


def manual_drafts(lines: list[InvoiceLineIn], currency: str) -> list[Draft]:
    drafts = []
    for line in lines:
        try:
            quantity = Fraction(money.parse_decimal(str(line.quantity)))
            unit = money.to_minor(str(line.unit_amount), currency)
        except money.MoneyError as exc:
            raise Unprocessable(str(exc), code="invalid-amount") from exc
        if quantity == 0:
            raise Unprocessable("a line's quantity must be above zero", code="invalid-amount")
        drafts.append(
            Draft(
                description=line.description,
                period_start=line.period_start,
                period_end=line.period_end,
                quantity=quantity,
                unit_minor=unit,
                currency=currency,
            )
        )
    return drafts


def invoice_currency(month: str, drafts: list[Draft]) -> str:
    """The one currency of the drafts; none (empty month) or several are refused."""
    if not drafts:
        raise EmptyMonth(f"nothing to invoice for {month}")
    currencies = {d.currency for d in drafts}
    if len(currencies) > 1:
        raise Conflict(
            f"the month has charges in several currencies ({', '.join(sorted(currencies))})",
            code="mixed-currencies",
        )
    return currencies.pop()


def assemble(
    account_id: uuid.UUID,
    month: str,
    drafts: list[Draft],
    number: str,
    *,
    prorated: bool = False,
    manual: bool = False,
) -> tuple[Invoice, list[InvoiceLine]]:
    """The invoice and its lines (not added to a session); totals computed here."""
    currency = invoice_currency(month, drafts)
    now = utcnow()
    invoice = Invoice(
        id=uuid.uuid4(),
        account_id=account_id,
        month=month,
        number=number,
        status=InvoiceStatus.open,
        currency=currency,
        total_minor=sum(d.amount_minor for d in drafts),
        prorated=prorated,
        manual=manual,
        created_at=now,
        updated_at=now,
    )
    lines = [
        InvoiceLine(
            id=uuid.uuid4(),
            invoice_id=invoice.id,
            position=i,
            description=d.description,
            period_start=d.period_start,
            period_end=d.period_end,
            quantity_num=d.quantity.numerator,
            quantity_den=d.quantity.denominator,
            unit_amount_minor=d.unit_minor,
            amount_minor=d.amount_minor,
            transaction_id=d.transaction_id,
            subscription_id=d.subscription_id,
            kind=d.kind,
            params=d.params,
        )
        for i, d in enumerate(drafts, start=1)
    ]
    return invoice, lines


async def issue(
    session: AsyncSession,
    account_id: uuid.UUID,
    month: str,
    drafts: list[Draft],
    *,
    prorated: bool = False,
    manual: bool = False,
    number_pending: bool = False,
) -> tuple[Invoice, list[InvoiceLine]]:
    # Validate before taking a number: the counter row stays locked until the commit.
    invoice_currency(month, drafts)
    number = pending_number() if number_pending else await next_number(session, month)
    invoice, lines = assemble(account_id, month, drafts, number, prorated=prorated, manual=manual)
    session.add(invoice)
    session.add_all(lines)
    try:
        await session.flush()
    except IntegrityError as exc:
        # Another invoice of this account and month (or of these purchases) won the race.
        raise InvoiceExists(f"the account already has an invoice for {month}") from exc
    return invoice, lines


async def invoiced_accounts(
    session: AsyncSession, account_ids: list[uuid.UUID], month: str
) -> set[uuid.UUID]:
    stmt = select(Invoice.account_id).where(
        Invoice.account_id.in_(account_ids),
        Invoice.month == month,
        Invoice.status != InvoiceStatus.void,
    )
    return set((await session.execute(stmt)).scalars().all())


async def build_for_account(
    session: AsyncSession,
    account_id: uuid.UUID,
    month: str,
    *,
    prorate: bool = False,
    number_pending: bool = False,
) -> tuple[Invoice, list[InvoiceLine]]:
    """The month's invoice of one account (used by the API and by `nubo billing close-month`)."""
    if await _exists(session, account_id, month):
        raise InvoiceExists(f"the account already has an invoice for {month}")
    drafts = await drafts_for_month(session, account_id, month, prorate=prorate)
    return await issue(
        session, account_id, month, drafts, prorated=prorate, number_pending=number_pending
    )


async def create(
    session: AsyncSession, actor: Actor, data: InvoiceCreate
) -> tuple[Invoice, list[InvoiceLine]]:
    account = await identity.get_account(session, actor, data.account_id)
    if data.lines is None:
        if data.currency is not None:
            raise Unprocessable(
                "currency is only given with explicit lines", code="currency-without-lines"
            )
        return await _told(
            session,
            await build_for_account(session, account.id, data.month, prorate=data.prorate),
        )
    if data.prorate:
        raise Unprocessable(
            "prorate applies to built invoices, not to explicit lines", code="prorate-with-lines"
        )
    drafts = manual_drafts(data.lines, data.currency or money.DEFAULT_CURRENCY)
    if await _exists(session, account.id, data.month):
        raise InvoiceExists(f"the account already has an invoice for {data.month}")
    return await _told(session, await issue(session, account.id, data.month, drafts, manual=True))


async def _told(
    session: AsyncSession, issued: tuple[Invoice, list[InvoiceLine]]
) -> tuple[Invoice, list[InvoiceLine]]:
    await tell(session, outbox.INVOICE_CREATED, [issued])
    return issued


def _shown(invoice: Invoice, lines: list[InvoiceLine]) -> Callable[[], dict[str, Any]]:
    return lambda: InvoiceOut.of(invoice, lines).model_dump(mode="json")


async def tell(
    session: AsyncSession, event_type: str, invoices: list[tuple[Invoice, list[InvoiceLine]]]
) -> None:
    """The accounts' webhooks hear of these invoices (the resource as the API shows it)."""
    await outbox.emit_all(session, [
        outbox.Event(inv.account_id, event_type, _shown(inv, lines)) for inv, lines in invoices
    ])


async def get(
    session: AsyncSession, actor: Actor, invoice_id: uuid.UUID
) -> tuple[Invoice, list[InvoiceLine]]:
    stmt = repository.readable_invoices(actor).where(Invoice.id == invoice_id)
    invoice = (await session.execute(stmt)).scalar_one_or_none()
    if invoice is None:
        raise NotFound("invoice not found")
    lines = await repository.lines_of(session, [invoice.id])
    return invoice, lines[invoice.id]


async def printable(
    session: AsyncSession, actor: Actor, invoice_id: uuid.UUID
) -> tuple[Invoice, list[InvoiceLine], Account]:
    """An invoice with its lines and its account (kept, even if the account was deleted)."""
    invoice, lines = await get(session, actor, invoice_id)
    account = await session.get_one(Account, invoice.account_id)
    return invoice, lines, account


async def settle(
    session: AsyncSession, actor: Actor, invoice_id: uuid.UUID, target: InvoiceStatus
) -> tuple[Invoice, list[InvoiceLine]]:
    """`open -> paid` or `open -> void`. A void invoice frees its month and its one-offs."""
    stmt = repository.readable_invoices(actor).where(Invoice.id == invoice_id).with_for_update()
    invoice = (await session.execute(stmt)).scalar_one_or_none()
    if invoice is None:
        raise NotFound("invoice not found")
    if invoice.status is not InvoiceStatus.open:
        raise Conflict(f"the invoice is already {invoice.status.value}", code="invoice-not-open")
    now = utcnow()
    invoice.status = target
    invoice.updated_at = now
    if target is InvoiceStatus.paid:
        invoice.paid_at = now
    else:
        invoice.voided_at = now
        await session.execute(
            update(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id).values(voided=True)
        )
    await session.flush()
    lines = await repository.lines_of(session, [invoice.id])
    if target is InvoiceStatus.paid:
        await tell(session, outbox.INVOICE_PAID, [(invoice, lines[invoice.id])])
    return invoice, lines[invoice.id]


async def search(
    session: AsyncSession,
    actor: Actor,
    params: PageParams,
    *,
    account_id: uuid.UUID | None = None,
    status: InvoiceStatus | None = None,
    month: str | None = None,
) -> tuple[list[Invoice], dict[uuid.UUID, list[InvoiceLine]]]:
    stmt = repository.readable_invoices(actor)
    if account_id is not None:
        stmt = stmt.where(Invoice.account_id == account_id)
    if status is not None:
        stmt = stmt.where(Invoice.status == status)
    if month is not None:
        stmt = stmt.where(Invoice.month == month)
    rows = await page_by_creation(session, stmt, params, Invoice, newest_first=True)
    return rows, await repository.lines_of(session, [r.id for r in rows[: params.limit]])


async def of_account(
    session: AsyncSession,
    actor: Actor,
    account_id: uuid.UUID,
    params: PageParams,
    *,
    status: InvoiceStatus | None = None,
    month: str | None = None,
) -> tuple[list[Invoice], dict[uuid.UUID, list[InvoiceLine]]]:
    await identity.get_account(session, actor, account_id)
    return await search(session, actor, params, account_id=account_id, status=status, month=month)
