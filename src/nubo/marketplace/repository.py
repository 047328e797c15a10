"""Queries of the marketplace; tenant scoping lives in the `readable_*` statements."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Row,
    Select,
    and_,
    bindparam,
    exists,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.identity.principal import Actor
from nubo.kit.db import ReadConnection
from nubo.kit.listing import json_text, uuid_text
from nubo.kit.pagination import Key, PageParams, decode_cursor
from nubo.marketplace.text import like_literal
from nubo.models import (
    Dataset,
    Invoice,
    InvoiceLine,
    Role,
    Subscription,
    SubscriptionStatus,
    Transaction,
    TransactionType,
)

# ------------------------------------------------------------------ datasets


def readable_datasets(*columns: Any) -> Select[Any]:
    """The catalogue is public to every signed-in user; deleted datasets do not exist.
    Of `columns`, or of the entity without them."""
    return select(*(columns or (Dataset,))).where(Dataset.deleted_at.is_(None))


def location_matches(key: str) -> ColumnElement[bool]:
    """Datasets at the location `key` (a `text.location_key`): the whole location, or its city
    alone or with any of its region/country parts, in order ("rio de janeiro", "rio de
    janeiro, rj", "rio de janeiro, br" all find "Rio de Janeiro, RJ, BR"; "rj" does not)."""
    col = Dataset.location_key
    city, *rest = key.split(", ")
    within: list[ColumnElement[bool]] = [col.like(f"{like_literal(city)}, %", escape="\\")]
    # Each further part, as a whole part, after the city (order is checked by the pattern).
    within.append(col.like(f"{like_literal(city)}, %" + "".join(
        f"{like_literal(part)}%" for part in rest), escape="\\"))
    within += [
        or_(col.like(f"%, {like_literal(part)}, %", escape="\\"),
            col.like(f"%, {like_literal(part)}", escape="\\"))
        for part in rest
    ]
    return or_(col == key, and_(*within))


async def dataset(
    session: AsyncSession, dataset_id: uuid.UUID, *, lock: str | None = None
) -> Dataset | None:
    """A live dataset; `lock` "update" (exclusive) or "share" (blocks only exclusive)."""
    stmt = readable_datasets().where(Dataset.id == dataset_id)
    if lock is not None:
        stmt = stmt.with_for_update(read=lock == "share")
    return (await session.execute(stmt)).scalar_one_or_none()


async def dataset_is_live(read: ReadConnection, dataset_id: uuid.UUID) -> bool:
    """One standalone read, for a check that must not open the unit of work."""
    stmt = readable_datasets().where(Dataset.id == dataset_id).with_only_columns(Dataset.id)
    async with read() as conn:
        return (await conn.execute(stmt)).first() is not None


SORTS: dict[str, tuple[list[Any], list[Any], bool]] = {
    "price": ([Dataset.price_minor, Dataset.id], [Key.bigint, Key.uuid], False),
    "-price": ([Dataset.price_minor, Dataset.id], [Key.bigint, Key.uuid], True),
    "created_at": ([Dataset.created_at, Dataset.id], [Key.instant, Key.uuid], False),
    "-created_at": ([Dataset.created_at, Dataset.id], [Key.instant, Key.uuid], True),
}


def sort_key(sort: str, d: Any) -> tuple[Any, ...]:
    """The cursor's values of a dataset or of its LIST_COLUMNS row."""
    return (d.price_minor, d.id) if sort.endswith("price") else (d.created_at, d.id)


# What `GET /api/datasets` reads of a dataset (`schemas.dataset_item` takes them in this
# order): columns, not entities, ids as text and the preview as its stored JSON text
# (kit.listing); the sort keys (price_minor, created_at, id) are among them.
LIST_COLUMNS = (
    uuid_text(Dataset.id), Dataset.name, Dataset.description, Dataset.location,
    Dataset.price_minor, Dataset.currency, Dataset.category, Dataset.format,
    uuid_text(Dataset.provider_account_id), Dataset.file_key, Dataset.file_name,
    Dataset.file_size, Dataset.file_sha256, Dataset.file_content_type,
    json_text(Dataset.preview), Dataset.created_at, Dataset.updated_at,
)


async def page_of_datasets(
    session: AsyncSession, conditions: list[ColumnElement[bool]], sort: str, params: PageParams
) -> list[Dataset]:
    stmt, values = _page_of_datasets(False, conditions, sort, params)
    return list((await session.execute(stmt, values)).scalars().all())


async def dataset_rows(
    read: ReadConnection, conditions: list[ColumnElement[bool]], sort: str, params: PageParams
) -> list[Row[Any]]:
    """`page_of_datasets` as LIST_COLUMNS rows, in one standalone read: one statement
    needs no unit of work around it."""
    stmt, values = _page_of_datasets(True, conditions, sort, params)
    async with read() as conn:
        return list((await conn.execute(stmt, values)).all())


def _page_of_datasets(
    as_columns: bool, conditions: list[ColumnElement[bool]], sort: str, params: PageParams
) -> tuple[Select[Any], dict[str, Any]]:
    """The statement of one page (`limit + 1` rows, for `build_page`) and its values."""
    values: dict[str, Any] = {"limit": params.limit + 1}
    if params.cursor:
        values["after_0"], values["after_1"] = decode_cursor(params.cursor, SORTS[sort][1])
    stmt = _ordered_page(as_columns, sort, bool(params.cursor))
    return (stmt.where(*conditions) if conditions else stmt), values


@cache
def _ordered_page(as_columns: bool, sort: str, after: bool) -> Select[Any]:
    """A page in `sort` order, after the bound `after_0, after_1` (the cursor's values),
    every value a bound parameter: built once per shape; filters are added to it. Built per
    request, its construction and cache key cost more than the unfiltered list's rows."""
    (first, second), _, descending = SORTS[sort]
    stmt = readable_datasets(*LIST_COLUMNS) if as_columns else readable_datasets()
    if after:
        at: BindParameter[Any] = bindparam("after_0")
        # The OR of "after the cursor" is what no index can seek with; the redundant bound on
        # the leading column can: page 1,000 costs what page 1 does. It comes first: of
        # several bounds on one column SQLite seeks with the first (a price filter's bound
        # would otherwise win and the scan would start at the filter's start).
        if descending:
            stmt = stmt.where(first <= at, or_(
                first < at, and_(first == at, second < bindparam("after_1"))))
        else:
            stmt = stmt.where(first >= at, or_(
                first > at, and_(first == at, second > bindparam("after_1"))))
    order = [first.desc(), second.desc()] if descending else [first.asc(), second.asc()]
    return stmt.order_by(*order).limit(bindparam("limit", type_=Integer))


# ------------------------------------------------------------- entitlements


def active_now(now: datetime) -> ColumnElement[bool]:
    return and_(
        Subscription.status == SubscriptionStatus.active,
        or_(Subscription.ends_at.is_(None), Subscription.ends_at > now),
    )


def active_during(start: datetime, end: datetime) -> ColumnElement[bool]:
    """Active at some moment of [start, end): started before the end, not ended before start."""
    return and_(
        Subscription.started_at < end,
        or_(Subscription.ends_at.is_(None), Subscription.ends_at > start),
        # A canceled row always has ends_at; an active row without one runs on.
        or_(Subscription.status == SubscriptionStatus.active, Subscription.ends_at.is_not(None)),
    )


async def is_entitled(
    session: AsyncSession, account_id: uuid.UUID, dataset_id: uuid.UUID, now: datetime
) -> bool:
    bought = exists().where(
        Transaction.account_id == account_id,
        Transaction.dataset_id == dataset_id,
        Transaction.type == TransactionType.one_time,
    )
    subscribed = exists().where(
        Subscription.account_id == account_id,
        Subscription.dataset_id == dataset_id,
        active_now(now),
    )
    return bool((await session.execute(select(or_(bought, subscribed)))).scalar())


# ------------------------------------------------------------ subscriptions


def readable_subscriptions(actor: Actor) -> Select[Subscription]:
    stmt = select(Subscription)
    if actor.role is not Role.operator:
        stmt = stmt.where(Subscription.account_id == actor.account_id)
    return stmt


# ----------------------------------------------------------------- invoices


def readable_invoices(actor: Actor) -> Select[Invoice]:
    stmt = select(Invoice)
    if actor.role is not Role.operator:
        stmt = stmt.where(Invoice.account_id == actor.account_id)
    return stmt


async def lines_of(
    session: AsyncSession, invoice_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[InvoiceLine]]:
    """Lines of many invoices in one query (no N+1)."""
    out: dict[uuid.UUID, list[InvoiceLine]] = {i: [] for i in invoice_ids}
    if not invoice_ids:
        return out
    stmt = select(InvoiceLine).where(InvoiceLine.invoice_id.in_(invoice_ids))
    for line in (await session.execute(stmt)).scalars():
        out[line.invoice_id].append(line)
    return out


def unbilled_one_offs(
    account_ids: list[uuid.UUID], start: datetime, end: datetime
) -> Select[Transaction, Dataset]:
    held = exists().where(
        InvoiceLine.transaction_id == Transaction.id, InvoiceLine.voided.is_(False)
    )
    return (
        select(Transaction, Dataset)
        .join(Dataset, Dataset.id == Transaction.dataset_id)
        .where(
            Transaction.account_id.in_(account_ids),
            Transaction.type == TransactionType.one_time,
            Transaction.created_at >= start,
            Transaction.created_at < end,
            ~held,
        )
        .order_by(Transaction.created_at, Transaction.id)
    )


def subscriptions_in_month(
    account_ids: list[uuid.UUID], start: datetime, end: datetime
) -> Select[Subscription, Dataset]:
    return (
        select(Subscription, Dataset)
        .join(Dataset, Dataset.id == Subscription.dataset_id)
        .where(Subscription.account_id.in_(account_ids), active_during(start, end))
        .order_by(Subscription.started_at, Subscription.id)
    )


# ------------------------------------------------------------------ holdings


async def datasets_by_id(
    session: AsyncSession, dataset_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Dataset]:
    """Datasets of many rows in one query, deleted ones included (bought or subscribed)."""
    if not dataset_ids:
        return {}
    stmt = select(Dataset).where(Dataset.id.in_(set(dataset_ids)))
    return {d.id: d for d in (await session.execute(stmt)).scalars()}


def one_offs_of(account_id: uuid.UUID) -> Select[Transaction]:
    return select(Transaction).where(
        Transaction.account_id == account_id, Transaction.type == TransactionType.one_time
    )


async def running_subscription(
    session: AsyncSession, account_id: uuid.UUID, dataset_id: uuid.UUID, now: datetime
) -> Subscription | None:
    stmt = select(Subscription).where(
        Subscription.account_id == account_id,
        Subscription.dataset_id == dataset_id,
        active_now(now),
    )
    return (await session.execute(stmt.limit(1))).scalar_one_or_none()


async def has_bought(session: AsyncSession, account_id: uuid.UUID, dataset_id: uuid.UUID) -> bool:
    stmt = one_offs_of(account_id).where(Transaction.dataset_id == dataset_id)
    return (await session.execute(stmt.with_only_columns(Transaction.id).limit(1))).first() \
        is not None


def readable_transactions(actor: Actor) -> Select[Transaction]:
    stmt = select(Transaction)
    if actor.role is not Role.operator:
        stmt = stmt.where(Transaction.account_id == actor.account_id)
    return stmt
