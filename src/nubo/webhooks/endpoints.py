"""HTTP routes of webhooks under /api/webhooks: thin, they parse, delegate and shape."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from nubo.identity.auth import CurrentUser
from nubo.kit.db import Session
from nubo.kit.pagination import Page, Pagination, build_page
from nubo.platform import PlatformDep
from nubo.webhooks import service
from nubo.webhooks.schemas import (
    DeliveryOut,
    EndpointCreated,
    EndpointIn,
    EndpointOut,
    EndpointPatch,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

EndpointId = Annotated[uuid.UUID, Path(alias="endpointId")]
DeliveryId = Annotated[uuid.UUID, Path(alias="deliveryId")]


@router.post("", response_model=EndpointCreated, status_code=status.HTTP_201_CREATED)
async def create_endpoint(
    body: EndpointIn, actor: CurrentUser, session: Session, platform: PlatformDep
) -> EndpointCreated:
    """Register a webhook endpoint.

    Account admins register endpoints for their account (operators name `account_id`). The
    answer carries the signing secret (`whsec_…`) once: keep it to verify deliveries.
    """
    endpoint = await service.create(session, actor, body, platform.settings)
    return EndpointCreated.model_validate(endpoint)


@router.get("", response_model=Page[EndpointOut])
async def list_endpoints(
    actor: CurrentUser,
    session: Session,
    page: Pagination,
    account_id: Annotated[uuid.UUID | None, Query(description="operators: which account")] = None,
) -> Page[EndpointOut]:
    """The account's webhook endpoints, newest first (secrets are not shown again)."""
    rows = await service.list_endpoints(session, actor, account_id, page)
    items, cursor = build_page(rows, page, lambda e: (e.created_at, e.id))
    return Page(items=[EndpointOut.model_validate(e) for e in items], next_cursor=cursor)


@router.get("/{endpointId}", response_model=EndpointOut)
async def get_endpoint(
    endpoint_id: EndpointId, actor: CurrentUser, session: Session
) -> EndpointOut:
    """One webhook endpoint, with whether it is enabled and since when it fails."""
    return EndpointOut.model_validate(await service.get(session, actor, endpoint_id))


@router.patch("/{endpointId}", response_model=EndpointOut)
async def update_endpoint(
    endpoint_id: EndpointId,
    body: EndpointPatch,
    actor: CurrentUser,
    session: Session,
    platform: PlatformDep,
) -> EndpointOut:
    """Change an endpoint's URL, events, description or enabled flag.

    Enabling an endpoint disabled for failing clears its failing state; what was still
    pending goes out again.
    """
    endpoint = await service.update(session, actor, endpoint_id, body, platform.settings)
    return EndpointOut.model_validate(endpoint)


@router.delete("/{endpointId}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_endpoint(
    endpoint_id: EndpointId, actor: CurrentUser, session: Session
) -> Response:
    """Delete an endpoint and its delivery history; nothing more is sent to it."""
    await service.remove(session, actor, endpoint_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{endpointId}/deliveries", response_model=Page[DeliveryOut])
async def list_deliveries(
    endpoint_id: EndpointId, actor: CurrentUser, session: Session, page: Pagination
) -> Page[DeliveryOut]:
    """An endpoint's recent deliveries, newest first: status, attempts, the last answer's
    status code and duration, and when the next attempt is due."""
    rows = await service.deliveries(session, actor, endpoint_id, page)
    items, cursor = build_page(rows, page, lambda d: (d.created_at, d.id))
    return Page(items=[DeliveryOut.of(d) for d in items], next_cursor=cursor)


@router.post(
    "/{endpointId}/deliveries/{deliveryId}/redeliver",
    response_model=DeliveryOut,
    status_code=status.HTTP_202_ACCEPTED,
)
async def redeliver(
    endpoint_id: EndpointId, delivery_id: DeliveryId, actor: CurrentUser, session: Session
) -> DeliveryOut:
    """Send a delivery again, now, with the same `webhook-id` and a fresh retry schedule."""
    delivery = await service.redeliver(session, actor, endpoint_id, delivery_id)
    return DeliveryOut.of(delivery)
