"""Queries of the webhooks domain; tenant scoping in `readable_endpoints`."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from nubo.identity.principal import Actor
from nubo.models import (
    DeliveryStatus,
    Role,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)


def readable_endpoints(actor: Actor) -> Select[Any]:
    """The endpoints the actor may see: their account's, or every account's (operators)."""
    stmt = select(WebhookEndpoint)
    if actor.role is not Role.operator:
        stmt = stmt.where(WebhookEndpoint.account_id == actor.account_id)
    return stmt


async def listening(
    session: AsyncSession, account_ids: Iterable[uuid.UUID]
) -> list[WebhookEndpoint]:
    """The enabled endpoints of these accounts (each filters by event type itself)."""
    ids = list(set(account_ids))
    if not ids:
        return []
    stmt = select(WebhookEndpoint).where(
        WebhookEndpoint.account_id.in_(ids), WebhookEndpoint.enabled.is_(True)
    )
    return list((await session.execute(stmt)).scalars().all())


def _enabled_endpoint() -> object:
    return WebhookDelivery.endpoint_id.in_(
        select(WebhookEndpoint.id).where(WebhookEndpoint.enabled.is_(True))
    )


async def due(session: AsyncSession, now: datetime, limit: int) -> list[uuid.UUID]:
    """Pending deliveries whose attempt is due, to enabled endpoints, oldest first."""
    stmt = (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.status == DeliveryStatus.pending,
            WebhookDelivery.next_attempt_at <= now,
            _enabled_endpoint(),  # type: ignore[arg-type]
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars().all())


async def claim(
    session: AsyncSession, delivery_id: uuid.UUID, now: datetime, lease_until: datetime
) -> bool:
    """Take a due attempt: one conditional UPDATE moves its due time past the attempt's
    lease, so a second job (a sweep's duplicate) finds nothing to take."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == DeliveryStatus.pending,
            WebhookDelivery.next_attempt_at <= now,
            _enabled_endpoint(),  # type: ignore[arg-type]
        )
        .values(next_attempt_at=lease_until)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def attempt_parts(
    session: AsyncSession, delivery_id: uuid.UUID
) -> tuple[WebhookDelivery, WebhookEndpoint, WebhookMessage] | None:
    stmt = (
        select(WebhookDelivery, WebhookEndpoint, WebhookMessage)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .join(WebhookMessage, WebhookMessage.id == WebhookDelivery.message_id)
        .where(WebhookDelivery.id == delivery_id)
    )
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else (row[0], row[1], row[2])


async def for_update(
    session: AsyncSession, delivery_id: uuid.UUID
) -> tuple[WebhookDelivery, WebhookEndpoint] | None:
    stmt = (
        select(WebhookDelivery, WebhookEndpoint)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.id == delivery_id)
        .with_for_update()
    )
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else (row[0], row[1])


# Built once: the panel asks it on every page an admin opens.
_FAILING_ENDPOINTS = select(WebhookEndpoint.url).where(
    WebhookEndpoint.account_id == bindparam("account_id"),
    WebhookEndpoint.disabled_reason == "failing",
).order_by(WebhookEndpoint.url)


async def failing_endpoints(
    conn: AsyncSession | AsyncConnection, account_id: uuid.UUID
) -> list[str]:
    """The URLs of the account's endpoints disabled for failing (the panel's notice)."""
    result = await conn.execute(_FAILING_ENDPOINTS, {"account_id": account_id})
    return list(result.scalars().all())
