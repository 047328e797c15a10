"""Webhook endpoints of an account: register, list, change, delete; their deliveries."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy import update as sa_update
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.identity import service as identity
from nubo.identity.auth import ensure_can_manage
from nubo.identity.principal import Actor
from nubo.kit.db import after_commit
from nubo.kit.errors import Conflict, NotFound
from nubo.kit.pagination import PageParams, page_by_creation
from nubo.kit.types import utcnow
from nubo.models import DeliveryStatus, Role, WebhookDelivery, WebhookEndpoint
from nubo.settings import Settings
from nubo.webhooks import outbound, outbox, repository, signing
from nubo.webhooks.schemas import EndpointIn, EndpointPatch

WHAT = "webhook endpoint"


async def create(
    session: AsyncSession, actor: Actor, data: EndpointIn, settings: Settings
) -> WebhookEndpoint:
    account = await identity.get_account(session, actor, data.account_id or actor.account_id)
    ensure_can_manage(actor, account.id)
    await outbound.destination(data.url, settings)
    endpoint = WebhookEndpoint(
        account_id=account.id,
        url=data.url,
        description=data.description,
        event_types=sorted(set(data.event_types)),
        secret=signing.new_secret(),
        enabled=data.enabled,
    )
    session.add(endpoint)
    await session.flush()
    return endpoint


async def list_endpoints(
    session: AsyncSession, actor: Actor, account_id: uuid.UUID | None, params: PageParams
) -> list[WebhookEndpoint]:
    """An account's endpoints (operators: every account's unless one is named)."""
    if account_id is not None:
        ensure_can_manage(actor, account_id)
    elif actor.role is Role.member:
        ensure_can_manage(actor, actor.account_id)
    stmt = repository.readable_endpoints(actor)
    if account_id is not None:
        stmt = stmt.where(WebhookEndpoint.account_id == account_id)
    return await page_by_creation(session, stmt, params, WebhookEndpoint, newest_first=True)


async def get(
    session: AsyncSession, actor: Actor, endpoint_id: uuid.UUID, *, lock: bool = False
) -> WebhookEndpoint:
    stmt = repository.readable_endpoints(actor).where(WebhookEndpoint.id == endpoint_id)
    if lock:
        stmt = stmt.with_for_update()
    endpoint = (await session.execute(stmt)).scalar_one_or_none()
    if endpoint is None:
        raise NotFound(f"{WHAT} not found")
    ensure_can_manage(actor, endpoint.account_id, WHAT)
    return endpoint


async def update(
    session: AsyncSession,
    actor: Actor,
    endpoint_id: uuid.UUID,
    data: EndpointPatch,
    settings: Settings,
) -> WebhookEndpoint:
    endpoint = await get(session, actor, endpoint_id, lock=True)
    changes = data.model_dump(exclude_unset=True)
    if data.url is not None:
        await outbound.destination(data.url, settings)
        endpoint.url = data.url
    if data.event_types is not None:
        endpoint.event_types = sorted(set(data.event_types))
    if "description" in changes:
        endpoint.description = data.description
    if data.enabled is not None and data.enabled != endpoint.enabled:
        _switch(endpoint, data.enabled)
    endpoint.updated_at = utcnow()
    await session.flush()
    return endpoint


def _switch(endpoint: WebhookEndpoint, enabled: bool) -> None:
    """Enabling starts afresh: the failing clock and the disabled notice are cleared; what
    was pending goes out again from the next sweep."""
    endpoint.enabled = enabled
    endpoint.failing_since = None
    endpoint.disabled_reason = None
    endpoint.disabled_at = None if enabled else utcnow()


async def remove(session: AsyncSession, actor: Actor, endpoint_id: uuid.UUID) -> None:
    """Delete the endpoint and its deliveries (nothing more is sent to it)."""
    endpoint = await get(session, actor, endpoint_id, lock=True)
    await session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    await session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id))
    session.expunge(endpoint)


async def deliveries(
    session: AsyncSession, actor: Actor, endpoint_id: uuid.UUID, params: PageParams
) -> list[WebhookDelivery]:
    endpoint = await get(session, actor, endpoint_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    return await page_by_creation(session, stmt, params, WebhookDelivery, newest_first=True)


async def redeliver(
    session: AsyncSession, actor: Actor, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    """Send a delivery again now, with a fresh retry schedule and the same `webhook-id`."""
    endpoint = await get(session, actor, endpoint_id)
    stmt = (
        select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint.id)
        .with_for_update()
    )
    delivery = (await session.execute(stmt)).scalar_one_or_none()
    if delivery is None:
        raise NotFound("delivery not found")
    if not endpoint.enabled:
        raise Conflict("the endpoint is disabled: enable it first",
                       code="webhook-endpoint-disabled")
    delivery.status = DeliveryStatus.pending
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    await session.flush()
    after_commit(session, lambda: outbox.wake([delivery.id]))
    return delivery


async def disable_account_endpoints(session: AsyncSession, account_id: uuid.UUID) -> None:
    """Account deleted: nothing more is sent for it (its pending deliveries stay unsent)."""
    await session.execute(
        sa_update(WebhookEndpoint)
        .where(WebhookEndpoint.account_id == account_id, WebhookEndpoint.enabled.is_(True))
        .values(enabled=False, disabled_at=utcnow(), updated_at=utcnow())
    )


def _register() -> None:
    if disable_account_endpoints not in identity.ACCOUNT_DELETED_HOOKS:
        identity.ACCOUNT_DELETED_HOOKS.append(disable_account_endpoints)


_register()
