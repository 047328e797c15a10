"""Purchases and subscriptions. Services flush; the caller owns the transaction."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, case, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.identity import service as identity
from nubo.identity.auth import ensure_can_manage
from nubo.identity.principal import Actor
from nubo.kit.errors import Conflict, Forbidden, NotFound
from nubo.kit.pagination import PageParams, page_by_creation
from nubo.kit.types import utcnow
from nubo.marketplace import datasets, repository
from nubo.marketplace.months import add_months, bounds, period_end_after
from nubo.marketplace.schemas import SubscriptionOut
from nubo.models import (
    Dataset,
    Role,
    Subscription,
    SubscriptionStatus,
    Transaction,
    TransactionType,
)
from nubo.webhooks import outbox


async def _buyer(
    session: AsyncSession, actor: Actor, account_id: uuid.UUID, dataset_id: uuid.UUID
) -> Dataset:
    """Account admins buy for their own account, operators for any; the dataset must be live."""
    account = await identity.get_account(session, actor, account_id)
    ensure_can_manage(actor, account.id)
    # Shared lock on the dataset row: a concurrent soft delete cannot slip in between.
    return await datasets.get(session, dataset_id, lock="share")


async def _expire_lapsed(
    session: AsyncSession, account_id: uuid.UUID, dataset_id: uuid.UUID, now: datetime
) -> None:
    """Subscriptions canceled at period end whose period is over stop holding the slot."""
    await session.execute(
        update(Subscription)
        .where(
            Subscription.account_id == account_id,
            Subscription.dataset_id == dataset_id,
            Subscription.status == SubscriptionStatus.active,
            Subscription.ends_at.is_not(None),
            Subscription.ends_at <= now,
        )
        .values(status=SubscriptionStatus.canceled, updated_at=now)
    )


async def _start_subscription(
    session: AsyncSession, account_id: uuid.UUID, dataset: Dataset, now: datetime
) -> Subscription:
    await _expire_lapsed(session, account_id, dataset.id, now)
    subscription = Subscription(
        account_id=account_id,
        dataset_id=dataset.id,
        price_minor=dataset.price_minor,
        currency=dataset.currency,
        started_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(subscription)
    try:
        await session.flush()
    except IntegrityError as exc:
        # The partial unique index settles races the pre-check cannot see.
        raise Conflict(
            "the account already has an active subscription to this dataset",
            code="subscription-exists",
        ) from exc
    return subscription


async def subscribe(
    session: AsyncSession, actor: Actor, account_id: uuid.UUID, dataset_id: uuid.UUID
) -> Subscription:
    dataset = await _buyer(session, actor, account_id, dataset_id)
    return await _start_subscription(session, account_id, dataset, utcnow())


async def purchase(
    session: AsyncSession,
    actor: Actor,
    kind: TransactionType,
    account_id: uuid.UUID,
    dataset_id: uuid.UUID,
) -> tuple[Transaction, Subscription | None]:
    dataset = await _buyer(session, actor, account_id, dataset_id)
    now = utcnow()
    subscription = None
    period_end: datetime | None = None
    if kind is TransactionType.subscription:
        subscription = await _start_subscription(session, account_id, dataset, now)
        period_end = add_months(now, 1)
    transaction = Transaction(
        type=kind,
        account_id=account_id,
        dataset_id=dataset.id,
        subscription_id=subscription.id if subscription else None,
        amount_minor=dataset.price_minor,  # the price at purchase time
        currency=dataset.currency,
        period_start=now,
        period_end=period_end,
        created_by=actor.id,
        created_at=now,
    )
    session.add(transaction)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict("the account already bought this dataset", code="already-purchased") from exc
    return transaction, subscription


async def cancel(
    session: AsyncSession, actor: Actor, subscription_id: uuid.UUID, *, at_period_end: bool
) -> Subscription:
    stmt = (
        repository.readable_subscriptions(actor)
        .where(Subscription.id == subscription_id)
        .with_for_update()
    )
    subscription = (await session.execute(stmt)).scalar_one_or_none()
    if subscription is None:
        raise NotFound("subscription not found")
    ensure_can_manage(actor, subscription.account_id, "subscription")
    now = utcnow()
    live = subscription.status is SubscriptionStatus.active and (
        subscription.ends_at is None or subscription.ends_at > now
    )
    if not live:
        raise Conflict("the subscription is already canceled", code="subscription-canceled")
    if at_period_end:
        if subscription.cancel_at_period_end:
            raise Conflict(
                "the subscription is already set to end with its period",
                code="subscription-canceled",
            )
        subscription.ends_at = subscription.ends_at or period_end_after(
            subscription.started_at, now
        )
        subscription.cancel_at_period_end = True
    else:
        subscription.status = SubscriptionStatus.canceled
        subscription.ends_at = now
    subscription.canceled_at = now
    subscription.updated_at = now
    await session.flush()
    await outbox.emit(
        session, subscription.account_id, outbox.SUBSCRIPTION_CANCELED,
        lambda: SubscriptionOut.of(subscription, now).model_dump(mode="json"),
    )
    return subscription


def _status_filter(status: SubscriptionStatus | None, now: datetime) -> list[ColumnElement[bool]]:
    if status is SubscriptionStatus.active:
        return [repository.active_now(now)]
    if status is SubscriptionStatus.canceled:
        return [~repository.active_now(now)]
    return []


async def of_account(
    session: AsyncSession,
    actor: Actor,
    account_id: uuid.UUID,
    params: PageParams,
    status: SubscriptionStatus | None,
) -> list[Subscription]:
    await identity.get_account(session, actor, account_id)
    stmt = repository.readable_subscriptions(actor).where(
        Subscription.account_id == account_id, *_status_filter(status, utcnow())
    )
    return await page_by_creation(session, stmt, params, Subscription, newest_first=True)


async def of_account_in_month(
    session: AsyncSession, actor: Actor, account_id: uuid.UUID, month: str, params: PageParams
) -> list[Subscription]:
    await identity.get_account(session, actor, account_id)
    start, end = bounds(month)
    stmt = repository.readable_subscriptions(actor).where(
        Subscription.account_id == account_id, repository.active_during(start, end)
    )
    return await page_by_creation(session, stmt, params, Subscription, newest_first=True)


async def dataset_names(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Names of datasets (deleted ones too: a purchase keeps its dataset's name)."""
    if not ids:
        return {}
    rows = await session.execute(select(Dataset.id, Dataset.name).where(Dataset.id.in_(ids)))
    return {row.id: row.name for row in rows}


