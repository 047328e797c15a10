"""Registering, listing, changing and deleting endpoints; deliveries and redelivery."""

from __future__ import annotations

import base64

import standardwebhooks

from nubo.models import DeliveryStatus
from nubo.webhooks.tasks import attempt
from tests.fixtures.webhooks import make_delivery, make_endpoint
from tests.webhooks.helpers import deliveries, issue_invoice, job_context, register
from tests.webhooks.receiver import receiver


async def test_the_secret_is_shown_once_and_is_24_or_more_random_bytes(client, world):
    created = await register(client, world, "https://hooks.example.com/nubo")
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"))) >= 24
    admin = world.headers("admin_a")
    listed = (await client.get("/api/webhooks", headers=admin)).json()["items"]
    one = (await client.get(f"/api/webhooks/{created['id']}", headers=admin)).json()
    assert [e["id"] for e in listed] == [created["id"]]
    assert "secret" not in listed[0] and "secret" not in one
    assert one["event_types"] == ["invoice.created", "invoice.paid"]


async def test_operators_register_for_an_account_they_name(client, world):
    response = await client.post(
        "/api/webhooks",
        json={"url": "https://h.example.com/", "event_types": ["flight.failed"],
              "account_id": str(world.account_a.id)},
        headers=world.headers("operator"),
    )
    assert response.status_code == 201 and response.json()["account_id"] == str(
        world.account_a.id)


async def test_a_url_that_is_not_http_is_refused(client, world):
    for url in ("ftp://hooks.example.com/x", "hooks.example.com", "https://u:p@h.example.com/"):
        response = await client.post("/api/webhooks", json={"url": url,
                                     "event_types": ["invoice.paid"]},
                                     headers=world.headers("admin_a"))
        assert response.status_code == 422, url
        assert response.json()["code"] == "webhook-url-invalid"


async def test_an_unknown_event_type_is_refused(client, world):
    response = await client.post("/api/webhooks", json={"url": "https://h.example.com/",
                                 "event_types": ["flight.exploded"]},
                                 headers=world.headers("admin_a"))
    assert response.status_code == 422 and response.json()["code"] == "validation-error"


async def test_in_production_a_private_destination_is_refused_unless_allowed(app, client, world):
    app.state.settings.env = "production"
    for url in ("http://127.0.0.1:9000/h", "http://localhost/h", "http://10.1.2.3/h",
                "http://169.254.169.254/latest", "http://[::1]/h"):
        response = await client.post("/api/webhooks", json={"url": url,
                                     "event_types": ["invoice.paid"]},
                                     headers=world.headers("admin_a"))
        assert response.status_code == 422, url
        assert response.json()["code"] == "webhook-url-refused"
    app.state.settings.webhooks_allow_private = True
    assert (await register(client, world, "http://127.0.0.1:9000/h"))["url"].startswith("http")


async def test_in_production_delivery_checks_the_address_again(
    app, world, session, sessionmaker
):
    """Registered while the name pointed elsewhere, it now resolves to loopback (DNS
    rebinding): the attempt is refused, nothing is sent."""
    with receiver(200) as hook:
        url = hook.url.replace("127.0.0.1", "localhost")
        endpoint = await make_endpoint(session, world.account_a, url=url)
        delivery = await make_delivery(session, endpoint)
        await session.commit()
        ctx = job_context(app, sessionmaker)
        ctx.settings = app.state.settings.model_copy(update={"env": "production"})
        assert await attempt(ctx, delivery.id) is DeliveryStatus.pending
    assert hook.received == []
    [delivery] = await deliveries(session)
    assert delivery.last_status_code is None and "private" in (delivery.last_error or "")


async def test_deliveries_show_status_code_and_timing_and_redeliver_sends_the_same_id(
    app, client, world, session, sessionmaker
):
    ctx = job_context(app, sessionmaker)
    admin = world.headers("admin_a")
    with receiver(200, 200) as hook:
        endpoint = await register(client, world, hook.url, "invoice.created")
        await issue_invoice(client, world)
        [delivery] = await deliveries(session)
        await attempt(ctx, delivery.id)
        listed = (await client.get(f"/api/webhooks/{endpoint['id']}/deliveries",
                                   headers=admin)).json()["items"]
        assert listed[0]["status"] == "succeeded" and listed[0]["last_status_code"] == 200
        assert listed[0]["last_duration_ms"] >= 0 and listed[0]["attempts"] == 1
        again = await client.post(
            f"/api/webhooks/{endpoint['id']}/deliveries/{delivery.id}/redeliver", headers=admin)
        assert again.status_code == 202 and again.json()["status"] == "pending"
        assert await attempt(ctx, delivery.id) is DeliveryStatus.succeeded
    first, second = hook.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == listed[0]["webhook_id"]
    standardwebhooks.Webhook(endpoint["secret"]).verify(second.body, second.headers)


async def test_a_disabled_endpoint_cannot_redeliver(client, world, session):
    endpoint = await make_endpoint(session, world.account_a, enabled=False)
    delivery = await make_delivery(session, endpoint, status=DeliveryStatus.failed)
    await session.commit()
    response = await client.post(
        f"/api/webhooks/{endpoint.id}/deliveries/{delivery.id}/redeliver",
        headers=world.headers("admin_a"))
    assert response.status_code == 409 and response.json()["code"] == "webhook-endpoint-disabled"


async def test_changing_and_deleting_an_endpoint(client, world, session):
    endpoint = await make_endpoint(session, world.account_a)
    await make_delivery(session, endpoint)
    await session.commit()
    admin = world.headers("admin_a")
    changed = await client.patch(f"/api/webhooks/{endpoint.id}",
                                 json={"url": "https://new.example.com/h", "enabled": False,
                                       "event_types": ["invoice.paid", "invoice.paid"]},
                                 headers=admin)
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["url"], body["enabled"], body["event_types"]) == (
        "https://new.example.com/h", False, ["invoice.paid"])
    assert body["disabled_reason"] is None  # turned off by hand: no notice
    assert (await client.delete(f"/api/webhooks/{endpoint.id}", headers=admin)).status_code == 204
    assert (await client.get(f"/api/webhooks/{endpoint.id}", headers=admin)).status_code == 404
    assert await deliveries(session) == []
