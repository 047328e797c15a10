"""Calls of the webhook routes, each aimed at an endpoint of account A."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from nubo.models import DeliveryStatus
from tests.authz.cases import Call, case
from tests.fixtures.webhooks import make_delivery, make_endpoint
from tests.fixtures.world import World


@case("POST", "/api/webhooks")
async def _create(world: World, session: AsyncSession) -> Call:
    return Call(json={"url": "https://hooks.example.com/nubo", "event_types": ["invoice.paid"],
                      "account_id": str(world.account_a.id)})


@case("GET", "/api/webhooks")
async def _list(world: World, session: AsyncSession) -> Call:
    await make_endpoint(session, world.account_a)
    await session.commit()
    return Call(params={"account_id": str(world.account_a.id)})


@case("GET", "/api/webhooks/{endpointId}")
@case("DELETE", "/api/webhooks/{endpointId}")
@case("GET", "/api/webhooks/{endpointId}/deliveries")
async def _one(world: World, session: AsyncSession) -> Call:
    endpoint = await make_endpoint(session, world.account_a)
    await make_delivery(session, endpoint)
    await session.commit()
    return Call(path={"endpointId": str(endpoint.id)})


@case("PATCH", "/api/webhooks/{endpointId}")
async def _update(world: World, session: AsyncSession) -> Call:
    endpoint = await make_endpoint(session, world.account_a)
    await session.commit()
    return Call(path={"endpointId": str(endpoint.id)},
                json={"event_types": ["flight.failed"], "enabled": True})


@case("POST", "/api/webhooks/{endpointId}/deliveries/{deliveryId}/redeliver")
async def _redeliver(world: World, session: AsyncSession) -> Call:
    endpoint = await make_endpoint(session, world.account_a)
    delivery = await make_delivery(session, endpoint, status=DeliveryStatus.failed,
                                   next_attempt_at=None)
    await session.commit()
    return Call(path={"endpointId": str(endpoint.id), "deliveryId": str(delivery.id)})