async def cancel_account_subscriptions(session: AsyncSession, account_id: uuid.UUID) -> None:
    """Account deleted: every running subscription ends now (rows are kept)."""
    now = utcnow()
    await session.execute(
        update(Subscription)
        .where(Subscription.account_id == account_id, repository.active_now(now))
        .values(
            status=SubscriptionStatus.canceled,
            ends_at=case(
                (
                    Subscription.ends_at.is_not(None) & (Subscription.ends_at < now),
                    Subscription.ends_at,
                ),
                else_=now,
            ),
            canceled_at=now,
            updated_at=now,
        )
    )


async def entitled(session: AsyncSession, actor: Actor, dataset_id: uuid.UUID) -> Dataset:
    """The dataset, if the caller's account may download it (operators always).

    A deleted dataset stays downloadable for accounts already entitled to it (a one-off
    purchase, or a subscription running to the end of its paid period); for anyone else it
    does not exist (404). A dataset in the catalogue that the account has not bought is 403
    `not-entitled`: the caller can already see it, so saying why helps and reveals nothing.
    """
    stmt = select(Dataset).where(Dataset.id == dataset_id)
    dataset = (await session.execute(stmt)).scalar_one_or_none()
    if dataset is None or (dataset.deleted_at is not None and actor.role is Role.operator):
        raise NotFound("dataset not found")
    if actor.role is Role.operator or await repository.is_entitled(
        session, actor.account_id, dataset.id, utcnow()
    ):
        return dataset
    if dataset.deleted_at is not None:
        raise NotFound("dataset not found")
    raise Forbidden(
        "your account has not bought this dataset: buy it (POST /api/transactions, type "
        "one_time) or subscribe (type subscription) to download it",
        code="not-entitled",
    )


def _register() -> None:
    if cancel_account_subscriptions not in identity.ACCOUNT_DELETED_HOOKS:
        identity.ACCOUNT_DELETED_HOOKS.append(cancel_account_subscriptions)


_register()


async def transactions_of_account(
    session: AsyncSession, actor: Actor, account_id: uuid.UUID, params: PageParams
) -> list[Transaction]:
    """An account's purchases and subscription payments, newest first."""
    await identity.get_account(session, actor, account_id)
    stmt = repository.readable_transactions(actor).where(Transaction.account_id == account_id)
    return await page_by_creation(session, stmt, params, Transaction, newest_first=True)
