"""What an account holds: its one-off purchases, its subscriptions, and what it may do with a
dataset (download, buy, subscribe). Read-only; the panel's pages and the API share it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from nubo.identity import service as identity
from nubo.identity.principal import Actor
from nubo.kit.pagination import PageParams, page_by_creation
from nubo.kit.types import utcnow
from nubo.marketplace import billing, repository
from nubo.models import Dataset, Role, Subscription, Transaction


@dataclass(frozen=True)
class Standing:
    """An account's position on one dataset."""

    bought: bool
    subscription: Subscription | None
    may_buy: bool  # the caller may buy for the account (admins, operators)

    @property
    def entitled(self) -> bool:
        return self.bought or self.subscription is not None


def may_buy(actor: Actor) -> bool:
    """Account admins buy and cancel for their account (billing.purchase says so too)."""
    return actor.role is Role.admin


async def standing(session: AsyncSession, actor: Actor, dataset: Dataset) -> Standing:
    if actor.role is Role.operator:  # operators download everything and buy nothing here
        return Standing(bought=True, subscription=None, may_buy=False)
    now = utcnow()
    return Standing(
        bought=await repository.has_bought(session, actor.account_id, dataset.id),
        subscription=await repository.running_subscription(
            session, actor.account_id, dataset.id, now
        ),
        may_buy=may_buy(actor),
    )


async def purchases(
    session: AsyncSession, actor: Actor, account_id: uuid.UUID, params: PageParams
) -> tuple[list[Transaction], dict[uuid.UUID, Dataset]]:
    """The account's one-off purchases, newest first, with their datasets (two queries)."""
    await identity.get_account(session, actor, account_id)
    rows = await page_by_creation(
        session, repository.one_offs_of(account_id), params, Transaction, newest_first=True
    )
    named = await repository.datasets_by_id(session, [t.dataset_id for t in rows])
    return rows, named


async def subscriptions(
    session: AsyncSession, actor: Actor, account_id: uuid.UUID, params: PageParams
) -> tuple[list[Subscription], dict[uuid.UUID, Dataset]]:
    """The account's subscriptions, newest first (as the API lists them), with datasets."""
    rows = await billing.of_account(session, actor, account_id, params, None)
    named = await repository.datasets_by_id(session, [s.dataset_id for s in rows])
    return rows, named
