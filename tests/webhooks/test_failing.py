"""An endpoint failing for days is disabled, and its account's admins are told in the panel."""

from __future__ import annotations

from datetime import timedelta

from nubo.kit.types import utcnow
from nubo.models import DeliveryStatus, WebhookEndpoint
from nubo.webhooks.tasks import attempt
from tests.fixtures.webhooks import make_delivery, make_endpoint
from tests.web.helpers import browser_session
from tests.webhooks.helpers import deliveries, job_context
from tests.webhooks.receiver import receiver


async def _failing_for(app, world, session, sessionmaker, days: float) -> WebhookEndpoint:
    with receiver(500) as hook:
        endpoint = await make_endpoint(session, world.account_a, url=hook.url,
                                       failing_since=utcnow() - timedelta(days=days))
        delivery = await make_delivery(session, endpoint)
        await session.commit()
        await attempt(job_context(app, sessionmaker), delivery.id)
    await session.refresh(endpoint)
    return endpoint


async def test_an_endpoint_failing_past_the_limit_is_disabled(app, world, session, sessionmaker):
    endpoint = await _failing_for(app, world, session, sessionmaker, days=6)
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, "failing")
    [delivery] = await deliveries(session)
    assert delivery.status is DeliveryStatus.pending  # kept for when it is enabled again


async def test_an_endpoint_failing_for_hours_stays_enabled(app, world, session, sessionmaker):
    endpoint = await _failing_for(app, world, session, sessionmaker, days=0.5)
    assert endpoint.enabled and endpoint.failing_since is not None


async def test_a_success_clears_the_failing_clock(app, world, session, sessionmaker):
    with receiver(200) as hook:
        endpoint = await make_endpoint(session, world.account_a, url=hook.url,
                                       failing_since=utcnow() - timedelta(days=2))
        delivery = await make_delivery(session, endpoint)
        await session.commit()
        await attempt(job_context(app, sessionmaker), delivery.id)
    await session.refresh(endpoint)
    assert endpoint.failing_since is None


async def _page(client, session, world, who: str) -> str:
    cookie, _ = await browser_session(session, world.platform, getattr(world, who))
    client.cookies.set("nubo_session", cookie)
    return (await client.get("/", headers={"Accept-Language": "en"})).text


async def test_the_admins_of_the_account_see_a_notice_on_every_page_in_their_language(
    app, client, world, session, sessionmaker
):
    endpoint = await _failing_for(app, world, session, sessionmaker, days=6)
    page = await _page(client, session, world, "admin_a")
    assert f"The webhook endpoint {endpoint.url} was disabled" in page
    cookie, _ = await browser_session(session, world.platform, world.admin_a)
    client.cookies.set("nubo_session", cookie)
    client.cookies.set("nubo_lang", "pt_BR")
    assert "foi desativado depois de falhar" in (await client.get("/flights")).text


async def test_the_notice_is_read_in_the_pages_unit_of_work(
    app, client, world, session, sessionmaker
):
    endpoint = await _failing_for(app, world, session, sessionmaker, days=6)
    reader, opened = app.state.read_connection, []

    def counted():  # connections opened beside the page's unit of work
        opened.append(1)
        return reader()

    app.state.read_connection = counted
    assert f"The webhook endpoint {endpoint.url} was disabled" in await _page(
        client, session, world, "admin_a")
    # The fleet page's one read connection, which the session cookie's lookup and the
    # notice share (they opened one each before).
    assert len(opened) == 1


async def test_members_and_other_accounts_see_no_notice(app, client, world, session, sessionmaker):
    await _failing_for(app, world, session, sessionmaker, days=6)
    assert "webhook" not in await _page(client, session, world, "member_a")
    assert "webhook" not in await _page(client, session, world, "admin_b")


async def test_enabling_it_again_clears_the_notice(app, client, world, session, sessionmaker):
    endpoint = await _failing_for(app, world, session, sessionmaker, days=6)
    response = await client.patch(f"/api/webhooks/{endpoint.id}", json={"enabled": True},
                                  headers=world.headers("admin_a"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["enabled"] and body["disabled_reason"] is None and body["failing_since"] is None
    assert "webhook" not in await _page(client, session, world, "admin_a")
