from __future__ import annotations

from typing import Any

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.kit import jobs
from nubo.models import WebhookDelivery
from tests.fixtures.world import World


def job_context(app: Any, sessionmaker: Any) -> jobs.JobContext:
    return jobs.JobContext(settings=app.state.settings, sessionmaker=sessionmaker,
                           store=app.state.store, queue=app.state.jobs)


async def register(client: AsyncClient, world: World, url: str, *events: str) -> dict[str, Any]:
    response = await client.post(
        "/api/webhooks",
        json={"url": url, "event_types": list(events or ["invoice.created", "invoice.paid"])},
        headers=world.headers("admin_a"),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def issue_invoice(client: AsyncClient, world: World) -> dict[str, Any]:
    """An invoice of account A (operators issue them): `invoice.created`."""
    response = await client.post(
        "/api/invoices",
        json={"account_id": str(world.account_a.id), "month": "2026-03", "currency": "BRL",
              "lines": [{"description": "Rain gauges", "unit_amount": "19.90"}]},
        headers=world.headers("operator"),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def deliveries(session: AsyncSession) -> list[WebhookDelivery]:
    session.expire_all()
    stmt = select(WebhookDelivery).order_by(WebhookDelivery.created_at)
    return list((await session.execute(stmt)).scalars().all())
