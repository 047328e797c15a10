"""Marketplace rows for tests, added through a session (flush only; the caller commits)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from nubo.kit.types import utcnow
from nubo.marketplace import invoicing
from nubo.marketplace.text import location_key, normalise
from nubo.models import (
    Account,
    Dataset,
    Invoice,
    Subscription,
    Transaction,
    TransactionType,
)


async def make_dataset(session: AsyncSession, provider: Account, **fields: Any) -> Dataset:
    values: dict[str, Any] = {
        "name": f"Dataset {uuid.uuid4().hex[:8]}",
        "description": "Hourly readings",
        "location": "São Paulo, BR",
        "price_minor": 4990,
        "currency": "BRL",
        "category": "weather",
        "format": "csv",
    }
    values.update(fields)
    values.setdefault("location_key", location_key(values["location"]))
    values.setdefault("search_text",
                      normalise(f"{values['name']} {values['description']} {values['location']}"))
    dataset = Dataset(provider_account_id=provider.id, **values)
    session.add(dataset)
    await session.flush()
    return dataset


async def make_subscription(
    session: AsyncSession,
    account: Account,
    dataset: Dataset,
    started_at: datetime | None = None,
    **fields: Any,
) -> Subscription:
    start = started_at or utcnow()
    subscription = Subscription(
        account_id=account.id,
        dataset_id=dataset.id,
        price_minor=dataset.price_minor,
        currency=dataset.currency,
        started_at=start,
        created_at=start,
        **fields,
    )
    session.add(subscription)
    await session.flush()
    return subscription


async def make_purchase(
    session: AsyncSession, account: Account, dataset: Dataset, at: datetime | None = None
) -> Transaction:
    transaction = Transaction(
        type=TransactionType.one_time,
        account_id=account.id,
        dataset_id=dataset.id,
        amount_minor=dataset.price_minor,
        currency=dataset.currency,
        created_at=at or utcnow(),
        period_start=at or utcnow(),
    )
    session.add(transaction)
    await session.flush()
    return transaction


async def make_invoice(session: AsyncSession, account: Account, month: str) -> Invoice:
    invoice, _ = await invoicing.build_for_account(session, account.id, month)
    return invoice
