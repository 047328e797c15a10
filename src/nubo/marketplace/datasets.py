"""Catalogue rules: create, edit, soft-delete and find datasets. Services flush only."""

from __future__ import annotations

import uuid
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Literal

from sqlalchemy import ColumnElement, Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.identity import service as identity
from nubo.identity.principal import Actor
from nubo.kit.db import ReadConnection
from nubo.kit.errors import NotFound, Unprocessable
from nubo.kit.pagination import PageParams
from nubo.kit.types import utcnow
from nubo.marketplace import money, repository
from nubo.marketplace.months import period_end_after
from nubo.marketplace.schemas import DatasetCreate, DatasetUpdate
from nubo.marketplace.text import like_pattern, location_key, normalise
from nubo.models import Dataset, Subscription, SubscriptionStatus


def _search_text(name: str, description: str, location: str) -> str:
    return normalise(f"{name} {description} {location}")


def _minor(amount: str, currency: str) -> int:
    try:
        return money.to_minor(amount, currency)
    except money.MoneyError as exc:
        raise Unprocessable(str(exc), code="invalid-price") from exc


async def create(session: AsyncSession, actor: Actor, data: DatasetCreate) -> Dataset:
    provider = data.provider_account_id or actor.account_id
    await identity.get_account(session, actor, provider)
    dataset = Dataset(
        name=data.name,
        description=data.description,
        location=data.location,
        location_key=location_key(data.location),
        search_text=_search_text(data.name, data.description, data.location),
        price_minor=_minor(data.price, data.currency),
        currency=data.currency,
        category=data.category,
        format=data.format,
        provider_account_id=provider,
    )
    session.add(dataset)
    await session.flush()
    return dataset


async def get(
    session: AsyncSession, dataset_id: uuid.UUID, *, lock: Literal["update", "share"] | None = None
) -> Dataset:
    dataset = await repository.dataset(session, dataset_id, lock=lock)
    if dataset is None:
        raise NotFound("dataset not found")
    return dataset


async def ensure_exists(read: ReadConnection, dataset_id: uuid.UUID) -> None:
    if not await repository.dataset_is_live(read, dataset_id):
        raise NotFound("dataset not found")


async def update(session: AsyncSession, dataset_id: uuid.UUID, data: DatasetUpdate) -> Dataset:
    dataset = await get(session, dataset_id, lock="update")
    fields = data.model_dump(exclude_unset=True)
    for name in ("name", "description", "location", "category", "format"):
        if name in fields and (fields[name] is not None or name in ("category", "format")):
            setattr(dataset, name, fields[name])
    currency = fields.get("currency") or dataset.currency
    if fields.get("price") is not None:
        dataset.price_minor = _minor(fields["price"], currency)
    elif currency != dataset.currency:
        # Same amount, new currency: re-express it (fails if the new one has fewer decimals).
        dataset.price_minor = _minor(
            money.format_minor(dataset.price_minor, dataset.currency), currency
        )
    dataset.currency = currency
    dataset.location_key = location_key(dataset.location)
    dataset.search_text = _search_text(dataset.name, dataset.description, dataset.location)
    dataset.updated_at = utcnow()
    await session.flush()
    return dataset


async def delete(session: AsyncSession, dataset_id: uuid.UUID) -> None:
    """Soft delete: no new purchases or renewals; paid periods run to their end."""
    dataset = await get(session, dataset_id, lock="update")
    now = utcnow()
    dataset.deleted_at = now
    stmt = (
        select(Subscription)
        .where(
            Subscription.dataset_id == dataset.id,
            Subscription.status == SubscriptionStatus.active,
            Subscription.ends_at.is_(None),
        )
        .with_for_update()
    )
    for sub in (await session.execute(stmt)).scalars():
        sub.ends_at = period_end_after(sub.started_at, now)
        sub.cancel_at_period_end = True
        sub.updated_at = now
    await session.flush()


def _price_bound(value: str, currency: str, rounding: str) -> int:
    try:
        amount = money.parse_decimal(value)
    except money.MoneyError as exc:
        raise Unprocessable(str(exc), code="invalid-price") from exc
    return int(amount.scaleb(money.exponent(currency)).to_integral_value(rounding=rounding))


async def search(
    session: AsyncSession, params: PageParams, *, sort: str = "created_at",
    **filters: str | None,
) -> list[Dataset]:
    """The catalogue's search (filters: those of `search_conditions`), as datasets (the
    panel's pages)."""
    conditions = search_conditions(**filters)
    return await repository.page_of_datasets(session, conditions, sort, params)


async def search_rows(
    read: ReadConnection, params: PageParams, *, sort: str = "created_at", **filters: str | None
) -> list[Row[Any]]:
    """The catalogue's search (filters: those of `search_conditions`), as
    `repository.LIST_COLUMNS` rows in one standalone read (`GET /api/datasets`)."""
    conditions = search_conditions(**filters)
    return await repository.dataset_rows(read, conditions, sort, params)


def search_conditions(
    *,
    q: str | None = None,
    location: str | None = None,
    min_price: str | None = None,
    max_price: str | None = None,
    currency: str | None = None,
    category: str | None = None,
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if q is not None and normalise(q):
        conditions.append(Dataset.search_text.like(like_pattern(normalise(q)), escape="\\"))
    if location is not None and location_key(location):
        conditions.append(repository.location_matches(location_key(location)))
    if category is not None:
        conditions.append(Dataset.category == category)
    if min_price is not None or max_price is not None or currency is not None:
        # Amounts in different currencies are not comparable: a price filter is in one currency.
        code = _currency(currency)
        conditions.append(Dataset.currency == code)
        low = _price_bound(min_price, code, ROUND_CEILING) if min_price is not None else None
        high = _price_bound(max_price, code, ROUND_FLOOR) if max_price is not None else None
        if low is not None and high is not None and low > high:
            raise Unprocessable("min_price is above max_price", code="invalid-price-range")
        if low is not None:
            conditions.append(Dataset.price_minor >= low)
        if high is not None:
            conditions.append(Dataset.price_minor <= high)
    return conditions


def _currency(value: str | None) -> str:
    try:
        return money.check_currency(value or money.DEFAULT_CURRENCY)
    except money.MoneyError as exc:
        raise Unprocessable(str(exc), code="invalid-currency") from exc


async def by_location(
    read: ReadConnection, location: str, params: PageParams
) -> list[Row[Any]]:
    key = location_key(location)
    if not key:
        raise Unprocessable("location must not be blank", code="invalid-location")
    return await repository.dataset_rows(
        read, [repository.location_matches(key)], "created_at", params
    )


async def by_price(
    read: ReadConnection, price: str, currency: str | None, params: PageParams
) -> list[Row[Any]]:
    code = _currency(currency)
    try:
        amount: Decimal = money.parse_decimal(price)
    except money.MoneyError as exc:
        raise Unprocessable(
            f"{price!r} is not a non-negative decimal price", code="invalid-price"
        ) from exc
    minor = money.to_minor_or_none(amount, code)
    if minor is None:  # more decimals than the currency has: no dataset can cost that
        return []
    conditions = [Dataset.currency == code, Dataset.price_minor == minor]
    return await repository.dataset_rows(read, conditions, "price", params)
